//! The keyspace against a plain model: a `BTreeMap` of key → (value, deadline).
//!
//! Random sequences of writes, deletes, expiry changes, clock jumps, sweeps, renames,
//! SCANs and flushes run against both; every read must agree. A journal records every
//! effect meanwhile; replayed into an empty keyspace, it must rebuild the same keys.

use std::collections::{BTreeMap, BTreeSet};

use std::sync::{Arc, Mutex};

use cairn_store::db::Now;
use cairn_store::journal::{Effect, Global, Journal};
use cairn_store::{ExpireChange, Keyspace, Value, key_slot};
use proptest::prelude::*;

/// An effect, owned.
#[derive(Debug, Clone)]
enum Rec {
    Set(usize, Vec<u8>, Vec<u8>, Option<u64>),
    Del(usize, Vec<u8>),
    Expire(usize, Vec<u8>, Option<u64>),
    Global(Global),
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Rec>>);

impl Journal for Recorder {
    fn record(&self, db: usize, effect: Effect<'_>) {
        let rec = match effect {
            Effect::Set(e) => Rec::Set(
                db,
                e.key().to_vec(),
                e.value().as_bytes().into_owned(),
                e.expire_at(),
            ),
            Effect::Del(k) => Rec::Del(db, k.to_vec()),
            Effect::Expire(k, at) => Rec::Expire(db, k.to_vec(), at),
            Effect::Op(args) => {
                panic!("the model only writes whole values, yet {args:?} was journaled")
            }
        };
        self.0.lock().unwrap().push(rec);
    }

    fn global(&self, change: Global) {
        self.0.lock().unwrap().push(Rec::Global(change));
    }
}

/// Applies recorded effects to an empty keyspace.
fn replay(recs: &[Rec], now: Now) -> Keyspace {
    let ks = Keyspace::new(2, 1);
    for r in recs {
        match r {
            Rec::Set(db, k, v, at) => {
                let slot = key_slot(k);
                let change = at.map_or(ExpireChange::Clear, ExpireChange::At);
                ks.lock(slot)
                    .db(*db)
                    .set(slot, k, Value::from_bytes(v), change, now);
            }
            Rec::Del(db, k) => {
                let slot = key_slot(k);
                ks.lock(slot).db(*db).remove(slot, k, now);
            }
            Rec::Expire(db, k, at) => {
                let slot = key_slot(k);
                ks.lock(slot).db(*db).set_expire(slot, k, *at, now);
            }
            Rec::Global(Global::FlushDb(d)) => {
                ks.flush(Some(*d));
            }
            Rec::Global(Global::FlushAll) => {
                ks.flush(None);
            }
            Rec::Global(Global::SwapDb(a, b)) => ks.swap_dbs(*a, *b),
        }
    }
    ks
}

/// Every live key of database `db` with its value and deadline.
fn contents(ks: &Keyspace, db: usize, now: Now) -> BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)> {
    let mut out = BTreeMap::new();
    let mut cursor = 0;
    loop {
        cursor = ks.scan(db, cursor, 100, now, |e| {
            if !e.is_expired(now.ms) {
                out.insert(
                    e.key().to_vec(),
                    (e.value().as_bytes().into_owned(), e.expire_at()),
                );
            }
        });
        if cursor == 0 {
            return out;
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Set {
        key: u8,
        value: u16,
        ttl: Option<u16>,
    },
    SetKeepTtl {
        key: u8,
        value: u16,
    },
    Get {
        key: u8,
    },
    Del {
        key: u8,
    },
    Expire {
        key: u8,
        ttl: Option<u16>,
    },
    Advance {
        ms: u16,
    },
    Sweep,
    Rename {
        from: u8,
        to: u8,
    },
    Scan {
        count: u8,
    },
    Flush,
    Append {
        key: u8,
        len: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), any::<u16>(), proptest::option::of(1u16..2000)).prop_map(|(key, value, ttl)| Op::Set { key, value, ttl }),
        1 => (any::<u8>(), any::<u16>()).prop_map(|(key, value)| Op::SetKeepTtl { key, value }),
        3 => any::<u8>().prop_map(|key| Op::Get { key }),
        1 => any::<u8>().prop_map(|key| Op::Del { key }),
        1 => (any::<u8>(), proptest::option::of(1u16..2000)).prop_map(|(key, ttl)| Op::Expire { key, ttl }),
        1 => (1u16..1000).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Sweep),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(from, to)| Op::Rename { from, to }),
        1 => (1u8..50).prop_map(|count| Op::Scan { count }),
        1 => Just(Op::Flush),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(key, len)| Op::Append { key, len }),
    ]
}

/// Keys spread over few bytes so operations collide; some share a hash tag.
fn key(k: u8) -> Vec<u8> {
    if k.is_multiple_of(7) {
        format!("{{tag}}k{k}").into_bytes()
    } else {
        format!("k{k}").into_bytes()
    }
}

struct Model {
    map: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>,
}

impl Model {
    fn live(&mut self, k: &[u8], now: u64) -> Option<&mut (Vec<u8>, Option<u64>)> {
        if self
            .map
            .get(k)
            .is_some_and(|(_, d)| d.is_some_and(|d| d <= now))
        {
            self.map.remove(k);
        }
        self.map.get_mut(k)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn keyspace_matches_model(ops in proptest::collection::vec(op(), 1..300), shards in 0usize..4) {
        let ks = Keyspace::new(2, 1 << shards);
        let recorder = Arc::new(Recorder::default());
        ks.set_journal(Some(recorder.clone()));
        let mut model = Model { map: BTreeMap::new() };
        let mut clock: u64 = 1_700_000_000_000;
        for (i, op) in ops.into_iter().enumerate() {
            let now = Now::from_unix_ms(clock);
            match op {
                Op::Set { key: k, value, ttl } => {
                    let k = key(k);
                    let slot = key_slot(&k);
                    let v = value.to_string().into_bytes();
                    let deadline = ttl.map(|t| clock + t as u64);
                    let change = deadline.map_or(ExpireChange::Clear, ExpireChange::At);
                    ks.lock(slot).db(0).set(slot, &k, Value::from_bytes(&v), change, now);
                    model.map.insert(k, (v, deadline));
                }
                Op::SetKeepTtl { key: k, value } => {
                    let k = key(k);
                    let slot = key_slot(&k);
                    let v = format!("x{value}").into_bytes();
                    ks.lock(slot).db(0).set(slot, &k, Value::from_bytes(&v), ExpireChange::Keep, now);
                    let deadline = model.live(&k, clock).and_then(|(_, d)| *d);
                    model.map.insert(k, (v, deadline));
                }
                Op::Get { key: k } => {
                    let k = key(k);
                    let slot = key_slot(&k);
                    let mut shard = ks.lock(slot);
                    let got = shard.db(0).read(slot, &k, now).map(|e| (e.value().as_bytes().into_owned(), e.expire_at()));
                    let want = model.live(&k, clock).map(|(v, d)| (v.clone(), *d));
                    prop_assert_eq!(got, want);
                }
                Op::Del { key: k } => {
                    let k = key(k);
                    let slot = key_slot(&k);
                    let got = ks.lock(slot).db(0).remove(slot, &k, now).is_some();
                    let want = model.live(&k, clock).is_some();
                    model.map.remove(&k);
                    prop_assert_eq!(got, want);
                }
                Op::Expire { key: k, ttl } => {
                    let k = key(k);
                    let slot = key_slot(&k);
                    let deadline = ttl.map(|t| clock + t as u64);
                    let got = ks.lock(slot).db(0).set_expire(slot, &k, deadline, now);
                    let want = match model.live(&k, clock) {
                        Some(entry) => { entry.1 = deadline; true }
                        None => false,
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Advance { ms } => clock += ms as u64,
                Op::Sweep => {
                    for s in 0..ks.shard_count() {
                        ks.sweep_shard(s, usize::MAX, now, |_, e| assert!(e.is_expired(clock)));
                    }
                    model.map.retain(|_, (_, d)| d.is_none_or(|d| d > clock));
                    // After a full sweep nothing expired is left, so sizes agree exactly.
                    prop_assert_eq!(ks.db_len(0), model.map.len());
                }
                Op::Rename { from, to } => {
                    let (f, t) = (key(from), key(to));
                    let (fs, ts) = (key_slot(&f), key_slot(&t));
                    let mut locked = ks.lock_slots([fs, ts]);
                    let moved = locked.db(fs, 0).remove(fs, &f, now);
                    let want = model.live(&f, clock).cloned();
                    prop_assert_eq!(moved.is_some(), want.is_some());
                    if let (Some(e), Some(w)) = (moved, want) {
                        model.map.remove(&f);
                        locked.db(ts, 0).put_entry(ts, e.renamed(&t), now);
                        model.map.insert(t, w);
                    }
                }
                Op::Scan { count } => {
                    let mut cursor = 0;
                    let mut seen = BTreeSet::new();
                    loop {
                        cursor = ks.scan(0, cursor, count as usize, now, |e| {
                            assert!(seen.insert(e.key().to_vec()), "SCAN returned a key twice");
                        });
                        if cursor == 0 { break; }
                    }
                    let live: BTreeSet<Vec<u8>> = model.map.iter()
                        .filter(|(_, (_, d))| d.is_none_or(|d| d > clock))
                        .map(|(k, _)| k.clone()).collect();
                    prop_assert_eq!(seen, live);
                }
                Op::Flush => {
                    ks.flush(Some(0));
                    model.map.clear();
                    prop_assert_eq!(ks.db_len(0), 0);
                }
                Op::Append { key: k, len } => {
                    let k = key(k);
                    let slot = key_slot(&k);
                    let tail = vec![b'a'; len as usize];
                    let mut shard = ks.lock(slot);
                    let db = shard.db(0);
                    if let Some(mut e) = db.write(slot, &k, now) {
                        e.bytes_mut().extend_from_slice(&tail);
                    } else {
                        db.set(slot, &k, Value::Str(tail.clone()), ExpireChange::Clear, now);
                    }
                    drop(shard);
                    match model.live(&k, clock) {
                        Some(entry) => entry.0.extend_from_slice(&tail),
                        None => {
                            model.map.insert(k, (tail, None));
                        }
                    }
                }
            }
            // The byte count the eviction check reads stays exact whatever happened
            // (checked every few operations: a recount walks all 16384 slots).
            if i % 8 == 0 {
                prop_assert_eq!(ks.used_bytes(), ks.recount_bytes());
            }
        }
        prop_assert_eq!(ks.used_bytes(), ks.recount_bytes());
        // The journal saw every change: replayed, it rebuilds the same keys.
        let now = Now::from_unix_ms(clock);
        let replayed = replay(&recorder.0.lock().unwrap(), Now::from_unix_ms(0));
        prop_assert_eq!(contents(&replayed, 0, now), contents(&ks, 0, now));
    }
}

#[test]
fn random_key_finds_only_live_keys() {
    let ks = Keyspace::new(1, 4);
    let now = Now::from_unix_ms(1_000_000);
    for i in 0..100 {
        let k = format!("k{i}").into_bytes();
        let slot = key_slot(&k);
        let ttl = if i % 2 == 0 {
            ExpireChange::At(999_000)
        } else {
            ExpireChange::Clear
        };
        ks.lock(slot)
            .db(0)
            .set(slot, &k, Value::from_bytes(b"v"), ttl, Now::from_unix_ms(0));
    }
    for _ in 0..200 {
        let k = ks.random_key(0, now).expect("a live key");
        let n: u32 = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
        assert_eq!(n % 2, 1, "expired key {n} returned");
    }
}

#[test]
fn swap_and_grow_databases() {
    let ks = Keyspace::new(2, 2);
    let now = Now::from_unix_ms(0);
    let slot = key_slot(b"a");
    ks.lock(slot).db(0).set(
        slot,
        b"a",
        Value::from_bytes(b"1"),
        ExpireChange::Clear,
        now,
    );
    ks.swap_dbs(0, 1);
    assert_eq!(ks.db_len(0), 0);
    assert_eq!(ks.db_len(1), 1);
    ks.set_databases(4).unwrap();
    assert_eq!(ks.databases(), 4);
    assert!(ks.set_databases(1).is_err(), "db 1 holds a key");
}
