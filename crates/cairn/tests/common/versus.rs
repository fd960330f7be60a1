//! A real redis-server beside Cairn, for tests that hold Cairn's replies against Redis's
//! own, and a raw RESP connection that shows the replies exactly as sent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_protocol::Frame;

/// A redis-server on an ephemeral 127.0.0.1 port, killed on drop.
pub struct RedisServer {
    child: Child,
    pub addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl RedisServer {
    /// Starts one, or `None` (with a notice) when redis-server is not installed.
    pub fn start(extra: &[&str]) -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!(
                "NOTICE: redis-server is not installed; the comparison with Redis is skipped"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("cairn-vs-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = RedisServer { child, addr, dir };
        // Serving once it answers PING (a bound port may still be loading).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("redis-server exited: {status}");
            }
            if let Ok(mut c) =
                redis::Client::open(format!("redis://{addr}")).and_then(|c| c.get_connection())
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return Some(server);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl RedisServer {
    /// A `redis` crate connection to it.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}", self.addr))
            .and_then(|c| c.get_connection())
            .expect("connect to redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A RESP connection that sends commands as arrays and reads whole replies as frames.
pub struct Resp {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Resp {
    pub fn connect(addr: SocketAddr) -> Resp {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Resp { s, buf: Vec::new() }
    }

    pub fn call(&mut self, args: &[&[u8]]) -> Frame {
        let mut req = Vec::new();
        cairn_protocol::resp::write_command(&mut req, args);
        self.s.write_all(&req).expect("write");
        loop {
            if let Some((f, n)) = Frame::parse(&self.buf).expect("valid RESP") {
                self.buf.drain(..n);
                return f;
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).expect("read");
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn cmd(&mut self, line: &str) -> Frame {
        let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
        self.call(&args)
    }
}
