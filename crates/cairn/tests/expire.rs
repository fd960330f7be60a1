//! Expiry against the real binary: EXPIRE and friends, TTL and friends, lazy and active
//! expiry, with Redis 7.4's replies and errors.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{err, q, start};
use redis::{Connection, Value};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn int(con: &mut Connection, args: &[&str]) -> i64 {
    q(con, args)
}

fn ttl(con: &mut Connection, key: &str) -> i64 {
    int(con, &["TTL", key])
}

fn pttl(con: &mut Connection, key: &str) -> i64 {
    int(con, &["PTTL", key])
}

fn exists(con: &mut Connection, key: &str) -> i64 {
    int(con, &["EXISTS", key])
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One numeric field of INFO.
fn info_field(con: &mut Connection, section: &str, field: &str) -> i64 {
    let text: String = q(con, &["INFO", section]);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// EXPIRE family, TTL family
// ---------------------------------------------------------------------------------------

#[test]
fn expire_and_ttl_replies() {
    let (_srv, mut con) = start();
    // missing key
    assert_eq!(int(&mut con, &["EXPIRE", "missing", "100"]), 0);
    for c in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(int(&mut con, &[c, "missing"]), -2, "{c}");
    }
    // no TTL
    q::<()>(&mut con, &["SET", "k", "v"]);
    for c in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(int(&mut con, &[c, "k"]), -1, "{c}");
    }
    // EXPIRE
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(ttl(&mut con, "k"), 100);
    let p = pttl(&mut con, "k");
    assert!((99_000..=100_000).contains(&p), "pttl {p}");
    let at = int(&mut con, &["PEXPIRETIME", "k"]);
    assert!(
        (now_ms() + 99_000..=now_ms() + 100_000).contains(&at),
        "{at}"
    );
    // PEXPIRE
    assert_eq!(int(&mut con, &["PEXPIRE", "k", "1800"]), 1);
    let p = pttl(&mut con, "k");
    assert!((1500..=1800).contains(&p), "pttl {p}");
    // TTL rounds to the nearest second (1.5 s to 1.8 s left: 2)
    assert_eq!(ttl(&mut con, "k"), 2);
    // arity
    assert_eq!(
        err(&mut con, &["EXPIRE", "k"]),
        "ERR wrong number of arguments for 'expire' command"
    );
    assert_eq!(
        err(&mut con, &["TTL"]),
        "ERR wrong number of arguments for 'ttl' command"
    );
}

#[test]
fn expireat_and_pexpireat_are_exact() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "k", "v"]);
    let at = now_ms() / 1000 + 1000;
    assert_eq!(int(&mut con, &["EXPIREAT", "k", &at.to_string()]), 1);
    assert_eq!(int(&mut con, &["EXPIRETIME", "k"]), at);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), at * 1000);
    let pat = now_ms() + 50_000;
    assert_eq!(int(&mut con, &["PEXPIREAT", "k", &pat.to_string()]), 1);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), pat);
    // far in the future is fine for the absolute millisecond form
    assert_eq!(int(&mut con, &["PEXPIREAT", "k", "9223372036854775807"]), 1);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), 9223372036854775807);
}

/// EXPIRETIME reports the deadline rounded to the nearest second, as TTL does.
#[test]
fn expiretime_rounds_to_the_nearest_second() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "up", "v"]);
    q::<()>(&mut con, &["SET", "down", "v"]);
    let base = now_ms() / 1000 + 1000;
    q::<()>(
        &mut con,
        &["PEXPIREAT", "up", &(base * 1000 + 600).to_string()],
    );
    q::<()>(
        &mut con,
        &["PEXPIREAT", "down", &(base * 1000 + 400).to_string()],
    );
    assert_eq!(int(&mut con, &["EXPIRETIME", "up"]), base + 1);
    assert_eq!(int(&mut con, &["EXPIRETIME", "down"]), base);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "up"]), base * 1000 + 600);
}

#[test]
fn expire_nx_xx_gt_lt() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "k", "v"]);
    // no TTL yet: XX and GT refuse, LT and NX accept
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100", "XX"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(ttl(&mut con, "k"), -1);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100", "LT"]), 1);
    assert_eq!(ttl(&mut con, "k"), 100);
    q::<()>(&mut con, &["PERSIST", "k"]);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100", "NX"]), 1);
    assert_eq!(ttl(&mut con, "k"), 100);
    // with a TTL
    assert_eq!(int(&mut con, &["EXPIRE", "k", "200", "NX"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "200", "XX"]), 1);
    assert_eq!(ttl(&mut con, "k"), 200);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "300", "gt"]), 1);
    assert_eq!(ttl(&mut con, "k"), 300);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "400", "LT"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "50", "LT"]), 1);
    assert_eq!(ttl(&mut con, "k"), 50);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "60", "XX", "GT"]), 1);
    assert_eq!(ttl(&mut con, "k"), 60);
    // the other forms take the same flags
    assert_eq!(int(&mut con, &["PEXPIRE", "k", "1000", "GT"]), 0);
    let at = (now_ms() / 1000 + 30).to_string();
    assert_eq!(int(&mut con, &["EXPIREAT", "k", &at, "LT"]), 1);
    let pat = (now_ms() + 500_000).to_string();
    assert_eq!(int(&mut con, &["PEXPIREAT", "k", &pat, "NX"]), 0);
    // an equal deadline is neither greater nor less
    let same = (now_ms() + 1_000_000).to_string();
    assert_eq!(int(&mut con, &["PEXPIREAT", "k", &same]), 1);
    assert_eq!(int(&mut con, &["PEXPIREAT", "k", &same, "GT"]), 0);
    assert_eq!(int(&mut con, &["PEXPIREAT", "k", &same, "LT"]), 0);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]).to_string(), same);
    // a missing key is 0 whatever the flags
    assert_eq!(int(&mut con, &["EXPIRE", "missing", "10", "LT"]), 0);
}

#[test]
fn expire_option_errors() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "k", "v"]);
    let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
    for opts in [&["NX", "XX"][..], &["NX", "GT"], &["LT", "NX"]] {
        let mut args = vec!["EXPIRE", "k", "100"];
        args.extend_from_slice(opts);
        assert_eq!(err(&mut con, &args), nx, "{opts:?}");
    }
    assert_eq!(
        err(&mut con, &["PEXPIRE", "k", "100", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut con, &["EXPIRE", "k", "100", "FOO"]),
        "ERR Unsupported option FOO"
    );
    assert_eq!(
        err(&mut con, &["EXPIRE", "k", "abc"]),
        "ERR value is not an integer or out of range"
    );
    // the options are read before the time
    assert_eq!(
        err(&mut con, &["EXPIRE", "k", "abc", "BAR"]),
        "ERR Unsupported option BAR"
    );
    assert_eq!(err(&mut con, &["EXPIRE", "k", "abc", "NX", "XX"]), nx);
    // overflow
    for (c, n) in [
        ("expire", "9223372036854775807"),
        ("expire", "-9223372036854775808"),
        ("pexpire", "9223372036854775807"),
        ("expireat", "9223372036854775807"),
    ] {
        assert_eq!(
            err(&mut con, &[c, "k", n]),
            format!("ERR invalid expire time in '{c}' command")
        );
    }
    assert_eq!(ttl(&mut con, "k"), -1);
}

#[test]
fn persist() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "k", "v", "EX", "100"]);
    assert_eq!(int(&mut con, &["PERSIST", "k"]), 1);
    assert_eq!(ttl(&mut con, "k"), -1);
    assert_eq!(int(&mut con, &["PERSIST", "k"]), 0);
    assert_eq!(int(&mut con, &["PERSIST", "missing"]), 0);
    assert_eq!(
        q::<Option<String>>(&mut con, &["GET", "k"]).as_deref(),
        Some("v")
    );
}

#[test]
fn negative_or_past_expiry_deletes_the_key() {
    let (_srv, mut con) = start();
    let past = (now_ms() / 1000 - 10).to_string();
    let ppast = (now_ms() - 10).to_string();
    for args in [
        &["EXPIRE", "k", "-1"][..],
        &["EXPIRE", "k", "0"],
        &["PEXPIRE", "k", "-100"],
        &["PEXPIRE", "k", "0"],
        &["EXPIREAT", "k", &past],
        &["EXPIREAT", "k", "1"],
        &["PEXPIREAT", "k", &ppast],
        &["PEXPIREAT", "k", "-5"],
    ] {
        q::<()>(&mut con, &["SET", "k", "v"]);
        assert_eq!(int(&mut con, args), 1, "{args:?}");
        assert_eq!(exists(&mut con, "k"), 0, "{args:?}");
        assert_eq!(ttl(&mut con, "k"), -2, "{args:?}");
    }
    // GT refuses a past time on a key that has a TTL; LT accepts it
    q::<()>(&mut con, &["SET", "k", "v", "EX", "100"]);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "-1", "GT"]), 0);
    assert_eq!(exists(&mut con, "k"), 1);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "-1", "LT"]), 1);
    assert_eq!(exists(&mut con, "k"), 0);
    assert_eq!(int(&mut con, &["DBSIZE"]), 0);
}

// ---------------------------------------------------------------------------------------
// Lazy and active expiry
// ---------------------------------------------------------------------------------------

#[test]
fn lazy_expiry_on_access() {
    let (_srv, mut con) = start();
    // with the sweep off, only an access can expire the key
    assert_eq!(
        q::<String>(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        "OK"
    );
    q::<()>(&mut con, &["CONFIG", "RESETSTAT"]);
    q::<()>(&mut con, &["SET", "k", "v", "PX", "50"]);
    assert_eq!(
        q::<Option<String>>(&mut con, &["GET", "k"]).as_deref(),
        Some("v")
    );
    std::thread::sleep(Duration::from_millis(100));
    // still counted until someone touches it, as Redis's DBSIZE counts it
    assert_eq!(int(&mut con, &["DBSIZE"]), 1);
    assert_eq!(q::<Option<String>>(&mut con, &["GET", "k"]), None);
    assert_eq!(int(&mut con, &["DBSIZE"]), 0);
    assert_eq!(info_field(&mut con, "stats", "expired_keys"), 1);
    // every kind of access expires
    for access in [
        &["EXISTS", "k"][..],
        &["TTL", "k"],
        &["TYPE", "k"],
        &["STRLEN", "k"],
        &["APPEND", "k", "x"],
    ] {
        q::<()>(&mut con, &["SET", "k", "v", "PX", "20"]);
        std::thread::sleep(Duration::from_millis(40));
        let reply: Value = q(&mut con, access);
        let want = match access[0] {
            "TTL" => Value::Int(-2),
            "TYPE" => Value::SimpleString("none".into()),
            "APPEND" => Value::Int(1),
            _ => Value::Int(0),
        };
        assert_eq!(reply, want, "{access:?}");
    }
    // APPEND recreated the key without a TTL
    assert_eq!(ttl(&mut con, "k"), -1);
    assert_eq!(
        q::<Option<String>>(&mut con, &["GET", "k"]).as_deref(),
        Some("x")
    );
}

#[test]
fn active_expiry_removes_unread_keys() {
    let (_srv, mut con) = start();
    // write: 1,000 keys that nobody will read again
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .arg("PX")
            .arg(100)
            .ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    q::<()>(&mut con, &["SET", "keeper", "v"]);
    assert_eq!(int(&mut con, &["DBSIZE"]), 1001);
    // wait: only DBSIZE and INFO, which touch no key
    let deadline = Instant::now() + Duration::from_secs(3);
    std::thread::sleep(Duration::from_millis(1500));
    while int(&mut con, &["DBSIZE"]) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // check
    assert_eq!(int(&mut con, &["DBSIZE"]), 1);
    assert_eq!(info_field(&mut con, "stats", "expired_keys"), 1000);
    let keyspace: String = q(&mut con, &["INFO", "keyspace"]);
    assert!(keyspace.contains("db0:keys=1,expires=0,"), "{keyspace}");
    assert_eq!(
        q::<Option<String>>(&mut con, &["GET", "keeper"]).as_deref(),
        Some("v")
    );
}

// ---------------------------------------------------------------------------------------
// Writes and TTLs
// ---------------------------------------------------------------------------------------

#[test]
fn writes_clear_or_keep_the_ttl() {
    let (_srv, mut con) = start();
    let with_ttl = |con: &mut Connection| {
        q::<()>(con, &["SET", "k", "1", "EX", "100"]);
    };
    // these clear it
    for write in [
        &["SET", "k", "2"][..],
        &["GETSET", "k", "2"],
        &["MSET", "k", "2"],
        &["SET", "k", "2", "GET"],
    ] {
        with_ttl(&mut con);
        q::<()>(&mut con, write);
        assert_eq!(ttl(&mut con, "k"), -1, "{write:?}");
    }
    // these keep it
    for write in [
        &["SET", "k", "2", "KEEPTTL"][..],
        &["SET", "k", "2", "XX", "KEEPTTL"],
        &["INCR", "k"],
        &["DECRBY", "k", "5"],
        &["INCRBYFLOAT", "k", "1.5"],
        &["APPEND", "k", "0"],
        &["SETRANGE", "k", "0", "9"],
        &["SETBIT", "k", "1", "1"],
        &["GETEX", "k"],
        &["RENAME", "k", "k"],
    ] {
        with_ttl(&mut con);
        q::<()>(&mut con, write);
        assert_eq!(ttl(&mut con, "k"), 100, "{write:?}");
    }
    // RENAME carries it to the new name
    with_ttl(&mut con);
    q::<()>(&mut con, &["RENAME", "k", "other"]);
    assert_eq!(ttl(&mut con, "other"), 100);
    // a refused SET NX changes nothing
    q::<()>(&mut con, &["SET", "other", "x", "NX"]);
    assert_eq!(ttl(&mut con, "other"), 100);
}
