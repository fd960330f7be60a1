//! Generic key commands against the real binary, with Redis 7.4's replies and errors.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{cmd, q, qb, start};
use redis::{Connection, Value};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The error line of a command that must fail, as the server sent it (without `-`).
fn err_of(result: redis::RedisResult<Value>, what: &str) -> String {
    match result {
        Ok(v) => panic!("{what} succeeded with {v:?}"),
        Err(e) => match (e.code(), e.detail()) {
            (Some(code), Some(detail)) => format!("{code} {detail}"),
            (Some(code), None) => code.to_string(),
            _ => panic!("{what}: not an error reply: {e}"),
        },
    }
}

fn err(con: &mut Connection, args: &[&str]) -> String {
    err_of(cmd(args).query(con), &format!("{args:?}"))
}

fn errb(con: &mut Connection, args: &[&[u8]]) -> String {
    err_of(cmd(args).query(con), "binary command")
}

fn get(con: &mut Connection, key: &str) -> Option<String> {
    q(con, &["GET", key])
}

fn exists(con: &mut Connection, key: &str) -> i64 {
    q(con, &["EXISTS", key])
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Sets `prefix0..prefix{n-1}` to their index with one MSET.
fn fill(con: &mut Connection, prefix: &str, n: usize) {
    let mut c = redis::cmd("MSET");
    for i in 0..n {
        c.arg(format!("{prefix}{i}")).arg(i);
    }
    c.query::<()>(con).unwrap();
}

/// One SCAN call: (next cursor, keys).
fn scan(con: &mut Connection, args: &[&str]) -> (String, Vec<String>) {
    let mut full = vec!["SCAN"];
    full.extend_from_slice(args);
    q(con, &full)
}

/// A whole SCAN iteration from cursor 0; every key returned, in order, duplicates kept.
fn scan_all(con: &mut Connection, opts: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    loop {
        let mut args = vec![cursor.as_str()];
        args.extend_from_slice(opts);
        let (next, keys) = scan(con, &args);
        out.extend(keys);
        if next == "0" {
            return out;
        }
        cursor = next;
    }
}

// ---------------------------------------------------------------------------------------
// DEL, UNLINK, EXISTS, TYPE, TOUCH
// ---------------------------------------------------------------------------------------

#[test]
fn del_and_unlink() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]);
    assert_eq!(q::<i64>(&mut con, &["DEL", "a", "b", "missing"]), 2);
    assert_eq!(exists(&mut con, "a") + exists(&mut con, "b"), 0);
    // a key named twice is deleted once
    assert_eq!(q::<i64>(&mut con, &["DEL", "c", "c"]), 1);
    assert_eq!(q::<i64>(&mut con, &["UNLINK", "d", "missing"]), 1);
    assert_eq!(exists(&mut con, "d"), 0);
    assert_eq!(q::<i64>(&mut con, &["DEL", "missing"]), 0);
    // a big value through UNLINK is gone at once
    let big = "x".repeat(1 << 20);
    q::<()>(&mut con, &["SET", "big", &big]);
    assert_eq!(q::<i64>(&mut con, &["UNLINK", "big"]), 1);
    assert_eq!(get(&mut con, "big"), None);
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 0);
    assert_eq!(
        err(&mut con, &["DEL"]),
        "ERR wrong number of arguments for 'del' command"
    );
    assert_eq!(
        err(&mut con, &["UNLINK"]),
        "ERR wrong number of arguments for 'unlink' command"
    );
}

#[test]
fn exists_counts_duplicates() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["MSET", "a", "1", "b", "2"]);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "a"]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "a", "a", "missing", "b"]), 3);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "missing", "missing"]), 0);
    assert_eq!(
        err(&mut con, &["EXISTS"]),
        "ERR wrong number of arguments for 'exists' command"
    );
}

#[test]
fn type_and_touch() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "s", "v"]);
    q::<()>(&mut con, &["SET", "n", "12"]);
    assert_eq!(
        q::<Value>(&mut con, &["TYPE", "s"]),
        Value::SimpleString("string".into())
    );
    assert_eq!(
        q::<Value>(&mut con, &["TYPE", "n"]),
        Value::SimpleString("string".into())
    );
    assert_eq!(
        q::<Value>(&mut con, &["TYPE", "missing"]),
        Value::SimpleString("none".into())
    );
    assert_eq!(q::<i64>(&mut con, &["TOUCH", "s", "n", "missing", "s"]), 3);
    assert_eq!(
        err(&mut con, &["TYPE"]),
        "ERR wrong number of arguments for 'type' command"
    );
}

// ---------------------------------------------------------------------------------------
// KEYS, SCAN, RANDOMKEY
// ---------------------------------------------------------------------------------------

#[test]
fn keys_glob_patterns() {
    let (_srv, mut con) = start();
    q::<()>(
        &mut con,
        &[
            "MSET", "hello", "1", "hallo", "1", "hxllo", "1", "hllo", "1", "heeeello", "1", "a*b",
            "1", "aXb", "1", "H?", "1",
        ],
    );
    let keys = |con: &mut Connection, p: &str| sorted(q::<Vec<String>>(con, &["KEYS", p]));
    assert_eq!(keys(&mut con, "h?llo"), ["hallo", "hello", "hxllo"]);
    assert_eq!(
        keys(&mut con, "h*llo"),
        ["hallo", "heeeello", "hello", "hllo", "hxllo"]
    );
    assert_eq!(keys(&mut con, "h[ae]llo"), ["hallo", "hello"]);
    assert_eq!(keys(&mut con, "h[^e]llo"), ["hallo", "hxllo"]);
    assert_eq!(keys(&mut con, "h[a-b]llo"), ["hallo"]);
    assert_eq!(keys(&mut con, "a\\*b"), ["a*b"]);
    assert_eq!(keys(&mut con, "a*b"), ["a*b", "aXb"]);
    assert_eq!(keys(&mut con, "H\\?"), ["H?"]);
    assert_eq!(keys(&mut con, "nomatch*"), Vec::<String>::new());
    // case-sensitive
    assert_eq!(keys(&mut con, "HELLO"), Vec::<String>::new());
    assert_eq!(keys(&mut con, "*").len(), 8);
    // expired keys are not listed
    q::<()>(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    q::<()>(&mut con, &["SET", "hzllo", "1", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(keys(&mut con, "h?llo"), ["hallo", "hello", "hxllo"]);
}

#[test]
fn scan_options() {
    let (_srv, mut con) = start();
    fill(&mut con, "key:", 100);
    fill(&mut con, "other:", 10);
    // COUNT larger than the keyspace: one call, cursor 0
    let (cursor, keys) = scan(&mut con, &["0", "COUNT", "1000"]);
    assert_eq!(cursor, "0");
    assert_eq!(keys.len(), 110);
    // MATCH over a whole iteration
    let matched = scan_all(&mut con, &["MATCH", "other:*"]);
    assert_eq!(
        sorted(matched),
        sorted((0..10).map(|i| format!("other:{i}")).collect())
    );
    let matched = scan_all(&mut con, &["MATCH", "key:1?", "COUNT", "7"]);
    assert_eq!(
        sorted(matched),
        sorted((10..20).map(|i| format!("key:{i}")).collect())
    );
    // TYPE
    assert_eq!(scan_all(&mut con, &["TYPE", "string"]).len(), 110);
    assert_eq!(
        scan_all(&mut con, &["TYPE", "STRING", "COUNT", "20"]).len(),
        110
    );
    assert_eq!(scan_all(&mut con, &["TYPE", "list"]), Vec::<String>::new());
    assert_eq!(
        scan_all(&mut con, &["MATCH", "key:5*", "TYPE", "string"]).len(),
        11
    );
    // errors
    assert_eq!(err(&mut con, &["SCAN", "abc"]), "ERR invalid cursor");
    assert_eq!(err(&mut con, &["SCAN", "-1"]), "ERR invalid cursor");
    assert_eq!(
        err(&mut con, &["SCAN", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["SCAN", "0", "COUNT", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err(&mut con, &["SCAN", "0", "MATCH"]), "ERR syntax error");
    assert_eq!(
        err(&mut con, &["SCAN", "0", "FOO", "bar"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["SCAN"]),
        "ERR wrong number of arguments for 'scan' command"
    );
    // an empty database
    q::<()>(&mut con, &["SELECT", "3"]);
    assert_eq!(scan(&mut con, &["0"]), ("0".to_string(), vec![]));
}

#[test]
fn scan_full_iteration_returns_every_key_exactly_once() {
    let (_srv, mut con) = start();
    fill(&mut con, "k", 5000);
    for count in ["100", "10", "1"] {
        let all = scan_all(&mut con, &["COUNT", count]);
        assert_eq!(all.len(), 5000, "COUNT {count}");
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), 5000, "COUNT {count}: duplicates");
        for i in 0..5000 {
            assert!(unique.contains(&format!("k{i}")), "k{i} missing");
        }
    }
}

#[test]
fn scan_keeps_keys_present_throughout_while_others_change() {
    let (srv, mut con) = start();
    let mut writer = srv.client();
    fill(&mut con, "stable:", 5000);
    fill(&mut writer, "gone:", 3000);
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut step = 0;
    loop {
        let (next, keys) = scan(&mut con, &[&cursor, "COUNT", "50"]);
        seen.extend(keys);
        // between calls: delete some keys, add others (growing the tables)
        let mut del = redis::cmd("DEL");
        let mut add = redis::cmd("MSET");
        for j in 0..30 {
            del.arg(format!("gone:{}", step * 30 + j));
            add.arg(format!("new:{step}:{j}")).arg(j);
        }
        del.query::<()>(&mut writer).unwrap();
        add.query::<()>(&mut writer).unwrap();
        step += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert!(step > 10, "the iteration took {step} calls");
    let seen: HashSet<String> = seen.into_iter().collect();
    let missing: Vec<String> = (0..5000)
        .map(|i| format!("stable:{i}"))
        .filter(|k| !seen.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "{} stable keys missing: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn randomkey() {
    let (_srv, mut con) = start();
    assert_eq!(q::<Option<String>>(&mut con, &["RANDOMKEY"]), None);
    q::<()>(&mut con, &["MSET", "a", "1", "b", "2", "c", "3"]);
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        let k: String = q(&mut con, &["RANDOMKEY"]);
        assert!(["a", "b", "c"].contains(&k.as_str()), "{k}");
        seen.insert(k);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    // expired keys are never returned
    q::<()>(&mut con, &["FLUSHALL"]);
    q::<()>(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    q::<()>(&mut con, &["SET", "dead", "1", "PX", "1"]);
    q::<()>(&mut con, &["SET", "alive", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    for _ in 0..20 {
        assert_eq!(
            q::<Option<String>>(&mut con, &["RANDOMKEY"]).as_deref(),
            Some("alive")
        );
    }
}

// ---------------------------------------------------------------------------------------
// RENAME, RENAMENX, COPY, MOVE
// ---------------------------------------------------------------------------------------

#[test]
fn rename_and_renamenx() {
    let (_srv, mut con) = start();
    assert_eq!(
        err(&mut con, &["RENAME", "missing", "x"]),
        "ERR no such key"
    );
    assert_eq!(
        err(&mut con, &["RENAMENX", "missing", "x"]),
        "ERR no such key"
    );
    // the TTL travels with the key
    q::<()>(&mut con, &["SET", "a", "1", "EX", "100"]);
    assert_eq!(q::<String>(&mut con, &["RENAME", "a", "b"]), "OK");
    assert_eq!(exists(&mut con, "a"), 0);
    assert_eq!(get(&mut con, "b").as_deref(), Some("1"));
    assert_eq!(q::<i64>(&mut con, &["TTL", "b"]), 100);
    // onto itself
    assert_eq!(q::<String>(&mut con, &["RENAME", "b", "b"]), "OK");
    assert_eq!(get(&mut con, "b").as_deref(), Some("1"));
    // overwrites the destination, its TTL included
    q::<()>(&mut con, &["SET", "c", "old", "EX", "500"]);
    q::<()>(&mut con, &["SET", "d", "new"]);
    q::<()>(&mut con, &["RENAME", "d", "c"]);
    assert_eq!(get(&mut con, "c").as_deref(), Some("new"));
    assert_eq!(q::<i64>(&mut con, &["TTL", "c"]), -1);
    // RENAMENX
    q::<()>(&mut con, &["SET", "e", "e"]);
    assert_eq!(q::<i64>(&mut con, &["RENAMENX", "e", "c"]), 0);
    assert_eq!(get(&mut con, "e").as_deref(), Some("e"));
    assert_eq!(q::<i64>(&mut con, &["RENAMENX", "e", "f"]), 1);
    assert_eq!(get(&mut con, "f").as_deref(), Some("e"));
    assert_eq!(q::<i64>(&mut con, &["RENAMENX", "f", "f"]), 0);
    assert_eq!(
        err(&mut con, &["RENAME", "f"]),
        "ERR wrong number of arguments for 'rename' command"
    );
}

#[test]
fn copy_with_db_and_replace() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "src", "v", "EX", "100"]);
    assert_eq!(q::<i64>(&mut con, &["COPY", "src", "dst"]), 1);
    assert_eq!(get(&mut con, "dst").as_deref(), Some("v"));
    assert_eq!(q::<i64>(&mut con, &["TTL", "dst"]), 100);
    // the copy is independent
    q::<()>(&mut con, &["APPEND", "dst", "2"]);
    assert_eq!(get(&mut con, "src").as_deref(), Some("v"));
    // an existing destination needs REPLACE
    assert_eq!(q::<i64>(&mut con, &["COPY", "src", "dst"]), 0);
    assert_eq!(get(&mut con, "dst").as_deref(), Some("v2"));
    assert_eq!(q::<i64>(&mut con, &["COPY", "src", "dst", "REPLACE"]), 1);
    assert_eq!(get(&mut con, "dst").as_deref(), Some("v"));
    assert_eq!(q::<i64>(&mut con, &["COPY", "missing", "x"]), 0);
    assert_eq!(exists(&mut con, "x"), 0);
    // another database, same name allowed there
    assert_eq!(q::<i64>(&mut con, &["COPY", "src", "src", "DB", "1"]), 1);
    assert_eq!(q::<i64>(&mut con, &["COPY", "src", "other", "db", "1"]), 1);
    assert_eq!(q::<i64>(&mut con, &["COPY", "src", "other", "DB", "1"]), 0);
    assert_eq!(
        q::<i64>(&mut con, &["COPY", "src", "other", "REPLACE", "DB", "1"]),
        1
    );
    q::<()>(&mut con, &["SELECT", "1"]);
    assert_eq!(get(&mut con, "src").as_deref(), Some("v"));
    assert_eq!(get(&mut con, "other").as_deref(), Some("v"));
    assert_eq!(q::<i64>(&mut con, &["TTL", "other"]), 100);
    q::<()>(&mut con, &["SELECT", "0"]);
    // errors
    assert_eq!(
        err(&mut con, &["COPY", "src", "src"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        err(&mut con, &["COPY", "src", "src", "DB", "0"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        err(&mut con, &["COPY", "src", "x", "DB", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut con, &["COPY", "src", "x", "DB", "-1"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut con, &["COPY", "src", "x", "DB", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut con, &["COPY", "src", "x", "DB"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["COPY", "src", "x", "FOO"]),
        "ERR syntax error"
    );
}

#[test]
fn move_between_databases() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "k", "v", "EX", "100"]);
    assert_eq!(q::<i64>(&mut con, &["MOVE", "k", "1"]), 1);
    assert_eq!(exists(&mut con, "k"), 0);
    assert_eq!(q::<i64>(&mut con, &["MOVE", "missing", "1"]), 0);
    q::<()>(&mut con, &["SELECT", "1"]);
    assert_eq!(get(&mut con, "k").as_deref(), Some("v"));
    assert_eq!(q::<i64>(&mut con, &["TTL", "k"]), 100);
    // the destination already has it: nothing moves
    q::<()>(&mut con, &["SELECT", "0"]);
    q::<()>(&mut con, &["SET", "k", "other"]);
    assert_eq!(q::<i64>(&mut con, &["MOVE", "k", "1"]), 0);
    assert_eq!(get(&mut con, "k").as_deref(), Some("other"));
    // errors
    assert_eq!(
        err(&mut con, &["MOVE", "k", "0"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        err(&mut con, &["MOVE", "k", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut con, &["MOVE", "k", "-1"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut con, &["MOVE", "k", "abc"]),
        "ERR value is not an integer or out of range"
    );
}

// ---------------------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------------------

#[test]
fn object_encoding_refcount_idletime() {
    let (_srv, mut con) = start();
    let enc = |con: &mut Connection, k: &str| q::<Option<String>>(con, &["OBJECT", "ENCODING", k]);
    q::<()>(&mut con, &["SET", "n", "12345"]);
    q::<()>(&mut con, &["SET", "neg", "-7"]);
    q::<()>(&mut con, &["SET", "lead0", "0123"]);
    q::<()>(&mut con, &["SET", "huge", "123456789012345678901"]);
    q::<()>(&mut con, &["SET", "s", "hello"]);
    q::<()>(&mut con, &["SET", "s44", &"x".repeat(44)]);
    q::<()>(&mut con, &["SET", "s45", &"x".repeat(45)]);
    assert_eq!(enc(&mut con, "n").as_deref(), Some("int"));
    assert_eq!(enc(&mut con, "neg").as_deref(), Some("int"));
    assert_eq!(enc(&mut con, "lead0").as_deref(), Some("embstr"));
    assert_eq!(enc(&mut con, "huge").as_deref(), Some("embstr"));
    assert_eq!(enc(&mut con, "s").as_deref(), Some("embstr"));
    assert_eq!(enc(&mut con, "s44").as_deref(), Some("embstr"));
    assert_eq!(enc(&mut con, "s45").as_deref(), Some("raw"));
    assert_eq!(enc(&mut con, "missing"), None);
    // INCR makes an int, INCRBYFLOAT a plain string
    q::<()>(&mut con, &["INCR", "ctr"]);
    assert_eq!(enc(&mut con, "ctr").as_deref(), Some("int"));
    q::<()>(&mut con, &["INCRBYFLOAT", "f", "5"]);
    assert_eq!(enc(&mut con, "f").as_deref(), Some("embstr"));
    // REFCOUNT: shared small integers, one owner otherwise
    q::<()>(&mut con, &["SET", "small", "100"]);
    assert_eq!(
        q::<i64>(&mut con, &["OBJECT", "REFCOUNT", "small"]),
        2147483647
    );
    assert_eq!(q::<i64>(&mut con, &["OBJECT", "REFCOUNT", "s"]), 1);
    assert_eq!(q::<i64>(&mut con, &["OBJECT", "REFCOUNT", "n"]), 1);
    assert_eq!(
        q::<Option<i64>>(&mut con, &["OBJECT", "REFCOUNT", "missing"]),
        None
    );
    // IDLETIME grows while nobody touches the key, and OBJECT itself does not touch it
    assert_eq!(q::<i64>(&mut con, &["OBJECT", "IDLETIME", "s"]), 0);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let idle: i64 = q(&mut con, &["OBJECT", "IDLETIME", "s"]);
    assert!((2..=3).contains(&idle), "idle {idle}");
    let idle: i64 = q(&mut con, &["OBJECT", "IDLETIME", "s"]);
    assert!((2..=3).contains(&idle), "idle {idle}");
    q::<()>(&mut con, &["GET", "s"]);
    assert_eq!(q::<i64>(&mut con, &["OBJECT", "IDLETIME", "s"]), 0);
    assert_eq!(
        q::<Option<i64>>(&mut con, &["OBJECT", "IDLETIME", "missing"]),
        None
    );
}

/// Redis converts a string to the `raw` encoding whenever it is modified in place.
#[test]
fn object_encoding_after_append_and_setrange_is_raw() {
    let (_srv, mut con) = start();
    let enc = |con: &mut Connection, k: &str| q::<String>(con, &["OBJECT", "ENCODING", k]);
    q::<()>(&mut con, &["SET", "a", "1"]);
    q::<()>(&mut con, &["APPEND", "a", "2"]);
    assert_eq!(enc(&mut con, "a"), "raw");
    q::<()>(&mut con, &["SET", "b", "hello"]);
    q::<()>(&mut con, &["APPEND", "b", "x"]);
    assert_eq!(enc(&mut con, "b"), "raw");
    q::<()>(&mut con, &["SETRANGE", "c", "0", "x"]);
    assert_eq!(enc(&mut con, "c"), "raw");
}

#[test]
fn object_freq_errors_without_lfu_policy() {
    let (_srv, mut con) = start();
    q::<()>(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    q::<()>(&mut con, &["SET", "k", "v"]);
    assert_eq!(
        err(&mut con, &["OBJECT", "FREQ", "k"]),
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    );
    // the key is looked up first: a missing key is nil
    assert_eq!(
        q::<Option<i64>>(&mut con, &["OBJECT", "FREQ", "missing"]),
        None
    );
    assert_eq!(
        err(&mut con, &["OBJECT", "FOO", "k"]),
        "ERR unknown subcommand 'FOO'. Try OBJECT HELP."
    );
    assert_eq!(
        err(&mut con, &["OBJECT", "ENCODING"]),
        "ERR wrong number of arguments for 'object|encoding' command"
    );
    let help: Vec<String> = q(&mut con, &["OBJECT", "HELP"]);
    assert!(help[0].starts_with("OBJECT <subcommand>"), "{help:?}");
    assert!(help.iter().any(|l| l.starts_with("FREQ")), "{help:?}");
    // Under Redis's LFU policies the counter answers and idle time does not.
    q::<()>(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
    );
    assert_eq!(q::<i64>(&mut con, &["OBJECT", "FREQ", "k"]), 5);
    assert!(
        err(&mut con, &["OBJECT", "IDLETIME", "k"])
            .starts_with("ERR An LFU maxmemory policy is selected")
    );
    // Cairn's default (allkeys-tinylfu) answers both.
    q::<()>(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-tinylfu"],
    );
    assert!(q::<i64>(&mut con, &["OBJECT", "FREQ", "k"]) >= 5);
    assert_eq!(q::<i64>(&mut con, &["OBJECT", "IDLETIME", "k"]), 0);
}

// ---------------------------------------------------------------------------------------
// DUMP / RESTORE
// ---------------------------------------------------------------------------------------

#[test]
fn dump_and_restore_round_trip() {
    let (_srv, mut con) = start();
    assert_eq!(q::<Option<Vec<u8>>>(&mut con, &["DUMP", "missing"]), None);
    let value: &[u8] = b"hello\0\r\n\xff world";
    qb::<()>(&mut con, &[b"SET", b"k", value]);
    let payload: Vec<u8> = q(&mut con, &["DUMP", "k"]);
    // round trip into another key
    assert_eq!(
        qb::<String>(&mut con, &[b"RESTORE", b"copy", b"0", &payload]),
        "OK"
    );
    assert_eq!(qb::<Vec<u8>>(&mut con, &[b"GET", b"copy"]), value.to_vec());
    assert_eq!(q::<i64>(&mut con, &["TTL", "copy"]), -1);
    // integers stay integers
    q::<()>(&mut con, &["SET", "n", "42"]);
    let ipayload: Vec<u8> = q(&mut con, &["DUMP", "n"]);
    qb::<()>(&mut con, &[b"RESTORE", b"n2", b"0", &ipayload]);
    assert_eq!(get(&mut con, "n2").as_deref(), Some("42"));
    assert_eq!(q::<String>(&mut con, &["OBJECT", "ENCODING", "n2"]), "int");
    assert_eq!(q::<i64>(&mut con, &["INCR", "n2"]), 43);
    // an existing key needs REPLACE
    assert_eq!(
        errb(&mut con, &[b"RESTORE", b"n", b"0", &payload]),
        "BUSYKEY Target key name already exists."
    );
    assert_eq!(get(&mut con, "n").as_deref(), Some("42"));
    assert_eq!(
        qb::<String>(&mut con, &[b"RESTORE", b"n", b"0", &payload, b"REPLACE"]),
        "OK"
    );
    assert_eq!(qb::<Vec<u8>>(&mut con, &[b"GET", b"n"]), value.to_vec());
}

#[test]
fn restore_ttl_and_absttl() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "k", "v"]);
    let payload: Vec<u8> = q(&mut con, &["DUMP", "k"]);
    // relative TTL in milliseconds
    qb::<()>(&mut con, &[b"RESTORE", b"rel", b"5000", &payload]);
    let p: i64 = q(&mut con, &["PTTL", "rel"]);
    assert!((4000..=5000).contains(&p), "pttl {p}");
    // ABSTTL: an absolute Unix time in milliseconds
    let at = (now_ms() + 100_000).to_string();
    qb::<()>(
        &mut con,
        &[b"RESTORE", b"abs", at.as_bytes(), &payload, b"ABSTTL"],
    );
    assert_eq!(q::<String>(&mut con, &["PEXPIRETIME", "abs"]), at);
    // an absolute time in the past: OK, but no key (and a replaced key is gone too)
    assert_eq!(
        qb::<String>(&mut con, &[b"RESTORE", b"past", b"1", &payload, b"ABSTTL"]),
        "OK"
    );
    assert_eq!(exists(&mut con, "past"), 0);
    assert_eq!(
        qb::<String>(
            &mut con,
            &[b"RESTORE", b"k", b"1000", &payload, b"ABSTTL", b"REPLACE"]
        ),
        "OK"
    );
    assert_eq!(exists(&mut con, "k"), 0);
    // IDLETIME is restored
    qb::<()>(
        &mut con,
        &[b"RESTORE", b"idle", b"0", &payload, b"IDLETIME", b"1000"],
    );
    let idle: i64 = q(&mut con, &["OBJECT", "IDLETIME", "idle"]);
    assert!((1000..=1001).contains(&idle), "idle {idle}");
}

#[test]
fn restore_errors() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "k", "v"]);
    let payload: Vec<u8> = q(&mut con, &["DUMP", "k"]);
    let mut corrupt = payload.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    let mut truncated = payload.clone();
    truncated.truncate(payload.len() - 3);
    let checksum = "ERR DUMP payload version or checksum are wrong";
    assert_eq!(
        errb(&mut con, &[b"RESTORE", b"new", b"0", &corrupt]),
        checksum
    );
    assert_eq!(
        errb(&mut con, &[b"RESTORE", b"new", b"0", &truncated]),
        checksum
    );
    assert_eq!(
        errb(&mut con, &[b"RESTORE", b"new", b"0", b"garbage"]),
        checksum
    );
    assert_eq!(errb(&mut con, &[b"RESTORE", b"new", b"0", b""]), checksum);
    assert_eq!(
        errb(&mut con, &[b"RESTORE", b"new", b"-1", &payload]),
        "ERR Invalid TTL value, must be >= 0"
    );
    assert_eq!(
        errb(&mut con, &[b"RESTORE", b"new", b"abc", &payload]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        errb(&mut con, &[b"RESTORE", b"new", b"0", &payload, b"FOO"]),
        "ERR syntax error"
    );
    assert_eq!(
        errb(
            &mut con,
            &[b"RESTORE", b"new", b"0", &payload, b"IDLETIME", b"-1"]
        ),
        "ERR Invalid IDLETIME value, must be >= 0"
    );
    assert_eq!(
        errb(
            &mut con,
            &[b"RESTORE", b"new", b"0", &payload, b"FREQ", b"256"]
        ),
        "ERR Invalid FREQ value, must be >= 0 and <= 255"
    );
    assert_eq!(
        errb(
            &mut con,
            &[
                b"RESTORE",
                b"new",
                b"0",
                &payload,
                b"IDLETIME",
                b"1",
                b"FREQ",
                b"1"
            ]
        ),
        "ERR syntax error"
    );
    assert_eq!(exists(&mut con, "new"), 0);
    // BUSYKEY is checked before the TTL and the payload, as in Redis
    let busy = "BUSYKEY Target key name already exists.";
    assert_eq!(errb(&mut con, &[b"RESTORE", b"k", b"-1", &payload]), busy);
    assert_eq!(errb(&mut con, &[b"RESTORE", b"k", b"0", &corrupt]), busy);
    assert_eq!(errb(&mut con, &[b"RESTORE", b"k", b"abc", &payload]), busy);
    // but after the options
    assert_eq!(
        errb(&mut con, &[b"RESTORE", b"k", b"0", &payload, b"BAR"]),
        "ERR syntax error"
    );
    assert_eq!(get(&mut con, "k").as_deref(), Some("v"));
}

// ---------------------------------------------------------------------------------------
// MIGRATE (between two standalone servers; cluster_cli moves slots and big keys with it)
// ---------------------------------------------------------------------------------------

/// `MIGRATE host port key|"" db timeout [options]` from `con` to `to`.
fn migrate_args(to: std::net::SocketAddr, key: &str, db: &str, timeout: &str) -> Vec<String> {
    let mut args: Vec<String> = vec!["MIGRATE".into(), to.ip().to_string(), to.port().to_string()];
    args.extend([key, db, timeout].map(String::from));
    args
}

fn migrate_with(
    con: &mut Connection,
    to: std::net::SocketAddr,
    key: &str,
    db: &str,
    options: &[&str],
) -> redis::RedisResult<Value> {
    let mut args = migrate_args(to, key, db, "5000");
    args.extend(options.iter().map(|o| o.to_string()));
    cmd(&args).query(con)
}

#[test]
fn migrate_moves_keys_and_keeps_them_on_errors() {
    let (_src, mut con) = start();
    let dst = common::CairnProcess::start(&[]);
    let mut target = dst.client();
    let to = dst.addr;
    // one key with a TTL: it leaves the source, arrives with its TTL
    q::<()>(&mut con, &["SET", "a", "1", "PX", "100000"]);
    assert_eq!(
        migrate_with(&mut con, to, "a", "0", &[]).unwrap(),
        Value::Okay
    );
    assert_eq!(exists(&mut con, "a"), 0);
    assert_eq!(get(&mut target, "a").as_deref(), Some("1"));
    let p: i64 = q(&mut target, &["PTTL", "a"]);
    assert!((90_000..=100_000).contains(&p), "pttl {p}");
    // the target holds it already: BUSYKEY, relayed, and the source keeps its key
    q::<()>(&mut con, &["SET", "a", "2"]);
    assert_eq!(
        err_of(migrate_with(&mut con, to, "a", "0", &[]), "MIGRATE"),
        "ERR Target instance replied with error: BUSYKEY Target key name already exists."
    );
    assert_eq!(get(&mut con, "a").as_deref(), Some("2"));
    // REPLACE overwrites it; COPY keeps the source's
    assert_eq!(
        migrate_with(&mut con, to, "a", "0", &["REPLACE", "COPY"]).unwrap(),
        Value::Okay
    );
    assert_eq!(get(&mut con, "a").as_deref(), Some("2"));
    assert_eq!(get(&mut target, "a").as_deref(), Some("2"));
    assert_eq!(q::<i64>(&mut target, &["PTTL", "a"]), -1);
    // the KEYS form, into another database; missing keys are skipped
    q::<()>(&mut con, &["MSET", "b", "x", "c", "y"]);
    assert_eq!(
        migrate_with(&mut con, to, "", "3", &["KEYS", "b", "missing", "c"]).unwrap(),
        Value::Okay
    );
    assert_eq!(exists(&mut con, "b") + exists(&mut con, "c"), 0);
    q::<()>(&mut target, &["SELECT", "3"]);
    assert_eq!(get(&mut target, "b").as_deref(), Some("x"));
    assert_eq!(get(&mut target, "c").as_deref(), Some("y"));
    q::<()>(&mut target, &["SELECT", "0"]);
    // nothing to move: NOKEY, before any connection is made
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = closed.local_addr().unwrap();
    drop(closed);
    assert_eq!(
        migrate_with(&mut con, nobody, "missing", "0", &[]).unwrap(),
        Value::SimpleString("NOKEY".into())
    );
    // nobody listens: Redis's words
    assert_eq!(
        err_of(migrate_with(&mut con, nobody, "a", "0", &[]), "MIGRATE"),
        "IOERR error or timeout connecting to the client"
    );
    assert_eq!(get(&mut con, "a").as_deref(), Some("2"));
    // AUTH the target refuses: the first error is relayed, nothing is removed here
    let refused = err_of(
        migrate_with(&mut con, to, "a", "0", &["REPLACE", "AUTH", "pw"]),
        "MIGRATE",
    );
    assert!(
        refused.starts_with("ERR Target instance replied with error: ERR AUTH"),
        "{refused}"
    );
    let refused2 = err_of(
        migrate_with(&mut con, to, "a", "0", &["REPLACE", "AUTH2", "u", "pw"]),
        "MIGRATE",
    );
    assert!(
        refused2.starts_with("ERR Target instance replied with error: "),
        "{refused2}"
    );
    assert_eq!(get(&mut con, "a").as_deref(), Some("2"));
    // argument errors
    assert_eq!(
        err_of(
            migrate_with(&mut con, to, "a", "0", &["KEYS", "a"]),
            "MIGRATE"
        ),
        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
    );
    assert_eq!(
        err_of(migrate_with(&mut con, to, "a", "0", &["BOGUS"]), "MIGRATE"),
        "ERR syntax error"
    );
    assert_eq!(
        err(
            &mut con,
            &["MIGRATE", "127.0.0.1", "70000", "a", "0", "5000"]
        ),
        "ERR Invalid port"
    );
    assert_eq!(
        err(&mut con, &["MIGRATE", "127.0.0.1", "1", "a", "x", "5000"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn migrate_times_out_reading_a_paused_target() {
    let (_src, mut con) = start();
    let dst = common::CairnProcess::start(&[]);
    let mut target = dst.client();
    q::<()>(&mut con, &["SET", "slow", "1"]);
    // the target holds writes (RESTORE-ASKING among them) longer than MIGRATE waits
    q::<()>(&mut target, &["CLIENT", "PAUSE", "3000", "WRITE"]);
    let args = migrate_args(dst.addr, "slow", "0", "200");
    assert_eq!(
        err_of(cmd(&args).query(&mut con), "MIGRATE"),
        "IOERR error or timeout reading to target instance"
    );
    assert_eq!(get(&mut con, "slow").as_deref(), Some("1"));
    q::<()>(&mut target, &["CLIENT", "UNPAUSE"]);
}

// ---------------------------------------------------------------------------------------
// SELECT, SWAPDB, FLUSHDB, FLUSHALL, DBSIZE
// ---------------------------------------------------------------------------------------

#[test]
fn select_and_dbsize() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["MSET", "a", "1", "b", "2"]);
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 2);
    assert_eq!(q::<String>(&mut con, &["SELECT", "15"]), "OK");
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 0);
    assert_eq!(get(&mut con, "a"), None);
    q::<()>(&mut con, &["SET", "a", "db15"]);
    q::<()>(&mut con, &["SELECT", "0"]);
    assert_eq!(get(&mut con, "a").as_deref(), Some("1"));
    for bad in ["16", "-1", "100000"] {
        assert_eq!(
            err(&mut con, &["SELECT", bad]),
            "ERR DB index is out of range"
        );
    }
    assert_eq!(
        err(&mut con, &["SELECT", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut con, &["DBSIZE", "x"]),
        "ERR wrong number of arguments for 'dbsize' command"
    );
}

#[test]
fn swapdb() {
    let (srv, mut con) = start();
    let mut other = srv.client();
    q::<()>(&mut con, &["SET", "k", "zero"]);
    q::<()>(&mut other, &["SELECT", "1"]);
    q::<()>(&mut other, &["MSET", "k", "one", "only1", "x"]);
    assert_eq!(q::<String>(&mut con, &["SWAPDB", "0", "1"]), "OK");
    // each connection keeps its index and now sees the other data
    assert_eq!(get(&mut con, "k").as_deref(), Some("one"));
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 2);
    assert_eq!(get(&mut other, "k").as_deref(), Some("zero"));
    assert_eq!(q::<String>(&mut con, &["SWAPDB", "1", "1"]), "OK");
    assert_eq!(get(&mut other, "k").as_deref(), Some("zero"));
    assert_eq!(
        err(&mut con, &["SWAPDB", "0", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut con, &["SWAPDB", "-1", "0"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut con, &["SWAPDB", "a", "1"]),
        "ERR invalid first DB index"
    );
    assert_eq!(
        err(&mut con, &["SWAPDB", "0", "b"]),
        "ERR invalid second DB index"
    );
}

#[test]
fn flushdb_and_flushall() {
    let (_srv, mut con) = start();
    let fill_dbs = |con: &mut Connection| {
        for db in ["0", "1", "2"] {
            q::<()>(con, &["SELECT", db]);
            q::<()>(con, &["MSET", "a", "1", "b", "2"]);
        }
        q::<()>(con, &["SELECT", "1"]);
    };
    let size = |con: &mut Connection, db: &str| {
        q::<()>(con, &["SELECT", db]);
        let n: i64 = q(con, &["DBSIZE"]);
        n
    };
    for mode in [None, Some("SYNC"), Some("ASYNC"), Some("async")] {
        fill_dbs(&mut con);
        let mut args = vec!["FLUSHDB"];
        args.extend(mode);
        assert_eq!(q::<String>(&mut con, &args), "OK");
        assert_eq!(
            (
                size(&mut con, "0"),
                size(&mut con, "1"),
                size(&mut con, "2")
            ),
            (2, 0, 2),
            "FLUSHDB {mode:?}"
        );
    }
    for mode in [None, Some("SYNC"), Some("ASYNC")] {
        fill_dbs(&mut con);
        let mut args = vec!["FLUSHALL"];
        args.extend(mode);
        assert_eq!(q::<String>(&mut con, &args), "OK");
        assert_eq!(
            (
                size(&mut con, "0"),
                size(&mut con, "1"),
                size(&mut con, "2")
            ),
            (0, 0, 0),
            "FLUSHALL {mode:?}"
        );
    }
    assert_eq!(err(&mut con, &["FLUSHDB", "FOO"]), "ERR syntax error");
    assert_eq!(
        err(&mut con, &["FLUSHALL", "SYNC", "ASYNC"]),
        "ERR syntax error"
    );
    // a flushed database works as new
    q::<()>(&mut con, &["SET", "x", "1"]);
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 1);
}

/// MIGRATE queued in a transaction runs to its end inside EXEC, as in Redis: its reply is
/// in EXEC's array, the key has moved before the next queued command runs, and a failure
/// is that command's error, not the transaction's.
#[test]
fn migrate_inside_exec_finishes_before_the_next_command() {
    let (src, mut con) = start();
    let dst = common::CairnProcess::start(&[]);
    let mut target = dst.client();
    q::<()>(&mut con, &["SET", "moving", "1", "PX", "100000"]);
    q::<()>(&mut con, &["SET", "busy", "here"]);
    q::<()>(&mut target, &["SET", "busy", "there"]);
    // redis-rs turns an error inside EXEC's array into a failure of the whole: the
    // exact bytes come from a raw connection.
    let mut raw = src.raw();
    let port = dst.addr.port();
    raw.roundtrip(b"MULTI\r\n", b"+OK\r\n");
    for line in [
        "SET before x".to_string(),
        format!("MIGRATE 127.0.0.1 {port} moving 0 5000"),
        "EXISTS moving".into(),
        format!("MIGRATE 127.0.0.1 {port} busy 0 5000"),
        "GET busy".into(),
    ] {
        raw.roundtrip(format!("{line}\r\n").as_bytes(), b"+QUEUED\r\n");
    }
    raw.roundtrip(
        b"EXEC\r\n",
        b"*5\r\n+OK\r\n+OK\r\n:0\r\n\
          -ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n\
          $4\r\nhere\r\n",
    );
    assert_eq!(get(&mut target, "moving").as_deref(), Some("1"));
    let p: i64 = q(&mut target, &["PTTL", "moving"]);
    assert!(p > 90_000, "pttl {p}");
}

/// A value over MIGRATE's 1 MB piece size moves between standalone servers too: the
/// pieces after the first go as plain APPENDs (a standalone target refuses ASKING).
#[test]
fn migrate_moves_a_big_value_between_standalone_servers() {
    let (_src, mut con) = start();
    let dst = common::CairnProcess::start(&[]);
    let mut target = dst.client();
    let big: Vec<u8> = (0..3_500_000u32).map(|i| (i % 251) as u8).collect();
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .arg("EX")
        .arg(1000)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        migrate_with(&mut con, dst.addr, "big", "0", &[]).unwrap(),
        Value::Okay
    );
    assert_eq!(exists(&mut con, "big"), 0);
    let got: Vec<u8> = redis::cmd("GET").arg("big").query(&mut target).unwrap();
    assert!(got == big, "the target holds {} bytes", got.len());
    let ttl: i64 = q(&mut target, &["TTL", "big"]);
    assert!((990..=1000).contains(&ttl), "ttl {ttl}");
}

/// A collection over MIGRATE's step size moves in steps (a RESTORE, then HSET / SADD
/// batches read a step at a time) and arrives whole: every field and member, the key's
/// TTL and the hash's field times; REPLACE replaces what the target held.
#[test]
fn migrate_moves_big_collections_in_steps() {
    let (_src, mut con) = start();
    let dst = common::CairnProcess::start(&[]);
    let mut target = dst.client();
    let mut hset = redis::cmd("HSET");
    hset.arg("bighash");
    let mut sadd = redis::cmd("SADD");
    sadd.arg("bigset");
    for i in 0..20_000 {
        hset.arg(format!("field:{i}"))
            .arg(format!("value:{}", i * 7));
        sadd.arg(format!("member:{i}"));
    }
    let _: i64 = hset.query(&mut con).unwrap();
    let _: i64 = sadd.query(&mut con).unwrap();
    let _: i64 = q(&mut con, &["EXPIRE", "bighash", "1000"]);
    let _: Vec<i64> = q(
        &mut con,
        &[
            "HEXPIRE",
            "bighash",
            "500",
            "FIELDS",
            "2",
            "field:1",
            "field:19999",
        ],
    );
    let want_hash: std::collections::BTreeMap<String, String> =
        q(&mut con, &["HGETALL", "bighash"]);
    let want_set: std::collections::BTreeSet<String> = q(&mut con, &["SMEMBERS", "bigset"]);
    let _: i64 = q(&mut target, &["SADD", "bigset", "stale"]);
    assert_eq!(
        migrate_with(
            &mut con,
            dst.addr,
            "",
            "0",
            &["REPLACE", "KEYS", "bighash", "bigset"]
        )
        .unwrap(),
        Value::Okay
    );
    assert_eq!(exists(&mut con, "bighash") + exists(&mut con, "bigset"), 0);
    let got_hash: std::collections::BTreeMap<String, String> =
        q(&mut target, &["HGETALL", "bighash"]);
    assert!(
        got_hash == want_hash,
        "the target holds {} fields",
        got_hash.len()
    );
    let got_set: std::collections::BTreeSet<String> = q(&mut target, &["SMEMBERS", "bigset"]);
    assert!(
        got_set == want_set,
        "the target holds {} members",
        got_set.len()
    );
    let ttl: i64 = q(&mut target, &["TTL", "bighash"]);
    assert!((990..=1000).contains(&ttl), "ttl {ttl}");
    let times: Vec<i64> = q(
        &mut target,
        &[
            "HTTL",
            "bighash",
            "FIELDS",
            "3",
            "field:1",
            "field:19999",
            "field:2",
        ],
    );
    assert!(
        (490..=500).contains(&times[0]) && (490..=500).contains(&times[1]),
        "{times:?}"
    );
    assert_eq!(times[2], -1);
}
