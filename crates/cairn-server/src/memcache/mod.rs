//! The memcached protocol (text and meta) on the same keyspace as RESP.
//!
//! A value stored with `set` is a string to `GET`, and the reverse; memcached's client
//! flags and CAS uniques are kept in the entry (`cairn_store::Mc`, no bytes at all for a
//! key that has neither). Items live in database 0. Eviction, `maxmemory`, keyspace
//! statistics, keyspace notifications and client-side caching invalidations apply to
//! memcached writes exactly as to RESP ones, because both go through the same store calls.
//!
//! - [`conn`]: the listener and one task per connection (lines, data blocks, pipelining).
//! - [`text`]: the classic commands (get, set, cas, incr, touch, flush_all, ...).
//! - [`meta`]: the meta commands (mg, ms, md, ma, mn, me) with the lease flags.
//! - [`stats`]: `stats`, `stats settings|items|slabs|conns`.
//! - [`store`]: the storage rules both command sets share.
//! - [`counters`]: what `stats` counts.
//!
//! Replies are byte-for-byte memcached 1.6's (`bench/mc-compat.py` compares the two).
//! The binary protocol is not spoken: a connection that starts with its magic byte is
//! closed.

pub mod conn;
pub mod counters;
pub mod meta;
pub mod stats;
pub mod store;
pub mod text;

use cairn_store::db::Now;

use crate::server::Server;
pub use counters::McStats;

/// The version `version` and `stats` report: memcached's, whose replies Cairn matches,
/// then Cairn's own.
pub fn version() -> String {
    format!("1.6.18-cairn-{}", crate::CAIRN_VERSION)
}

/// One memcached connection's state while it runs a batch of requests.
pub struct McConn<'s> {
    pub server: &'s std::sync::Arc<Server>,
    pub out: Vec<u8>,
    pub counters: counters::Counters,
    pub now: Now,
    /// Bytes of a refused data block still to be discarded.
    pub swallow: usize,
    /// Close once the replies so far are written (quit, junk, binary protocol).
    pub close: bool,
    /// `memcached-max-item-size`, read once per batch of requests.
    pub max_item: usize,
    /// The write stream offset this connection's writes reached (`appendfsync always`).
    pub appended: u64,
}

/// What handling the front of the read buffer did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A request (line, and data block if any) of this many bytes was handled.
    Done(usize),
    /// The request is not complete yet.
    NeedMore,
}

impl McConn<'_> {
    /// Writes one reply line.
    pub fn line(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }
}
