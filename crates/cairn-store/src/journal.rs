//! The write stream's source: every change to the keyspace as its effect.
//!
//! The places in [`crate::db::Db`] that change a key (a write, an insertion, a removal, a
//! TTL change, an expiry, an eviction) hand the installed [`Journal`] the key's state
//! *after* the change, while the key's shard is still locked, so the effects of one key
//! reach the journal in the order they happened. Whole-keyspace changes (FLUSHDB,
//! FLUSHALL, SWAPDB) arrive with every shard locked, ordered against everything else.
//!
//! An effect is what the change *did*, in a form that replays it without a clock or
//! randomness: an operation in Redis's command form where the command says it (APPEND k
//! v, SETRANGE k off v, INCRBY k n, SETBIT k off b; later HSET k f v, LPUSH k v), so a
//! write to a big value journals the delta, not the value; otherwise the key's whole
//! state after the change (SET, INCRBYFLOAT's result, a memcached item); a relative
//! EXPIRE as an absolute deadline; an expiry or eviction as a deletion. The server turns
//! them into the RESP commands of its append-only file and of the replication stream.
//! Operations are not idempotent, so whoever replays the stream after a snapshot skips,
//! shard by shard, what the snapshot already holds (each shard's cut offset).

use crate::entry::Entry;

/// A key's change.
#[derive(Debug)]
pub enum Effect<'a> {
    /// The key's whole state after the change: value, deadline, memcached client flags.
    Set(&'a Entry),
    /// A command in Redis's form (name first, then the key) that, applied to the key's
    /// state before the change, produces its state after it.
    Op(&'a [&'a [u8]]),
    /// The key is gone: deleted, expired, evicted, or renamed away.
    Del(&'a [u8]),
    /// Only its deadline changed (`None`: no TTL any more).
    Expire(&'a [u8], Option<u64>),
}

/// A change to whole databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    /// FLUSHDB of one database.
    FlushDb(usize),
    /// FLUSHALL.
    FlushAll,
    /// SWAPDB.
    SwapDb(usize, usize),
}

/// Where effects go. Both methods are called with the relevant shard locks held: they
/// must not block for long and must not call back into the keyspace.
pub trait Journal: Send + Sync {
    fn record(&self, db: usize, effect: Effect<'_>);
    fn global(&self, change: Global);
}

impl std::fmt::Debug for dyn Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}
