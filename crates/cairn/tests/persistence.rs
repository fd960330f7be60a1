//! Persistence against the real binary: restarts that bring every key back with its TTL,
//! kill -9 under write load with each fsync policy, torn and corrupt files, snapshots
//! taken while writers run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::ops::OpModel;
use common::{CairnProcess, q};

/// A directory for one test's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("cairn-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn aof_dir(&self) -> PathBuf {
        self.0.join("appendonlydir")
    }

    /// The increment the manifest lists last.
    fn incr(&self) -> PathBuf {
        let manifest =
            std::fs::read_to_string(self.aof_dir().join("appendonly.aof.manifest")).unwrap();
        let line = manifest
            .lines()
            .rev()
            .find(|l| l.ends_with("type i"))
            .expect("an increment");
        self.aof_dir().join(line.split_whitespace().nth(1).unwrap())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn aof(dir: &TempDir, fsync: &str) -> CairnProcess {
    CairnProcess::start(&[
        "--dir",
        dir.path(),
        "--appendonly",
        "yes",
        "--appendfsync",
        fsync,
    ])
}

/// Every key of databases 0-3 with its value and deadline (PEXPIRETIME). A hash's value
/// is its sorted `field=value` lines, a set's its sorted members.
fn dump(con: &mut redis::Connection) -> Vec<(i64, String, Vec<u8>, i64)> {
    let mut out = Vec::new();
    for db in 0..4 {
        let _: () = q(con, &["SELECT", &db.to_string()]);
        let mut keys: Vec<String> = q(con, &["KEYS", "*"]);
        keys.sort();
        for k in keys {
            let kind: String = q(con, &["TYPE", &k]);
            let v: Vec<u8> = match kind.as_str() {
                "hash" => {
                    let all: Vec<(Vec<u8>, Vec<u8>)> = q(con, &["HGETALL", &k]);
                    let mut lines: Vec<Vec<u8>> = all
                        .into_iter()
                        .map(|(f, v)| [f, b"=".to_vec(), v].concat())
                        .collect();
                    lines.sort();
                    [b"hash:".to_vec(), lines.join(&b'\n')].concat()
                }
                "set" => {
                    let mut members: Vec<Vec<u8>> = q(con, &["SMEMBERS", &k]);
                    members.sort();
                    [b"set:".to_vec(), members.join(&b'\n')].concat()
                }
                _ => q(con, &["GET", &k]),
            };
            let at: i64 = q(con, &["PEXPIRETIME", &k]);
            out.push((db, k, v, at));
        }
    }
    let _: () = q(con, &["SELECT", "0"]);
    out
}

/// Runs `cairn server` expecting it to refuse to start (exit non-zero before it binds its
/// port); returns what it printed. A server that starts instead is killed and the test
/// fails.
fn refused(args: &[&str]) -> String {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["server", "--port", "0", "--bind", "127.0.0.1"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run cairn");
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cairn") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = reader.join().unwrap();
    match status {
        Some(s) if !s.success() => {
            assert!(
                !text.contains("ready to accept connections"),
                "it bound its port before refusing: {text}"
            );
            text
        }
        _ => panic!("cairn started on damaged or unreadable files ({args:?}): {text}"),
    }
}

/// A field of INFO persistence.
fn info_field(con: &mut redis::Connection, name: &str) -> String {
    let info: String = q(con, &["INFO", "persistence"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .to_string()
}

/// Polls `done` until it holds, failing with `what` after a generous deadline.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs BGREWRITEAOF and waits until it has finished, well or not.
fn rewrite_and_wait(con: &mut redis::Connection) {
    let counts = |con: &mut redis::Connection| {
        (
            info_field(con, "aof_rewrites"),
            info_field(con, "aof_rewrites_consecutive_failures"),
        )
    };
    let before = counts(con);
    let _: String = q(con, &["BGREWRITEAOF"]);
    wait_until("the rewrite finished", || {
        info_field(con, "aof_rewrite_in_progress") == "0" && counts(con) != before
    });
}

/// Leaves in `dir` an append-only file with a base (keys `base:0..200`) and an increment
/// after it (keys `incr:0..100`); the server is killed at the end (`appendfsync always`:
/// every reply was durable).
fn aof_with_base_and_increment(dir: &TempDir) {
    let srv = aof(dir, "always");
    let mut con = srv.client();
    for i in 0..200 {
        let _: () = q(&mut con, &["SET", &format!("base:{i}"), "b"]);
    }
    rewrite_and_wait(&mut con);
    assert_eq!(info_field(&mut con, "aof_last_bgrewrite_status"), "ok");
    for i in 0..100 {
        let _: () = q(&mut con, &["SET", &format!("incr:{i}"), "i"]);
    }
}

fn manifest_path(dir: &TempDir) -> PathBuf {
    dir.aof_dir().join("appendonly.aof.manifest")
}

/// The base the manifest lists.
fn base_path(dir: &TempDir) -> PathBuf {
    let manifest = std::fs::read_to_string(manifest_path(dir)).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.ends_with("type b"))
        .expect("a base");
    dir.aof_dir().join(line.split_whitespace().nth(1).unwrap())
}

#[test]
fn restart_brings_back_every_value_and_ttl() {
    let dir = TempDir::new("restart");
    let before = {
        let srv = aof(&dir, "everysec");
        let mut con = srv.client();
        let _: () = q(&mut con, &["SET", "plain", "v"]);
        let _: () = q(&mut con, &["SET", "int", "42"]);
        let _: () = q(&mut con, &["SET", "ttl", "t", "EX", "1000"]);
        let _: () = q(&mut con, &["SET", "soon", "gone", "PX", "300"]);
        let _: String = q(&mut con, &["INCRBYFLOAT", "float", "1.25"]);
        let _: i64 = q(&mut con, &["APPEND", "plain", "-appended"]);
        let _: i64 = q(&mut con, &["SETRANGE", "range", "3", "xyz"]);
        let _: i64 = q(&mut con, &["SETBIT", "bits", "7", "1"]);
        let _: i64 = q(&mut con, &["INCR", "int"]);
        let _: i64 = q(&mut con, &["EXPIRE", "int", "500"]);
        let _: i64 = q(&mut con, &["PERSIST", "int"]);
        let _: () = q(&mut con, &["SET", "old-name", "moved"]);
        let _: () = q(&mut con, &["RENAME", "old-name", "new-name"]);
        let _: () = q(&mut con, &["SET", "deleted", "x"]);
        let _: i64 = q(&mut con, &["DEL", "deleted"]);
        let _: () = q(&mut con, &["SET", "binary\x00key", "\x01\x02\r\n"]);
        // Hashes and sets, small (packed) and big (tables), through their operations.
        let _: i64 = q(&mut con, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        let _: i64 = q(&mut con, &["HINCRBY", "h", "a", "41"]);
        let _: String = q(&mut con, &["HINCRBYFLOAT", "h", "f", "0.5"]);
        let _: i64 = q(&mut con, &["HDEL", "h", "b"]);
        let _: i64 = q(&mut con, &["HSETNX", "h", "n", "x"]);
        let _: i64 = q(&mut con, &["EXPIRE", "h", "1000"]);
        for i in 0..300 {
            let f = format!("field:{i}");
            let _: i64 = q(&mut con, &["HSET", "bighash", &f, &"v".repeat(i % 70)]);
        }
        let _: i64 = q(&mut con, &["HDEL", "bighash", "field:7", "field:8"]);
        let _: i64 = q(&mut con, &["SADD", "ints", "3", "1", "2", "-5"]);
        let _: i64 = q(&mut con, &["SADD", "words", "x", "y", "z", "w"]);
        let _: i64 = q(&mut con, &["SREM", "words", "y"]);
        let _: Vec<String> = q(&mut con, &["SPOP", "words", "1"]);
        let _: i64 = q(&mut con, &["SMOVE", "ints", "words", "3"]);
        for i in 0..700 {
            let _: i64 = q(&mut con, &["SADD", "bigset", &format!("m{i}")]);
        }
        let _: i64 = q(&mut con, &["SREM", "bigset", "m1", "m2"]);
        let _: i64 = q(&mut con, &["SUNIONSTORE", "union", "ints", "words"]);
        let _: i64 = q(&mut con, &["SADD", "gone", "a"]);
        let _: i64 = q(&mut con, &["SREM", "gone", "a"]);
        let _: () = q(&mut con, &["SET", "mc", "item"]);
        let _: i64 = q(&mut con, &["MEMCACHED", "FLAGS", "mc", "7"]);
        let _: () = q(&mut con, &["SELECT", "1"]);
        let _: () = q(&mut con, &["SET", "in-db1", "1"]);
        let _: () = q(&mut con, &["SELECT", "2"]);
        let _: () = q(&mut con, &["SET", "flushed", "1"]);
        let _: () = q(&mut con, &["FLUSHDB"]);
        let _: () = q(&mut con, &["SET", "in-db2", "2"]);
        let _: () = q(&mut con, &["SWAPDB", "2", "3"]);
        let _: () = q(&mut con, &["SELECT", "0"]);
        std::thread::sleep(Duration::from_millis(400));
        let state = dump(&mut con);
        assert!(state.iter().all(|(_, k, _, _)| k != "soon"));
        // SHUTDOWN makes the AOF durable whatever the fsync policy.
        let _ = common::cmd(&["SHUTDOWN", "NOSAVE"]).query::<()>(&mut con);
        state
    };
    let srv = aof(&dir, "everysec");
    let mut con = srv.client();
    assert_eq!(dump(&mut con), before);
    let flags: i64 = q(&mut con, &["MEMCACHED", "FLAGS", "mc"]);
    assert_eq!(flags, 7);
    let info: String = q(&mut con, &["INFO", "persistence"]);
    assert!(info.contains("aof_enabled:1"), "{info}");
    assert!(info.contains("aof_last_write_status:ok"), "{info}");
    // A rewrite compacts to a base snapshot plus a new increment; the data survives it.
    let _: String = q(&mut con, &["BGREWRITEAOF"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = q(&mut con, &["INFO", "persistence"]);
        if info.contains("aof_rewrites:1") {
            break;
        }
        assert!(Instant::now() < deadline, "rewrite did not finish: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _: () = q(&mut con, &["SET", "after-rewrite", "1"]);
    let mut expected = dump(&mut con);
    drop(con);
    drop(srv); // kill -9
    let srv = aof(&dir, "everysec");
    let mut con = srv.client();
    // everysec may lose the last second: wait for nothing, but check what must be there.
    let got = dump(&mut con);
    expected.retain(|(_, k, _, _)| k != "after-rewrite");
    let mut got_without = got.clone();
    got_without.retain(|(_, k, _, _)| k != "after-rewrite");
    assert_eq!(got_without, expected);
}

/// kill -9 under a write load with `appendfsync always`: every acknowledged write is
/// there after the restart. The AOF writer is slowed down (a slow disk), so a reply that
/// did not wait for it would be acknowledged long before its write reached the file.
#[test]
fn kill_9_with_fsync_always_loses_no_acknowledged_write() {
    let dir = TempDir::new("always");
    let srv = aof(&dir, "always");
    let _: () = q(&mut srv.client(), &["DEBUG", "AOF-WRITE-DELAY", "50"]);
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let url = srv.url();
            let acked = acked.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut last = None;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{w}:{i}");
                    match redis::cmd("SET").arg(&key).arg(i).query::<()>(&mut con) {
                        Ok(()) => {
                            last = Some(i);
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => break,
                    }
                    i += 1;
                }
                last
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1_000));
    drop(srv); // SIGKILL while the writers write
    stop.store(true, Ordering::Relaxed);
    let lasts: Vec<Option<u64>> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(acked.load(Ordering::Relaxed) > 20, "the writers got going");
    let srv = aof(&dir, "always");
    let mut con = srv.client();
    for (w, last) in lasts.iter().enumerate() {
        let Some(last) = last else { continue };
        for i in 0..=*last {
            let v: Option<u64> = q(&mut con, &["GET", &format!("w{w}:{i}")]);
            assert_eq!(v, Some(i), "acknowledged write w{w}:{i} lost");
        }
    }
}

/// With `everysec`, a kill -9 loses at most the last two seconds.
#[test]
fn kill_9_with_fsync_everysec_loses_at_most_two_seconds() {
    let dir = TempDir::new("everysec");
    let srv = aof(&dir, "everysec");
    let mut con = srv.client();
    for i in 0..500 {
        let _: () = q(&mut con, &["SET", &format!("early:{i}"), "x"]);
    }
    std::thread::sleep(Duration::from_millis(2_200));
    let _: () = q(&mut con, &["SET", "late", "maybe"]);
    drop(con);
    drop(srv);
    let srv = aof(&dir, "everysec");
    let mut con = srv.client();
    let n: i64 = q(&mut con, &["DBSIZE"]);
    assert!(
        n >= 500,
        "writes older than two seconds were lost: {n} keys"
    );
}

#[test]
fn a_torn_aof_tail_is_dropped_and_the_rest_loads() {
    let dir = TempDir::new("torn");
    {
        let srv = aof(&dir, "always");
        let mut con = srv.client();
        let _: () = q(&mut con, &["SET", "a", "1"]);
        let _: () = q(&mut con, &["SET", "b", "2"]);
    }
    // The server died in the middle of writing a command.
    let incr = dir.incr();
    let whole = std::fs::metadata(&incr).unwrap().len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .unwrap();
    std::io::Write::write_all(&mut f, b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$5\r\nhal").unwrap();
    drop(f);
    let srv = aof(&dir, "always");
    let mut con = srv.client();
    let got: Vec<Option<String>> = q(&mut con, &["MGET", "a", "b", "c"]);
    assert_eq!(got, vec![Some("1".into()), Some("2".into()), None]);
    assert_eq!(
        std::fs::metadata(&incr).unwrap().len(),
        whole,
        "the torn tail is cut off"
    );
}

#[test]
fn a_corrupt_aof_refuses_to_start_until_check_aof_fixes_it() {
    let dir = TempDir::new("corrupt-aof");
    {
        let srv = aof(&dir, "always");
        let mut con = srv.client();
        let _: () = q(&mut con, &["SET", "a", "1"]);
        let _: () = q(&mut con, &["SET", "b", "2"]);
    }
    let incr = dir.incr();
    let mut data = std::fs::read(&incr).unwrap();
    let good = data.len();
    data.extend_from_slice(b"this is not RESP\r\n*1\r\n$4\r\nPING\r\n");
    std::fs::write(&incr, &data).unwrap();
    let err = refused(&["--dir", dir.path(), "--appendonly", "yes"]);
    let name = incr.display().to_string();
    assert!(err.contains(&name), "{err}");
    assert!(err.contains(&format!("at offset {good}")), "{err}");
    assert!(
        err.contains(&format!("cairn check-aof --fix {name}")),
        "{err}"
    );
    // The repair tool finds the same place and cuts the file there.
    let check = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["check-aof", &name])
        .output()
        .unwrap();
    assert!(!check.status.success());
    let fixed = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["check-aof", "--fix", &name])
        .output()
        .unwrap();
    assert!(
        fixed.status.success(),
        "{}",
        String::from_utf8_lossy(&fixed.stdout)
    );
    assert_eq!(std::fs::metadata(&incr).unwrap().len() as usize, good);
    let srv = aof(&dir, "always");
    let mut con = srv.client();
    let got: Vec<String> = q(&mut con, &["MGET", "a", "b"]);
    assert_eq!(got, vec!["1", "2"]);
}

#[test]
fn a_corrupt_snapshot_refuses_to_start() {
    let dir = TempDir::new("corrupt-snap");
    {
        let srv = CairnProcess::start(&["--dir", dir.path()]);
        let mut con = srv.client();
        for i in 0..100 {
            let _: () = q(&mut con, &["SET", &format!("k{i}"), "v"]);
        }
        let _: () = q(&mut con, &["SAVE"]);
        let last: i64 = q(&mut con, &["LASTSAVE"]);
        assert!(last > 1_700_000_000);
    }
    let path = Path::new(dir.path()).join("dump.rdb");
    let ok = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["check-snapshot", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("100 keys"));
    let mut data = std::fs::read(&path).unwrap();
    let at = data.len() / 2;
    data[at] ^= 0xff;
    std::fs::write(&path, &data).unwrap();
    let err = refused(&["--dir", dir.path()]);
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("Bad snapshot"), "{err}");
    assert!(err.contains("at offset"), "{err}");
    assert!(err.contains("cairn check-snapshot"), "{err}");
}

/// BGSAVE while writers run: each shard is captured at one instant. With one shard, the
/// whole snapshot is one instant: two keys always written together come back equal.
#[test]
fn bgsave_under_writes_is_point_in_time() {
    let dir = TempDir::new("bgsave");
    let srv = CairnProcess::start(&["--dir", dir.path(), "--shards", "1"]);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let url = srv.url();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _: () = redis::cmd("MSET")
                    .arg("pair:a")
                    .arg(i)
                    .arg("pair:b")
                    .arg(i)
                    .query(&mut con)
                    .unwrap();
                i += 1;
            }
            i
        })
    };
    let mut con = srv.client();
    for i in 0..20_000 {
        let _: () = q(&mut con, &["SET", &format!("filler:{i}"), "0123456789"]);
    }
    let _: String = q(&mut con, &["BGSAVE"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = q(&mut con, &["INFO", "persistence"]);
        if info.contains("rdb_bgsave_in_progress:0") && info.contains("rdb_saves:1") {
            assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
            break;
        }
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    drop(con);
    drop(srv);
    let srv = CairnProcess::start(&["--dir", dir.path()]);
    let mut con = srv.client();
    let a: u64 = q(&mut con, &["GET", "pair:a"]);
    let b: u64 = q(&mut con, &["GET", "pair:b"]);
    assert_eq!(a, b, "the snapshot caught the pair half-written");
    assert!(a < written);
    let n: i64 = q(&mut con, &["DBSIZE"]);
    assert_eq!(n, 20_002);
}

/// The `save` schedule and SHUTDOWN's snapshot, and keys whose TTL passed while the
/// server was down.
#[test]
fn save_points_and_shutdown_snapshots() {
    let dir = TempDir::new("save");
    {
        let srv = CairnProcess::start(&["--dir", dir.path(), "--save", "1", "1"]);
        let mut con = srv.client();
        let _: () = q(&mut con, &["SET", "k", "v"]);
        let _: () = q(&mut con, &["SET", "short", "v", "PX", "500"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info: String = q(&mut con, &["INFO", "persistence"]);
            if info.contains("rdb_saves:1") {
                assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the save point did not fire: {info}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _: () = q(&mut con, &["SET", "at-shutdown", "1"]);
        let _ = common::cmd(&["SHUTDOWN"]).query::<()>(&mut con);
        std::thread::sleep(Duration::from_millis(700));
    }
    let srv = CairnProcess::start(&["--dir", dir.path()]);
    let mut con = srv.client();
    let got: Vec<Option<String>> = q(&mut con, &["MGET", "k", "at-shutdown", "short"]);
    assert_eq!(got, vec![Some("v".into()), Some("1".into()), None]);
}

/// CONFIG SET appendonly yes at run time writes a base of what is there first.
#[test]
fn turning_the_aof_on_at_run_time_keeps_existing_data() {
    let dir = TempDir::new("runtime-aof");
    {
        let srv = CairnProcess::start(&["--dir", dir.path()]);
        let mut con = srv.client();
        let _: () = q(&mut con, &["SET", "before", "1"]);
        let _: () = q(&mut con, &["CONFIG", "SET", "appendonly", "yes"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info: String = q(&mut con, &["INFO", "persistence"]);
            if info.contains("aof_rewrites:1") {
                break;
            }
            assert!(Instant::now() < deadline, "no base written: {info}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let _: () = q(&mut con, &["CONFIG", "SET", "appendfsync", "always"]);
        let _: () = q(&mut con, &["SET", "after", "2"]);
    }
    let srv = aof(&dir, "always");
    let mut con = srv.client();
    let got: Vec<String> = q(&mut con, &["MGET", "before", "after"]);
    assert_eq!(got, vec!["1", "2"]);
}

/// Memcached reads change only what is no part of a key's state (a CAS handed out, the
/// fetched and lease bits): they add nothing to the AOF. Client flags are state: they
/// survive a restart.
#[test]
fn memcached_reads_log_nothing_and_flags_survive_a_restart() {
    use std::io::{BufRead, BufReader, Write};
    let dir = TempDir::new("mc-aof");
    let args = [
        "--dir",
        dir.path(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let aof_size = |con: &mut redis::Connection| -> u64 {
        let info: String = q(con, &["INFO", "persistence"]);
        info.lines()
            .find_map(|l| l.strip_prefix("aof_current_size:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    {
        let (srv, mc) = CairnProcess::start_memcached(&args);
        let mut con = srv.client();
        let s = std::net::TcpStream::connect(mc).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        (&s).write_all(b"set k 9 0 1\r\nv\r\n").unwrap();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "STORED\r\n");
        let before = aof_size(&mut con);
        for _ in 0..50 {
            (&s).write_all(b"mg k v c f h t\r\ngets k\r\n").unwrap();
            for _ in 0..5 {
                line.clear();
                r.read_line(&mut line).unwrap();
            }
        }
        let _: () = q(&mut con, &["SET", "sync-point", "1"]);
        let after = aof_size(&mut con);
        let sync_point = "*3\r\n$3\r\nSET\r\n$10\r\nsync-point\r\n$1\r\n1\r\n".len() as u64;
        assert_eq!(after, before + sync_point, "reads were written to the AOF");
    }
    let (srv, mc) = CairnProcess::start_memcached(&args);
    drop(srv.client());
    let s = std::net::TcpStream::connect(mc).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    (&s).write_all(b"get k\r\n").unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "VALUE k 9 1\r\n");
}

// ---------------------------------------------------------------------------------------
// Start-up on damaged or unreadable files (issue 17): refuse, name the file and the way out
// ---------------------------------------------------------------------------------------

/// The increment the manifest names is gone: the node refuses to start (it used to start
/// with what the base held and log "0 commands replayed"), `cairn check-aof` on the
/// manifest shows what is missing, and `aof-accept-data-loss yes` starts it with what
/// remains, loudly, and leaves a clean file set for the next start.
#[test]
fn a_missing_increment_refuses_to_start_until_the_loss_is_accepted() {
    let dir = TempDir::new("missing-incr");
    aof_with_base_and_increment(&dir);
    let incr = dir.incr();
    std::fs::remove_file(&incr).unwrap();
    let err = refused(&["--dir", dir.path(), "--appendonly", "yes"]);
    let name = incr.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    let manifest = manifest_path(&dir).display().to_string();
    assert!(
        err.contains(&format!("cairn check-aof {manifest}")),
        "{err}"
    );
    assert!(err.contains("aof-accept-data-loss yes"), "{err}");
    // The check tool says the same about the whole set.
    let check = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["check-aof", &manifest])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{report}");
    assert!(
        report.contains(name) && report.contains("missing"),
        "{report}"
    );
    {
        let srv = CairnProcess::start(&[
            "--dir",
            dir.path(),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--aof-accept-data-loss",
            "yes",
        ]);
        let log = srv.startup.join("\n");
        assert!(
            log.contains(name) && log.contains("aof-accept-data-loss"),
            "the skipped part is not in the log: {log}"
        );
        let mut con = srv.client();
        let n: i64 = q(&mut con, &["DBSIZE"]);
        assert_eq!(n, 200, "the base's keys, and nothing of the lost increment");
        let v: Option<String> = q(&mut con, &["GET", "incr:0"]);
        assert_eq!(v, None);
        let _: () = q(&mut con, &["SET", "after", "1"]);
    }
    // A new file set was written: the next start is a plain one.
    let srv = aof(&dir, "always");
    let mut con = srv.client();
    let n: i64 = q(&mut con, &["DBSIZE"]);
    assert_eq!(n, 201);
}

/// The base the manifest names is gone: refused as well; accepting the loss keeps what
/// the increment after it holds.
#[test]
fn a_missing_base_refuses_to_start() {
    let dir = TempDir::new("missing-base");
    aof_with_base_and_increment(&dir);
    let base = base_path(&dir);
    std::fs::remove_file(&base).unwrap();
    let err = refused(&["--dir", dir.path(), "--appendonly", "yes"]);
    assert!(
        err.contains(base.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("aof-accept-data-loss yes"), "{err}");
    let srv = CairnProcess::start(&[
        "--dir",
        dir.path(),
        "--appendonly",
        "yes",
        "--aof-accept-data-loss",
        "yes",
    ]);
    let mut con = srv.client();
    let n: i64 = q(&mut con, &["DBSIZE"]);
    assert_eq!(n, 100, "the increment's keys");
}

/// A manifest truncated to nothing, one that is not a manifest, and none at all beside
/// the parts: each refuses to start (the first used to start an empty node and write a new
/// manifest over it). Accepting the loss rebuilds the set from the parts' names, which
/// here loses nothing.
#[test]
fn an_empty_unparsable_or_missing_manifest_refuses_to_start() {
    let dir = TempDir::new("bad-manifest");
    aof_with_base_and_increment(&dir);
    let manifest = manifest_path(&dir);
    let shown = manifest.display().to_string();
    let good = std::fs::read_to_string(&manifest).unwrap();
    let args = ["--dir", dir.path(), "--appendonly", "yes"];

    std::fs::write(&manifest, "").unwrap();
    let err = refused(&args);
    assert!(err.contains(&shown) && err.contains("is empty"), "{err}");
    assert!(err.contains("aof-accept-data-loss yes"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&manifest).unwrap(),
        "",
        "a refused start changes nothing"
    );

    std::fs::write(&manifest, "this is not a manifest\n").unwrap();
    let err = refused(&args);
    assert!(err.contains(&shown) && err.contains("line 1"), "{err}");
    assert!(err.contains("aof-accept-data-loss yes"), "{err}");

    std::fs::remove_file(&manifest).unwrap();
    let err = refused(&args);
    assert!(err.contains(&shown) && err.contains("no manifest"), "{err}");
    assert!(
        err.contains(".incr.aof"),
        "the parts found are named: {err}"
    );

    std::fs::write(&manifest, "").unwrap();
    {
        let srv = CairnProcess::start(&[
            "--dir",
            dir.path(),
            "--appendonly",
            "yes",
            "--aof-accept-data-loss",
            "yes",
        ]);
        let mut con = srv.client();
        let n: i64 = q(&mut con, &["DBSIZE"]);
        assert_eq!(n, 300, "rebuilt from the base and the increment beside it");
        let log = srv.startup.join("\n");
        assert!(log.contains("aof-accept-data-loss"), "{log}");
    }
    assert_ne!(std::fs::read_to_string(&manifest).unwrap(), good);
    let srv = aof(&dir, "always");
    let mut con = srv.client();
    let n: i64 = q(&mut con, &["DBSIZE"]);
    assert_eq!(n, 300);
}

/// Directories and files a node expects and cannot read: `dir` a regular file, the AOF
/// directory a regular file, `dbfilename` a directory or a link to nothing. Each refuses
/// to start naming the path (a `dir` that is a file, or a dangling link, used to start an
/// empty node).
#[test]
fn unreadable_directories_and_files_refuse_to_start() {
    let dir = TempDir::new("unreadable");
    let file = dir.0.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let file_s = file.to_str().unwrap();

    let err = refused(&["--dir", file_s]);
    assert!(err.contains(file_s), "{err}");
    assert!(err.contains("Not a directory"), "{err}");
    let err = refused(&["--dir", file_s, "--appendonly", "yes"]);
    assert!(err.contains(file_s), "{err}");
    assert!(err.contains("Not a directory"), "{err}");

    std::fs::write(dir.aof_dir(), "x").unwrap();
    let err = refused(&["--dir", dir.path(), "--appendonly", "yes"]);
    assert!(err.contains(&dir.aof_dir().display().to_string()), "{err}");
    assert!(err.contains("appenddirname"), "{err}");
    std::fs::remove_file(dir.aof_dir()).unwrap();

    let snapshot = dir.0.join("dump.rdb");
    std::fs::create_dir(&snapshot).unwrap();
    std::fs::write(snapshot.join("inside"), "x").unwrap();
    let err = refused(&["--dir", dir.path()]);
    assert!(err.contains(&snapshot.display().to_string()), "{err}");
    assert!(err.contains("Is a directory"), "{err}");
    std::fs::remove_dir_all(&snapshot).unwrap();

    std::os::unix::fs::symlink(dir.0.join("nowhere.rdb"), &snapshot).unwrap();
    let err = refused(&["--dir", dir.path()]);
    assert!(err.contains(&snapshot.display().to_string()), "{err}");
    assert!(err.contains("nowhere.rdb"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Writing on a disk that fails (issue 17): MISCONF, nothing acknowledged lost, and writes
// resume by themselves when the disk recovers
// ---------------------------------------------------------------------------------------

/// A filesystem of a few MB of its own (a tmpfs mounted for the test), unmounted when
/// dropped, even after a panic. Declare it before the servers that use it, so they are
/// killed (dropped) first.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    /// None (and a "skipped" line) where mounting is not permitted (not root).
    fn mount(name: &str) -> Option<SmallDisk> {
        let dir = std::env::temp_dir().join(format!("cairn-disk-{name}-{}", std::process::id()));
        let _ = Command::new("umount").arg(&dir).output();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(&dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            eprintln!(
                "skipped: cannot mount a tmpfs at {} (needs root)",
                dir.display()
            );
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// Fills the filesystem to the last byte with a filler file.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.dir.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let mut byte = [0u8; 1];
        while f.write(&byte).is_ok_and(|n| n == 1) {
            byte[0] = byte[0].wrapping_add(1);
        }
    }

    /// The disk recovers: the filler goes.
    fn free(&self) {
        std::fs::remove_file(self.dir.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn on_disk(disk: &SmallDisk, extra: &[&str]) -> CairnProcess {
    let mut args = vec!["--dir", disk.path()];
    args.extend_from_slice(extra);
    CairnProcess::start(&args)
}

/// Sets `prefix:N` keys until a write is refused; returns the acknowledged keys and the
/// error as the server sent it.
fn write_until_refused(con: &mut redis::Connection, prefix: &str) -> (Vec<String>, String) {
    let value = "v".repeat(1000);
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let key = format!("{prefix}:{}", acked.len());
        match common::cmd(&["SET", &key, &value]).query::<()>(con) {
            Ok(()) => acked.push(key),
            Err(e) => {
                let text = match (e.code(), e.detail()) {
                    (Some(code), Some(detail)) => format!("{code} {detail}"),
                    _ => e.to_string(),
                };
                return (acked, text);
            }
        }
        assert!(Instant::now() < deadline, "writes were never refused");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls a write until it is accepted again.
fn write_when_accepted(con: &mut redis::Connection, key: &str) {
    wait_until(&format!("SET {key} is accepted again"), || {
        common::cmd(&["SET", key, "1"]).query::<()>(con).is_ok()
    });
}

const AOF_MISCONF: &str = "MISCONF Errors writing to the AOF file: No space left on device";
const RDB_MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// A full disk under the AOF (everysec): writes get MISCONF, reads go on, and when space
/// is freed writes are accepted again by themselves, with nothing acknowledged lost.
#[test]
fn a_full_disk_turns_aof_writes_into_misconf_and_they_resume_by_themselves() {
    let Some(disk) = SmallDisk::mount("aof-full") else {
        return;
    };
    let aof_args = ["--appendonly", "yes", "--auto-aof-rewrite-percentage", "0"];
    let mut srv = on_disk(&disk, &aof_args);
    let mut con = srv.client();
    let _: () = q(&mut con, &["SET", "before", "1"]);
    disk.fill();
    let (acked, refused) = write_until_refused(&mut con, "during");
    assert_eq!(refused, AOF_MISCONF);
    assert_eq!(info_field(&mut con, "aof_last_write_status"), "err");
    let v: String = q(&mut con, &["GET", "before"]);
    assert_eq!(v, "1", "reads go on");
    disk.free();
    write_when_accepted(&mut con, "after");
    assert_eq!(info_field(&mut con, "aof_last_write_status"), "ok");
    let _ = common::cmd(&["SHUTDOWN", "NOSAVE"]).query::<()>(&mut con);
    assert!(srv.wait_exit(Duration::from_secs(30)).is_some());
    drop(srv);
    let srv = on_disk(&disk, &aof_args);
    let mut con = srv.client();
    for key in acked.iter().map(String::as_str).chain(["before", "after"]) {
        let v: Option<String> = q(&mut con, &["GET", key]);
        assert!(v.is_some(), "{key} was acknowledged and lost");
    }
}

/// A full disk under `appendfsync always`: a write whose data cannot reach the disk is
/// never acknowledged. The server is killed while writers are held back; every write
/// that was answered OK is there after the restart.
#[test]
fn a_full_disk_with_fsync_always_acknowledges_nothing_it_did_not_write() {
    let Some(disk) = SmallDisk::mount("aof-always") else {
        return;
    };
    let args = ["--appendonly", "yes", "--appendfsync", "always"];
    let srv = on_disk(&disk, &args);
    disk.fill();
    let writer = {
        let url = srv.url();
        std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let value = "w".repeat(1000);
            let mut acked = Vec::new();
            for i in 0.. {
                let key = format!("w:{i}");
                match redis::cmd("SET")
                    .arg(&key)
                    .arg(&value)
                    .query::<()>(&mut con)
                {
                    Ok(()) => acked.push(key),
                    Err(_) => break,
                }
            }
            acked
        })
    };
    let mut con = srv.client();
    wait_until("the AOF fails to write", || {
        info_field(&mut con, "aof_last_write_status") == "err"
    });
    assert_eq!(common::err(&mut con, &["SET", "other", "x"]), AOF_MISCONF);
    drop(con);
    drop(srv); // kill -9 while the writer waits for its reply
    let acked = writer.join().unwrap();
    disk.free();
    let srv = on_disk(&disk, &args);
    let mut con = srv.client();
    for key in &acked {
        let v: Option<String> = q(&mut con, &["GET", key]);
        assert!(v.is_some(), "{key} was acknowledged and lost");
    }
}

/// An AOF rewrite on a full disk fails (INFO says so) and leaves every write in a part the
/// manifest names: writes acknowledged after the disk recovers survive a restart. (The
/// writer used to move to the new increment before the manifest listing it was written,
/// and a failed manifest left acknowledged writes in a file no manifest names.)
#[test]
fn a_rewrite_on_a_full_disk_loses_no_acknowledged_write() {
    let Some(disk) = SmallDisk::mount("rewrite-full") else {
        return;
    };
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--auto-aof-rewrite-percentage",
        "0",
    ];
    let srv = on_disk(&disk, &args);
    let mut con = srv.client();
    let _: () = q(&mut con, &["SET", "before", "1"]);
    disk.fill();
    rewrite_and_wait(&mut con);
    assert_eq!(info_field(&mut con, "aof_last_bgrewrite_status"), "err");
    disk.free();
    write_when_accepted(&mut con, "after");
    assert_eq!(info_field(&mut con, "aof_last_write_status"), "ok");
    // The next rewrite works, and says so.
    rewrite_and_wait(&mut con);
    assert_eq!(info_field(&mut con, "aof_last_bgrewrite_status"), "ok");
    let _: () = q(&mut con, &["SET", "after-rewrite", "1"]);
    drop(con);
    drop(srv);
    let srv = on_disk(&disk, &args);
    let mut con = srv.client();
    let got: Vec<Option<String>> = q(&mut con, &["MGET", "before", "after", "after-rewrite"]);
    assert_eq!(got, vec![Some("1".into()); 3]);
}

/// The manifest cannot be replaced (its rename fails: a directory stands where it goes):
/// the rewrite fails and writes acknowledged after it are still in a named increment.
#[test]
fn a_rewrite_whose_manifest_cannot_be_renamed_loses_no_acknowledged_write() {
    let dir = TempDir::new("manifest-rename");
    let srv = aof(&dir, "always");
    let mut con = srv.client();
    let _: () = q(&mut con, &["SET", "before", "1"]);
    let manifest = manifest_path(&dir);
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::remove_file(&manifest).unwrap();
    std::fs::create_dir(&manifest).unwrap();
    std::fs::write(manifest.join("in-the-way"), "x").unwrap();
    rewrite_and_wait(&mut con);
    assert_eq!(info_field(&mut con, "aof_last_bgrewrite_status"), "err");
    let _: () = q(&mut con, &["SET", "after", "1"]);
    drop(con);
    drop(srv);
    std::fs::remove_dir_all(&manifest).unwrap();
    std::fs::write(&manifest, text).unwrap();
    let srv = aof(&dir, "always");
    let mut con = srv.client();
    let got: Vec<Option<String>> = q(&mut con, &["MGET", "before", "after"]);
    assert_eq!(got, vec![Some("1".into()); 2]);
}

/// A snapshot that fails on a full disk, with save points and
/// stop-writes-on-bgsave-error yes: writes get Redis's MISCONF, INFO says err, turning
/// the setting off lifts it at once, and once space is freed the save is retried by
/// itself (every 5 s, as Redis does) and writes are accepted again.
#[test]
fn a_failing_snapshot_turns_writes_into_misconf_until_a_retry_succeeds() {
    let Some(disk) = SmallDisk::mount("snapshot-full") else {
        return;
    };
    let srv = on_disk(&disk, &["--save", "1", "1"]);
    let mut con = srv.client();
    let _: () = q(&mut con, &["SET", "k", "v"]);
    wait_until("the first snapshot is written", || {
        info_field(&mut con, "rdb_saves") == "1"
    });
    disk.fill();
    let (_, refused) = write_until_refused(&mut con, "during");
    assert_eq!(refused, RDB_MISCONF);
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "err");
    let v: String = q(&mut con, &["GET", "k"]);
    assert_eq!(v, "v", "reads go on");
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
    );
    let _: () = q(&mut con, &["SET", "allowed", "1"]);
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
    );
    assert_eq!(common::err(&mut con, &["SET", "refused", "1"]), RDB_MISCONF);
    disk.free();
    write_when_accepted(&mut con, "after");
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "ok");
}

/// A thin-provisioned disk: an ext4 filesystem (no journal) in a 64 MB sparse image on a
/// loop device, the image on a tmpfs of 8 MB. Filling the tmpfs makes the disk accept
/// writes into the page cache and fail to write them out: fsync fails, as on a real thin
/// volume or SAN that ran out of space. Unmounted when dropped.
struct ThinDisk {
    back: PathBuf,
    mnt: PathBuf,
}

impl ThinDisk {
    fn mount(name: &str) -> Option<ThinDisk> {
        let root = std::env::temp_dir().join(format!("cairn-thin-{name}-{}", std::process::id()));
        let (back, mnt) = (root.join("back"), root.join("mnt"));
        for d in [&mnt, &back] {
            let _ = Command::new("umount").arg(d).output();
        }
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&back).unwrap();
        std::fs::create_dir_all(&mnt).unwrap();
        let disk = ThinDisk { back, mnt };
        let run = |cmd: &mut Command| cmd.output().is_ok_and(|o| o.status.success());
        let img = disk.back.join("img");
        let ok = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
            .arg(&disk.back))
            && std::fs::File::create(&img)
                .and_then(|f| f.set_len(64 << 20))
                .is_ok()
            && run(Command::new("mkfs.ext4")
                .args(["-q", "-F", "-O", "^has_journal", "-E", "nodiscard"])
                .arg(&img))
            && disk.mount_image();
        if !ok {
            eprintln!("skipped: cannot make a thin disk (needs root, loop devices and mkfs.ext4)");
            return None;
        }
        Some(disk)
    }

    fn mount_image(&self) -> bool {
        Command::new("mount")
            .args(["-o", "loop"])
            .arg(self.back.join("img"))
            .arg(&self.mnt)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn path(&self) -> &str {
        self.mnt.to_str().unwrap()
    }

    /// The backing store runs out of space.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.back.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write(&chunk).is_ok_and(|n| n > 0) {}
    }

    fn free(&self) {
        std::fs::remove_file(self.back.join("filler")).unwrap();
    }

    /// Unmounts and mounts the filesystem again: its page cache goes, and with it
    /// whatever never reached the image, as after a power cut.
    fn remount(&self) {
        let out = Command::new("umount").arg(&self.mnt).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(self.mount_image(), "mount the image again");
    }
}

impl Drop for ThinDisk {
    fn drop(&mut self) {
        for d in [&self.mnt, &self.back] {
            let unmounted = Command::new("umount")
                .arg(d)
                .output()
                .is_ok_and(|o| o.status.success());
            if !unmounted {
                let _ = Command::new("umount").arg("-l").arg(d).output();
            }
        }
        if let Some(root) = self.back.parent() {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

/// fsync fails (the disk cannot write out what it accepted): with `appendfsync always`
/// no write is acknowledged until an fsync succeeds, writes get MISCONF meanwhile, and
/// what the kernel failed to write out is written again once the disk recovers. After a
/// power cut (the page cache dropped), every acknowledged write is there. (The writer used
/// to retry only the fsync, which the kernel then reports as a success although the pages
/// it failed to write are gone.)
#[test]
fn a_failing_fsync_with_fsync_always_acknowledges_nothing_it_did_not_make_durable() {
    let Some(disk) = ThinDisk::mount("fsync") else {
        return;
    };
    let args = [
        "--dir",
        disk.path(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--auto-aof-rewrite-percentage",
        "0",
    ];
    let srv = CairnProcess::start(&args);
    let mut con = srv.client();
    let _: () = q(&mut con, &["SET", "before", "1"]);
    disk.fill();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let url = srv.url();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let value = "w".repeat(8000);
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("w:{i}");
                match redis::cmd("SET")
                    .arg(&key)
                    .arg(&value)
                    .query::<()>(&mut con)
                {
                    Ok(()) => {
                        acked.push(key);
                        i += 1;
                    }
                    Err(e) if e.code() == Some("MISCONF") => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(_) => break,
                }
            }
            acked
        })
    };
    wait_until("fsync fails", || {
        info_field(&mut con, "aof_last_write_status") == "err"
    });
    disk.free();
    write_when_accepted(&mut con, "after");
    stop.store(true, Ordering::Relaxed);
    let acked = writer.join().unwrap();
    drop(con);
    drop(srv); // kill -9
    disk.remount();
    let srv = CairnProcess::start(&args);
    let mut con = srv.client();
    for key in acked.iter().map(String::as_str).chain(["before", "after"]) {
        let v: Option<String> = q(&mut con, &["GET", key]);
        assert!(v.is_some(), "{key} was acknowledged and lost");
    }
}

/// The server died mid-write just after a rewrite listed its new increment and before the
/// writer moved to it: the torn tail sits in the increment before an empty one, and is cut
/// there as it would be in the last one.
#[test]
fn a_torn_tail_before_an_empty_increment_is_dropped_and_the_rest_loads() {
    let dir = TempDir::new("torn-before-empty");
    {
        let srv = aof(&dir, "always");
        let mut con = srv.client();
        let _: () = q(&mut con, &["SET", "a", "1"]);
        let _: () = q(&mut con, &["SET", "b", "2"]);
    }
    let incr = dir.incr();
    let whole = std::fs::metadata(&incr).unwrap().len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .unwrap();
    std::io::Write::write_all(&mut f, b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$5\r\nhal").unwrap();
    drop(f);
    let manifest = manifest_path(&dir);
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    let seq: u64 = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3)?.parse().ok())
        .max()
        .unwrap();
    let next = format!("appendonly.aof.{}.incr.aof", seq + 1);
    std::fs::write(dir.aof_dir().join(&next), "").unwrap();
    text.push_str(&format!("file {next} seq {} type i\n", seq + 1));
    std::fs::write(&manifest, text).unwrap();
    let srv = aof(&dir, "always");
    let mut con = srv.client();
    let got: Vec<Option<String>> = q(&mut con, &["MGET", "a", "b", "c"]);
    assert_eq!(got, vec![Some("1".into()), Some("2".into()), None]);
    assert_eq!(std::fs::metadata(&incr).unwrap().len(), whole);
}

/// Operations (APPEND, SETRANGE, INCRBY, SETBIT) go to the AOF as themselves, not as the
/// values they made, so replaying one that the rewrite's base holds already would apply it
/// twice: the base records where each shard was cut, and loading skips those. Writers
/// keep operating through several rewrites of a keyspace large enough for the cut to take
/// a while; after a clean shutdown and a restart every value is exactly what the writers
/// made.
#[test]
fn operations_during_a_rewrite_are_loaded_once() {
    let dir = TempDir::new("ops-rewrite");
    let start =
        || CairnProcess::start(&["--dir", dir.path(), "--appendonly", "yes", "--shards", "16"]);
    let mut skipped_some = false;
    for attempt in 0..4 {
        let mut srv = start();
        let mut con = srv.client();
        if attempt == 0 {
            for chunk in 0..100 {
                let mut pipe = redis::pipe();
                for i in 0..1000 {
                    pipe.set(format!("filler:{}", chunk * 1000 + i), "0123456789")
                        .ignore();
                }
                pipe.query::<()>(&mut con).unwrap();
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|t| {
                let url = srv.url();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                    // From what the last restart brought back.
                    let mut model = OpModel::resume(t, &mut con);
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) || n < 5 {
                        model.round(&mut con, n);
                        n += 1;
                    }
                    model
                })
            })
            .collect();
        for _ in 0..3 {
            rewrite_and_wait(&mut con);
            assert_eq!(info_field(&mut con, "aof_last_bgrewrite_status"), "ok");
        }
        stop.store(true, Ordering::Relaxed);
        let models: Vec<OpModel> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        let _ = redis::cmd("SHUTDOWN").query::<()>(&mut con);
        srv.wait_exit(Duration::from_secs(30))
            .expect("SHUTDOWN stops the server");
        let srv = start();
        let loaded = srv
            .startup
            .iter()
            .find(|l| l.contains("loaded the append-only file"))
            .cloned()
            .expect("the AOF was loaded");
        skipped_some |= loaded.contains("were in the base already");
        let mut con = srv.client();
        for m in &models {
            m.check(&mut con);
        }
        let n: i64 = q(&mut con, &["DBSIZE"]);
        assert_eq!(n, 100_000 + 2 * OpModel::KEYS_MADE as i64);
        if skipped_some {
            return;
        }
    }
    panic!(
        "no operation ever landed between a rewrite's start and its shard's cut: the test proved nothing"
    );
}
