//! Bitmap commands against the real binary: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD, BITFIELD_RO. Error replies are checked byte for byte on a raw socket.

mod common;

use common::{CairnProcess, RawConn};
use redis::{Connection, Value};

/// A RESP request for `args`.
fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends the whitespace-separated command and expects exactly the error line `msg`.
fn assert_err(raw: &mut RawConn, cmd: &str, msg: &str) {
    let args: Vec<&[u8]> = cmd.split_whitespace().map(str::as_bytes).collect();
    raw.roundtrip(&resp(&args), format!("-{msg}\r\n").as_bytes());
}

fn cmd(line: &str) -> redis::Cmd {
    let mut parts = line.split_whitespace();
    let mut cmd = redis::cmd(parts.next().expect("a command name"));
    for p in parts {
        cmd.arg(p);
    }
    cmd
}

fn int(c: &mut Connection, line: &str) -> i64 {
    cmd(line)
        .query::<i64>(c)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn ints(c: &mut Connection, line: &str) -> Vec<Option<i64>> {
    cmd(line)
        .query::<Vec<Option<i64>>>(c)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn set(c: &mut Connection, key: &str, value: &[u8]) {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query::<()>(c)
        .expect("SET");
}

fn get(c: &mut Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(c).expect("GET")
}

const OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";
const BIT_ERR: &str = "ERR bit is not an integer or out of range";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";
const TYPE_ERR: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

#[test]
fn setbit_and_getbit() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    // The documented example.
    assert_eq!(int(&mut c, "SETBIT mykey 7 1"), 0);
    assert_eq!(int(&mut c, "SETBIT mykey 7 0"), 1);
    assert_eq!(get(&mut c, "mykey"), Some(vec![0]));
    assert_eq!(int(&mut c, "SETBIT mykey 7 1"), 0);
    assert_eq!(int(&mut c, "GETBIT mykey 0"), 0);
    assert_eq!(int(&mut c, "GETBIT mykey 7"), 1);
    assert_eq!(int(&mut c, "GETBIT mykey 100"), 0);

    // Growing pads with zero bytes.
    assert_eq!(int(&mut c, "SETBIT mykey 100 1"), 0);
    assert_eq!(int(&mut c, "STRLEN mykey"), 13);
    assert_eq!(int(&mut c, "GETBIT mykey 100"), 1);
    assert_eq!(int(&mut c, "GETBIT mykey 99"), 0);
    assert_eq!(int(&mut c, "SETBIT fresh 17 1"), 0);
    assert_eq!(get(&mut c, "fresh"), Some(vec![0, 0, 0x40]));
    // Clearing a bit on a missing key still creates it.
    assert_eq!(int(&mut c, "SETBIT zeros 9 0"), 0);
    assert_eq!(get(&mut c, "zeros"), Some(vec![0, 0]));

    // Missing keys and the largest offset read as 0.
    assert_eq!(int(&mut c, "GETBIT nokey 5"), 0);
    assert_eq!(int(&mut c, "GETBIT mykey 4294967295"), 0);

    // Integer-encoded strings are bits of their decimal spelling ('1' is 0x31).
    set(&mut c, "n", b"1");
    assert_eq!(int(&mut c, "GETBIT n 2"), 1);
    assert_eq!(int(&mut c, "GETBIT n 1"), 0);
    assert_eq!(int(&mut c, "SETBIT n 6 1"), 0);
    assert_eq!(get(&mut c, "n"), Some(b"3".to_vec()));
    assert_eq!(int(&mut c, "INCR n"), 4);

    // SETBIT keeps the TTL.
    redis::cmd("SET")
        .arg("t")
        .arg("abc")
        .arg("EX")
        .arg(100)
        .query::<()>(&mut c)
        .unwrap();
    assert_eq!(int(&mut c, "SETBIT t 0 1"), 0);
    assert!(int(&mut c, "TTL t") > 0);
    assert_eq!(get(&mut c, "t"), Some(b"\xe1bc".to_vec()));
    assert_eq!(int(&mut c, "TTL fresh"), -1);
}

#[test]
fn setbit_and_getbit_errors() {
    let srv = CairnProcess::start(&[]);
    let mut raw = srv.raw();
    assert_err(&mut raw, "SETBIT k -1 1", OFFSET_ERR);
    assert_err(&mut raw, "SETBIT k abc 1", OFFSET_ERR);
    assert_err(&mut raw, "SETBIT k #1 1", OFFSET_ERR);
    assert_err(&mut raw, "SETBIT k 4294967296 1", OFFSET_ERR);
    assert_err(&mut raw, "GETBIT k -1", OFFSET_ERR);
    assert_err(&mut raw, "GETBIT k 4294967296", OFFSET_ERR);
    assert_err(&mut raw, "SETBIT k 1 2", BIT_ERR);
    assert_err(&mut raw, "SETBIT k 1 -1", BIT_ERR);
    assert_err(&mut raw, "SETBIT k 1 x", BIT_ERR);
    // The offset is checked before the value.
    assert_err(&mut raw, "SETBIT k -1 x", OFFSET_ERR);
    assert_err(
        &mut raw,
        "SETBIT k 1",
        "ERR wrong number of arguments for 'setbit' command",
    );
    assert_err(
        &mut raw,
        "GETBIT k",
        "ERR wrong number of arguments for 'getbit' command",
    );
    let mut c = srv.client();
    assert_eq!(int(&mut c, "EXISTS k"), 0);
}

#[test]
fn offsets_are_bounded_by_proto_max_bulk_len() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("proto-max-bulk-len")
        .arg("1000")
        .query::<()>(&mut c)
        .unwrap();
    // Byte 999 is the last one allowed; Redis 7.4 reports the offset as out of range
    // beyond it (the check is in its offset parser, before any string is built).
    assert_eq!(int(&mut c, "SETBIT k 7999 1"), 0);
    assert_eq!(int(&mut c, "STRLEN k"), 1000);
    let mut raw = srv.raw();
    assert_err(&mut raw, "SETBIT k 8000 1", OFFSET_ERR);
    assert_err(&mut raw, "GETBIT k 8000", OFFSET_ERR);
    assert_err(&mut raw, "BITFIELD k SET u8 8000 1", OFFSET_ERR);
    assert_err(&mut raw, "BITFIELD k GET u8 #1000", OFFSET_ERR);
    assert_eq!(ints(&mut c, "BITFIELD k GET u8 #999"), [Some(1)]);
}

#[test]
fn bitcount() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    set(&mut c, "mykey", b"foobar");
    assert_eq!(int(&mut c, "BITCOUNT mykey"), 26);
    assert_eq!(int(&mut c, "BITCOUNT mykey 0 0"), 4);
    assert_eq!(int(&mut c, "BITCOUNT mykey 1 1"), 6);
    assert_eq!(int(&mut c, "BITCOUNT mykey 1 1 BYTE"), 6);
    assert_eq!(int(&mut c, "BITCOUNT mykey 5 30 BIT"), 17);
    assert_eq!(int(&mut c, "BITCOUNT mykey 5 30 bit"), 17);
    assert_eq!(int(&mut c, "BITCOUNT mykey -2 -1"), 7);
    assert_eq!(int(&mut c, "BITCOUNT mykey 0 -1"), 26);
    assert_eq!(int(&mut c, "BITCOUNT mykey -100 100"), 26);
    assert_eq!(int(&mut c, "BITCOUNT mykey 4 2"), 0);
    assert_eq!(int(&mut c, "BITCOUNT mykey -1 -5"), 0);
    assert_eq!(int(&mut c, "BITCOUNT mykey -8 -1 BIT"), 4);
    assert_eq!(int(&mut c, "BITCOUNT nokey"), 0);
    assert_eq!(int(&mut c, "BITCOUNT nokey 0 -1 BIT"), 0);
    set(&mut c, "n", b"255");
    assert_eq!(int(&mut c, "BITCOUNT n"), 11);
    set(&mut c, "empty", b"");
    assert_eq!(int(&mut c, "BITCOUNT empty 0 -1"), 0);

    let mut raw = srv.raw();
    assert_err(&mut raw, "BITCOUNT mykey 0", SYNTAX);
    assert_err(&mut raw, "BITCOUNT nokey 0", SYNTAX);
    assert_err(&mut raw, "BITCOUNT mykey 0 1 BITS", SYNTAX);
    assert_err(&mut raw, "BITCOUNT mykey 0 1 BIT x", SYNTAX);
    assert_err(&mut raw, "BITCOUNT mykey a 1", NOT_INT);
    assert_err(&mut raw, "BITCOUNT mykey 0 1.5", NOT_INT);
    assert_err(
        &mut raw,
        "BITCOUNT",
        "ERR wrong number of arguments for 'bitcount' command",
    );
}

#[test]
fn bitpos() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    set(&mut c, "mykey", b"\xff\xf0\x00");
    assert_eq!(int(&mut c, "BITPOS mykey 0"), 12);
    set(&mut c, "mykey", b"\x00\xff\xf0");
    assert_eq!(int(&mut c, "BITPOS mykey 1 0"), 8);
    assert_eq!(int(&mut c, "BITPOS mykey 1 2"), 16);
    assert_eq!(int(&mut c, "BITPOS mykey 1 2 -1 BYTE"), 16);
    assert_eq!(int(&mut c, "BITPOS mykey 1 7 15 BIT"), 8);
    assert_eq!(int(&mut c, "BITPOS mykey 1 7 15 bit"), 8);
    set(&mut c, "mykey", b"\x00\x00\x00");
    assert_eq!(int(&mut c, "BITPOS mykey 1"), -1);
    assert_eq!(int(&mut c, "BITPOS mykey 1 7 -3 BIT"), -1);
    assert_eq!(int(&mut c, "BITPOS mykey 0 1"), 8);

    // Looking for 0 in ones: past the string without an explicit end, -1 with one.
    set(&mut c, "ones", b"\xff\xff\xff");
    assert_eq!(int(&mut c, "BITPOS ones 0"), 24);
    assert_eq!(int(&mut c, "BITPOS ones 0 1"), 24);
    assert_eq!(int(&mut c, "BITPOS ones 0 0 -1"), -1);
    assert_eq!(int(&mut c, "BITPOS ones 0 0 23 BIT"), -1);
    assert_eq!(int(&mut c, "BITPOS ones 1 5"), -1);

    // A missing key is all zeros.
    assert_eq!(int(&mut c, "BITPOS nokey 1"), -1);
    assert_eq!(int(&mut c, "BITPOS nokey 0"), 0);
    assert_eq!(int(&mut c, "BITPOS nokey 0 5 10 BIT"), 0);

    let mut raw = srv.raw();
    let bit_err = "ERR The bit argument must be 1 or 0.";
    assert_err(&mut raw, "BITPOS mykey 2", bit_err);
    assert_err(&mut raw, "BITPOS nokey -1", bit_err);
    assert_err(&mut raw, "BITPOS mykey x", NOT_INT);
    assert_err(&mut raw, "BITPOS mykey 1 a", NOT_INT);
    assert_err(&mut raw, "BITPOS mykey 1 0 a", NOT_INT);
    assert_err(&mut raw, "BITPOS mykey 1 0 1 FOO", SYNTAX);
    assert_err(&mut raw, "BITPOS mykey 1 0 1 BIT extra", SYNTAX);
    assert_err(
        &mut raw,
        "BITPOS mykey",
        "ERR wrong number of arguments for 'bitpos' command",
    );
}

#[test]
fn bitop() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    set(&mut c, "key1", b"foobar");
    set(&mut c, "key2", b"abcdef");
    assert_eq!(int(&mut c, "BITOP AND dest key1 key2"), 6);
    assert_eq!(get(&mut c, "dest"), Some(b"`bc`ab".to_vec()));
    assert_eq!(int(&mut c, "BITOP OR dest key1 key2"), 6);
    assert_eq!(get(&mut c, "dest"), Some(b"goofev".to_vec()));
    assert_eq!(int(&mut c, "bitop xor dest key1 key2"), 6);
    let xor: Vec<u8> = b"foobar"
        .iter()
        .zip(b"abcdef")
        .map(|(a, b)| a ^ b)
        .collect();
    assert_eq!(get(&mut c, "dest"), Some(xor));
    assert_eq!(int(&mut c, "BITOP NOT dest key1"), 6);
    let not: Vec<u8> = b"foobar".iter().map(|a| !a).collect();
    assert_eq!(get(&mut c, "dest"), Some(not));

    // Shorter strings and missing keys count as zero bytes.
    set(&mut c, "short", b"\xff");
    set(&mut c, "long", b"\x0f\x0f");
    assert_eq!(int(&mut c, "BITOP AND d short long"), 2);
    assert_eq!(get(&mut c, "d"), Some(vec![0x0f, 0x00]));
    assert_eq!(int(&mut c, "BITOP OR d short long"), 2);
    assert_eq!(get(&mut c, "d"), Some(vec![0xff, 0x0f]));
    assert_eq!(int(&mut c, "BITOP OR d long nokey"), 2);
    assert_eq!(get(&mut c, "d"), Some(vec![0x0f, 0x0f]));
    assert_eq!(int(&mut c, "BITOP AND d nokey long"), 2);
    assert_eq!(get(&mut c, "d"), Some(vec![0, 0]));
    // The destination may be a source.
    assert_eq!(int(&mut c, "BITOP XOR long long short"), 2);
    assert_eq!(get(&mut c, "long"), Some(vec![0xf0, 0x0f]));

    // The destination loses its TTL.
    redis::cmd("SET")
        .arg("d")
        .arg("x")
        .arg("EX")
        .arg(100)
        .query::<()>(&mut c)
        .unwrap();
    assert_eq!(int(&mut c, "BITOP OR d key1"), 6);
    assert_eq!(int(&mut c, "TTL d"), -1);

    // An empty result deletes the destination.
    assert_eq!(int(&mut c, "BITOP AND d nokey1 nokey2"), 0);
    assert_eq!(int(&mut c, "EXISTS d"), 0);
    set(&mut c, "empty", b"");
    set(&mut c, "d", b"x");
    assert_eq!(int(&mut c, "BITOP NOT d empty"), 0);
    assert_eq!(int(&mut c, "EXISTS d"), 0);

    // The keys BITOP touches, destination included.
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("BITOP")
        .arg("AND")
        .arg("dest")
        .arg("a")
        .arg("b")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, ["dest", "a", "b"]);

    let mut raw = srv.raw();
    let not_err = "ERR BITOP NOT must be called with a single source key.";
    assert_err(&mut raw, "BITOP NOT d key1 key2", not_err);
    assert_err(&mut raw, "BITOP not d a b c", not_err);
    assert_err(&mut raw, "BITOP NAND d key1", SYNTAX);
    assert_err(
        &mut raw,
        "BITOP AND d",
        "ERR wrong number of arguments for 'bitop' command",
    );
}

#[test]
fn bitfield() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    // The documented examples.
    assert_eq!(
        ints(&mut c, "BITFIELD mykey INCRBY i5 100 1 GET u4 0"),
        [Some(1), Some(0)]
    );
    assert_eq!(
        ints(&mut c, "BITFIELD mystring SET i8 #0 100 SET i8 #1 200"),
        [Some(0), Some(0)]
    );
    assert_eq!(get(&mut c, "mystring"), Some(vec![100, 200]));
    assert_eq!(
        ints(&mut c, "BITFIELD mystring GET i8 #1 GET u8 8"),
        [Some(-56), Some(200)]
    );
    let line = "BITFIELD ov incrby u2 100 1 OVERFLOW SAT incrby u2 102 1";
    assert_eq!(ints(&mut c, line), [Some(1), Some(1)]);
    assert_eq!(ints(&mut c, line), [Some(2), Some(2)]);
    assert_eq!(ints(&mut c, line), [Some(3), Some(3)]);
    assert_eq!(ints(&mut c, line), [Some(0), Some(3)]);
    assert_eq!(
        ints(&mut c, "BITFIELD ov OVERFLOW FAIL incrby u2 102 1"),
        [None]
    );

    // i8 overflow in the three modes; OVERFLOW applies to the operations after it.
    assert_eq!(
        ints(&mut c, "BITFIELD s SET i8 0 127 INCRBY i8 0 1"),
        [Some(0), Some(-128)]
    );
    assert_eq!(
        ints(
            &mut c,
            "BITFIELD s OVERFLOW SAT INCRBY i8 0 -1 OVERFLOW FAIL INCRBY i8 0 -1 GET i8 0"
        ),
        [Some(-128), None, Some(-128)]
    );
    assert_eq!(
        ints(&mut c, "BITFIELD s OVERFLOW sat SET i8 0 300 GET i8 0"),
        [Some(-128), Some(127)]
    );
    assert_eq!(
        ints(&mut c, "BITFIELD s OVERFLOW WRAP SET i8 0 -200 GET i8 0"),
        [Some(127), Some(56)]
    );
    assert_eq!(
        ints(&mut c, "BITFIELD s OVERFLOW FAIL SET i8 0 128 GET i8 0"),
        [None, Some(56)]
    );
    assert_eq!(
        ints(&mut c, "BITFIELD s SET u63 1 -1 GET u63 1"),
        [Some(56 << 56), Some(i64::MAX)]
    );
    assert_eq!(
        ints(&mut c, "BITFIELD s SET i64 0 -1 INCRBY i64 0 1"),
        [Some(i64::MAX), Some(0)]
    );

    // Only GETs on a missing key: zeros, and the key is not created.
    assert_eq!(
        ints(&mut c, "BITFIELD nokey GET u8 0 get i16 #3"),
        [Some(0), Some(0)]
    );
    assert_eq!(
        ints(&mut c, "BITFIELD nokey OVERFLOW SAT"),
        Vec::<Option<i64>>::new()
    );
    let empty: Vec<Value> = redis::cmd("BITFIELD").arg("nokey").query(&mut c).unwrap();
    assert!(empty.is_empty());
    assert_eq!(int(&mut c, "EXISTS nokey"), 0);
    // A write creates the key even when OVERFLOW FAIL refuses it.
    assert_eq!(
        ints(&mut c, "BITFIELD f OVERFLOW FAIL INCRBY u2 0 5"),
        [None]
    );
    assert_eq!(get(&mut c, "f"), Some(vec![0]));
    // A write keeps the TTL and reads past the end are zeros.
    redis::cmd("SET")
        .arg("t")
        .arg("\x01")
        .arg("EX")
        .arg(100)
        .query::<()>(&mut c)
        .unwrap();
    assert_eq!(
        ints(&mut c, "BITFIELD t INCRBY u8 0 1 GET u16 4"),
        [Some(2), Some(0x2000)]
    );
    assert!(int(&mut c, "TTL t") > 0);

    let mut raw = srv.raw();
    for t in ["u64", "i65", "i0", "x8", "U8", "u", "i8x"] {
        assert_err(&mut raw, &format!("BITFIELD k GET {t} 0"), TYPE_ERR);
    }
    assert_err(&mut raw, "BITFIELD k GET u8 -1", OFFSET_ERR);
    assert_err(&mut raw, "BITFIELD k GET u8 #-1", OFFSET_ERR);
    assert_err(&mut raw, "BITFIELD k GET u8 abc", OFFSET_ERR);
    assert_err(&mut raw, "BITFIELD k GET u8 4294967296", OFFSET_ERR);
    assert_err(&mut raw, "BITFIELD k GET u8 #536870912", OFFSET_ERR);
    assert_err(
        &mut raw,
        "BITFIELD k OVERFLOW FOO GET u8 0",
        "ERR Invalid OVERFLOW type specified",
    );
    assert_err(&mut raw, "BITFIELD k GET u8", SYNTAX);
    assert_err(&mut raw, "BITFIELD k SET u8 0", SYNTAX);
    assert_err(&mut raw, "BITFIELD k INCRBY u8 0", SYNTAX);
    assert_err(&mut raw, "BITFIELD k OVERFLOW", SYNTAX);
    assert_err(&mut raw, "BITFIELD k FOO u8 0", SYNTAX);
    assert_err(&mut raw, "BITFIELD k SET u8 0 x", NOT_INT);
    assert_err(&mut raw, "BITFIELD k INCRBY u8 0 1.5", NOT_INT);
    // Nothing runs when any part is invalid.
    assert_err(&mut raw, "BITFIELD k SET u8 0 1 GET u64 0", TYPE_ERR);
    assert_eq!(int(&mut c, "EXISTS k"), 0);
    assert_err(
        &mut raw,
        "BITFIELD",
        "ERR wrong number of arguments for 'bitfield' command",
    );
}

#[test]
fn bitfield_ro() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    set(&mut c, "hello", b"Hello World");
    assert_eq!(ints(&mut c, "BITFIELD_RO hello GET i8 16"), [Some(108)]);
    assert_eq!(
        ints(&mut c, "bitfield_ro hello GET u8 #0 GET i4 0"),
        [Some(72), Some(4)]
    );
    assert_eq!(ints(&mut c, "BITFIELD_RO nokey GET u8 0"), [Some(0)]);
    assert_eq!(int(&mut c, "EXISTS nokey"), 0);

    let mut raw = srv.raw();
    let ro = "ERR BITFIELD_RO only supports the GET subcommand";
    assert_err(&mut raw, "BITFIELD_RO hello SET u8 0 1", ro);
    assert_err(&mut raw, "BITFIELD_RO hello GET u8 0 INCRBY u8 0 1", ro);
    assert_err(&mut raw, "BITFIELD_RO nokey INCRBY u8 0 1", ro);
    // Parse errors come first.
    assert_err(&mut raw, "BITFIELD_RO hello SET u64 0 1", TYPE_ERR);
    assert_eq!(get(&mut c, "hello"), Some(b"Hello World".to_vec()));
    assert_eq!(int(&mut c, "EXISTS nokey"), 0);
}

fn keyspace_counters(c: &mut Connection) -> (u64, u64) {
    let info: String = redis::cmd("INFO").arg("stats").query(c).unwrap();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} in INFO"))
            .trim()
            .parse()
            .unwrap()
    };
    (field("keyspace_hits"), field("keyspace_misses"))
}

#[test]
fn reads_count_as_keyspace_hits_and_misses() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    set(&mut c, "k", b"abc");
    let before = keyspace_counters(&mut c);
    int(&mut c, "GETBIT k 1"); // hit
    int(&mut c, "BITCOUNT nokey"); // miss
    int(&mut c, "BITPOS k 1"); // hit
    int(&mut c, "BITOP AND d k nokey"); // hit + miss
    ints(&mut c, "BITFIELD k GET u8 0"); // hit
    ints(&mut c, "BITFIELD_RO nokey GET u8 0"); // miss
    int(&mut c, "SETBIT k 1 1"); // a write: neither
    ints(&mut c, "BITFIELD k SET u8 0 1"); // a write: neither
    let after = keyspace_counters(&mut c);
    assert_eq!((after.0 - before.0, after.1 - before.1), (4, 3));
}

/// Name, arity, flags, key positions.
type Expected = (&'static str, i64, &'static [&'static str], (i64, i64, i64));

#[test]
fn command_table_entries() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    let expect: &[Expected] = &[
        ("setbit", 4, &["write", "denyoom"], (1, 1, 1)),
        ("getbit", 3, &["readonly", "fast"], (1, 1, 1)),
        ("bitcount", -2, &["readonly"], (1, 1, 1)),
        ("bitpos", -3, &["readonly"], (1, 1, 1)),
        ("bitop", -4, &["write", "denyoom"], (2, -1, 1)),
        ("bitfield", -2, &["write", "denyoom"], (1, 1, 1)),
        ("bitfield_ro", -2, &["readonly", "fast"], (1, 1, 1)),
    ];
    for (name, arity, flags, keys) in expect {
        let info: Vec<Value> = redis::cmd("COMMAND")
            .arg("INFO")
            .arg(*name)
            .query(&mut c)
            .unwrap();
        let Value::Array(fields) = &info[0] else {
            panic!("{name}: {info:?}");
        };
        let as_int = |v: &Value| match v {
            Value::Int(i) => *i,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(fields[0], Value::BulkString(name.as_bytes().to_vec()));
        assert_eq!(as_int(&fields[1]), *arity, "{name}");
        let got: Vec<String> = redis::from_redis_value(fields[2].clone()).unwrap();
        assert_eq!(got, *flags, "{name}");
        let positions = (as_int(&fields[3]), as_int(&fields[4]), as_int(&fields[5]));
        assert_eq!(positions, *keys, "{name}");
    }
}
