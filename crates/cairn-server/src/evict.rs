//! Making room before a write, as Redis's `performEvictions` does: when `maxmemory` is set
//! and used memory is over it, a command that may grow memory (flagged `denyoom`) first
//! evicts keys until the figure is back under the limit, so memory is freed before the
//! write allocates, not after. `noeviction` answers such commands with Redis's OOM error
//! instead.
//!
//! Each eviction takes a key from the larger of two shards (one in turn, one at random), so
//! shards stay level and the choice stays close to global without taking every lock. A command evicts at most
//! [`MAX_PER_COMMAND`] keys, so one large write never stalls its client for long; the cron
//! finishes the job.

use cairn_store::db::Now;
use cairn_store::{Evicted, Policy, key_slot};

use crate::error::CmdError;
use crate::server::Server;

/// Keys one command may evict before it runs anyway (about 100 µs of work).
pub const MAX_PER_COMMAND: usize = 256;

/// What the command about to run must do afterwards.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    Proceed,
    /// The key the command creates lost TinyLFU's admission test: remove it once the
    /// command has run (it counts as evicted; its client got the normal reply).
    DropAfter {
        db: usize,
        key: Vec<u8>,
    },
}

pub fn oom() -> CmdError {
    CmdError::new("OOM command not allowed when used memory > 'maxmemory'.")
}

/// Frees memory for a command about to write `key` (its first key, if it has one) in
/// database `db`. Evicts up to `budget` keys.
pub fn make_room(
    server: &Server,
    db: usize,
    key: Option<&[u8]>,
    now: Now,
    budget: usize,
) -> Result<Admission, CmdError> {
    let max = server.maxmemory();
    // A replica keeps what its primary sent it (Redis's replica-ignore-maxmemory): its
    // primary evicts, and the DELs arrive in the stream.
    if max == 0 || server.used_memory_now() <= max || server.replication.is_replica() {
        return Ok(Admission::Proceed);
    }
    let policy = server.policy();
    if policy == Policy::NoEviction {
        return Err(oom());
    }
    let keyspace = &server.keyspace;
    let shards = keyspace.shard_count();
    let samples = server.maxmemory_samples();
    let (mut evicted, mut barren) = (0, 0);
    // Only a key the command will create faces the admission test, decided in the shard
    // the key will live in (whose sketch counts it) under the lock that finds out whether
    // it is new.
    let (mut incoming, mut incoming_frequency) = (None, None);
    if let Some(k) = key
        && policy.uses_sketch()
        && let Some((frequency, step)) = keyspace.admit(db, k, policy, samples, now)
    {
        (incoming, incoming_frequency) = (Some(k), Some(frequency));
        match step {
            Evicted::Rejected => {
                server.count_rejection();
                return Ok(Admission::DropAfter {
                    db,
                    key: k.to_vec(),
                });
            }
            Evicted::Key { .. } => {
                server.count_eviction(policy);
                evicted += 1;
            }
            Evicted::Nothing => {}
        }
    }
    while server.used_memory_now() > max && evicted < budget {
        // Of two shards, one taken in turn and one at random, the one holding more bytes
        // gives up a key: shards stay level (none is emptied while another keeps its
        // coldest keys), and each step takes one shard lock.
        let (a, b) = (next_in_turn() % shards, fastrand::usize(..shards));
        let shard = if keyspace.shard_bytes(a) >= keyspace.shard_bytes(b) {
            a
        } else {
            b
        };
        let step = keyspace.evict_step(shard, policy, samples, incoming_frequency, now);
        match step {
            Evicted::Key { .. } => {
                server.count_eviction(policy);
                evicted += 1;
                barren = 0;
            }
            Evicted::Rejected => {
                server.count_rejection();
                let key = incoming.expect("only an incoming key is rejected").to_vec();
                return Ok(Admission::DropAfter { db, key });
            }
            Evicted::Nothing => {
                barren += 1;
                if barren >= 2 * shards {
                    // Nothing this policy may evict anywhere (volatile-* with no TTLs).
                    return Err(oom());
                }
            }
        }
    }
    Ok(Admission::Proceed)
}

/// This thread's turn counter over the shards (no shared cache line between workers).
fn next_in_turn() -> usize {
    thread_local! {
        static TURN: std::cell::Cell<usize> = std::cell::Cell::new(fastrand::usize(..));
    }
    TURN.with(|t| {
        let v = t.get().wrapping_add(1);
        t.set(v);
        v
    })
}

/// Removes a key that lost the admission test, after its command ran.
pub fn drop_rejected(server: &Server, db: usize, key: &[u8]) {
    let slot = key_slot(key);
    if server.keyspace.lock(slot).db(db).evict(slot, key).is_some() {
        server.count_eviction(server.policy());
    }
}
