//! Redis's own tools against Cairn: redis-cli (interactive-style commands, --pipe, RESP3)
//! and redis-benchmark. Skipped, with a note, where the tools are not installed; CI
//! installs them (Debian's redis-tools).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

fn tool(name: &str) -> Option<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn cli(srv: &common::CairnProcess, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &srv.addr.port().to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(out.status.success(), "redis-cli {args:?} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_commands_and_pipe_mode() {
    if tool("redis-cli").is_none() {
        eprintln!("redis-cli not installed; skipping");
        return;
    }
    let srv = common::CairnProcess::start(&[]);

    // plain commands
    assert_eq!(cli(&srv, &["set", "greeting", "hello world"]), "OK\n");
    assert_eq!(cli(&srv, &["get", "greeting"]), "hello world\n");
    assert_eq!(cli(&srv, &["incrby", "n", "41"]), "41\n");
    assert!(cli(&srv, &["info", "server"]).contains("redis_version:7.4.0"));
    let hello = cli(&srv, &["-3", "hello", "3"]);
    assert!(hello.lines().any(|l| l == "proto 3"), "{hello}");
    assert!(hello.lines().any(|l| l == "version 7.4.0"), "{hello}");

    // an error comes back as Redis's text
    assert_eq!(
        cli(&srv, &["nosuchcommand"]).trim_end(),
        "ERR unknown command 'nosuchcommand', with args beginning with:"
    );

    // --pipe mass insertion: raw RESP on stdin, a summary at the end
    let port = srv.addr.port().to_string();
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port, "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli --pipe");
    let mut input = Vec::new();
    for i in 0..1000 {
        let (k, v) = (format!("pipe:{i}"), format!("v{i}"));
        input.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )
            .as_bytes(),
        );
    }
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 1000"), "{text}");
    assert_eq!(cli(&srv, &["get", "pipe:999"]), "v999\n");
    assert_eq!(cli(&srv, &["dbsize"]), "1002\n");
}

#[test]
fn redis_benchmark_runs_clean() {
    if tool("redis-benchmark").is_none() {
        eprintln!("redis-benchmark not installed; skipping");
        return;
    }
    let srv = common::CairnProcess::start(&[]);
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &srv.addr.port().to_string()])
        .args([
            "-t",
            "set,get,incr,mset",
            "-n",
            "5000",
            "-c",
            "10",
            "-P",
            "8",
            "-q",
            "--csv",
        ])
        .output()
        .expect("run redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for test in ["\"SET\"", "\"GET\"", "\"INCR\"", "\"MSET (10 keys)\""] {
        assert!(text.contains(test), "no {test} line in {text}");
    }
    let mut c = srv.client();
    let n: i64 = redis::cmd("GET")
        .arg("counter:__rand_int__")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 5000, "every INCR landed");
}

/// `redis-cli --bigkeys` (SCAN, TYPE, STRLEN) and `--hotkeys` (SCAN, OBJECT FREQ: needs a
/// policy that tracks frequency, which Cairn's default allkeys-tinylfu does) read a
/// default node.
#[test]
fn redis_cli_bigkeys_and_hotkeys() {
    if tool("redis-cli").is_none() {
        eprintln!("redis-cli not installed; skipping");
        return;
    }
    let srv = common::CairnProcess::start(&[]);
    let mut con = srv.client();
    for i in 0..200 {
        common::q::<()>(&mut con, &["SET", &format!("small:{i}"), "v"]);
    }
    common::q::<()>(&mut con, &["SET", "the-big-one", &"x".repeat(10_000)]);
    for _ in 0..300 {
        common::q::<Option<String>>(&mut con, &["GET", "small:7"]);
    }

    let big = cli(&srv, &["--bigkeys"]);
    assert!(
        big.contains("Biggest string found") && big.contains("the-big-one"),
        "{big}"
    );
    assert!(big.contains("201 strings"), "{big}");

    let hot = cli(&srv, &["--hotkeys"]);
    assert!(!hot.contains("ERROR"), "{hot}");
    assert!(
        hot.contains("hot key found with counter") && hot.contains("small:7"),
        "{hot}"
    );

    // Cairn's own HOTKEYS sees the same key without scanning anything.
    let top = cli(&srv, &["hotkeys", "count", "1"]);
    assert!(top.contains("small:7"), "{top}");
}
