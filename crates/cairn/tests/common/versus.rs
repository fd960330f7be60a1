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
        self.read()
    }

    /// Sends a command (words split on whitespace) without waiting for its reply, as a
    /// client that blocks does: [`Resp::read`] takes the reply when it comes.
    pub fn send(&mut self, line: &str) {
        let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
        let mut req = Vec::new();
        cairn_protocol::resp::write_command(&mut req, &args);
        self.s.write_all(&req).expect("write");
    }

    /// The next whole reply (the read times out after 10 s).
    pub fn read(&mut self) -> Frame {
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

/// Cairn and redis-server side by side, sent the same commands.
/// How two replies must agree.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Same {
    Exactly,
    /// The same elements in any order (hash-table encodings).
    AnyOrder,
    /// The same kind and number of elements (random picks).
    Shape,
}

pub fn sorted(f: &Frame) -> Frame {
    match f {
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
            let mut v: Vec<Frame> = v.iter().map(sorted).collect();
            v.sort_by_key(|x| format!("{x:?}"));
            match f {
                Frame::Set(_) => Frame::Set(v),
                _ => Frame::Array(v),
            }
        }
        Frame::Map(m) => {
            let mut m: Vec<(Frame, Frame)> =
                m.iter().map(|(k, v)| (sorted(k), sorted(v))).collect();
            m.sort_by_key(|(k, v)| format!("{k:?}{v:?}"));
            Frame::Map(m)
        }
        other => other.clone(),
    }
}

/// A reply as text, for failure messages.
pub fn show(f: &Frame) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let list = |v: &[Frame]| v.iter().map(show).collect::<Vec<_>>().join(", ");
    match f {
        Frame::Simple(b) => format!("+{}", text(b)),
        Frame::Error(b) => format!("-{}", text(b)),
        Frame::Bulk(b) => format!("{:?}", text(b)),
        Frame::Integer(i) => format!(":{i}"),
        Frame::Array(v) => format!("[{}]", list(v)),
        Frame::Set(v) => format!("~{{{}}}", list(v)),
        Frame::Map(m) => format!(
            "%{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{} => {}", show(k), show(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{other:?}"),
    }
}

pub fn shape(f: &Frame) -> String {
    match f {
        Frame::Array(v) => format!("array of {}", v.len()),
        Frame::Set(v) => format!("set of {}", v.len()),
        Frame::Map(m) => format!("map of {}", m.len()),
        Frame::Bulk(_) => "bulk".into(),
        Frame::Integer(_) => "integer".into(),
        other => format!("{other:?}"),
    }
}

pub struct Both {
    pub cairn: Resp,
    pub redis: Resp,
    _servers: (crate::common::CairnProcess, RedisServer),
}

impl Both {
    /// Both servers, started with these settings; `None` without redis-server.
    pub fn start(redis_args: &[&str], cairn_args: &[&str]) -> Option<Both> {
        let redis = RedisServer::start(redis_args)?;
        let cairn = crate::common::CairnProcess::start(cairn_args);
        Some(Both {
            cairn: Resp::connect(cairn.addr),
            redis: Resp::connect(redis.addr),
            _servers: (cairn, redis),
        })
    }

    pub fn same(&mut self, how: Same, args: &[&[u8]]) {
        let (c, r) = (self.cairn.call(args), self.redis.call(args));
        let shown: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let agree = match how {
            Same::Exactly => c == r,
            Same::AnyOrder => sorted(&c) == sorted(&r),
            Same::Shape => shape(&c) == shape(&r),
        };
        assert!(
            agree,
            "{}: Cairn answered {}, Redis {}",
            shown.join(" "),
            show(&c),
            show(&r)
        );
    }

    /// Both connections speak RESP3 from here (HELLO's own replies differ by design:
    /// versions, Cairn's extra field).
    pub fn resp3(&mut self) {
        for c in [&mut self.cairn, &mut self.redis] {
            assert!(matches!(c.cmd("HELLO 3"), Frame::Map(_)));
        }
    }

    /// Runs a script: one command a line; a leading `~` compares in any order, `?` the
    /// shape only.
    pub fn script(&mut self, text: &str) {
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (how, line) = match line.as_bytes()[0] {
                b'~' => (Same::AnyOrder, &line[1..]),
                b'?' => (Same::Shape, &line[1..]),
                _ => (Same::Exactly, line),
            };
            let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
            self.same(how, &args);
        }
    }
}
