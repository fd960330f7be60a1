//! Starting and stopping the real `cairn` binary for integration tests.
//!
//! Each test starts its own server on an ephemeral 127.0.0.1 port (`--port 0`; the port
//! is read from the ready line the server logs) and the server is killed when the handle
//! drops, even if the test panics.

#![allow(dead_code)]

pub mod cluster;
pub mod events;
pub mod ops;
pub mod streams;
pub mod versus;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct CairnProcess {
    child: Child,
    /// The server's own `dir` (snapshots, AOF) unless the test gave one; removed on drop.
    own_dir: Option<std::path::PathBuf>,
    pub addr: SocketAddr,
    /// What the server logged before its ready line (loading, start-up warnings).
    pub startup: Vec<String>,
    /// Everything the server logged after its ready line.
    log: mpsc::Receiver<String>,
}

impl CairnProcess {
    /// Starts `cairn server --port 0 --bind 127.0.0.1 <extra args>`, in a `dir` of its own
    /// unless `extra` names one (a SAVE in one test must not be loaded by the next).
    pub fn start(extra: &[&str]) -> CairnProcess {
        let own_dir = (!extra.contains(&"--dir")).then(|| {
            use std::sync::atomic::{AtomicU64, Ordering};
            static N: AtomicU64 = AtomicU64::new(0);
            let d = std::env::temp_dir().join(format!(
                "cairn-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&d).expect("a temporary dir");
            d
        });
        let dir_args: Vec<String> = own_dir
            .iter()
            .flat_map(|d| ["--dir".to_string(), d.display().to_string()])
            .collect();
        // A test that restarts a server on the same port names it.
        let port: &[&str] = if extra.contains(&"--port") {
            &[]
        } else {
            &["--port", "0"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("server")
            .args(port)
            .args(["--bind", "127.0.0.1", "--loglevel", "notice"])
            .args(&dir_args)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cairn");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        // Keep draining stderr for the server's whole life so logging never blocks it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more; keep reading so the pipe never fills.
                }
            }
        });
        let mut startup = Vec::new();
        let addr = loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(rest) = line.split("ready to accept connections tcp ").nth(1) {
                        let first = rest.split_whitespace().next().expect("an address");
                        break first.parse().expect("socket address");
                    }
                    startup.push(line);
                }
                Err(e) => {
                    let _ = child.kill();
                    panic!(
                        "cairn did not become ready: {e}; it logged:\n{}",
                        startup.join("\n")
                    );
                }
            }
        };
        CairnProcess {
            child,
            own_dir,
            addr,
            startup,
            log: rx,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    pub fn url_resp3(&self) -> String {
        format!("redis://{}/?protocol=resp3", self.addr)
    }

    /// A synchronous redis-rs connection (RESP2).
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("client")
            .get_connection()
            .expect("connect")
    }

    /// Starts a server that also speaks memcached, on a free port; returns it and the
    /// memcached address.
    pub fn start_memcached(extra: &[&str]) -> (CairnProcess, SocketAddr) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let port_s = port.to_string();
        let mut args = vec!["--memcached-port", port_s.as_str()];
        args.extend_from_slice(extra);
        let srv = CairnProcess::start(&args);
        (srv, SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// A raw socket, for inline commands and bad input.
    pub fn raw(&self) -> RawConn {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        RawConn { s }
    }

    /// Waits for the process to exit on its own (SHUTDOWN, signals).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Log lines received so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }
}

impl Drop for CairnProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        if std::thread::panicking() {
            // The server's side of a failure: what it logged during the test.
            for line in self.log.try_iter() {
                eprintln!("cairn {}: {line}", self.addr);
            }
        }
        let _ = self.child.wait();
        if let Some(d) = &self.own_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A raw socket to a memcached port.
pub fn raw_to(addr: SocketAddr) -> RawConn {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    RawConn { s }
}

/// A plain TCP connection speaking bytes.
pub struct RawConn {
    pub s: TcpStream,
}

impl RawConn {
    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    /// Reads until exactly `expected.len()` bytes arrived (or the peer closed) and returns them.
    pub fn read_exact_len(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        let mut got = 0;
        while got < n {
            match self.s.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) => panic!("read failed after {got} bytes: {e}"),
            }
        }
        buf.truncate(got);
        buf
    }

    /// Sends `request` and asserts the reply is exactly `expected`.
    pub fn roundtrip(&mut self, request: &[u8], expected: &[u8]) {
        self.send(request);
        let got = self.read_exact_len(expected.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "reply to {:?}",
            String::from_utf8_lossy(request)
        );
    }

    /// True once the server has closed the connection (read returns 0).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.s.read(&mut b), Ok(0))
    }
}

// ---------------------------------------------------------------------------------------
// Helpers the test files share
// ---------------------------------------------------------------------------------------

pub fn start() -> (CairnProcess, redis::Connection) {
    let srv = CairnProcess::start(&[]);
    let con = srv.client();
    (srv, con)
}

pub fn cmd<A: AsRef<[u8]>>(args: &[A]) -> redis::Cmd {
    let mut c = redis::cmd(std::str::from_utf8(args[0].as_ref()).expect("command name"));
    for a in &args[1..] {
        c.arg(a.as_ref());
    }
    c
}

/// Runs a command that must succeed and converts its reply.
pub fn q<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    cmd(args)
        .query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Binary-safe variant of [`q`].
pub fn qb<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&[u8]]) -> T {
    cmd(args)
        .query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs a command that must fail; returns the error line as the server sent it (no `-`).
pub fn err(con: &mut redis::Connection, args: &[&str]) -> String {
    match cmd(args).query::<redis::Value>(con) {
        Ok(v) => panic!("{args:?} succeeded with {v:?}"),
        Err(e) => match (e.code(), e.detail()) {
            (Some(code), Some(detail)) => format!("{code} {detail}"),
            (Some(code), None) => code.to_string(),
            _ => panic!("{args:?}: not an error reply: {e}"),
        },
    }
}

/// Sets `maxmemory-policy` and a `maxmemory` of what the server uses now plus `headroom`
/// bytes, so eviction starts after about that much more data.
pub fn limit_memory(con: &mut redis::Connection, policy: &str, headroom: u64) {
    let _: () = q(con, &["CONFIG", "SET", "maxmemory-policy", policy]);
    let info: String = q(con, &["INFO", "memory"]);
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .expect("INFO memory has used_memory")
        .trim()
        .parse()
        .expect("a number");
    let _: () = q(
        con,
        &["CONFIG", "SET", "maxmemory", &(used + headroom).to_string()],
    );
}

/// Polls `cond` every 20 ms for up to `secs` seconds; panics with `what` if it never holds.
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting until {what}");
}
