//! `cairn cluster start` / `stop`: a throwaway cluster of local processes to try things on.
//!
//! `start` runs N servers on 127.0.0.1, ports `--port` upwards, each in `DIR/<port>` with
//! its log in `DIR/<port>/log`, in its own process group (Ctrl-C in the terminal does not
//! reach them), records `<port> <pid>` lines in `DIR/pids`, waits for each to answer PING,
//! then runs `create --yes` (or, when the nodes come back with the cluster they had,
//! waits for it to settle). `stop` sends SIGTERM to the recorded pids, SIGKILL to any
//! still there after 10 s, and removes the pid file. Signals go through `/bin/kill`.

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::create;
use super::node::Node;
use super::view;

/// What `start` was asked.
pub struct Start {
    pub nodes: usize,
    pub replicas: usize,
    pub port: u16,
    pub dir: PathBuf,
    /// The server binary; this `cairn` (run as `cairn server`) when unset.
    pub bin: Option<PathBuf>,
    /// The cluster bus secret; `create` picks a new one when unset.
    pub secret: Option<String>,
}

const PIDS: &str = "pids";

pub fn start(req: &Start) -> anyhow::Result<i32> {
    if req.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    let last = u32::from(req.port) + req.nodes as u32 - 1;
    if last > 65535 {
        bail!("ports {}..{last} do not fit", req.port);
    }
    fs::create_dir_all(&req.dir).with_context(|| format!("creating {}", req.dir.display()))?;
    let dir = fs::canonicalize(&req.dir)?;
    let pid_file = dir.join(PIDS);
    if let Ok(old) = read_pids(&pid_file)
        && old.iter().any(|&(port, pid)| alive(pid, port))
    {
        bail!(
            "a cluster started from {} is still running; `cairn cluster stop --dir {}` first",
            dir.display(),
            req.dir.display()
        );
    }
    // This cairn runs as `cairn server`; another binary (redis-server) takes the settings
    // directly.
    let (bin, prefix): (PathBuf, &[&str]) = match &req.bin {
        None => (std::env::current_exe()?, &["server"]),
        Some(b) => {
            let is_cairn = b
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("cairn"));
            (b.clone(), if is_cairn { &["server"] } else { &[] })
        }
    };
    let mut pids = String::new();
    let mut addrs = Vec::new();
    let started = (|| -> anyhow::Result<()> {
        for i in 0..req.nodes {
            let port = req.port + i as u16;
            let node_dir = dir.join(port.to_string());
            fs::create_dir_all(&node_dir)?;
            let log = fs::File::create(node_dir.join("log"))?;
            let child = Command::new(&bin)
                .args(prefix)
                .args(["--cluster-enabled", "yes", "--port", &port.to_string()])
                .args(["--bind", "127.0.0.1", "--dir"])
                .arg(&node_dir)
                .args(["--save", ""])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .process_group(0)
                .spawn()
                .with_context(|| format!("starting {}", bin.display()))?;
            pids.push_str(&format!("{port} {}\n", child.id()));
            fs::write(&pid_file, &pids)?;
            addrs.push(format!("127.0.0.1:{port}"));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for (port, pid) in read_pids(&pid_file)? {
            while !pong(port) {
                if !alive(pid, port) || Instant::now() > deadline {
                    let log = dir.join(port.to_string()).join("log");
                    let tail = fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = tail.lines().rev().take(10).collect();
                    bail!(
                        "the node on port {port} did not come up; the end of {}:\n{}",
                        log.display(),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        println!(
            ">>> {} nodes up on 127.0.0.1:{}-{} (logs in {}/<port>/log)",
            req.nodes,
            req.port,
            last,
            dir.display()
        );
        Ok(())
    })();
    if let Err(e) = started {
        let _ = stop(&req.dir);
        return Err(e.context("start failed; the nodes it started were stopped"));
    }
    let result = form(&addrs, req.replicas, req.secret.as_deref());
    match result {
        Ok(0) => {
            println!(
                "Stop it with: cairn cluster stop --dir {}",
                req.dir.display()
            );
            Ok(0)
        }
        Ok(code) => Ok(code),
        Err(e) => {
            let _ = stop(&req.dir);
            Err(e.context("start failed; the nodes it started were stopped"))
        }
    }
}

/// Creates the cluster, unless the nodes came back already forming it.
fn form(addrs: &[String], replicas: usize, secret: Option<&str>) -> anyhow::Result<i32> {
    let mut nodes: Vec<Node> = addrs
        .iter()
        .map(|a| Node::connect(a))
        .collect::<anyhow::Result<_>>()?;
    let mut fresh = true;
    for n in &mut nodes {
        let info = n.cluster_info()?;
        if info.get("cluster_known_nodes").map(String::as_str) != Some("1") {
            fresh = false;
        }
    }
    if fresh {
        return create::create(addrs, replicas, true, secret);
    }
    println!(">>> The nodes kept their cluster from the last start");
    let mut refs: Vec<&mut Node> = nodes.iter_mut().collect();
    view::wait_for("the cluster to settle", || view::settled(&mut refs, true))?;
    println!("[OK] Cluster is up.");
    Ok(0)
}

/// Whether a server answers PING on 127.0.0.1:`port`.
fn pong(port: u16) -> bool {
    let Ok(client) = redis::Client::open(("127.0.0.1", port)) else {
        return false;
    };
    client
        .get_connection_with_timeout(Duration::from_secs(1))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok_and(|r| r == "PONG")
}

/// Stops the processes `start` recorded in `dir`.
pub fn stop(dir: &Path) -> anyhow::Result<i32> {
    let pid_file = dir.join(PIDS);
    let pids = read_pids(&pid_file)
        .with_context(|| format!("no cluster recorded in {}", pid_file.display()))?;
    let running: Vec<(u16, u32)> = pids
        .into_iter()
        .filter(|&(port, pid)| alive(pid, port))
        .collect();
    for &(_, pid) in &running {
        signal("TERM", pid);
    }
    let wait_gone = |limit: Duration| {
        let deadline = Instant::now() + limit;
        loop {
            let left: Vec<(u16, u32)> = running
                .iter()
                .copied()
                .filter(|&(port, pid)| alive(pid, port))
                .collect();
            if left.is_empty() || Instant::now() > deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let stragglers = wait_gone(Duration::from_secs(10));
    for &(port, pid) in &stragglers {
        println!("node on port {port} (pid {pid}) ignored SIGTERM; sending SIGKILL");
        signal("KILL", pid);
    }
    let left = if stragglers.is_empty() {
        Vec::new()
    } else {
        wait_gone(Duration::from_secs(5))
    };
    if !left.is_empty() {
        bail!(
            "still running after SIGKILL: {:?}",
            left.iter().map(|(_, pid)| pid).collect::<Vec<_>>()
        );
    }
    fs::remove_file(&pid_file)?;
    println!("Stopped {} node(s).", running.len());
    Ok(0)
}

/// `<port> <pid>` lines.
fn read_pids(path: &Path) -> anyhow::Result<Vec<(u16, u32)>> {
    let text = fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split_whitespace();
            let port = f.next().and_then(|p| p.parse().ok());
            let pid = f.next().and_then(|p| p.parse().ok());
            match (port, pid) {
                (Some(port), Some(pid)) => Ok((port, pid)),
                _ => bail!("{}: bad line {l:?}", path.display()),
            }
        })
        .collect()
}

/// Whether `pid` still runs and is ours: not a zombie, and (where /proc says) its command
/// line names the port, so a pid reused by another program is left alone.
fn alive(pid: u32, port: u16) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if Path::new("/proc/self").exists() {
        let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else {
            return false;
        };
        // the state follows the parenthesised command name
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if matches!(state, Some("Z") | Some("X")) {
            return false;
        }
        let cmdline = fs::read(proc_dir.join("cmdline")).unwrap_or_default();
        return String::from_utf8_lossy(&cmdline).contains(&port.to_string());
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}
