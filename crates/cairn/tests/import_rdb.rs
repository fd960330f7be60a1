//! `cairn server --import-rdb PATH`: a dump.rdb that a real redis-server (7.0 here) SAVEd
//! loads into Cairn at start, every type, TTLs and databases reading back as Redis holds
//! them; a damaged file refuses the start naming its offset. Skipped, with a notice, when
//! redis-server is not installed.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::versus::RedisServer;
use common::{CairnProcess, q};
use redis::{Connection, Value};

/// A temporary directory of this test's own.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cairn-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(con: &mut Connection, args: &[&str]) -> Value {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap()
}

/// Fills redis-server with every type, in databases 0 and 2, and SAVEs; the dump.rdb
/// copied to `to`. Returns the keys of each database with the command reading each back.
fn redis_dump(redis: &RedisServer, to: &std::path::Path) -> Vec<(u8, &'static str)> {
    let mut r = redis.client();
    q::<()>(&mut r, &["SET", "str", "hello"]);
    q::<()>(&mut r, &["SET", "int", "12345"]);
    q::<()>(&mut r, &["SET", "long", &"abc".repeat(200)]);
    q::<()>(&mut r, &["SET", "ttl", "soon", "EX", "100000"]);
    q::<()>(&mut r, &["SET", "gone", "x", "PX", "200"]);
    q::<()>(&mut r, &["RPUSH", "small_list", "a", "b", "1", "-300"]);
    let big: Vec<String> = (0..2000).map(|i| format!("e{}", i * 7)).collect();
    let mut rpush = redis::cmd("RPUSH");
    rpush.arg("big_list").arg(&big);
    rpush.query::<()>(&mut r).unwrap();
    q::<()>(&mut r, &["SADD", "intset", "1", "2", "-70000", "300"]);
    q::<()>(&mut r, &["SADD", "strset", "a", "b", "c"]);
    q::<()>(&mut r, &["HSET", "small_hash", "f", "v", "n", "5"]);
    let mut hset = redis::cmd("HSET");
    hset.arg("hash200");
    for i in 0..200 {
        hset.arg(format!("field{i}")).arg(format!("value{i}"));
    }
    hset.query::<()>(&mut r).unwrap();
    q::<()>(&mut r, &["ZADD", "zs", "1", "a", "2.5", "b", "-inf", "c"]);
    q::<()>(&mut r, &["EXPIRE", "zs", "50000"]);
    let mut zadd = redis::cmd("ZADD");
    zadd.arg("zbig");
    for i in 0..300 {
        zadd.arg(f64::from(i) / 3.0).arg(format!("m{i}"));
    }
    zadd.query::<()>(&mut r).unwrap();
    q::<String>(&mut r, &["XADD", "st", "1-1", "f", "v"]);
    q::<String>(&mut r, &["XADD", "st", "2-1", "f", "w", "g", "x"]);
    q::<()>(&mut r, &["XGROUP", "CREATE", "st", "g1", "0"]);
    run(
        &mut r,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "st",
            ">",
        ],
    );
    q::<()>(&mut r, &["SELECT", "2"]);
    q::<()>(&mut r, &["SET", "db2key", "two"]);
    q::<()>(&mut r, &["HSET", "db2hash", "a", "b"]);
    q::<()>(&mut r, &["SET", "db2ttl", "t", "EX", "3600"]);
    q::<()>(&mut r, &["SELECT", "0"]);
    q::<()>(&mut r, &["SAVE"]);
    let dir: Vec<String> = q(&mut r, &["CONFIG", "GET", "dir"]);
    std::fs::copy(PathBuf::from(&dir[1]).join("dump.rdb"), to).unwrap();
    vec![
        (0, "str"),
        (0, "int"),
        (0, "long"),
        (0, "ttl"),
        (0, "small_list"),
        (0, "big_list"),
        (0, "intset"),
        (0, "strset"),
        (0, "small_hash"),
        (0, "hash200"),
        (0, "zs"),
        (0, "zbig"),
        (0, "st"),
        (2, "db2key"),
        (2, "db2hash"),
        (2, "db2ttl"),
    ]
}

/// A reply, spelled out for comparing.
fn strings(v: Value) -> Vec<String> {
    vec![format!("{v:?}")]
}

/// How a key of `kind` reads back, the same on both servers (sets and hashes sorted).
fn read_back(con: &mut Connection, key: &str) -> Vec<String> {
    let kind: String = q(con, &["TYPE", key]);
    let mut out = vec![kind.clone()];
    match kind.as_str() {
        "string" => out.extend(strings(run(con, &["GET", key]))),
        "list" => out.extend(strings(run(con, &["LRANGE", key, "0", "-1"]))),
        "set" => {
            let mut m: Vec<String> = q(con, &["SMEMBERS", key]);
            m.sort();
            out.extend(m);
        }
        "hash" => {
            let mut m: Vec<(String, String)> = q(con, &["HGETALL", key]);
            m.sort();
            out.extend(m.into_iter().map(|(f, v)| format!("{f}={v}")));
        }
        "zset" => out.extend(strings(run(con, &["ZRANGE", key, "0", "-1", "WITHSCORES"]))),
        "stream" => {
            out.extend(strings(run(con, &["XRANGE", key, "-", "+"])));
            out.extend(strings(run(con, &["XINFO", "GROUPS", key])));
            out.extend(
                strings(run(con, &["XPENDING", key, "g1", "-", "+", "10"]))
                    .into_iter()
                    .map(|l| {
                        // the delivery's idle time differs between the two servers
                        l.split("int(").next().unwrap_or_default().to_string()
                    }),
            );
        }
        other => panic!("unexpected type {other}"),
    }
    out
}

#[test]
fn a_redis_dump_imports_whole() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let tmp = temp_dir("whole");
    let file = tmp.join("from-redis.rdb");
    let keys = redis_dump(&redis, &file);
    // "gone" (PX 200) has expired by the time Cairn reads the file
    std::thread::sleep(Duration::from_millis(300));
    let cairn = CairnProcess::start(&["--import-rdb", file.to_str().unwrap()]);
    let log = cairn.startup.join("\n");
    assert!(
        log.contains(&format!(
            "imported {} keys into 2 databases from {}",
            keys.len(),
            file.display()
        )),
        "{log}"
    );
    assert!(log.contains("redis-ver 7."), "{log}");
    assert!(log.contains("1 expired keys skipped"), "{log}");
    assert!(log.contains("NOT persisted"), "{log}");
    let mut r = redis.client();
    let mut c = cairn.client();
    for db in ["0", "2"] {
        q::<()>(&mut r, &["SELECT", db]);
        q::<()>(&mut c, &["SELECT", db]);
        let (rn, cn): (i64, i64) = (q(&mut r, &["DBSIZE"]), q(&mut c, &["DBSIZE"]));
        assert_eq!(rn, cn, "DBSIZE of db {db}");
        for (_, key) in keys.iter().filter(|(d, _)| d.to_string() == db) {
            assert_eq!(read_back(&mut c, key), read_back(&mut r, key), "{key}");
            let (rt, ct): (i64, i64) = (q(&mut r, &["TTL", key]), q(&mut c, &["TTL", key]));
            assert_eq!(rt > 0, ct > 0, "TTL of {key}: redis {rt}, cairn {ct}");
            assert!((rt - ct).abs() <= 2, "TTL of {key}: redis {rt}, cairn {ct}");
        }
    }
    drop(cairn);
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn the_import_is_persisted_with_the_aof_on() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let tmp = temp_dir("aof");
    let file = tmp.join("from-redis.rdb");
    redis_dump(&redis, &file);
    let data = tmp.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let args = [
        "--import-rdb",
        file.to_str().unwrap(),
        "--dir",
        data.to_str().unwrap(),
        "--appendonly",
        "yes",
    ];
    let cairn = CairnProcess::start(&args);
    assert!(cairn.startup.join("\n").contains("persisted"));
    drop(cairn);
    // A restart without the import holds the keys.
    let cairn = CairnProcess::start(&args[2..]);
    let mut c = cairn.client();
    let n: i64 = q(&mut c, &["DBSIZE"]);
    assert!(n >= 12, "{n}");
    let h: i64 = q(&mut c, &["HLEN", "hash200"]);
    assert_eq!(h, 200);
    drop(cairn);
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn a_damaged_file_refuses_the_start() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let tmp = temp_dir("bad");
    let file = tmp.join("from-redis.rdb");
    redis_dump(&redis, &file);
    let whole = std::fs::read(&file).unwrap();
    let cut = tmp.join("cut.rdb");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let mut flipped = whole.clone();
    let at = whole.windows(5).position(|w| w == b"hello").unwrap();
    flipped[at] ^= 0x01;
    let bad = tmp.join("flipped.rdb");
    std::fs::write(&bad, &flipped).unwrap();
    for (path, want) in [
        (&cut, format!("truncated at offset {}", whole.len() / 2)),
        (&bad, "bad checksum".to_string()),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["server", "--port", "0", "--bind", "127.0.0.1", "--dir"])
            .arg(&tmp)
            .arg("--import-rdb")
            .arg(path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(&want), "{stderr}");
        assert!(!stderr.contains("ready to accept"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
