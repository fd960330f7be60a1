//! DEBUG DIGEST and DEBUG DIGEST-VALUE: proof that two nodes hold the same data.
//!
//! Each key contributes a 160-bit hash of (database, key, value, deadline, memcached
//! flags); the dataset's digest is their lane-wise wrapping sum, so it does not depend
//! on the order keys are visited in (shards, slots, tables differ between nodes) and
//! two datasets agree only if they hold the same keys with the same states. Every stored
//! key counts, including one whose TTL has passed and whose DEL has not been applied yet,
//! so a primary and its caught-up replica agree. An empty dataset digests to 40 zeros,
//! as in Redis. A collection's value is the wrapping sum of its elements' hashes, so its
//! digest does not depend on its encoding or order either.

use cairn_store::db::Now;
use cairn_store::types::stream::StreamId;
use cairn_store::{Entry, Object, ValueRef};
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::server::Server;

/// 160 bits in three lanes (the top lane's high half unused).
type Lanes = [u64; 3];

fn key_lanes(db: usize, e: &Entry) -> Lanes {
    let mut buf = Vec::with_capacity(e.key().len() + 64);
    buf.extend_from_slice(&(db as u64).to_le_bytes());
    buf.extend_from_slice(&(e.key().len() as u64).to_le_bytes());
    buf.extend_from_slice(e.key());
    match e.value() {
        ValueRef::Obj(o) => {
            let (a, b) = object_lanes(o);
            buf.extend_from_slice(&a.to_le_bytes());
            buf.extend_from_slice(&b.to_le_bytes());
        }
        v => v.with_bytes(|v| buf.extend_from_slice(v)),
    }
    buf.extend_from_slice(&e.expire_at().unwrap_or(0).to_le_bytes());
    buf.extend_from_slice(&e.mc().flags.to_le_bytes());
    let a = xxh3_128_with_seed(&buf, 0x6361_6972_6e31);
    let b = xxh3_128_with_seed(&buf, 0x6361_6972_6e32);
    [a as u64, (a >> 64) as u64, b as u64 & 0xffff_ffff]
}

/// A collection's digest: its type, then the wrapping sums of its elements' two hashes.
fn object_lanes(o: &Object) -> (u128, u128) {
    let (mut a, mut b) = (0u128, 0u128);
    let mut add = |elem: &[u8]| {
        a = a.wrapping_add(xxh3_128_with_seed(elem, 1));
        b = b.wrapping_add(xxh3_128_with_seed(elem, 2));
    };
    let mut buf = Vec::new();
    match o {
        Object::Hash(h) => h.for_each(|f, v| {
            // A volatile field's time is part of it (as a key's TTL is part of the key).
            buf.clear();
            buf.extend_from_slice(&(f.len() as u64).to_le_bytes());
            buf.extend_from_slice(f);
            buf.extend_from_slice(v);
            if let Some(at) = h.expire_at(f) {
                buf.extend_from_slice(&at.to_le_bytes());
            }
            add(&buf);
        }),
        Object::Set(set) => set.for_each(|m| m.with_bytes(&mut add)),
        // A member with its score's bits (order follows from the scores).
        Object::ZSet(z) => z.for_each(|m, score| {
            buf.clear();
            buf.extend_from_slice(&score.to_bits().to_le_bytes());
            buf.extend_from_slice(m);
            add(&buf);
        }),
        // An entry with its id (ids order them); then the counters and each group's
        // state, pending entries included (what a promoted replica must have).
        Object::Stream(st) => {
            st.range(StreamId::MIN, StreamId::MAX, false, 0, |id, fields| {
                buf.clear();
                buf.extend_from_slice(&id.ms.to_le_bytes());
                buf.extend_from_slice(&id.seq.to_le_bytes());
                for f in fields {
                    buf.extend_from_slice(&(f.len() as u64).to_le_bytes());
                    buf.extend_from_slice(f);
                }
                add(&buf);
                true
            });
            buf.clear();
            for id in [st.last_id(), st.max_deleted()] {
                buf.extend_from_slice(&id.ms.to_le_bytes());
                buf.extend_from_slice(&id.seq.to_le_bytes());
            }
            buf.extend_from_slice(&st.entries_added().to_le_bytes());
            add(&buf);
            for (name, g) in st.groups() {
                buf.clear();
                buf.extend_from_slice(b"group");
                buf.extend_from_slice(&(name.len() as u64).to_le_bytes());
                buf.extend_from_slice(name);
                buf.extend_from_slice(&g.last_id.ms.to_le_bytes());
                buf.extend_from_slice(&g.last_id.seq.to_le_bytes());
                buf.extend_from_slice(&g.entries_read.map_or(u64::MAX, |n| n).to_le_bytes());
                for (id, p) in g.pel() {
                    buf.extend_from_slice(&id.ms.to_le_bytes());
                    buf.extend_from_slice(&id.seq.to_le_bytes());
                    buf.extend_from_slice(&p.delivery_time.to_le_bytes());
                    buf.extend_from_slice(&p.delivery_count.to_le_bytes());
                    buf.extend_from_slice(&(p.consumer.len() as u64).to_le_bytes());
                    buf.extend_from_slice(&p.consumer);
                }
                for c in g.consumers().keys() {
                    buf.extend_from_slice(&(c.len() as u64).to_le_bytes());
                    buf.extend_from_slice(c);
                }
                add(&buf);
            }
        }
        // Order is part of a list: each element is summed with its position.
        Object::List(list) => {
            for (i, v) in list.iter().enumerate() {
                buf.clear();
                buf.extend_from_slice(&(i as u64).to_le_bytes());
                buf.extend_from_slice(&v);
                add(&buf);
            }
        }
    }
    let kind = xxh3_128_with_seed(o.type_name().as_bytes(), 3);
    (a.wrapping_add(kind), b.wrapping_add(kind))
}

fn hex(lanes: Lanes) -> String {
    format!("{:016x}{:016x}{:08x}", lanes[0], lanes[1], lanes[2] as u32)
}

/// The dataset's digest, as 40 hex characters.
pub fn dataset(server: &Server) -> String {
    let ks = &server.keyspace;
    let mut sum: Lanes = [0; 3];
    let mut any = false;
    // Unix time 0: nothing counts as expired, every stored key is visited.
    let all = Now::from_unix_ms(0);
    for shard in 0..ks.shard_count() {
        let guard = ks.lock_shard(shard);
        for (db, d) in guard.dbs().iter().enumerate() {
            d.for_each(all, |e| {
                any = true;
                let l = key_lanes(db, e);
                for i in 0..3 {
                    sum[i] = sum[i].wrapping_add(l[i]);
                }
            });
        }
    }
    if !any {
        return "0".repeat(40);
    }
    sum[2] &= 0xffff_ffff;
    hex(sum)
}

/// One value's digest (DEBUG DIGEST-VALUE): of the value alone, as Redis's; 40 zeros
/// for a missing key.
pub fn value(server: &Server, db: usize, key: &[u8]) -> String {
    let slot = cairn_store::key_slot(key);
    let mut guard = server.keyspace.lock(slot);
    match guard.db(db).peek(slot, key, Now::from_unix_ms(0)) {
        Some(e) => {
            let (a, b) = match e.value() {
                ValueRef::Obj(o) => object_lanes(o),
                v => v.with_bytes(|v| (xxh3_128_with_seed(v, 1), xxh3_128_with_seed(v, 2))),
            };
            hex([a as u64, (a >> 64) as u64, b as u64 & 0xffff_ffff])
        }
        None => "0".repeat(40),
    }
}
