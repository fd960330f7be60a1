//! `cairn cluster ...` against real cluster nodes, redis-server's and Cairn's (every test
//! runs on both): the tool talks to nodes only
//! through Redis Cluster's admin commands, so what works here works on any server that
//! answers them as Redis does. Each test starts its own redis-server processes on
//! ephemeral 127.0.0.1 ports (killed when the test ends, even on a panic), drives the real
//! `cairn` binary, and checks the result through plain connections and redis-rs's cluster
//! client. Skipped, with a notice, when redis-server is not installed.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_client::slot::slot;

/// Hang guard for one CLI run or one wait; never a measure of speed.
const GUARD: Duration = Duration::from_secs(300);

/// Which server a test runs its nodes on: every test runs against both (see `both!`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Redis,
    Cairn,
}

thread_local! {
    static KIND: std::cell::Cell<Kind> = const { std::cell::Cell::new(Kind::Redis) };
}

fn kind() -> Kind {
    KIND.with(|k| k.get())
}

/// Runs a test body once on redis-server nodes and once on Cairn nodes.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn redis() {
                super::KIND.with(|k| k.set(super::Kind::Redis));
                super::$name();
            }
            #[test]
            fn cairn() {
                super::KIND.with(|k| k.set(super::Kind::Cairn));
                super::$name();
            }
        }
    };
}

fn redis_server_installed() -> bool {
    if kind() == Kind::Cairn {
        return true;
    }
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("NOTICE: redis-server is not installed; cluster CLI tests skipped");
    }
    ok
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(what: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "cairn-cluster-cli-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One redis-server in cluster mode, killed on drop.
struct Server {
    child: Child,
    port: u16,
    bus: u16,
    dir: PathBuf,
    /// Keep the data in an append-only file synced on every write (for crash tests).
    durable: bool,
}

impl Server {
    fn start() -> Server {
        Server::start_with(false)
    }

    fn start_with(durable: bool) -> Server {
        let port = free_port();
        // The bus port is given, so it cannot land past 65535 as port + 10000 could.
        let bus = free_port();
        let dir = temp_dir(&port.to_string());
        let child = Server::spawn(port, bus, &dir, durable);
        let s = Server {
            child,
            port,
            bus,
            dir,
            durable,
        };
        s.wait_up();
        s
    }

    fn spawn(port: u16, bus: u16, dir: &Path, durable: bool) -> Child {
        let aof: &[&str] = if durable {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        let mut cmd = match kind() {
            Kind::Redis => {
                let mut c = Command::new("redis-server");
                c.args(["--cluster-config-file", &format!("nodes-{port}.conf")]);
                c
            }
            Kind::Cairn => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
                c.arg("server");
                c
            }
        };
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-port", &bus.to_string()])
            .args(["--cluster-node-timeout", "5000"])
            .args(["--save", ""])
            .args(aof)
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a server")
    }

    fn wait_up(&self) {
        wait_until("redis-server answers", || {
            redis::Client::open(self.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        });
    }

    /// SIGKILL.
    fn crash(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts again on the same ports and files: its cluster config, its markers and, when
    /// durable, its keys come back.
    fn restart(&mut self) {
        self.child = Server::spawn(self.port, self.bus, &self.dir, self.durable);
        self.wait_up();
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn conn(&self) -> redis::Connection {
        conn(self.port)
    }

    fn id(&self) -> String {
        redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut self.conn())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn conn(port: u16) -> redis::Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_connection()
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c
}

fn servers(n: usize) -> Vec<Server> {
    (0..n).map(|_| Server::start()).collect()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + GUARD;
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a CLI run printed and how it ended.
struct Run {
    code: i32,
    out: String,
    err: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.out, self.err
        )
    }
}

/// `cairn cluster <args>` started, with stdin fed `input` (then closed).
fn spawn_cli(args: &[&str], input: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("cluster")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cairn");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child
}

/// Waits for a CLI run (killing it past the hang guard) and collects its output.
fn finish(mut child: Child) -> Run {
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + GUARD;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        out: out.join().unwrap(),
        err: err.join().unwrap(),
    }
}

fn cli_with_input(args: &[&str], input: &str) -> Run {
    finish(spawn_cli(args, input))
}

fn cli(args: &[&str]) -> Run {
    cli_with_input(args, "")
}

/// A CLI run that must succeed.
fn ok(args: &[&str]) -> Run {
    let r = cli(args);
    assert_eq!(r.code, 0, "cairn cluster {}: {r:?}", args.join(" "));
    r
}

/// One line of CLUSTER NODES, parsed here independently of the tool's parser.
#[derive(Debug, Clone)]
struct Line {
    id: String,
    flags: String,
    master: String,
    slots: Vec<(u16, u16)>,
    markers: Vec<String>,
}

impl Line {
    fn is_primary(&self) -> bool {
        self.flags.split(',').any(|f| f == "master")
    }
    fn slot_count(&self) -> usize {
        self.slots
            .iter()
            .map(|(a, b)| usize::from(*b) - usize::from(*a) + 1)
            .sum()
    }
    fn owns(&self, s: u16) -> bool {
        self.slots.iter().any(|(a, b)| *a <= s && s <= *b)
    }
}

fn nodes_of(port: u16) -> Vec<Line> {
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut conn(port))
        .unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let mut slots = Vec::new();
            let mut markers = Vec::new();
            for item in &f[8..] {
                if item.starts_with('[') {
                    markers.push(item.to_string());
                } else if let Some((a, b)) = item.split_once('-') {
                    slots.push((a.parse().unwrap(), b.parse().unwrap()));
                } else {
                    let s = item.parse().unwrap();
                    slots.push((s, s));
                }
            }
            Line {
                id: f[0].to_string(),
                flags: f[2].to_string(),
                master: f[3].to_string(),
                slots,
                markers,
            }
        })
        .collect()
}

fn line_of(port: u16, id: &str) -> Line {
    nodes_of(port)
        .into_iter()
        .find(|l| l.id == id)
        .unwrap_or_else(|| panic!("{port} does not list {id}"))
}

fn myself(port: u16) -> Line {
    nodes_of(port)
        .into_iter()
        .find(|l| l.flags.contains("myself"))
        .unwrap()
}

fn cluster_info(port: u16) -> BTreeMap<String, String> {
    let text: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query(&mut conn(port))
        .unwrap();
    text.lines()
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn cluster_client(nodes: &[Server]) -> redis::cluster::ClusterConnection {
    redis::cluster::ClusterClient::builder(nodes.iter().map(Server::url).collect::<Vec<_>>())
        .response_timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get_connection()
        .unwrap()
}

fn write_keys(nodes: &[Server], keys: &[String]) {
    let mut c = cluster_client(nodes);
    for k in keys {
        let _: () = redis::cmd("SET")
            .arg(k)
            .arg(format!("v-{k}"))
            .query(&mut c)
            .unwrap();
    }
}

/// Every key reads back its value (through the cluster client, which follows MOVED/ASK).
fn assert_all_readable(nodes: &[Server], keys: &[String]) {
    let mut c = cluster_client(nodes);
    for k in keys {
        let v: Option<String> = redis::cmd("GET").arg(k).query(&mut c).unwrap();
        assert_eq!(v.as_deref(), Some(format!("v-{k}").as_str()), "key {k}");
    }
}

/// `n` keys that all hash to `s` (through a hash tag found by trying).
fn keys_in_slot(s: u16, n: usize) -> Vec<String> {
    let tag = (0u64..)
        .map(|i| format!("t{i}"))
        .find(|t| slot(t.as_bytes()) == s)
        .unwrap();
    (0..n).map(|i| format!("{{{tag}}}:{i}")).collect()
}

/// A 3-primary cluster (with `replicas` replicas each) made by `create --yes`.
fn created(replicas: usize) -> Vec<Server> {
    let nodes = servers(3 * (replicas + 1));
    let mut args = vec!["create".to_string()];
    args.extend(nodes.iter().map(Server::addr));
    args.extend(["--replicas".into(), replicas.to_string(), "--yes".into()]);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    nodes
}

fn create_check_info_and_a_reshard_that_keeps_every_key() {
    if !redis_server_installed() {
        return;
    }
    // create a 6-node cluster, 3 primaries with a replica each
    let nodes = created(1);
    let ids: Vec<String> = nodes.iter().map(Server::id).collect();

    // every node sees the same map: primaries 0-2 own the three even ranges, 3-5 follow them
    for n in &nodes {
        let lines = nodes_of(n.port);
        assert_eq!(lines.len(), 6, "{} lists every node", n.port);
        let expect = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (i, range) in expect.iter().enumerate() {
            let l = lines.iter().find(|l| l.id == ids[i]).unwrap();
            assert!(l.is_primary(), "{} is a primary", ids[i]);
            assert_eq!(l.slots, vec![*range]);
        }
        let mut followed: Vec<&str> = lines
            .iter()
            .filter(|l| l.flags.contains("slave"))
            .map(|l| l.master.as_str())
            .collect();
        followed.sort_unstable();
        let mut primaries: Vec<&str> = ids[..3].iter().map(String::as_str).collect();
        primaries.sort_unstable();
        assert_eq!(followed, primaries, "one replica per primary");
        assert_eq!(cluster_info(n.port)["cluster_state"], "ok");
    }
    for r in &nodes[3..] {
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut r.conn()).unwrap();
        assert_eq!(role[0], redis::Value::BulkString(b"slave".to_vec()));
    }
    let check = ok(&["check", &nodes[4].addr()]);
    assert!(
        check.out.contains("[OK] All 16384 slots covered."),
        "{check:?}"
    );

    // write 10k keys through redis-rs's cluster client
    let keys: Vec<String> = (0..10_000).map(|i| format!("key:{i}")).collect();
    write_keys(&nodes, &keys);
    let info = ok(&["info", &nodes[0].addr()]);
    assert!(
        info.out.contains("[OK] 10000 keys in 3 primaries."),
        "{info:?}"
    );

    // reshard 1000 slots from the first primary to the second
    let before: usize = (0..1000u16)
        .map(|s| {
            redis::cmd("CLUSTER")
                .arg("COUNTKEYSINSLOT")
                .arg(s)
                .query::<usize>(&mut nodes[0].conn())
                .unwrap()
        })
        .sum();
    let r = ok(&[
        "reshard",
        &nodes[0].addr(),
        "--from",
        &ids[0][..10],
        "--to",
        &ids[1],
        "--slots",
        "1000",
        "--pipeline",
        "50",
    ]);
    assert!(r.out.contains(&format!("holding {before} key(s)")), "{r:?}");

    // the slots moved, on every node, and no key was lost
    for n in &nodes {
        assert_eq!(line_of(n.port, &ids[0]).slots, vec![(1000, 5460)]);
        assert_eq!(
            line_of(n.port, &ids[1]).slots,
            vec![(0, 999), (5461, 10922)]
        );
    }
    assert_eq!(
        redis::cmd("DBSIZE")
            .query::<usize>(&mut nodes[1].conn())
            .unwrap(),
        keys.iter()
            .filter(|k| slot(k.as_bytes()) < 1000 || (5461..=10922).contains(&slot(k.as_bytes())))
            .count()
    );
    assert_all_readable(&nodes, &keys);
    ok(&["check", &nodes[0].addr()]);
}

/// Writes 300 keys into the first primary's lowest slot (added to `all_keys`) and starts a
/// slow reshard (20 keys/s) of its `slots` lowest slots to the second primary, through the
/// third; returns the running tool and that first slot.
fn start_slow_reshard(nodes: &[Server], slots: u16, all_keys: &mut Vec<String>) -> (Child, u16) {
    let first = myself(nodes[0].port).slots[0].0;
    let keys = keys_in_slot(first, 300);
    write_keys(nodes, &keys);
    all_keys.extend(keys);
    let child = spawn_cli(
        &[
            "reshard",
            &nodes[2].addr(),
            "--from",
            &nodes[0].id(),
            "--to",
            &nodes[1].id(),
            "--slots",
            &slots.to_string(),
            "--max-keys-per-sec",
            "20",
            "--pipeline",
            "5",
        ],
        "",
    );
    (child, first)
}

fn an_interrupted_reshard_is_reported_by_check_and_settled_by_fix_or_resumed() {
    if !redis_server_installed() {
        return;
    }
    let nodes = created(0);
    let (src, dst) = (nodes[0].id(), nodes[1].id());
    let entry = nodes[2].addr();
    let mut all_keys: Vec<String> = (0..500).map(|i| format!("other:{i}")).collect();
    write_keys(&nodes, &all_keys);

    let slow_reshard = |all_keys: &mut Vec<String>| -> (Child, u16) {
        let (child, first) = start_slow_reshard(&nodes, 3, all_keys);
        let marker = format!("[{first}->-{dst}]");
        wait_until("the reshard opens the slot", || {
            myself(nodes[0].port).markers.contains(&marker)
        });
        (child, first)
    };

    // Ctrl-C stops after the current batch and leaves the slot open
    let (child, open) = slow_reshard(&mut all_keys);
    signal(&child, "INT");
    let r = finish(child);
    assert_eq!(r.code, 130, "{r:?}");
    assert!(
        r.out.contains(&format!("Slot {open} is left open")),
        "{r:?}"
    );
    assert!(r.out.contains("cairn cluster fix"), "{r:?}");
    assert!(
        myself(nodes[0].port)
            .markers
            .contains(&format!("[{open}->-{dst}]"))
    );
    assert!(
        myself(nodes[1].port)
            .markers
            .contains(&format!("[{open}-<-{src}]"))
    );
    assert_all_readable(&nodes, &all_keys);

    // check reports it and fails; fix finishes the move; check passes
    let c = cli(&["check", &entry]);
    assert_eq!(c.code, 1, "{c:?}");
    assert!(c.out.contains(&format!("slot {open} is open")), "{c:?}");
    let f = ok(&["fix", &entry]);
    assert!(f.out.contains("Finishing 1 open slot(s)"), "{f:?}");
    ok(&["check", &entry]);
    for n in &nodes {
        assert!(line_of(n.port, &dst).owns(open), "{} sees the move", n.port);
    }
    assert_eq!(count_keys(nodes[0].port, open), 0);
    assert_eq!(count_keys(nodes[1].port, open), in_slot(&all_keys, open));
    assert_all_readable(&nodes, &all_keys);

    // a crash of the tool (SIGKILL) mid-slot; fix --rollback moves the keys back
    let (child, open) = slow_reshard(&mut all_keys);
    signal(&child, "KILL");
    finish(child);
    assert_eq!(cli(&["check", &entry]).code, 1);
    let f = ok(&["fix", &entry, "--rollback"]);
    assert!(f.out.contains("Rolling back 1 open slot(s)"), "{f:?}");
    ok(&["check", &entry]);
    for n in &nodes {
        assert!(
            line_of(n.port, &src).owns(open),
            "{} sees the rollback",
            n.port
        );
    }
    assert_eq!(count_keys(nodes[0].port, open), in_slot(&all_keys, open));
    assert_eq!(count_keys(nodes[1].port, open), 0);
    assert_all_readable(&nodes, &all_keys);

    // interrupted again, then resumed by the command it prints
    let (child, open) = slow_reshard(&mut all_keys);
    signal(&child, "INT");
    let r = finish(child);
    assert_eq!(r.code, 130, "{r:?}");
    let resume = r
        .out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cairn cluster reshard"))
        .unwrap_or_else(|| panic!("no resume command: {r:?}"));
    let words: Vec<&str> = resume.split_whitespace().skip(2).collect();
    let slots_arg = words.iter().position(|w| *w == "--slots").unwrap() + 1;
    assert_eq!(words[slots_arg], "3", "nothing finished yet: {resume}");
    let words: Vec<&str> = words
        .iter()
        .map(|w| if *w == "20" { "100000" } else { w })
        .collect();
    let again = ok(&words);
    assert!(again.out.contains("Resuming 1 slot(s)"), "{again:?}");
    ok(&["check", &entry]);
    for s in open..open + 3 {
        assert!(line_of(nodes[2].port, &dst).owns(s), "slot {s} moved");
    }
    assert_all_readable(&nodes, &all_keys);
}

/// How many distinct keys of `keys` hash to `s`.
fn in_slot(keys: &[String], s: u16) -> usize {
    let mut v: Vec<&String> = keys.iter().filter(|k| slot(k.as_bytes()) == s).collect();
    v.sort();
    v.dedup();
    v.len()
}

fn count_keys(port: u16, s: u16) -> usize {
    redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(s)
        .query(&mut conn(port))
        .unwrap()
}

fn signal(child: &Child, name: &str) {
    let st = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn a_crash_of_either_node_mid_migration_is_settled_by_fix() {
    if !redis_server_installed() {
        return;
    }
    let mut nodes: Vec<Server> = (0..3).map(|_| Server::start_with(true)).collect();
    let mut args = vec!["create".to_string()];
    args.extend(nodes.iter().map(Server::addr));
    args.push("--yes".into());
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (src, dst) = (nodes[0].id(), nodes[1].id());
    let entry = nodes[2].addr();
    let mut all_keys: Vec<String> = Vec::new();

    for crashed in [1, 0] {
        let (child, first) = start_slow_reshard(&nodes, 1, &mut all_keys);
        wait_until("some keys reach the target", || {
            count_keys(nodes[1].port, first) > 0
        });

        // the target (then the source) crashes: the tool's run fails and says to run fix;
        // the node comes back with its marker and keys
        nodes[crashed].crash();
        let r = finish(child);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(r.err.contains("cairn cluster fix"), "{r:?}");
        nodes[crashed].restart();
        wait_until("the cluster is whole again", || {
            nodes
                .iter()
                .all(|n| cluster_info(n.port)["cluster_state"] == "ok")
        });
        assert_eq!(cli(&["check", &entry]).code, 1, "the slot is still open");

        if crashed == 1 {
            // finish the move
            ok(&["fix", &entry]);
            assert_eq!(count_keys(nodes[1].port, first), 300);
            assert!(line_of(nodes[2].port, &dst).owns(first));
        } else {
            // undo it
            ok(&["fix", &entry, "--rollback"]);
            assert_eq!(count_keys(nodes[0].port, first), 300);
            assert!(line_of(nodes[2].port, &src).owns(first));
        }
        ok(&["check", &entry]);
        assert_all_readable(&nodes, &all_keys);
    }
}

fn a_key_already_on_the_target_stops_the_move_unless_replace() {
    if !redis_server_installed() {
        return;
    }
    let nodes = created(0);
    let (src, dst) = (nodes[0].id(), nodes[1].id());
    let entry = nodes[2].addr();
    let first = myself(nodes[0].port).slots[0].0;
    let keys = keys_in_slot(first, 5);
    write_keys(&nodes, &keys);

    // the target already holds a copy of one key, written while it imports the slot
    let mut b = nodes[1].conn();
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(first)
        .arg("IMPORTING")
        .arg(&src)
        .query(&mut b)
        .unwrap();
    let _: () = redis::cmd("ASKING").query(&mut b).unwrap();
    let _: () = redis::cmd("SET")
        .arg(&keys[0])
        .arg("stale copy")
        .query(&mut b)
        .unwrap();
    let reshard = [
        "reshard", &entry, "--from", &src, "--to", &dst, "--slots", "1",
    ];

    // without --replace the move stops on BUSYKEY, the slot left open
    let r = cli(&reshard);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.err.contains("BUSYKEY") && r.err.contains("--replace"),
        "{r:?}"
    );
    assert!(
        myself(nodes[0].port)
            .markers
            .contains(&format!("[{first}->-{dst}]"))
    );

    // with it, the source's value wins and the move completes
    let mut again = reshard.to_vec();
    again.push("--replace");
    ok(&again);
    ok(&["check", &entry]);
    assert!(line_of(nodes[2].port, &dst).owns(first));
    assert_all_readable(&nodes, &keys);

    // a copy with the same value (what a crash between the target's restore and the
    // source's removal leaves) does not stop the move: the values are compared first
    let next = myself(nodes[0].port).slots[0].0;
    let keys = keys_in_slot(next, 5);
    write_keys(&nodes, &keys);
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(next)
        .arg("IMPORTING")
        .arg(&src)
        .query(&mut b)
        .unwrap();
    let _: () = redis::cmd("ASKING").query(&mut b).unwrap();
    let _: () = redis::cmd("SET")
        .arg(&keys[0])
        .arg(format!("v-{}", keys[0]))
        .query(&mut b)
        .unwrap();
    let r = ok(&reshard);
    assert!(r.err.contains("same values"), "{r:?}");
    ok(&["check", &entry]);
    assert!(line_of(nodes[2].port, &dst).owns(next));
    assert_all_readable(&nodes, &keys);
}

fn a_big_key_moves_whole_with_its_ttl() {
    if !redis_server_installed() {
        return;
    }
    let nodes = created(0);
    let (src, dst) = (nodes[0].id(), nodes[1].id());
    let entry = nodes[2].addr();
    let first = myself(nodes[0].port).slots[0].0;
    let key = keys_in_slot(first, 1).remove(0);
    let value: Vec<u8> = (0..5 * (1 << 20) + 123)
        .map(|i: usize| (i * 31 % 251) as u8)
        .collect();
    let mut c = cluster_client(&nodes);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&value)
        .arg("PX")
        .arg(600_000)
        .query(&mut c)
        .unwrap();

    ok(&[
        "reshard", &entry, "--from", &src, "--to", &dst, "--slots", "1",
    ]);
    assert!(line_of(nodes[2].port, &dst).owns(first));
    let mut c = cluster_client(&nodes);
    let got: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut c).unwrap();
    assert!(
        got == value,
        "the value read back differs ({} bytes)",
        got.len()
    );
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut c).unwrap();
    assert!(ttl > 500_000 && ttl <= 600_000, "pttl {ttl}");
    assert_eq!(count_keys(nodes[0].port, first), 0);
    if kind() == Kind::Cairn {
        // Cairn sent it in 1 MB pieces: a RESTORE of the first, an APPEND for each other
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut conn(nodes[1].port))
            .unwrap();
        let appends = stats
            .lines()
            .find(|l| l.starts_with("cmdstat_append:"))
            .unwrap_or_else(|| panic!("no APPEND on the target: {stats}"));
        assert!(appends.starts_with("cmdstat_append:calls=5,"), "{appends}");
    }
}

fn add_node_as_replica_and_as_primary_rebalance_onto_it_and_del_node() {
    if !redis_server_installed() {
        return;
    }
    let nodes = created(0);
    let entry = nodes[0].addr();
    let ids: Vec<String> = nodes.iter().map(Server::id).collect();
    let keys: Vec<String> = (0..2000).map(|i| format!("k{i}")).collect();
    write_keys(&nodes, &keys);
    let extra = servers(3);
    let (replica, primary, spare) = (&extra[0], &extra[1], &extra[2]);
    let (replica_id, primary_id, spare_id) = (replica.id(), primary.id(), spare.id());

    // as a replica of a given primary (by id prefix)
    ok(&[
        "add-node",
        &replica.addr(),
        &entry,
        "--replica",
        "--primary-id",
        &ids[2][..12],
    ]);
    for n in nodes.iter().chain([replica]) {
        let l = line_of(n.port, &replica_id);
        assert!(l.flags.contains("slave"), "{}: {l:?}", n.port);
        assert_eq!(l.master, ids[2]);
    }

    // as an empty primary
    ok(&["add-node", &primary.addr(), &entry]);
    for n in nodes.iter().chain([replica, primary]) {
        let l = line_of(n.port, &primary_id);
        assert!(l.is_primary() && l.slots.is_empty(), "{}: {l:?}", n.port);
    }

    // rebalance: a simulation moves nothing; without --use-empty-masters the empty one is
    // left out (the three are balanced); with it, it gets a quarter of the slots
    let sim = ok(&["rebalance", &entry, "--use-empty-masters", "--simulate"]);
    assert!(sim.out.contains("--simulate: nothing was moved"), "{sim:?}");
    assert_eq!(line_of(nodes[0].port, &primary_id).slot_count(), 0);
    let none = ok(&["rebalance", &entry]);
    assert!(none.out.contains("No rebalancing needed"), "{none:?}");
    ok(&[
        "rebalance",
        &entry,
        "--use-empty-masters",
        "--pipeline",
        "100",
    ]);
    for n in nodes.iter().chain([replica, primary]) {
        let lines = nodes_of(n.port);
        let counts: Vec<usize> = lines
            .iter()
            .filter(|l| l.is_primary())
            .map(Line::slot_count)
            .collect();
        assert_eq!(counts.len(), 4);
        assert!(counts.iter().all(|&c| c == 4096), "{}: {counts:?}", n.port);
    }
    ok(&["check", &entry]);
    assert_all_readable(&nodes, &keys);

    // weights: twice the share for the first primary
    ok(&[
        "rebalance",
        &entry,
        "--weight",
        &format!("{}=2", &ids[0][..8]),
        "--pipeline",
        "100",
    ]);
    let counts: BTreeMap<String, usize> = nodes_of(nodes[1].port)
        .into_iter()
        .filter(|l| l.is_primary())
        .map(|l| (l.id.clone(), l.slot_count()))
        .collect();
    // 16384 * 2/5 = 6553.6 and 16384 / 5 = 3276.8: the larger remainders round up
    assert_eq!(counts[&ids[0]], 6553, "{counts:?}");
    for id in [&ids[1], &ids[2], &primary_id] {
        assert_eq!(counts[id], 3277, "{counts:?}");
    }
    assert_all_readable(&nodes, &keys);

    // del-node refuses a node that owns slots, and removes an empty one
    let refused = cli(&["del-node", &entry, &primary_id]);
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(refused.err.contains("still owns"), "{refused:?}");
    ok(&["add-node", &spare.addr(), &entry]);
    ok(&["del-node", &entry, &spare_id[..10]]);
    for n in nodes.iter().chain([replica, primary]) {
        assert!(
            nodes_of(n.port).iter().all(|l| l.id != spare_id),
            "{} forgot the removed node",
            n.port
        );
    }
    // the replica goes too, and --shutdown stops it
    ok(&["del-node", &entry, &replica_id, "--shutdown"]);
    wait_until("the removed node stops", || {
        redis::Client::open(replica.url())
            .and_then(|c| c.get_connection())
            .is_err()
    });
    ok(&["check", &entry]);
    assert_all_readable(&nodes, &keys);
}

fn create_asks_for_yes_on_stdin() {
    if !redis_server_installed() {
        return;
    }
    let nodes = servers(3);
    let mut args = vec!["create".to_string()];
    args.extend(nodes.iter().map(Server::addr));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // "no" aborts with nothing changed
    let r = cli_with_input(&args, "no\n");
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        r.out
            .contains("Can I set the above configuration? (type 'yes' to accept):"),
        "{r:?}"
    );
    assert!(r.out.contains("Master[0] -> Slots 0 - 5460"), "{r:?}");
    for n in &nodes {
        let info = cluster_info(n.port);
        assert_eq!(info["cluster_known_nodes"], "1");
        assert_eq!(info["cluster_slots_assigned"], "0");
    }
    // so does no answer at all
    assert_ne!(cli_with_input(&args, "").code, 0);

    // "yes" proceeds
    let r = cli_with_input(&args, "yes\n");
    assert_eq!(r.code, 0, "{r:?}");
    for n in &nodes {
        let info = cluster_info(n.port);
        assert_eq!(info["cluster_state"], "ok");
        assert_eq!(info["cluster_known_nodes"], "3");
        assert_eq!(info["cluster_slots_assigned"], "16384");
    }
    // a node that is already in a cluster is refused
    let again = cli(&[
        "create",
        &nodes[0].addr(),
        &nodes[1].addr(),
        &nodes[2].addr(),
        "--yes",
    ]);
    assert_ne!(again.code, 0);
    assert!(again.err.contains("is not empty"), "{again:?}");
}

fn fix_cover_gives_unowned_slots_an_owner() {
    if !redis_server_installed() {
        return;
    }
    let nodes = created(0);
    let entry = nodes[1].addr();
    let owner = nodes[0].id();
    let keys = keys_in_slot(5, 20);
    write_keys(&nodes, &keys);

    // every node drops slots 0-99 from its map; the keys of slot 5 stay on the first node
    for n in &nodes {
        let _: () = redis::cmd("CLUSTER")
            .arg("DELSLOTSRANGE")
            .arg(0)
            .arg(99)
            .query(&mut n.conn())
            .unwrap();
    }
    wait_until("the cluster notices", || {
        cluster_info(nodes[1].port)["cluster_state"] == "fail"
    });
    let c = cli(&["check", &entry]);
    assert_eq!(c.code, 1, "{c:?}");
    assert!(c.out.contains("100 missing (0-99)"), "{c:?}");

    // fix alone reports them and says how; --cover assigns them
    let f = cli(&["fix", &entry]);
    assert_eq!(f.code, 1, "{f:?}");
    assert!(f.out.contains("--cover"), "{f:?}");
    ok(&["fix", &entry, "--cover"]);
    ok(&["check", &entry]);
    // the slot holding keys went back to the node that has them
    for n in &nodes {
        assert!(
            line_of(n.port, &owner).owns(5),
            "{} sees slot 5 on its holder",
            n.port
        );
        assert_eq!(cluster_info(n.port)["cluster_state"], "ok");
    }
    assert_all_readable(&nodes, &keys);
}

/// A base port with `n` free ports from it, and their bus ports (+10000) free too, kept
/// below the ephemeral range so the bus ports do not collide with other tests' ports.
fn free_port_run(n: u16) -> u16 {
    let seed = std::process::id() as u16;
    for attempt in 0..200u16 {
        let base = 20000 + (seed.wrapping_mul(31).wrapping_add(attempt * 37)) % 2500;
        let all_free = (0..n).all(|i| {
            [base + i, base + i + 10000]
                .iter()
                .all(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        });
        if all_free {
            return base;
        }
    }
    panic!("no run of {n} free ports");
}

/// Whether a process runs (a zombie left for init to reap does not).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(str::to_string));
            !matches!(state.as_deref(), Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

fn pids_in(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

/// Kills what a `start` left running if the test fails half-way.
struct StartedDir(PathBuf);

impl Drop for StartedDir {
    fn drop(&mut self) {
        for pid in pids_in(&self.0) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_and_stop_a_local_cluster_of_redis_servers() {
    if !redis_server_installed() || !Path::new("/proc/self").exists() {
        return;
    }
    let dir = StartedDir(temp_dir("start"));
    let base = free_port_run(6);
    let d = dir.0.display().to_string();
    let bin = match kind() {
        Kind::Redis => "redis-server".to_string(),
        Kind::Cairn => env!("CARGO_BIN_EXE_cairn").to_string(),
    };
    let r = ok(&[
        "start",
        "--bin",
        &bin,
        "--nodes",
        "6",
        "--replicas",
        "1",
        "--port",
        &base.to_string(),
        "--dir",
        &d,
    ]);
    assert!(r.out.contains("cairn cluster stop"), "{r:?}");
    let pids = pids_in(&dir.0);
    assert_eq!(pids.len(), 6);
    for i in 0..6 {
        let info = cluster_info(base + i);
        assert_eq!(info["cluster_state"], "ok");
        assert_eq!(info["cluster_known_nodes"], "6");
        assert!(dir.0.join((base + i).to_string()).join("log").exists());
    }
    let primaries = nodes_of(base).iter().filter(|l| l.is_primary()).count();
    assert_eq!(primaries, 3);
    // a second start on the same directory is refused while it runs
    let twice = cli(&[
        "start",
        "--bin",
        &bin,
        "--port",
        &base.to_string(),
        "--dir",
        &d,
    ]);
    assert_ne!(twice.code, 0, "{twice:?}");

    let s = ok(&["stop", "--dir", &d]);
    assert!(s.out.contains("Stopped 6 node(s)."), "{s:?}");
    for pid in pids {
        assert!(!running(pid), "pid {pid} is gone");
    }
    assert!(!dir.0.join("pids").exists());
    for i in 0..6 {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", base + i)).is_err(),
            "nothing listens on {}",
            base + i
        );
    }
}

both!(create_check_info_and_a_reshard_that_keeps_every_key);
both!(an_interrupted_reshard_is_reported_by_check_and_settled_by_fix_or_resumed);
both!(a_crash_of_either_node_mid_migration_is_settled_by_fix);
both!(a_key_already_on_the_target_stops_the_move_unless_replace);
both!(a_big_key_moves_whole_with_its_ttl);
both!(add_node_as_replica_and_as_primary_rebalance_onto_it_and_del_node);
both!(create_asks_for_yes_on_stdin);
both!(fix_cover_gives_unowned_slots_an_owner);
both!(start_and_stop_a_local_cluster_of_redis_servers);
