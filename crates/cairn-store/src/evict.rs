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
use crate::entry::Entry;

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

/// The key a policy picked.
#[derive(Debug, Clone)]
pub struct Victim {
    pub shard: usize,
    pub db: usize,
    pub slot: u16,
    pub key: Vec<u8>,
    /// The victim's sketch estimate (TinyLFU's admission test compares against it).
    pub frequency: u8,
    score: u64,
}

impl Victim {
    /// Whether this victim should go before `other` (a higher policy score).
    pub fn worse_than(&self, other: &Victim) -> bool {
        self.score > other.score
    }
}

/// What an eviction step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evicted {
    /// A key went; this many bytes were freed.
    Key {
        db: usize,
        key: Vec<u8>,
        bytes: usize,
    },
    /// The incoming key lost the admission test: nothing was evicted, and the caller
    /// should drop the incoming key once its command has run.
    Rejected,
    /// The shards looked at have nothing this policy may evict.
    Nothing,
}

impl Keyspace {
    /// The key of shard `index` that `policy` would evict first, among `samples` random
    /// keys of each of its databases.
    pub fn candidate(
        &self,
        index: usize,
        policy: Policy,
        samples: usize,
        now: Now,
    ) -> Option<Victim> {
        if policy == Policy::NoEviction {
            return None;
        }
        let guard = self.lock_shard(index);
        let mut best: Option<Victim> = None;
        for (db_index, db) in guard.dbs().iter().enumerate() {
            let decay = db.lfu.decay_minutes;
            for _ in 0..samples.max(1) {
                let Some(e) = db.random_entry(policy.volatile_only()) else {
                    break;
                };
                let frequency = if policy.uses_sketch() {
                    db.frequency(e.key())
                } else {
                    0
                };
                let score = policy.score(e, frequency, now, decay);
                if best.as_ref().is_none_or(|b| score > b.score) {
                    best = Some(Victim {
                        shard: index,
                        db: db_index,
                        slot: crate::key_slot(e.key()),
                        key: e.key().to_vec(),
                        frequency,
                        score,
                    });
                }
            }
        }
        best
    }

    /// The sketch's estimate for `key` in database `db` (0 without a sketch).
    pub fn frequency(&self, db: usize, key: &[u8]) -> u8 {
        self.lock(crate::key_slot(key)).db(db).frequency(key)
    }

    /// One eviction: the worst of the candidates from `shards` (two choices keep the
    /// choice close to global without locking everything), after TinyLFU's admission test
    /// when a newcomer with estimate `incoming` is waiting to be written.
    pub fn evict_step(
        &self,
        shards: &[usize],
        policy: Policy,
        samples: usize,
        incoming: Option<u8>,
        now: Now,
    ) -> Evicted {
        let mut best: Option<Victim> = None;
        for (n, &shard) in shards.iter().enumerate() {
            if shards[..n].contains(&shard) {
                continue;
            }
            if let Some(v) = self.candidate(shard, policy, samples, now)
                && best.as_ref().is_none_or(|b| v.worse_than(b))
            {
                best = Some(v);
            }
        }
        let Some(victim) = best else {
            return Evicted::Nothing;
        };
        // Admit only a key asked for more often than the victim. A small random admission
        // keeps an attacker from pinning the cache with a few hot keys.
        if policy.uses_sketch()
            && let Some(candidate) = incoming
            && candidate <= victim.frequency
            && fastrand::u8(..) >= 2
        {
            return Evicted::Rejected;
        }
        let freed = self
            .lock_shard(victim.shard)
            .db(victim.db)
            .evict(victim.slot, &victim.key);
        match freed {
            Some(bytes) => Evicted::Key {
                db: victim.db,
                key: victim.key,
                bytes,
            },
            // Gone meanwhile (deleted by another client): nothing freed, try again.
            None => Evicted::Nothing,
        }
    }
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
        match ks.evict_step(&[0], Policy::VolatileTtl, 5, None, now()) {
            Evicted::Key { key, bytes, .. } => {
                assert_eq!(key, b"k42");
                assert_eq!(ks.used_bytes(), before - bytes);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ks.evict_step(&[0], Policy::VolatileLru, 5, None, now()),
            Evicted::Nothing
        );
        assert!(matches!(
            ks.evict_step(&[0], Policy::AllKeysRandom, 5, None, now()),
            Evicted::Key { .. }
        ));
        assert_eq!(ks.stats().evicted, 2);
        assert_eq!(ks.db_len(0), 98);
    }

    #[test]
    fn tinylfu_turns_away_a_newcomer_colder_than_every_resident() {
        let ks = Keyspace::new(1, 1);
        ks.set_sketch(true);
        let slot_of = |k: &str| crate::key_slot(k.as_bytes());
        {
            let mut shard = ks.lock_shard(0);
            let db = shard.db(0);
            for i in 0..50 {
                let key = format!("hot{i}");
                db.set(
                    slot_of(&key),
                    key.as_bytes(),
                    Value::Int(i),
                    ExpireChange::Clear,
                    now(),
                );
                for _ in 0..5 {
                    db.read(slot_of(&key), key.as_bytes(), now());
                }
            }
        }
        let mut rejected = 0;
        for _ in 0..20 {
            let cold = ks.frequency(0, b"cold");
            if ks.evict_step(&[0], Policy::AllKeysTinyLfu, 5, Some(cold), now())
                == Evicted::Rejected
            {
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
        let wanted = ks.frequency(0, b"wanted");
        assert!(matches!(
            ks.evict_step(&[0], Policy::AllKeysTinyLfu, 5, Some(wanted), now()),
            Evicted::Key { .. }
        ));
    }
}
