//! A local cluster of real `cairn` processes for tests: each on a port whose bus port
//! (port + 10000) is free too, each in a directory of its own that survives a restart
//! of the node and is removed with the cluster.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use redis::Connection;

use super::CairnProcess;

pub struct LocalCluster {
    pub nodes: Vec<Option<CairnProcess>>,
    pub ports: Vec<u16>,
    dirs: Vec<PathBuf>,
    extra: Vec<String>,
    base: PathBuf,
}

/// A port p with p + 10000 free as well.
fn port_pair() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p > 55535 {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

/// Polls `cond` every 20 ms; panics with `what` after `secs` (a hang guard, not a timing
/// assertion).
pub fn until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn conn(port: u16) -> Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let conn = c.get_connection().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn
}

pub fn cluster_info(port: u16) -> HashMap<String, String> {
    let text: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query(&mut conn(port))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

pub fn nodes_text(port: u16) -> String {
    redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut conn(port))
        .unwrap_or_default()
}

pub fn myid(port: u16) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut conn(port))
        .unwrap()
}

impl LocalCluster {
    /// Starts `n` cluster-enabled nodes (not yet joined).
    pub fn start(n: usize, extra: &[&str]) -> LocalCluster {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir().join(format!(
            "cairn-cluster-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&base);
        let mut c = LocalCluster {
            nodes: Vec::new(),
            ports: Vec::new(),
            dirs: Vec::new(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            base,
        };
        for i in 0..n {
            let dir = c.base.join(i.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            c.dirs.push(dir);
            c.ports.push(port_pair());
            c.nodes.push(None);
            c.spawn(i);
        }
        c
    }

    fn spawn(&mut self, i: usize) {
        let port = self.ports[i].to_string();
        let dir = self.dirs[i].display().to_string();
        let mut args: Vec<&str> = vec!["--port", &port, "--dir", &dir, "--cluster-enabled", "yes"];
        args.extend(self.extra.iter().map(String::as_str));
        self.nodes[i] = Some(CairnProcess::start(&args));
    }

    pub fn port(&self, i: usize) -> u16 {
        self.ports[i]
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[i]))
    }

    pub fn seeds(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// Builds the cluster with `cairn cluster create ... --replicas R --yes` (the first
    /// `primaries` nodes become primaries, the rest their replicas in turn), then waits
    /// until every node serves the same full map.
    pub fn create(&self, primaries: usize) {
        assert!(self.ports.len().is_multiple_of(primaries));
        let replicas = (self.ports.len() / primaries - 1).to_string();
        let addrs: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["cluster", "create"])
            .args(&addrs)
            .args(["--replicas", &replicas, "--yes"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run cairn cluster create");
        assert!(
            out.status.success(),
            "cairn cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.converged();
    }

    /// Waits until every running node reports cluster_state:ok and the same slot map.
    pub fn converged(&self) {
        until(60, "the cluster converged", || {
            let live: Vec<u16> = (0..self.ports.len())
                .filter(|&i| self.nodes[i].is_some())
                .map(|i| self.port(i))
                .collect();
            let maps: Vec<Vec<String>> = live
                .iter()
                .map(|&p| {
                    let mut v: Vec<String> = nodes_text(p)
                        .lines()
                        .map(|l| {
                            let f: Vec<&str> = l.split(' ').collect();
                            let slots = f.get(8..).map(|s| s.join(" ")).unwrap_or_default();
                            format!(
                                "{} {} {}",
                                f.first().copied().unwrap_or(""),
                                f.get(3).copied().unwrap_or(""),
                                slots
                            )
                        })
                        .collect();
                    v.sort();
                    v
                })
                .collect();
            live.iter().all(|&p| {
                let info = cluster_info(p);
                let repl: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut conn(p))
                    .unwrap_or_default();
                info.get("cluster_state").map(String::as_str) == Some("ok")
                    && info.get("cairn_fenced").map(String::as_str) == Some("0")
                    && (repl.contains("role:master") || repl.contains("master_link_status:up"))
            }) && maps.windows(2).all(|w| w[0] == w[1])
        });
    }

    /// The index of the node that owns `slot` as a primary, according to node `ask`.
    pub fn owner_of(&self, ask: usize, slot: u16) -> usize {
        let text = nodes_text(self.port(ask));
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if !f[2].contains("master") {
                continue;
            }
            for s in &f[8..] {
                let (a, b) = match s.split_once('-') {
                    Some((a, b)) => (a.parse::<u16>().unwrap_or(1), b.parse::<u16>().unwrap_or(0)),
                    None => {
                        let v = s.parse::<u16>().unwrap_or(u16::MAX);
                        (v, v)
                    }
                };
                if (a..=b).contains(&slot) {
                    let port: u16 = f[1].split(['@', ':']).nth(1).unwrap().parse().unwrap();
                    return self.ports.iter().position(|&p| p == port).unwrap();
                }
            }
        }
        panic!("no owner for slot {slot}: {text}");
    }

    /// The role node `i` has according to node `ask` ("master" or "slave").
    pub fn role_of(&self, ask: usize, i: usize) -> String {
        let id = self.nodes[i].as_ref().map(|_| myid(self.port(i)));
        let port = self.port(i).to_string();
        nodes_text(self.port(ask))
            .lines()
            .find(|l| {
                id.as_ref().is_some_and(|id| l.starts_with(id.as_str()))
                    || l.split(' ')
                        .nth(1)
                        .is_some_and(|a| a.starts_with(&format!("127.0.0.1:{port}@")))
            })
            .map(|l| {
                let flags = l.split(' ').nth(2).unwrap_or("");
                if flags.contains("master") {
                    "master"
                } else {
                    "slave"
                }
                .to_string()
            })
            .unwrap_or_default()
    }

    /// Moves `slot` from node `from` to node `to` as redis-cli does: IMPORTING on the
    /// target, MIGRATING on the source, MIGRATE the keys in batches, then NODE on both.
    pub fn move_slot(&self, slot: u16, from: usize, to: usize) {
        move_slot(slot, self.port(from), self.port(to));
    }

    pub fn signal(&self, i: usize, sig: &str) {
        let pid = self.nodes[i].as_ref().expect("running").pid().to_string();
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// SIGKILL.
    pub fn kill(&mut self, i: usize) {
        self.signal(i, "-9");
        if let Some(mut p) = self.nodes[i].take() {
            p.wait_exit(Duration::from_secs(10));
        }
    }

    /// Starts node `i` again, same port and directory.
    pub fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none());
        self.spawn(i);
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for n in self.nodes.iter_mut() {
            if let Some(p) = n.take() {
                // SIGCONT first: a stopped process would not die until continued.
                let _ = std::process::Command::new("kill")
                    .args(["-CONT", &p.pid().to_string()])
                    .status();
                drop(p);
            }
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// [`LocalCluster::move_slot`] by ports (for threads: the cluster handle stays put).
pub fn move_slot(slot: u16, src: u16, dst: u16) {
    let (src_id, dst_id) = (myid(src), myid(dst));
    let mut s = conn(src);
    let mut d = conn(dst);
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("IMPORTING")
        .arg(&src_id)
        .query(&mut d)
        .expect("IMPORTING");
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("MIGRATING")
        .arg(&dst_id)
        .query(&mut s)
        .expect("MIGRATING");
    loop {
        let keys: Vec<Vec<u8>> = redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(slot)
            .arg(100)
            .query(&mut s)
            .unwrap();
        if keys.is_empty() {
            break;
        }
        let _: String = redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(dst)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS")
            .arg(keys)
            .query(&mut s)
            .expect("MIGRATE");
    }
    for c in [&mut d, &mut s] {
        let _: () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&dst_id)
            .query(c)
            .expect("NODE");
    }
}
