//! String commands against the real binary: every reply and error text as Redis 7.4
//! gives it.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{CairnProcess, err, q, qb, start};
use redis::{Connection, Value};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn get(con: &mut Connection, key: &str) -> Option<String> {
    q(con, &["GET", key])
}

fn ttl(con: &mut Connection, key: &str) -> i64 {
    q(con, &["TTL", key])
}

fn pttl(con: &mut Connection, key: &str) -> i64 {
    q(con, &["PTTL", key])
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

fn int(i: i64) -> Value {
    Value::Int(i)
}

// ---------------------------------------------------------------------------------------
// GET / SET
// ---------------------------------------------------------------------------------------

#[test]
fn get_and_set() {
    let (_srv, mut con) = start();
    // missing key
    assert_eq!(get(&mut con, "k"), None);
    // write, overwrite
    assert_eq!(q::<String>(&mut con, &["SET", "k", "v1"]), "OK");
    assert_eq!(get(&mut con, "k").as_deref(), Some("v1"));
    assert_eq!(q::<String>(&mut con, &["SET", "k", "v2"]), "OK");
    assert_eq!(get(&mut con, "k").as_deref(), Some("v2"));
    // empty value
    q::<()>(&mut con, &["SET", "empty", ""]);
    assert_eq!(get(&mut con, "empty").as_deref(), Some(""));
    // arity
    assert_eq!(
        err(&mut con, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err(&mut con, &["GET", "a", "b"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err(&mut con, &["SET", "k"]),
        "ERR wrong number of arguments for 'set' command"
    );
}

#[test]
fn set_nx_and_xx() {
    let (_srv, mut con) = start();
    // NX: only when missing
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "k", "a", "NX"]).as_deref(),
        Some("OK")
    );
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "k", "b", "NX"]),
        None
    );
    assert_eq!(get(&mut con, "k").as_deref(), Some("a"));
    // XX: only when present
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "x", "a", "XX"]),
        None
    );
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "x"]), 0);
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "k", "c", "xx"]).as_deref(),
        Some("OK")
    );
    assert_eq!(get(&mut con, "k").as_deref(), Some("c"));
    // repeating the same flag is fine
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "n", "1", "NX", "NX"]).as_deref(),
        Some("OK")
    );
}

#[test]
fn set_get_option_returns_the_old_value() {
    let (_srv, mut con) = start();
    // missing: nil, but the key is written
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "k", "new", "GET"]),
        None
    );
    assert_eq!(get(&mut con, "k").as_deref(), Some("new"));
    // present: the old value
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "k", "newer", "GET"]).as_deref(),
        Some("new")
    );
    assert_eq!(get(&mut con, "k").as_deref(), Some("newer"));
    // NX GET on an existing key: old value, nothing written
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "k", "nx", "NX", "GET"]).as_deref(),
        Some("newer")
    );
    assert_eq!(get(&mut con, "k").as_deref(), Some("newer"));
    // XX GET on a missing key: nil, nothing written
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "missing", "v", "XX", "GET"]),
        None
    );
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "missing"]), 0);
    // GET with an expiry
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "k", "v", "GET", "EX", "100"]).as_deref(),
        Some("newer")
    );
    assert_eq!(ttl(&mut con, "k"), 100);
}

#[test]
fn set_expiry_options() {
    let (_srv, mut con) = start();
    // EX
    q::<()>(&mut con, &["SET", "ex", "v", "EX", "100"]);
    assert_eq!(ttl(&mut con, "ex"), 100);
    // PX
    q::<()>(&mut con, &["SET", "px", "v", "PX", "5000"]);
    let p = pttl(&mut con, "px");
    assert!((4000..=5000).contains(&p), "pttl {p}");
    // EXAT: the exact deadline
    let at = now_ms() / 1000 + 1000;
    q::<()>(&mut con, &["SET", "exat", "v", "EXAT", &at.to_string()]);
    assert_eq!(q::<i64>(&mut con, &["EXPIRETIME", "exat"]), at as i64);
    assert_eq!(
        q::<i64>(&mut con, &["PEXPIRETIME", "exat"]),
        at as i64 * 1000
    );
    // PXAT: the exact deadline
    let pat = now_ms() + 100_000;
    q::<()>(&mut con, &["SET", "pxat", "v", "PXAT", &pat.to_string()]);
    assert_eq!(q::<i64>(&mut con, &["PEXPIRETIME", "pxat"]), pat as i64);
    // KEEPTTL keeps it, a plain SET clears it
    q::<()>(&mut con, &["SET", "ex", "v2", "KEEPTTL"]);
    assert_eq!(ttl(&mut con, "ex"), 100);
    assert_eq!(get(&mut con, "ex").as_deref(), Some("v2"));
    q::<()>(&mut con, &["SET", "ex", "v3"]);
    assert_eq!(ttl(&mut con, "ex"), -1);
    // KEEPTTL on a key without TTL, or a missing key
    q::<()>(&mut con, &["SET", "fresh", "v", "KEEPTTL"]);
    assert_eq!(ttl(&mut con, "fresh"), -1);
    // a deadline in the past: OK, and the key is gone
    assert_eq!(
        q::<String>(&mut con, &["SET", "past", "v", "EXAT", "1"]),
        "OK"
    );
    assert_eq!(get(&mut con, "past"), None);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "past"]), 0);
    // the same expiry option twice: the last one wins
    q::<()>(&mut con, &["SET", "twice", "v", "EX", "10", "EX", "20"]);
    assert_eq!(ttl(&mut con, "twice"), 20);
}

#[test]
fn set_conflicting_and_bad_options() {
    let (_srv, mut con) = start();
    let syntax = "ERR syntax error";
    for args in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "XX", "NX"],
        &["SET", "k", "v", "EX", "10", "PX", "100"],
        &["SET", "k", "v", "PX", "100", "EXAT", "9999999999"],
        &[
            "SET",
            "k",
            "v",
            "EXAT",
            "9999999999",
            "PXAT",
            "9999999999999",
        ],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"],
        &["SET", "k", "v", "EX", "10", "KEEPTTL"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "PXAT"],
        &["SET", "k", "v", "FOO"],
        &["SET", "k", "v", "PERSIST"],
        // options are all read before the expiry is checked
        &["SET", "k", "v", "EX", "0", "NX", "XX"],
        &["SET", "k", "v", "EX", "abc", "BAR"],
    ] {
        assert_eq!(err(&mut con, args), syntax, "{args:?}");
    }
    let invalid = "ERR invalid expire time in 'set' command";
    for args in [
        &["SET", "k", "v", "EX", "0"][..],
        &["SET", "k", "v", "EX", "-1"],
        &["SET", "k", "v", "PX", "0"],
        &["SET", "k", "v", "EXAT", "0"],
        &["SET", "k", "v", "PXAT", "-5"],
        &["SET", "k", "v", "EX", "9223372036854775807"],
        &["SET", "k", "v", "PX", "9223372036854775807"],
    ] {
        assert_eq!(err(&mut con, args), invalid, "{args:?}");
    }
    assert_eq!(
        err(&mut con, &["SET", "k", "v", "EX", "1.5"]),
        "ERR value is not an integer or out of range"
    );
    // nothing was written by any of these
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);
}

// ---------------------------------------------------------------------------------------
// SETNX, SETEX, PSETEX
// ---------------------------------------------------------------------------------------

#[test]
fn setnx_setex_psetex() {
    let (_srv, mut con) = start();
    // SETNX
    assert_eq!(q::<i64>(&mut con, &["SETNX", "k", "a"]), 1);
    assert_eq!(q::<i64>(&mut con, &["SETNX", "k", "b"]), 0);
    assert_eq!(get(&mut con, "k").as_deref(), Some("a"));
    // SETEX
    assert_eq!(q::<String>(&mut con, &["SETEX", "e", "100", "v"]), "OK");
    assert_eq!(ttl(&mut con, "e"), 100);
    assert_eq!(get(&mut con, "e").as_deref(), Some("v"));
    for bad in ["0", "-5"] {
        assert_eq!(
            err(&mut con, &["SETEX", "e", bad, "v"]),
            "ERR invalid expire time in 'setex' command"
        );
    }
    assert_eq!(
        err(&mut con, &["SETEX", "e", "abc", "v"]),
        "ERR value is not an integer or out of range"
    );
    // PSETEX
    assert_eq!(q::<String>(&mut con, &["PSETEX", "p", "1500", "v"]), "OK");
    let p = pttl(&mut con, "p");
    assert!((1000..=1500).contains(&p), "pttl {p}");
    assert_eq!(
        err(&mut con, &["PSETEX", "p", "0", "v"]),
        "ERR invalid expire time in 'psetex' command"
    );
    assert_eq!(
        err(&mut con, &["SETEX", "e", "10"]),
        "ERR wrong number of arguments for 'setex' command"
    );
}

// ---------------------------------------------------------------------------------------
// MGET, MSET, MSETNX
// ---------------------------------------------------------------------------------------

#[test]
fn mget_mset_msetnx() {
    let (_srv, mut con) = start();
    // MSET
    assert_eq!(q::<String>(&mut con, &["MSET", "a", "1", "b", "2"]), "OK");
    assert_eq!(
        q::<Value>(&mut con, &["MGET", "a", "b", "c", "a"]),
        arr(vec![bulk("1"), bulk("2"), Value::Nil, bulk("1")])
    );
    assert_eq!(
        err(&mut con, &["MSET", "a"]),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(
        err(&mut con, &["MSET", "a", "1", "b"]),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(
        err(&mut con, &["MGET"]),
        "ERR wrong number of arguments for 'mget' command"
    );
    // MSET clears a TTL
    q::<()>(&mut con, &["SET", "t", "x", "EX", "100"]);
    q::<()>(&mut con, &["MSET", "t", "y"]);
    assert_eq!(ttl(&mut con, "t"), -1);
    // MSETNX: all or nothing
    assert_eq!(q::<i64>(&mut con, &["MSETNX", "c", "3", "d", "4"]), 1);
    assert_eq!(q::<i64>(&mut con, &["MSETNX", "d", "5", "e", "6"]), 0);
    assert_eq!(get(&mut con, "d").as_deref(), Some("4"));
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "e"]), 0);
    // the same new key twice: the last value wins
    assert_eq!(q::<i64>(&mut con, &["MSETNX", "x", "1", "x", "2"]), 1);
    assert_eq!(get(&mut con, "x").as_deref(), Some("2"));
    assert_eq!(
        err(&mut con, &["MSETNX", "a", "1", "b"]),
        "ERR wrong number of arguments for 'msetnx' command"
    );
}

// ---------------------------------------------------------------------------------------
// GETSET, GETDEL, GETEX
// ---------------------------------------------------------------------------------------

#[test]
fn getset_and_getdel() {
    let (_srv, mut con) = start();
    // GETSET
    assert_eq!(q::<Option<String>>(&mut con, &["GETSET", "k", "v"]), None);
    assert_eq!(
        q::<Option<String>>(&mut con, &["GETSET", "k", "w"]).as_deref(),
        Some("v")
    );
    assert_eq!(get(&mut con, "k").as_deref(), Some("w"));
    // GETSET clears the TTL
    q::<()>(&mut con, &["EXPIRE", "k", "100"]);
    q::<()>(&mut con, &["GETSET", "k", "x"]);
    assert_eq!(ttl(&mut con, "k"), -1);
    // GETDEL
    assert_eq!(
        q::<Option<String>>(&mut con, &["GETDEL", "k"]).as_deref(),
        Some("x")
    );
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);
    assert_eq!(q::<Option<String>>(&mut con, &["GETDEL", "k"]), None);
}

#[test]
fn getex_options() {
    let (_srv, mut con) = start();
    assert_eq!(q::<Option<String>>(&mut con, &["GETEX", "missing"]), None);
    q::<()>(&mut con, &["SET", "k", "v"]);
    // no option: like GET
    assert_eq!(
        q::<Option<String>>(&mut con, &["GETEX", "k"]).as_deref(),
        Some("v")
    );
    assert_eq!(ttl(&mut con, "k"), -1);
    // EX / PX
    assert_eq!(
        q::<Option<String>>(&mut con, &["GETEX", "k", "EX", "100"]).as_deref(),
        Some("v")
    );
    assert_eq!(ttl(&mut con, "k"), 100);
    q::<()>(&mut con, &["GETEX", "k", "PX", "5000"]);
    let p = pttl(&mut con, "k");
    assert!((4000..=5000).contains(&p), "pttl {p}");
    // EXAT / PXAT
    let at = now_ms() / 1000 + 500;
    q::<()>(&mut con, &["GETEX", "k", "EXAT", &at.to_string()]);
    assert_eq!(q::<i64>(&mut con, &["EXPIRETIME", "k"]), at as i64);
    let pat = now_ms() + 60_000;
    q::<()>(&mut con, &["GETEX", "k", "pxat", &pat.to_string()]);
    assert_eq!(q::<i64>(&mut con, &["PEXPIRETIME", "k"]), pat as i64);
    // PERSIST
    assert_eq!(
        q::<Option<String>>(&mut con, &["GETEX", "k", "PERSIST"]).as_deref(),
        Some("v")
    );
    assert_eq!(ttl(&mut con, "k"), -1);
    // a deadline in the past: the value is returned and the key is deleted
    assert_eq!(
        q::<Option<String>>(&mut con, &["GETEX", "k", "EXAT", "1"]).as_deref(),
        Some("v")
    );
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);
}

#[test]
fn getex_errors() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "k", "v"]);
    for bad in ["0", "-1"] {
        assert_eq!(
            err(&mut con, &["GETEX", "k", "EX", bad]),
            "ERR invalid expire time in 'getex' command"
        );
    }
    assert_eq!(
        err(&mut con, &["GETEX", "k", "PX", "x"]),
        "ERR value is not an integer or out of range"
    );
    for args in [
        &["GETEX", "k", "EX", "10", "PX", "10"][..],
        &["GETEX", "k", "PERSIST", "EX", "10"],
        &["GETEX", "k", "EX", "10", "PERSIST"],
        &["GETEX", "k", "KEEPTTL"],
        &["GETEX", "k", "NX"],
        &["GETEX", "k", "GET"],
        &["GETEX", "k", "EX"],
        &["GETEX", "k", "FOO"],
    ] {
        assert_eq!(err(&mut con, args), "ERR syntax error", "{args:?}");
    }
    // the key is looked up before the expiry is checked: a missing key is just nil
    assert_eq!(
        q::<Option<String>>(&mut con, &["GETEX", "missing", "EX", "0"]),
        None
    );
    // nothing above touched the key
    assert_eq!(get(&mut con, "k").as_deref(), Some("v"));
    assert_eq!(ttl(&mut con, "k"), -1);
}

// ---------------------------------------------------------------------------------------
// APPEND, STRLEN
// ---------------------------------------------------------------------------------------

#[test]
fn append_and_strlen() {
    let (_srv, mut con) = start();
    assert_eq!(q::<i64>(&mut con, &["APPEND", "k", "Hello"]), 5);
    assert_eq!(q::<i64>(&mut con, &["APPEND", "k", " World"]), 11);
    assert_eq!(get(&mut con, "k").as_deref(), Some("Hello World"));
    assert_eq!(q::<i64>(&mut con, &["STRLEN", "k"]), 11);
    assert_eq!(q::<i64>(&mut con, &["STRLEN", "missing"]), 0);
    // on an integer
    q::<()>(&mut con, &["SET", "n", "10"]);
    assert_eq!(q::<i64>(&mut con, &["STRLEN", "n"]), 2);
    assert_eq!(q::<i64>(&mut con, &["APPEND", "n", "5"]), 3);
    assert_eq!(get(&mut con, "n").as_deref(), Some("105"));
    assert_eq!(q::<i64>(&mut con, &["INCR", "n"]), 106);
    // APPEND keeps the TTL
    q::<()>(&mut con, &["SET", "t", "a", "EX", "100"]);
    q::<()>(&mut con, &["APPEND", "t", "b"]);
    assert_eq!(ttl(&mut con, "t"), 100);
    // empty append
    assert_eq!(q::<i64>(&mut con, &["APPEND", "t", ""]), 2);
    assert_eq!(q::<i64>(&mut con, &["APPEND", "e", ""]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "e"]), 1);
}

// ---------------------------------------------------------------------------------------
// INCR family
// ---------------------------------------------------------------------------------------

#[test]
fn incr_decr_incrby_decrby() {
    let (_srv, mut con) = start();
    assert_eq!(q::<i64>(&mut con, &["INCR", "k"]), 1);
    assert_eq!(q::<i64>(&mut con, &["INCRBY", "k", "10"]), 11);
    assert_eq!(q::<i64>(&mut con, &["DECR", "k"]), 10);
    assert_eq!(q::<i64>(&mut con, &["DECRBY", "k", "5"]), 5);
    assert_eq!(q::<i64>(&mut con, &["INCRBY", "k", "-10"]), -5);
    assert_eq!(q::<i64>(&mut con, &["DECRBY", "k", "-7"]), 2);
    assert_eq!(get(&mut con, "k").as_deref(), Some("2"));
    assert_eq!(q::<i64>(&mut con, &["DECR", "new"]), -1);
    assert_eq!(q::<i64>(&mut con, &["DECRBY", "new2", "3"]), -3);
    // a string holding an integer
    q::<()>(&mut con, &["SET", "s", "41"]);
    assert_eq!(q::<i64>(&mut con, &["INCR", "s"]), 42);
    q::<()>(&mut con, &["SET", "s", "-9223372036854775807"]);
    assert_eq!(q::<i64>(&mut con, &["DECR", "s"]), i64::MIN);
    // INCR keeps the TTL
    q::<()>(&mut con, &["SET", "t", "1", "EX", "100"]);
    q::<()>(&mut con, &["INCR", "t"]);
    assert_eq!(ttl(&mut con, "t"), 100);
}

#[test]
fn incr_rejects_non_integers_and_overflow() {
    let (_srv, mut con) = start();
    let not_int = "ERR value is not an integer or out of range";
    for v in [
        "abc",
        "1.5",
        " 1",
        "1 ",
        "+1",
        "01",
        "-0",
        "",
        "9223372036854775808",
        "123456789012345678901",
    ] {
        q::<()>(&mut con, &["SET", "k", v]);
        assert_eq!(err(&mut con, &["INCR", "k"]), not_int, "value {v:?}");
        assert_eq!(err(&mut con, &["DECRBY", "k", "1"]), not_int, "value {v:?}");
        assert_eq!(get(&mut con, "k").as_deref(), Some(v));
    }
    q::<()>(&mut con, &["SET", "n", "1"]);
    for by in ["abc", "1.0", "9223372036854775808", ""] {
        assert_eq!(err(&mut con, &["INCRBY", "n", by]), not_int, "by {by:?}");
    }
    // overflow
    let overflow = "ERR increment or decrement would overflow";
    q::<()>(&mut con, &["SET", "max", "9223372036854775807"]);
    assert_eq!(err(&mut con, &["INCR", "max"]), overflow);
    assert_eq!(err(&mut con, &["INCRBY", "max", "1"]), overflow);
    assert_eq!(err(&mut con, &["DECRBY", "max", "-1"]), overflow);
    q::<()>(&mut con, &["SET", "min", "-9223372036854775808"]);
    assert_eq!(err(&mut con, &["DECR", "min"]), overflow);
    assert_eq!(err(&mut con, &["INCRBY", "min", "-1"]), overflow);
    assert_eq!(
        err(&mut con, &["DECRBY", "n", "-9223372036854775808"]),
        "ERR decrement would overflow"
    );
    // the values are unchanged
    assert_eq!(get(&mut con, "max").as_deref(), Some("9223372036854775807"));
    assert_eq!(
        get(&mut con, "min").as_deref(),
        Some("-9223372036854775808")
    );
    assert_eq!(get(&mut con, "n").as_deref(), Some("1"));
}

#[test]
fn incrbyfloat_formats_like_redis() {
    let (_srv, mut con) = start();
    // the documented example
    q::<()>(&mut con, &["SET", "k", "10.50"]);
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "k", "0.1"]), "10.6");
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "k", "-5"]), "5.6");
    assert_eq!(get(&mut con, "k").as_deref(), Some("5.6"));
    q::<()>(&mut con, &["SET", "k", "5.0e3"]);
    assert_eq!(
        q::<String>(&mut con, &["INCRBYFLOAT", "k", "2.0e2"]),
        "5200"
    );
    assert_eq!(get(&mut con, "k").as_deref(), Some("5200"));
    // missing key starts at 0; integers print without a point
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "new", "1"]), "1");
    assert_eq!(
        q::<String>(&mut con, &["INCRBYFLOAT", "new", "0.25"]),
        "1.25"
    );
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "new", "-1.25"]), "0");
    // on an integer value
    q::<()>(&mut con, &["SET", "i", "3"]);
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "i", "1.5"]), "4.5");
    // never an exponent in the result
    q::<()>(&mut con, &["SET", "big", "1"]);
    assert_eq!(
        q::<String>(&mut con, &["INCRBYFLOAT", "big", "1e20"]),
        "100000000000000000000"
    );
    assert_eq!(
        q::<String>(&mut con, &["INCRBYFLOAT", "small", "1e-5"]),
        "0.00001"
    );
    // keeps the TTL
    q::<()>(&mut con, &["SET", "t", "1", "EX", "100"]);
    q::<()>(&mut con, &["INCRBYFLOAT", "t", "1.5"]);
    assert_eq!(ttl(&mut con, "t"), 100);
}

#[test]
fn incrbyfloat_errors() {
    let (_srv, mut con) = start();
    let not_float = "ERR value is not a valid float";
    q::<()>(&mut con, &["SET", "s", "abc"]);
    assert_eq!(err(&mut con, &["INCRBYFLOAT", "s", "1"]), not_float);
    q::<()>(&mut con, &["SET", "n", "1"]);
    for by in ["abc", "", " 1", "1 ", "1.5x", "nan"] {
        assert_eq!(
            err(&mut con, &["INCRBYFLOAT", "n", by]),
            not_float,
            "{by:?}"
        );
    }
    assert_eq!(
        err(&mut con, &["INCRBYFLOAT", "n", "inf"]),
        "ERR increment would produce NaN or Infinity"
    );
    assert_eq!(get(&mut con, "n").as_deref(), Some("1"));
}

/// Redis adds in `long double` and prints 17 decimals, so 0.1 + 0.2 reads back as 0.3,
/// not as the f64 sum 0.30000000000000004.
#[test]
fn incrbyfloat_uses_long_double_precision() {
    let (_srv, mut con) = start();
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "k", "0.1"]), "0.1");
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "k", "0.2"]), "0.3");
    q::<()>(&mut con, &["SET", "m", "1.1"]);
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "m", "2.2"]), "3.3");
}

// ---------------------------------------------------------------------------------------
// GETRANGE / SUBSTR, SETRANGE
// ---------------------------------------------------------------------------------------

#[test]
fn getrange_and_substr() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "k", "This is a string"]);
    for (cmd_name, s, e, want) in [
        ("GETRANGE", "0", "3", "This"),
        ("GETRANGE", "-3", "-1", "ing"),
        ("GETRANGE", "0", "-1", "This is a string"),
        ("GETRANGE", "10", "100", "string"),
        ("GETRANGE", "-100", "2", "Thi"),
        ("GETRANGE", "5", "3", ""),
        ("GETRANGE", "-1", "-5", ""),
        ("GETRANGE", "100", "200", ""),
        ("GETRANGE", "0", "-100", "T"),
        ("SUBSTR", "0", "3", "This"),
        ("SUBSTR", "-6", "-1", "string"),
    ] {
        assert_eq!(
            q::<String>(&mut con, &[cmd_name, "k", s, e]),
            want,
            "{cmd_name} {s} {e}"
        );
    }
    assert_eq!(
        q::<String>(&mut con, &["GETRANGE", "missing", "0", "-1"]),
        ""
    );
    q::<()>(&mut con, &["SET", "n", "12345"]);
    assert_eq!(q::<String>(&mut con, &["GETRANGE", "n", "1", "2"]), "23");
    q::<()>(&mut con, &["SET", "e", ""]);
    assert_eq!(q::<String>(&mut con, &["GETRANGE", "e", "0", "-1"]), "");
    assert_eq!(
        err(&mut con, &["GETRANGE", "k", "a", "1"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn setrange_pads_with_zeros() {
    let (_srv, mut con) = start();
    // a missing key is zero padded
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "k", "5", "hi"]), 7);
    assert_eq!(
        qb::<Vec<u8>>(&mut con, &[b"GET", b"k"]),
        b"\0\0\0\0\0hi".to_vec()
    );
    // overwrite inside
    q::<()>(&mut con, &["SET", "s", "Hello World"]);
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "s", "6", "Redis"]), 11);
    assert_eq!(get(&mut con, "s").as_deref(), Some("Hello Redis"));
    // grow past the end
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "s", "13", "!"]), 14);
    assert_eq!(
        qb::<Vec<u8>>(&mut con, &[b"GET", b"s"]),
        b"Hello Redis\0\0!".to_vec()
    );
    // empty value: length only, nothing created
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "s", "100", ""]), 14);
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "none", "10", ""]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "none"]), 0);
    // on an integer
    q::<()>(&mut con, &["SET", "n", "123"]);
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "n", "1", "9"]), 3);
    assert_eq!(get(&mut con, "n").as_deref(), Some("193"));
    // keeps the TTL
    q::<()>(&mut con, &["SET", "t", "abc", "EX", "100"]);
    q::<()>(&mut con, &["SETRANGE", "t", "0", "x"]);
    assert_eq!(ttl(&mut con, "t"), 100);
    // errors
    assert_eq!(
        err(&mut con, &["SETRANGE", "s", "-1", "x"]),
        "ERR offset is out of range"
    );
    assert_eq!(
        err(&mut con, &["SETRANGE", "s", "abc", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut con, &["SETRANGE", "s", "536870912", "x"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(
        err(&mut con, &["SETRANGE", "fresh", "536870911", "xy"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "fresh"]), 0);
}

// ---------------------------------------------------------------------------------------
// LCS
// ---------------------------------------------------------------------------------------

fn range(a: i64, b: i64) -> Value {
    arr(vec![int(a), int(b)])
}

#[test]
fn lcs_documented_examples() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
    assert_eq!(q::<String>(&mut con, &["LCS", "key1", "key2"]), "mytext");
    assert_eq!(q::<i64>(&mut con, &["LCS", "key1", "key2", "LEN"]), 6);
    // IDX (RESP2: the map is a flat array)
    assert_eq!(
        q::<Value>(&mut con, &["LCS", "key1", "key2", "IDX"]),
        arr(vec![
            bulk("matches"),
            arr(vec![
                arr(vec![range(4, 7), range(5, 8)]),
                arr(vec![range(2, 3), range(0, 1)]),
            ]),
            bulk("len"),
            int(6),
        ])
    );
    assert_eq!(
        q::<Value>(
            &mut con,
            &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4"]
        ),
        arr(vec![
            bulk("matches"),
            arr(vec![arr(vec![range(4, 7), range(5, 8)])]),
            bulk("len"),
            int(6),
        ])
    );
    assert_eq!(
        q::<Value>(
            &mut con,
            &[
                "LCS",
                "key1",
                "key2",
                "IDX",
                "MINMATCHLEN",
                "4",
                "WITHMATCHLEN"
            ]
        ),
        arr(vec![
            bulk("matches"),
            arr(vec![arr(vec![range(4, 7), range(5, 8), int(4)])]),
            bulk("len"),
            int(6),
        ])
    );
    assert_eq!(
        q::<Value>(&mut con, &["LCS", "key1", "key2", "IDX", "WITHMATCHLEN"]),
        arr(vec![
            bulk("matches"),
            arr(vec![
                arr(vec![range(4, 7), range(5, 8), int(4)]),
                arr(vec![range(2, 3), range(0, 1), int(2)]),
            ]),
            bulk("len"),
            int(6),
        ])
    );
}

#[test]
fn lcs_edge_cases_and_errors() {
    let (_srv, mut con) = start();
    q::<()>(
        &mut con,
        &["MSET", "a", "ohmytext", "b", "mynewtext", "z", "xyz"],
    );
    // missing keys are empty strings
    assert_eq!(q::<String>(&mut con, &["LCS", "a", "missing"]), "");
    assert_eq!(
        q::<i64>(&mut con, &["LCS", "missing", "missing2", "LEN"]),
        0
    );
    // ties resolve as Redis's backtracking does
    assert_eq!(q::<String>(&mut con, &["LCS", "a", "z"]), "x");
    assert_eq!(
        q::<Value>(&mut con, &["LCS", "a", "missing", "IDX"]),
        arr(vec![bulk("matches"), arr(vec![]), bulk("len"), int(0)])
    );
    // a negative MINMATCHLEN counts as 0
    assert_eq!(
        q::<Value>(&mut con, &["LCS", "a", "b", "IDX", "MINMATCHLEN", "-3"]),
        q::<Value>(&mut con, &["LCS", "a", "b", "IDX"])
    );
    assert_eq!(
        err(&mut con, &["LCS", "a", "b", "LEN", "IDX"]),
        "ERR If you want both the length and indexes, please just use IDX."
    );
    assert_eq!(err(&mut con, &["LCS", "a", "b", "FOO"]), "ERR syntax error");
    assert_eq!(
        err(&mut con, &["LCS", "a", "b", "MINMATCHLEN"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["LCS", "a", "b", "MINMATCHLEN", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut con, &["LCS", "a"]),
        "ERR wrong number of arguments for 'lcs' command"
    );
}

#[test]
fn lcs_idx_in_resp3_is_a_map() {
    let srv = CairnProcess::start(&[]);
    let mut con = redis::Client::open(srv.url_resp3())
        .unwrap()
        .get_connection()
        .unwrap();
    q::<()>(&mut con, &["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
    assert_eq!(
        q::<Value>(
            &mut con,
            &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4"]
        ),
        Value::Map(vec![
            (
                bulk("matches"),
                arr(vec![arr(vec![range(4, 7), range(5, 8)])])
            ),
            (bulk("len"), int(6)),
        ])
    );
}

// ---------------------------------------------------------------------------------------
// Binary safety
// ---------------------------------------------------------------------------------------

#[test]
fn keys_and_values_are_binary_safe() {
    let (_srv, mut con) = start();
    let key: &[u8] = b"k\0\r\n\xff";
    let value: &[u8] = b"v\0\r\nx\x00\xfe";
    // write, read back
    assert_eq!(qb::<String>(&mut con, &[b"SET", key, value]), "OK");
    assert_eq!(qb::<Vec<u8>>(&mut con, &[b"GET", key]), value.to_vec());
    assert_eq!(qb::<i64>(&mut con, &[b"STRLEN", key]), value.len() as i64);
    // a key differing only after the NUL is another key
    assert_eq!(qb::<Option<Vec<u8>>>(&mut con, &[b"GET", b"k\0"]), None);
    assert_eq!(qb::<Option<Vec<u8>>>(&mut con, &[b"GET", b"k"]), None);
    // APPEND, GETRANGE, MGET, SETRANGE over binary bytes
    assert_eq!(qb::<i64>(&mut con, &[b"APPEND", key, b"\n\0"]), 9);
    assert_eq!(
        qb::<Vec<u8>>(&mut con, &[b"GETRANGE", key, b"1", b"3"]),
        b"\0\r\n".to_vec()
    );
    assert_eq!(
        qb::<Vec<Option<Vec<u8>>>>(&mut con, &[b"MGET", key, b"nope"]),
        vec![Some(b"v\0\r\nx\x00\xfe\n\0".to_vec()), None]
    );
    assert_eq!(qb::<i64>(&mut con, &[b"SETRANGE", key, b"0", b"\r"]), 9);
    assert_eq!(
        qb::<Vec<u8>>(&mut con, &[b"GETDEL", key]),
        b"\r\0\r\nx\x00\xfe\n\0".to_vec()
    );
    // a large value survives intact
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    qb::<()>(&mut con, &[b"SET", b"big", &big]);
    assert_eq!(qb::<Vec<u8>>(&mut con, &[b"GET", b"big"]), big);
}
