//! The DUMP / RESTORE payload of a key's value: Redis's RDB value encoding (see [`rdb`]),
//! so values move between Redis and Cairn both ways (DESIGN.md, "Writes leave one ordered
//! stream").
//!
//! This file maps the keyspace's [`Value`] to and from [`RdbValue`]. It still reads the
//! payload Cairn wrote before the RDB encoding, so a node of the new version RESTOREs what
//! an old one MIGRATEs to it during a rolling upgrade; it only writes the RDB encoding.
//!
//! ```text
//! Cairn's first payload (read only):
//! +------+------------+---------+---------------+------------------+
//! | 0x00 | LEB128 len | bytes   | version u16 LE | xxh3-64 u64 LE   |
//! |      |            |         | = 1            | over all before  |
//! +------+------------+---------+---------------+------------------+
//! ```
//!
//! Its footer has the RDB footer's shape and its version, 1, is a readable RDB version:
//! the checksum tells them apart (CRC-64 first, then xxh3).

use cairn_protocol::varint;

use crate::object::{Limits, Object};
use crate::rdb::{self, RdbValue};
use crate::types::hash::Hash;
use crate::types::list::List;
use crate::types::set::Set;
use crate::types::zset::ZSet;
use crate::value::{Value, ValueRef};

pub use crate::rdb::DumpError;

/// The footer version of Cairn's first payload format.
const LEGACY_VERSION: u16 = 1;
const LEGACY_TYPE_STRING: u8 = 0;

/// The DUMP payload of `value`.
pub fn serialize(value: ValueRef<'_>) -> Vec<u8> {
    match value {
        ValueRef::Int(i) => rdb::encode_int(i),
        ValueRef::Str(s) | ValueRef::Raw(s) => rdb::encode_string(s),
        ValueRef::Obj(Object::Hash(h)) if h.volatile_len() > 0 => {
            let mut triples: Vec<(&[u8], &[u8], u64)> = Vec::with_capacity(h.len());
            h.for_each(|f, v| triples.push((f, v, h.expire_at(f).unwrap_or(0))));
            rdb::encode_hash_with_times(&triples)
        }
        ValueRef::Obj(Object::Hash(h)) => {
            let mut pairs: Vec<(&[u8], &[u8])> = Vec::with_capacity(h.len());
            h.for_each(|f, v| pairs.push((f, v)));
            rdb::encode_hash(&pairs)
        }
        ValueRef::Obj(Object::Set(set)) => rdb::encode_set(&set.members()),
        ValueRef::Obj(Object::List(list)) => rdb::encode_list(list.iter()),
        ValueRef::Obj(Object::ZSet(z)) => {
            // in the set's order, which the encoder then takes as it is
            let mut pairs: Vec<(&[u8], f64)> = Vec::with_capacity(z.len());
            z.for_each(|m, s| pairs.push((m, s)));
            rdb::encode_zset(&pairs)
        }
        ValueRef::Obj(Object::Stream(s)) => rdb::encode_stream(s),
    }
}

/// The value a DUMP payload holds, from Redis (RDB versions 1 to 12) or from Cairn (this
/// version or the one before), collections encoded as Redis's default thresholds say.
pub fn deserialize(payload: &[u8]) -> Result<Value, DumpError> {
    deserialize_with(payload, &Limits::default())
}

/// [`deserialize`], collections encoded by `lim` (the server's settings).
pub fn deserialize_with(payload: &[u8], lim: &Limits) -> Result<Value, DumpError> {
    match rdb::decode_payload_with(payload, lim.stream_node) {
        Ok(v) => from_rdb(v, lim),
        Err(DumpError::VersionOrChecksum) if is_legacy(payload) => legacy(payload),
        Err(e) => Err(e),
    }
}

/// The keyspace value an RDB value becomes (RESTORE, a dump.rdb's keys), collections
/// encoded by `lim`.
pub fn from_rdb(v: RdbValue, lim: &Limits) -> Result<Value, DumpError> {
    match v {
        RdbValue::String(s) => Ok(Value::from_bytes(&s)),
        RdbValue::Hash(pairs) => {
            let mut h = Hash::default();
            for (f, v) in &pairs {
                h.set(f, v, lim);
            }
            Ok(Value::Obj(Box::new(Object::Hash(h))))
        }
        RdbValue::HashWithTimes(triples) => {
            let mut h = Hash::default();
            for (f, v, at) in &triples {
                h.set(f, v, lim);
                if *at != 0 {
                    h.set_expire(f, *at);
                }
            }
            Ok(Value::Obj(Box::new(Object::Hash(h))))
        }
        RdbValue::Set(members) => {
            let first = members.first().ok_or(DumpError::BadFormat)?;
            let mut set = Set::for_member(first, lim);
            for m in &members {
                set.add(m, lim);
            }
            Ok(Value::Obj(Box::new(Object::Set(set))))
        }
        RdbValue::List(elements) => Ok(Value::Obj(Box::new(Object::List(List::from_items(
            &elements, lim,
        ))))),
        RdbValue::ZSet(pairs) => {
            let items = pairs.iter().map(|(m, s)| (m.as_slice(), *s));
            Ok(Value::Obj(Box::new(Object::ZSet(ZSet::from_items(
                items, lim,
            )))))
        }
        // Read into a stream already, its nodes cut by `lim`.
        RdbValue::Stream(s) => Ok(Value::Obj(Box::new(Object::Stream(s)))),
    }
}

/// Whether `payload` carries the footer of Cairn's first format.
fn is_legacy(payload: &[u8]) -> bool {
    let Some(at) = payload.len().checked_sub(8) else {
        return false;
    };
    let (body, sum) = payload.split_at(at);
    body.len() >= 2
        && body[body.len() - 2..] == LEGACY_VERSION.to_le_bytes()
        && xxhash_rust::xxh3::xxh3_64(body).to_le_bytes() == sum
}

/// The value in a payload of Cairn's first format whose footer checked out.
fn legacy(payload: &[u8]) -> Result<Value, DumpError> {
    let body = &payload[..payload.len() - 10];
    let Some((&LEGACY_TYPE_STRING, rest)) = body.split_first() else {
        return Err(DumpError::BadFormat);
    };
    let (len, n) = varint::decode(rest).ok_or(DumpError::BadFormat)?;
    let bytes = &rest[n..];
    if bytes.len() as u64 != len {
        return Err(DumpError::BadFormat);
    }
    Ok(Value::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::stream::{NodeLimits, Stream, StreamId};
    use proptest::prelude::*;

    /// What the previous version's `serialize` wrote.
    fn legacy_payload(bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![LEGACY_TYPE_STRING];
        varint::push(&mut out, bytes.len() as u64);
        out.extend_from_slice(bytes);
        out.extend_from_slice(&LEGACY_VERSION.to_le_bytes());
        let sum = xxhash_rust::xxh3::xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    #[test]
    fn writes_redis_s_format() {
        // SET k 12345 then DUMP k on redis-server 7.0.15
        let redis = [
            0x00, 0xc1, 0x39, 0x30, 0x0a, 0x00, 0x9d, 0x94, 0xea, 0x27, 0x93, 0xfc, 0x08, 0xb9,
        ];
        assert_eq!(serialize(ValueRef::Int(12345)), redis);
        assert_eq!(serialize(ValueRef::Str(b"12345")), redis);
        assert_eq!(deserialize(&redis), Ok(Value::Int(12345)));
    }

    #[test]
    fn reads_the_previous_format() {
        for bytes in [&b""[..], b"hello", b"42", b"\x00\xff binary"] {
            assert_eq!(
                deserialize(&legacy_payload(bytes)),
                Ok(Value::from_bytes(bytes))
            );
        }
        // damaged: refused as before
        let mut bad = legacy_payload(b"hello");
        bad[3] ^= 1;
        assert_eq!(deserialize(&bad), Err(DumpError::VersionOrChecksum));
        // a good footer around a body of another type
        let mut other = legacy_payload(b"x");
        other[0] = 7;
        let at = other.len() - 8;
        let sum = xxhash_rust::xxh3::xxh3_64(&other[..at]);
        other[at..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(deserialize(&other), Err(DumpError::BadFormat));
    }

    #[test]
    fn hashes_and_sets_round_trip() {
        let lim = Limits::default();
        let mut h = Hash::default();
        for i in 0..300 {
            h.set(format!("f{i}").as_bytes(), format!("v{i}").as_bytes(), &lim);
        }
        let hash = Object::Hash(h);
        let back = deserialize(&serialize(ValueRef::Obj(&hash))).unwrap();
        assert_eq!(back, Value::Obj(Box::new(hash)));
        for members in [vec!["1", "-7", "300000"], vec!["a", "1", "b"]] {
            let mut set = Set::for_member(members[0].as_bytes(), &lim);
            for m in &members {
                set.add(m.as_bytes(), &lim);
            }
            let set = Object::Set(set);
            let back = deserialize(&serialize(ValueRef::Obj(&set))).unwrap();
            assert_eq!(back, Value::Obj(Box::new(set)));
        }
    }

    #[test]
    fn lists_round_trip_and_read_redis_s() {
        let lim = Limits::default();
        // RPUSH l a b c 1 -300 100000, DUMP l (redis-server 7.0.15): the same bytes back
        let redis =
            "1201021a1a00000006008161028162028163020101ded402f2a0860104ff0a00374d3fc15f4da8f9";
        let redis = hex(redis);
        let small = Object::List(List::from_items(
            ["a", "b", "c", "1", "-300", "100000"].map(str::as_bytes),
            &lim,
        ));
        assert_eq!(serialize(ValueRef::Obj(&small)), redis);
        assert_eq!(deserialize(&redis), Ok(Value::Obj(Box::new(small))));
        // many nodes, repeats, empty elements, a long one; order kept
        let items: Vec<Vec<u8>> = (0..20_000u32)
            .map(|i| match i % 5 {
                0 => i.to_string().into_bytes(),
                1 => b"same".to_vec(),
                2 => Vec::new(),
                3 if i == 10_003 => vec![b'z'; 100_000],
                _ => format!("element {i}").into_bytes(),
            })
            .collect();
        let big = Object::List(List::from_items(&items, &lim));
        let payload = serialize(ValueRef::Obj(&big));
        let back = deserialize(&payload).unwrap();
        assert_eq!(back, Value::Obj(Box::new(big)));
        let Value::Obj(o) = back else { unreachable!() };
        let list = o.as_list().unwrap();
        assert_eq!(list.encoding(), "quicklist");
        assert!(list.iter().eq(items.iter().map(Vec::as_slice)));
        // the server's limits shape the list that comes back, not its contents
        let sized = Limits {
            list_max_listpack_size: 4,
            ..Limits::default()
        };
        let Ok(Value::Obj(o)) = deserialize_with(&payload, &sized) else {
            panic!("not a list")
        };
        let list = o.as_list().unwrap();
        assert!(list.node_count() >= items.len() / 4);
        assert!(list.iter().eq(items.iter().map(Vec::as_slice)));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A payload around `body`, with a good RDB footer of version `version`.
    fn sealed(body: &[u8], version: u16) -> Vec<u8> {
        let mut out = body.to_vec();
        out.extend_from_slice(&version.to_le_bytes());
        let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    fn zset(pairs: &[(&[u8], f64)], lim: &Limits) -> Object {
        Object::ZSet(ZSet::from_items(pairs.iter().copied(), lim))
    }

    fn restored_zset(payload: &[u8], lim: &Limits) -> ZSet {
        match deserialize_with(payload, lim) {
            Ok(Value::Obj(o)) => o.as_zset().expect("a sorted set").clone(),
            other => panic!("not a sorted set: {other:?}"),
        }
    }

    #[test]
    fn zsets_round_trip_and_read_redis_s() {
        let lim = Limits::default();
        // ZADD z 1 a 2 b 3 c -5 d 100000 e 0 f -300 g 5000000000 h, DUMP z (redis-server
        // 7.0.15): the same bytes back
        let redis = hex(
            "113c3c0000001000816702ded402816402dffb028166020001816102010181620202018163020301\
             816502f2a0860104816802f400f2052a0100000009ff0a009bda7d38c5dad4d0",
        );
        let small = zset(
            &[
                (b"a", 1.0),
                (b"b", 2.0),
                (b"c", 3.0),
                (b"d", -5.0),
                (b"e", 100000.0),
                (b"f", 0.0),
                (b"g", -300.0),
                (b"h", 5e9),
            ],
            &lim,
        );
        assert_eq!(serialize(ValueRef::Obj(&small)), redis);
        assert_eq!(deserialize(&redis), Ok(Value::Obj(Box::new(small.clone()))));
        assert_eq!(restored_zset(&redis, &lim).encoding(), "listpack");
        // ZADD z 1.5 a -2.25 b
        let redis =
            hex("1119190000000400816202852d322e32350681610283312e3504ff0a000f49bc5ea22f4741");
        let fractions = zset(&[(b"a", 1.5), (b"b", -2.25)], &lim);
        assert_eq!(serialize(ValueRef::Obj(&fractions)), redis);
        assert_eq!(deserialize(&redis), Ok(Value::Obj(Box::new(fractions))));
        // 200 members (rdb/zset.rs says which): a skiplist, ZSET_2, the same bytes back
        let redis = hex(include_str!("rdb/testdata/redis-7.0-zset-200.hex"));
        let members: Vec<Vec<u8>> = (0..200).map(|i| format!("m{i}").into_bytes()).collect();
        let pairs: Vec<(&[u8], f64)> = (0..200)
            .map(|i| {
                let score = match i % 4 {
                    0 => f64::from(i),
                    1 => f64::from(i) / 7.0,
                    2 => -f64::from(i) * 1000.0,
                    _ => 1.5,
                };
                (members[i as usize].as_slice(), score)
            })
            .collect();
        let big = zset(&pairs, &lim);
        assert_eq!(big.encoding(), "skiplist");
        assert_eq!(serialize(ValueRef::Obj(&big)), redis);
        let back = restored_zset(&redis, &lim);
        assert_eq!(back.encoding(), "skiplist");
        assert_eq!(Object::ZSet(back), big);
        // the server's limits shape the set that comes back, not its contents
        let tight = Limits {
            zset_entries: 4,
            ..Limits::default()
        };
        let small_payload = serialize(ValueRef::Obj(&small));
        assert_eq!(restored_zset(&small_payload, &tight).encoding(), "skiplist");
        let roomy = Limits {
            zset_entries: 1000,
            ..Limits::default()
        };
        let back = restored_zset(&serialize(ValueRef::Obj(&big)), &roomy);
        assert_eq!(back.encoding(), "listpack");
        assert_eq!(Object::ZSet(back), big);
    }

    #[test]
    fn zsets_restore_from_older_forms() {
        let lim = Limits::default();
        // ZSET (type 3, RDB 6): "a" 1.5, "b" +inf (length byte 254), "c" -2, scores as
        // text. redis-server 7.0.15 RESTOREs it and DUMPs it back as this listpack, which
        // Cairn writes too.
        let z3 = sealed(
            &[
                3, 3, 1, b'a', 3, b'1', b'.', b'5', 1, b'b', 254, 1, b'c', 2, b'-', b'2',
            ],
            6,
        );
        let want = zset(&[(b"a", 1.5), (b"b", f64::INFINITY), (b"c", -2.0)], &lim);
        assert_eq!(deserialize(&z3), Ok(Value::Obj(Box::new(want.clone()))));
        let redis_again = hex(
            "111d1d0000000600816302dffe0281610283312e350481620283696e6604ff0a006d8ea46ad5a7ed90",
        );
        assert_eq!(serialize(ValueRef::Obj(&want)), redis_again);
        // ZSET_ZIPLIST (type 12, RDB 9, Redis 6.2): "a" 1 (an immediate integer), "b" "2.5"
        let ziplist = [
            0x18, 0, 0, 0, // 24 bytes
            0x12, 0, 0, 0, // the last entry at 18
            4, 0, // 4 entries
            0x00, 0x01, b'a', // "a"
            0x03, 0xf2, // 1
            0x02, 0x01, b'b', // "b"
            0x03, 0x03, b'2', b'.', b'5', // "2.5"
            0xff,
        ];
        let mut body = vec![12, ziplist.len() as u8];
        body.extend_from_slice(&ziplist);
        let z12 = sealed(&body, 9);
        let want = zset(&[(b"a", 1.0), (b"b", 2.5)], &lim);
        assert_eq!(deserialize(&z12), Ok(Value::Obj(Box::new(want.clone()))));
        let redis_again = hex("1114140000000400816102010181620283322e3504ff0a00d44c6ea4f644d9d7");
        assert_eq!(serialize(ValueRef::Obj(&want)), redis_again);
        // refused: NaN (length byte 253), a repeated member, an empty set
        for body in [
            &[3, 1, 1, b'a', 253][..],
            &[3, 2, 1, b'a', 1, b'1', 1, b'a', 1, b'2'][..],
            &[3, 0][..],
            &[5, 0][..],
        ] {
            assert_eq!(deserialize(&sealed(body, 9)), Err(DumpError::BadFormat));
        }
    }

    fn restored_stream(payload: &[u8], lim: &Limits) -> Stream {
        match deserialize_with(payload, lim) {
            Ok(Value::Obj(o)) => o.as_stream().expect("a stream").clone(),
            other => panic!("not a stream: {other:?}"),
        }
    }

    /// A stream of `n` entries `f <i> g <i>`, ids i-0, then entry 2-0 deleted; with a group
    /// `g` that delivered 1-0 to `alice` and 3-0 to `bob`, and `carol` who got nothing,
    /// when `groups`.
    fn stream(n: u64, groups: bool) -> Stream {
        let lim = NodeLimits::default();
        let mut s = Stream::new();
        for i in 1..=n {
            let v = i.to_string();
            s.append(
                StreamId::new(i, 0),
                &[b"f", v.as_bytes(), b"g", v.as_bytes()],
                lim,
            );
        }
        s.delete(StreamId::new(2, 0));
        if groups {
            s.create_group(b"g", StreamId::new(3, 0), Some(3));
            let g = s.group_mut(b"g").unwrap();
            for (c, t) in [(&b"alice"[..], 1000), (b"bob", 2000), (b"carol", 3000)] {
                g.ensure_consumer(c, t);
                // Redis 7.0's form has no active time: it comes back as the seen time
                g.set_consumer_times(c, t, Some(t));
            }
            g.assign(StreamId::new(1, 0), b"alice", 1000, 1);
            g.assign(StreamId::new(3, 0), b"bob", 2000, 4);
            s.create_group(b"later", StreamId::new(n, 0), None);
        }
        s
    }

    #[test]
    fn streams_round_trip_and_read_redis_s() {
        let lim = Limits::default();
        // XADD D 5-0 a 1, XADD D 6-0 a 2, XSETID D 100-0 ENTRIESADDED 50 MAXDELETEDID
        // 90-0, DUMP D (redis-server 7.0.15): the same bytes back (more in rdb/stream.rs)
        let redis = hex(
            "1301100000000000000005000000000000000026260000000f0002010001010181610200010201000100\
             010101040102010101000102010401ff024064000500405a0032000a00888b0dee7ccb3a04",
        );
        let mut d = Stream::new();
        d.append(StreamId::new(5, 0), &[b"a", b"1"], lim.stream_node);
        d.append(StreamId::new(6, 0), &[b"a", b"2"], lim.stream_node);
        d.set_counters(StreamId::new(100, 0), 50, StreamId::new(90, 0));
        let d = Object::Stream(Box::new(d));
        assert_eq!(serialize(ValueRef::Obj(&d)), redis);
        assert_eq!(deserialize(&redis), Ok(Value::Obj(Box::new(d))));
        // with and without groups, empty or not
        for s in [
            stream(3, false),
            stream(500, false),
            stream(3, true),
            stream(500, true),
            {
                let mut empty = stream(2, true);
                empty.delete(StreamId::new(1, 0));
                empty
            },
        ] {
            let o = Object::Stream(Box::new(s));
            let back = deserialize(&serialize(ValueRef::Obj(&o))).unwrap();
            assert_eq!(back, Value::Obj(Box::new(o)));
        }
        // the server's limits shape the stream that comes back, not its contents
        let s = stream(500, true);
        let payload = serialize(ValueRef::Obj(&Object::Stream(Box::new(s.clone()))));
        assert_eq!(restored_stream(&payload, &lim).node_count(), 5);
        let tight = Limits {
            stream_node: NodeLimits {
                max_bytes: 0,
                max_entries: 10,
            },
            ..Limits::default()
        };
        let back = restored_stream(&payload, &tight);
        assert_eq!(back.node_count(), 50);
        assert_eq!(back, s);
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let v = Value::from_bytes(&bytes);
            prop_assert_eq!(deserialize(&serialize(v.as_ref())), Ok(v.clone()));
            prop_assert_eq!(deserialize(&serialize(ValueRef::Raw(&bytes))), Ok(v));
        }

        #[test]
        fn integers_round_trip(i in any::<i64>()) {
            prop_assert_eq!(deserialize(&serialize(ValueRef::Int(i))), Ok(Value::Int(i)));
        }

        #[test]
        fn any_single_bit_flip_is_detected(bytes in proptest::collection::vec(any::<u8>(), 0..64), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut payload = serialize(Value::from_bytes(&bytes).as_ref());
            let i = at.index(payload.len());
            payload[i] ^= 1 << bit;
            prop_assert!(deserialize(&payload).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = deserialize(&bytes);
        }

        #[test]
        fn streams_round_trip(
            entries in proptest::collection::vec(
                (1..4u64, proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 2..7), any::<bool>()),
                0..400,
            ),
            pending in proptest::collection::vec((any::<prop::sample::Index>(), any::<bool>(), any::<u64>(), 1..9u64), 0..20),
        ) {
            let lim = Limits::default();
            let mut s = Stream::new();
            let mut ids = Vec::new();
            let mut id = StreamId::new(1, 0);
            for (step, mut fields, deleted) in entries {
                id = if step == 1 { StreamId::new(id.ms, id.seq + 1) } else { StreamId::new(id.ms + step, 0) };
                fields.truncate(fields.len() / 2 * 2);
                let flat: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
                s.append(id, &flat, lim.stream_node);
                ids.push(id);
                if deleted {
                    s.delete(id);
                }
            }
            s.create_group(b"g", s.last_id(), Some(s.entries_added()));
            let g = s.group_mut(b"g").unwrap();
            for c in [&b"a"[..], b"b"] {
                g.ensure_consumer(c, 7);
                g.set_consumer_times(c, 7, Some(7));
            }
            if !ids.is_empty() {
                for (which, to_a, time, count) in pending {
                    g.assign(*which.get(&ids), if to_a { b"a" } else { b"b" }, time, count);
                }
            }
            let o = Object::Stream(Box::new(s));
            let payload = serialize(ValueRef::Obj(&o));
            prop_assert_eq!(deserialize(&payload), Ok(Value::Obj(Box::new(o))));
        }

        #[test]
        fn zsets_round_trip(set in proptest::collection::btree_map(
            proptest::collection::vec(any::<u8>(), 0..70),
            prop_oneof![
                any::<f64>().prop_filter("not NaN", |s| !s.is_nan()),
                (-1000i64..1000).prop_map(|i| i as f64 / 4.0),
            ],
            1..200,
        )) {
            let lim = Limits::default();
            let pairs: Vec<(&[u8], f64)> = set.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
            let z = zset(&pairs, &lim);
            let payload = serialize(ValueRef::Obj(&z));
            prop_assert_eq!(deserialize(&payload), Ok(Value::Obj(Box::new(z))));
        }
    }
}
