//! What `stats` counts for the memcached protocol, with memcached's field names.
//!
//! A connection counts into its own [`Counters`] and adds them to the shared [`McStats`]
//! once per batch of requests, so the request path touches no shared cache line per
//! command (as the RESP side's `BatchStats` does).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($field:ident),* $(,)?) => {
        /// One connection's counts since its last flush.
        #[derive(Debug, Default)]
        pub struct Counters {
            $(pub $field: u64,)*
        }

        /// The server's totals.
        #[derive(Debug, Default)]
        pub struct McStats {
            $(pub $field: AtomicU64,)*
            pub curr_connections: AtomicU64,
            pub total_connections: AtomicU64,
            pub rejected_connections: AtomicU64,
        }

        impl McStats {
            /// Adds a connection's counts and zeroes them.
            pub fn absorb(&self, c: &mut Counters) {
                $(if c.$field != 0 {
                    self.$field.fetch_add(c.$field, Relaxed);
                })*
                *c = Counters::default();
            }

            /// Every counter by name, in memcached's order.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($field), self.$field.load(Relaxed)),)*]
            }

            /// `stats reset`.
            pub fn reset(&self) {
                $(self.$field.store(0, Relaxed);)*
                self.total_connections.store(0, Relaxed);
                self.rejected_connections.store(0, Relaxed);
            }
        }
    };
}

counters!(
    cmd_get,
    cmd_set,
    cmd_flush,
    cmd_touch,
    meta_cmds,
    get_hits,
    get_misses,
    get_expired,
    get_flushed,
    delete_misses,
    delete_hits,
    incr_misses,
    incr_hits,
    decr_misses,
    decr_hits,
    cas_misses,
    cas_hits,
    cas_badval,
    touch_hits,
    touch_misses,
    store_too_large,
    store_no_memory,
    auth_cmds,
    auth_errors,
    bytes_read,
    bytes_written,
    total_items,
);
