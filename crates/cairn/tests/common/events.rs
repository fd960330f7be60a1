//! Keyspace events and blocked clients, as the type families' tests watch them.

use std::thread;
use std::time::Duration;

use redis::{Connection, Value};

use super::{CairnProcess, q, wait_until};

/// The keyspace events (`__keyevent@0__`, as `(event, key)`) that `commands` publish on
/// `client`'s server, up to a sentinel SET: run against redis-server and Cairn, the two
/// lists must be equal.
pub fn keyevents(client: impl Fn() -> Connection, commands: &[&[&str]]) -> Vec<(String, String)> {
    let mut con = client();
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
    );
    let mut l = client();
    let mut sub = l.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    sub.psubscribe("__keyevent@0__:*").unwrap();
    for c in commands {
        let _: Value = redis::cmd(c[0])
            .arg(&c[1..])
            .query(&mut con)
            .unwrap_or(Value::Nil);
    }
    let _: () = q(&mut con, &["SET", "sentinel", "x"]);
    let mut seen = Vec::new();
    loop {
        let m = sub.get_message().expect("an event");
        let event = m
            .get_channel_name()
            .trim_start_matches("__keyevent@0__:")
            .to_string();
        let key: String = m.get_payload().unwrap();
        if key == "sentinel" {
            return seen;
        }
        seen.push((event, key));
    }
}

/// INFO's `blocked_clients`.
pub fn blocked_clients(c: &mut Connection) -> i64 {
    let text: String = q(c, &["INFO", "clients"]);
    text.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

/// Waits until `n` clients are blocked.
pub fn wait_blocked(c: &mut Connection, n: i64) {
    wait_until(10, &format!("{n} clients blocked"), || {
        blocked_clients(c) == n
    });
}

/// Runs `args` on a connection of its own in a thread; its reply comes back on join.
pub fn in_thread(
    srv: &CairnProcess,
    args: &[&str],
) -> thread::JoinHandle<redis::RedisResult<Value>> {
    let mut c = srv.client();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    thread::spawn(move || {
        let mut cmd = redis::cmd(&args[0]);
        for a in &args[1..] {
            cmd.arg(a);
        }
        cmd.query(&mut c)
    })
}
