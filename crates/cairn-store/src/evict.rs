//! Choosing what to evict when memory is full.
//!
//! Every policy samples: it looks at `maxmemory-samples` random keys of a shard and evicts
//! the one its score ranks worst, as Redis does. Sampling needs no per-key list pointers
//! (16 bytes a key that a linked LRU would cost) and no global lock; the scores come from
//! the 8 bytes of metadata every entry already carries.
//!
//! The Redis policies score by idle time (LRU), by the logarithmic access counter (LFU),
//! by deadline (TTL) or not at all (random). `allkeys-tinylfu`, Cairn's default for a cache,
//! scores by a count-min sketch of recent accesses that also remembers keys the cache does
//! not hold, and adds TinyLFU's admission test: a new key displaces the sampled victim
//! only if it has been asked for more often. On a skewed workload that keeps the popular
//! keys in and turns away the one-hit wonders that would otherwise push them out; see
//! docs/eviction.md for the measurements.

use crate::Keyspace;
use crate::db::Now;
use crate::db::Position;
use crate::entry::Entry;
use crate::shard::{Shard, Victim};

/// A `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    AllKeysTinyLfu,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub const ALL: [Policy; 9] = [
        Policy::NoEviction,
        Policy::AllKeysLru,
        Policy::AllKeysLfu,
        Policy::AllKeysRandom,
        Policy::AllKeysTinyLfu,
        Policy::VolatileLru,
        Policy::VolatileLfu,
        Policy::VolatileRandom,
        Policy::VolatileTtl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "noeviction",
            Policy::AllKeysLru => "allkeys-lru",
            Policy::AllKeysLfu => "allkeys-lfu",
            Policy::AllKeysRandom => "allkeys-random",
            Policy::AllKeysTinyLfu => "allkeys-tinylfu",
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
        }
    }

    pub fn parse(name: &str) -> Option<Policy> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    /// OBJECT FREQ is meaningful (Redis refuses it under the other policies).
    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            Policy::AllKeysLfu | Policy::VolatileLfu | Policy::AllKeysTinyLfu
        )
    }

    pub fn uses_sketch(self) -> bool {
        self == Policy::AllKeysTinyLfu
    }

    /// How bad a victim `e` would be to keep: the higher, the sooner it goes.
    fn score(self, e: &Entry, sketch_estimate: u8, now: Now, decay_minutes: u32) -> u64 {
        match self {
            Policy::NoEviction => 0,
            Policy::AllKeysLru | Policy::VolatileLru => e.idle_seconds(now.s) as u64,
            Policy::AllKeysLfu | Policy::VolatileLfu => {
                let freq = e.freq_decayed(now.s, decay_minutes);
                ((255 - freq as u64) << 32) | e.idle_seconds(now.s) as u64
            }
            Policy::AllKeysRandom | Policy::VolatileRandom => fastrand::u64(..),
            Policy::VolatileTtl => u64::MAX - e.deadline(),
            Policy::AllKeysTinyLfu => {
                ((15 - sketch_estimate.min(15) as u64) << 32) | e.idle_seconds(now.s) as u64
            }
        }
    }
}

/// What an eviction step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evicted {
    /// A key went; this many bytes were freed. (Which key is not copied out: nothing on
    /// the request path needs it yet. Keyspace notifications, issue 4, will.)
    Key { bytes: usize },
    /// The incoming key lost the admission test: nothing was evicted, and the caller
    /// should drop the incoming key once its command has run.
    Rejected,
    /// The shard has nothing this policy may evict.
    Nothing,
}

impl Keyspace {
    /// One eviction in shard `index`, under one lock: the worst of `samples` random keys
    /// of each database by `policy`, after TinyLFU's admission test when a newcomer with
    /// estimate `incoming` is waiting to be written.
    pub fn evict_step(
        &self,
        index: usize,
        policy: Policy,
        samples: usize,
        incoming: Option<u8>,
        now: Now,
    ) -> Evicted {
        if policy == Policy::NoEviction {
            return Evicted::Nothing;
        }
        evict_in(&mut self.lock_shard(index), policy, samples, incoming, now)
    }

    /// TinyLFU's admission test for a key a command is about to write, and the eviction it
    /// allows, in the key's own shard under the one lock that also finds out whether the
    /// key is new: `None` if it exists already (no test), else the newcomer's estimate and
    /// what the step did. Evicting where the newcomer will
    /// land keeps the shards level as well as choosing between two shards does, and a
    /// refusal, the common case, then costs one lock and one lookup.
    pub fn admit(
        &self,
        db: usize,
        key: &[u8],
        policy: Policy,
        samples: usize,
        now: Now,
    ) -> Option<(u8, Evicted)> {
        let slot = crate::key_slot(key);
        let mut guard = self.lock(slot);
        let d = guard.db(db);
        if d.contains(slot, key, now) {
            return None;
        }
        let candidate = d.frequency(key);
        let step = evict_in(&mut guard, policy, samples, Some(candidate), now);
        Some((candidate, step))
    }
}

/// One eviction in a locked shard (see [`Keyspace::evict_step`]).
fn evict_in(
    shard: &mut Shard,
    policy: Policy,
    samples: usize,
    incoming: Option<u8>,
    now: Now,
) -> Evicted {
    let admission = policy.uses_sketch().then_some(incoming).flatten();
    if let Some(candidate) = admission
        && let Some(victim) = shard.victim.take()
        && let Some((at, frequency)) = still_there(&victim, shard)
    {
        if rejects(candidate, frequency) {
            shard.victim = Some(Victim {
                at,
                defended: victim.defended + 1,
                ..victim
            });
            return Evicted::Rejected;
        }
        let bytes = shard.db(victim.db).evict_at(at);
        return Evicted::Key { bytes };
    }
    // (score, the key, its sketch estimate)
    let mut worst: Option<(u64, Victim, u8)> = None;
    for (db_index, db) in shard.dbs().iter().enumerate() {
        let decay = db.lfu.decay_minutes;
        db.sample(policy.volatile_only(), samples.max(1), |at, e| {
            let frequency = if policy.uses_sketch() {
                db.cached_frequency(e)
            } else {
                0
            };
            let score = policy.score(e, frequency, now, decay);
            if worst.is_none_or(|w| score > w.0) {
                let victim = Victim {
                    db: db_index,
                    at,
                    identity: e.identity(),
                    defended: 0,
                };
                worst = Some((score, victim, frequency));
            }
        });
    }
    let Some((_, victim, frequency)) = worst else {
        return Evicted::Nothing;
    };
    if let Some(candidate) = admission
        && rejects(candidate, frequency)
    {
        shard.victim = Some(Victim {
            defended: 1,
            ..victim
        });
        return Evicted::Rejected;
    }
    let bytes = shard.db(victim.db).evict_at(victim.at);
    Evicted::Key { bytes }
}

/// TinyLFU's admission test: a newcomer estimated at `candidate` displaces a victim
/// estimated at `victim` only if it has been asked for more often. A small random
/// admission keeps an attacker from pinning the cache with a few hot keys.
fn rejects(candidate: u8, victim: u8) -> bool {
    candidate <= victim && fastrand::u8(..) >= 2
}

/// How many newcomers one sampled victim turns away before a fresh sample replaces it.
const VICTIM_REUSE: u8 = 16;

/// A sampled victim that won an admission test, kept for the next newcomers to its shard.
///
/// Where the victim is now and its current estimate, if it may still be used.
fn still_there(v: &Victim, shard: &Shard) -> Option<(Position, u8)> {
    if v.defended >= VICTIM_REUSE {
        return None;
    }
    let db = shard.db_ref(v.db);
    let (at, e) = db.relocate(v.at, v.identity)?;
    Some((at, db.cached_frequency(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExpireChange, Value};

    fn now() -> Now {
        Now::from_unix_ms(1_700_000_000_000)
    }

    #[test]
    fn names_round_trip() {
        for p in Policy::ALL {
            assert_eq!(Policy::parse(p.name()), Some(p));
        }
        assert_eq!(Policy::parse("ALLKEYS-LRU"), Some(Policy::AllKeysLru));
        assert_eq!(Policy::parse("lru"), None);
    }

    #[test]
    fn volatile_policies_evict_only_keys_with_a_ttl() {
        let ks = Keyspace::new(1, 1);
        {
            let mut shard = ks.lock_shard(0);
            let db = shard.db(0);
            for i in 0..100 {
                let key = format!("k{i}");
                let expire = if i == 42 {
                    ExpireChange::At(now().ms + 60_000)
                } else {
                    ExpireChange::Clear
                };
                db.set(
                    crate::key_slot(key.as_bytes()),
                    key.as_bytes(),
                    Value::Int(i),
                    expire,
                    now(),
                );
            }
        }
        let before = ks.used_bytes();
        match ks.evict_step(0, Policy::VolatileTtl, 5, None, now()) {
            Evicted::Key { bytes } => {
                assert_eq!(ks.used_bytes(), before - bytes);
                let slot = crate::key_slot(b"k42");
                assert!(!ks.lock(slot).db(0).contains(slot, b"k42", now()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ks.evict_step(0, Policy::VolatileLru, 5, None, now()),
            Evicted::Nothing
        );
        assert!(matches!(
            ks.evict_step(0, Policy::AllKeysRandom, 5, None, now()),
            Evicted::Key { .. }
        ));
        assert_eq!(ks.stats().evicted, 2);
        assert_eq!(ks.db_len(0), 98);
    }

    /// TinyLFU's admission step for a key about to be written (which must be new).
    fn offer(ks: &Keyspace, key: &[u8]) -> Evicted {
        ks.admit(0, key, Policy::AllKeysTinyLfu, 5, now())
            .expect("the key is new")
            .1
    }

    /// A one-shard keyspace with a sketch and 50 keys `{prefix}N`, each read `reads` times.
    fn tinylfu_keyspace(prefix: &str, reads: usize) -> Keyspace {
        let ks = Keyspace::new(1, 1);
        ks.set_sketch(true);
        {
            let mut shard = ks.lock_shard(0);
            let db = shard.db(0);
            for i in 0..50 {
                let key = format!("{prefix}{i}");
                let slot = crate::key_slot(key.as_bytes());
                db.set(
                    slot,
                    key.as_bytes(),
                    Value::Int(i),
                    ExpireChange::Clear,
                    now(),
                );
                for _ in 0..reads {
                    db.read(slot, key.as_bytes(), now());
                }
            }
        }
        ks
    }

    #[test]
    fn tinylfu_turns_away_a_newcomer_colder_than_every_resident() {
        let ks = tinylfu_keyspace("hot", 5);
        let slot_of = |k: &str| crate::key_slot(k.as_bytes());
        let mut rejected = 0;
        for _ in 0..20 {
            if offer(&ks, b"cold") == Evicted::Rejected {
                rejected += 1;
            }
        }
        assert!(rejected >= 15, "{rejected}");
        // A newcomer asked for more often than the residents gets in.
        {
            let mut shard = ks.lock_shard(0);
            for _ in 0..12 {
                shard.db(0).read(slot_of("wanted"), b"wanted", now());
            }
        }
        assert!(matches!(offer(&ks, b"wanted"), Evicted::Key { .. }));
    }

    #[test]
    fn a_defended_victim_faces_the_next_newcomers_until_it_moves_or_loses() {
        let ks = tinylfu_keyspace("k", 1);
        let slot_of = |k: &str| crate::key_slot(k.as_bytes());
        let victim = |ks: &Keyspace| ks.lock_shard(0).victim.map(|v| (v.at, v.defended));
        // Random admission lets a loser in 2 times in 256: retry until a rejection.
        while offer(&ks, b"cold") != Evicted::Rejected {}
        let (at, defended) = victim(&ks).expect("the victim is remembered");
        assert_eq!(defended, 1);
        // The next cold newcomer is judged against the same victim, without a new sample
        // (unless it is the 2-in-256 admitted anyway, which evicts that victim).
        if offer(&ks, b"cold") == Evicted::Rejected {
            assert_eq!(victim(&ks), Some((at, 2)));
        }
        while victim(&ks).is_none() {
            offer(&ks, b"cold");
        }
        let (at, _) = victim(&ks).expect("a victim");
        // Once the victim's key is gone, the next step samples afresh: a new victim (not
        // the removed key), defended once.
        let gone = {
            let mut shard = ks.lock_shard(0);
            let key = shard
                .db_ref(0)
                .entry_at(at)
                .expect("still there")
                .key()
                .to_vec();
            assert!(shard.db(0).evict(crate::key_slot(&key), &key).is_some());
            key
        };
        while offer(&ks, b"cold") != Evicted::Rejected {}
        let (at, defended) = victim(&ks).expect("a new victim");
        assert_eq!(defended, 1);
        let chosen = ks
            .lock_shard(0)
            .db_ref(0)
            .entry_at(at)
            .expect("the victim exists")
            .key()
            .to_vec();
        assert_ne!(chosen, gone);
        // A newcomer asked for more often than the victim evicts it.
        {
            let mut shard = ks.lock_shard(0);
            for _ in 0..12 {
                shard.db(0).read(slot_of("wanted"), b"wanted", now());
            }
        }
        let before = ks.db_len(0);
        assert!(matches!(offer(&ks, b"wanted"), Evicted::Key { .. }));
        assert_eq!(ks.db_len(0), before - 1);
        assert!(victim(&ks).is_none());
    }
}
