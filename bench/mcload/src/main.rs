//! mcload: a small memcached text-protocol load generator (std only).
//!
//! C connections spread over T threads. Each connection keeps one batch of N requests in
//! flight: the N requests go out in one write, then the connection reads until N complete
//! replies are parsed. A thread writes the first batch on each of its connections, then
//! takes them in turn: read the batch's replies, write the next batch, next connection.
//! Batches are claimed from one shared counter, so the run stops after exactly R requests.
//!
//! Every reply is checked: `STORED` for a set; for a get, `END` (a miss) or
//! `VALUE <the key asked> 0 <V>` + the exact value bytes + `END`. Anything else prints the
//! offending line and exits with status 1.
//!
//! Output, one line on stdout (key=value, for scripts):
//!   op=get pipeline=16 conns=50 threads=2 keys=100000 value_size=32 requests=200000
//!   seconds=0.412 rps=485436 hits=200000 misses=0

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: mcload [options]
  --host H          server address                                  (default 127.0.0.1)
  --port P          server port                                     (required)
  --op OP           get | set | version                             (default get)
  --conns C         connections                                     (default 50)
  --threads T       client threads (connections are spread over them) (default 2)
  --pipeline N      requests per batch on each connection           (default 1)
  --keys K          keys are key:%012d with the number in [0, K)    (default 100000)
  --value-size V    value bytes (set writes them; get checks them)  (default 32)
  --requests R      stop after R requests in total
  --duration S      stop claiming new batches after S seconds
  --prefill         with --op set: set every key in [0, K) once, in order (R = K)
  --require-hit     with --op get: a miss is an error
  --seed X          random seed                                     (default 1)
  --timeout S       per-read time limit in seconds                  (default 10)
At least one of --requests, --duration or --prefill is required for get/set.
--op version sends `version` once and prints the reply; exit 0 iff it starts with \"VERSION \".";

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Get,
    Set,
    Version,
}

struct Opts {
    host: String,
    port: u16,
    op: Op,
    conns: usize,
    threads: usize,
    pipeline: u64,
    keys: u64,
    value_size: usize,
    requests: Option<u64>,
    duration: Option<f64>,
    prefill: bool,
    require_hit: bool,
    seed: u64,
    timeout: f64,
}

fn fail(msg: &str) -> ! {
    eprintln!("mcload: {msg}");
    exit(1)
}

fn usage_error(msg: &str) -> ! {
    eprintln!("mcload: {msg}\n{USAGE}");
    exit(2)
}

fn parse_args() -> Opts {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 0,
        op: Op::Get,
        conns: 50,
        threads: 2,
        pipeline: 1,
        keys: 100_000,
        value_size: 32,
        requests: None,
        duration: None,
        prefill: false,
        require_hit: false,
        seed: 1,
        timeout: 10.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| -> String {
            args.next()
                .unwrap_or_else(|| usage_error(&format!("{name} needs a value")))
        };
        fn num<T: std::str::FromStr>(name: &str, v: String) -> T {
            v.parse()
                .unwrap_or_else(|_| usage_error(&format!("bad value for {name}: '{v}'")))
        }
        match a.as_str() {
            "--host" => o.host = val("--host"),
            "--port" => o.port = num("--port", val("--port")),
            "--op" => {
                o.op = match val("--op").as_str() {
                    "get" => Op::Get,
                    "set" => Op::Set,
                    "version" => Op::Version,
                    other => usage_error(&format!("unknown --op '{other}'")),
                }
            }
            "--conns" => o.conns = num("--conns", val("--conns")),
            "--threads" => o.threads = num("--threads", val("--threads")),
            "--pipeline" => o.pipeline = num("--pipeline", val("--pipeline")),
            "--keys" => o.keys = num("--keys", val("--keys")),
            "--value-size" => o.value_size = num("--value-size", val("--value-size")),
            "--requests" => o.requests = Some(num("--requests", val("--requests"))),
            "--duration" => o.duration = Some(num("--duration", val("--duration"))),
            "--prefill" => o.prefill = true,
            "--require-hit" => o.require_hit = true,
            "--seed" => o.seed = num("--seed", val("--seed")),
            "--timeout" => o.timeout = num("--timeout", val("--timeout")),
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0)
            }
            other => usage_error(&format!("unknown argument '{other}'")),
        }
    }
    if o.port == 0 {
        usage_error("--port is required");
    }
    if o.conns == 0 || o.threads == 0 || o.pipeline == 0 || o.keys == 0 {
        usage_error("--conns, --threads, --pipeline and --keys must be positive");
    }
    if o.keys > 999_999_999_999 {
        usage_error("--keys must fit in 12 digits");
    }
    if o.timeout.is_nan() || o.timeout <= 0.0 {
        usage_error("--timeout must be positive");
    }
    if o.requests == Some(0) || o.duration.is_some_and(|d| d.is_nan() || d <= 0.0) {
        usage_error("--requests and --duration must be positive");
    }
    if o.prefill && o.op != Op::Set {
        usage_error("--prefill needs --op set");
    }
    if o.require_hit && o.op != Op::Get {
        usage_error("--require-hit needs --op get");
    }
    if o.op != Op::Version && !o.prefill && o.requests.is_none() && o.duration.is_none() {
        usage_error("give --requests, --duration or --prefill");
    }
    o.threads = o.threads.min(o.conns);
    o
}

/// The bytes shown in an error message: printable ASCII as is, the rest escaped.
fn show(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(200)];
    let mut s: String = cut.escape_ascii().to_string();
    if bytes.len() > cut.len() {
        s.push_str("...");
    }
    s
}

fn key_bytes(k: u64) -> [u8; 16] {
    let mut b = *b"key:000000000000";
    let mut n = k;
    for i in (4..16).rev() {
        b[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    b
}

fn value_pattern(v: usize) -> Vec<u8> {
    (0..v).map(|i| b'a' + (i % 26) as u8).collect()
}

struct Shared {
    op: Op,
    pipeline: u64,
    keys: u64,
    prefill: bool,
    require_hit: bool,
    total: u64,
    claimed: AtomicU64,
    deadline: OnceLock<Instant>,
    stop: AtomicBool,
    value: Vec<u8>,
    set_header_tail: Vec<u8>, // " 0 0 V\r\n"
}

impl Shared {
    /// Claims the next batch: (first request number, count), or None when the run is over.
    fn claim(&self) -> Option<(u64, u64)> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(&d) = self.deadline.get()
            && Instant::now() >= d
        {
            self.stop.store(true, Ordering::Relaxed);
            return None;
        }
        let start = self.claimed.fetch_add(self.pipeline, Ordering::Relaxed);
        if start >= self.total {
            return None;
        }
        Some((start, self.pipeline.min(self.total - start)))
    }
}

struct Conn {
    id: usize,
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    pending: Vec<u64>,
    rng: u64,
    done: u64,
    hits: u64,
    misses: u64,
}

impl Conn {
    fn new(id: usize, stream: TcpStream, seed: u64) -> Conn {
        // splitmix64 of (seed, id): a distinct, non-zero xorshift state per connection.
        let mut z = seed.wrapping_add((id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Conn {
            id,
            stream,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            out: Vec::with_capacity(64 * 1024),
            pending: Vec::new(),
            rng: if z == 0 { 1 } else { z },
            done: 0,
            hits: 0,
            misses: 0,
        }
    }

    fn next_key(&mut self, keys: u64) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % keys
    }

    fn fail(&self, msg: &str) -> ! {
        fail(&format!("connection {}: {msg}", self.id))
    }

    /// Writes one batch of `count` requests, the first numbered `first`.
    fn send(&mut self, sh: &Shared, first: u64, count: u64) {
        self.out.clear();
        self.pending.clear();
        for i in 0..count {
            let k = if sh.prefill {
                first + i
            } else {
                self.next_key(sh.keys)
            };
            self.pending.push(k);
            let key = key_bytes(k);
            match sh.op {
                Op::Set => {
                    self.out.extend_from_slice(b"set ");
                    self.out.extend_from_slice(&key);
                    self.out.extend_from_slice(&sh.set_header_tail);
                    self.out.extend_from_slice(&sh.value);
                    self.out.extend_from_slice(b"\r\n");
                }
                Op::Get => {
                    self.out.extend_from_slice(b"get ");
                    self.out.extend_from_slice(&key);
                    self.out.extend_from_slice(b"\r\n");
                }
                Op::Version => unreachable!(),
            }
        }
        if let Err(e) = self.stream.write_all(&self.out) {
            self.fail(&format!("write failed: {e}"));
        }
    }

    /// Reads more bytes into the buffer; compacts or grows it first if needed.
    fn fill(&mut self) {
        if self.start > 0 && (self.start == self.end || self.buf.len() - self.end < 4096) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
        loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => self.fail(&format!(
                    "connection closed by the server (unparsed bytes: \"{}\")",
                    show(&self.buf[self.start..self.end])
                )),
                Ok(n) => {
                    self.end += n;
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    self.fail(&format!(
                        "no reply within the read time limit (waiting for {} replies; unparsed bytes: \"{}\")",
                        self.pending.len(),
                        show(&self.buf[self.start..self.end])
                    ))
                }
                Err(e) => self.fail(&format!("read failed: {e}")),
            }
        }
    }

    /// The next line, without its "\r\n": buffer range [s, e). Consumed.
    fn line(&mut self) -> (usize, usize) {
        let mut scanned = 0; // bytes after self.start already searched
        loop {
            let avail = &self.buf[self.start + scanned..self.end];
            if let Some(p) = avail.iter().position(|&b| b == b'\n') {
                let nl = self.start + scanned + p;
                if nl == self.start || self.buf[nl - 1] != b'\r' {
                    self.fail(&format!(
                        "reply line not ended by \\r\\n: \"{}\"",
                        show(&self.buf[self.start..=nl])
                    ));
                }
                let s = self.start;
                self.start = nl + 1;
                return (s, nl - 1);
            }
            scanned = self.end - self.start;
            if scanned > 4096 {
                self.fail(&format!(
                    "reply line over 4096 bytes: \"{}\"",
                    show(&self.buf[self.start..self.end])
                ));
            }
            self.fill();
        }
    }

    /// The next `n` bytes: buffer range. Consumed.
    fn take(&mut self, n: usize) -> (usize, usize) {
        while self.end - self.start < n {
            self.fill();
        }
        let s = self.start;
        self.start += n;
        (s, s + n)
    }

    fn unexpected(&self, k: u64, sh: &Shared, what: &str, got: (usize, usize)) -> ! {
        let req = if sh.op == Op::Set { "set" } else { "get" };
        let key = key_bytes(k);
        self.fail(&format!(
            "unexpected reply to \"{req} {}\": {what}: \"{}\"",
            show(&key),
            show(&self.buf[got.0..got.1])
        ))
    }

    /// Reads and checks the replies of the batch in flight.
    fn receive(&mut self, sh: &Shared) {
        for idx in 0..self.pending.len() {
            let k = self.pending[idx];
            let l = self.line();
            match sh.op {
                Op::Set => {
                    if &self.buf[l.0..l.1] != b"STORED" {
                        self.unexpected(k, sh, "expected STORED", l);
                    }
                }
                Op::Get => {
                    let line = &self.buf[l.0..l.1];
                    if line == b"END" {
                        if sh.require_hit {
                            self.unexpected(k, sh, "a miss (--require-hit; was the key set?)", l);
                        }
                        self.misses += 1;
                    } else if line.starts_with(b"VALUE ") {
                        let mut f = line[6..].split(|&b| b == b' ');
                        let key = key_bytes(k);
                        let (rk, rf, rn) = (f.next(), f.next(), f.next());
                        let cas_ok = match f.next() {
                            None => true,
                            Some(c) => {
                                !c.is_empty()
                                    && c.iter().all(u8::is_ascii_digit)
                                    && f.next().is_none()
                            }
                        };
                        if rk != Some(&key[..]) || rf != Some(b"0") || !cas_ok {
                            self.unexpected(k, sh, "expected VALUE <the key> 0 <bytes>", l);
                        }
                        let n: Option<usize> = rn
                            .and_then(|n| std::str::from_utf8(n).ok())
                            .and_then(|n| n.parse().ok());
                        if n != Some(sh.value.len()) {
                            self.unexpected(
                                k,
                                sh,
                                &format!("expected a {}-byte value", sh.value.len()),
                                l,
                            );
                        }
                        let d = self.take(sh.value.len() + 2);
                        let data = &self.buf[d.0..d.1];
                        if data[..sh.value.len()] != sh.value[..]
                            || &data[sh.value.len()..] != b"\r\n"
                        {
                            self.unexpected(k, sh, "value bytes differ from what was set", d);
                        }
                        let e = self.line();
                        if &self.buf[e.0..e.1] != b"END" {
                            self.unexpected(k, sh, "expected END after the value", e);
                        }
                        self.hits += 1;
                    } else {
                        self.unexpected(k, sh, "expected VALUE or END", l);
                    }
                }
                Op::Version => unreachable!(),
            }
        }
        self.done += self.pending.len() as u64;
        self.pending.clear();
    }
}

fn connect(o: &Opts) -> TcpStream {
    let addrs: Vec<_> = match (o.host.as_str(), o.port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => fail(&format!("cannot resolve {}: {e}", o.host)),
    };
    let timeout = Duration::from_secs_f64(o.timeout);
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                s.set_nodelay(true).ok();
                s.set_read_timeout(Some(timeout)).ok();
                s.set_write_timeout(Some(timeout)).ok();
                return s;
            }
            Err(e) => last = Some(e),
        }
    }
    fail(&format!(
        "cannot connect to {}:{}: {}",
        o.host,
        o.port,
        last.map_or("no address".to_string(), |e| e.to_string())
    ))
}

fn version(o: &Opts) -> ! {
    let mut c = Conn::new(0, connect(o), 0);
    if let Err(e) = c.stream.write_all(b"version\r\n") {
        fail(&format!("write failed: {e}"));
    }
    let l = c.line();
    let line = &c.buf[l.0..l.1];
    println!("{}", show(line));
    if line.starts_with(b"VERSION ") {
        exit(0)
    }
    fail(&format!(
        "expected \"VERSION ...\" in reply to version, got \"{}\"",
        show(line)
    ))
}

fn main() {
    let o = parse_args();
    if o.op == Op::Version {
        version(&o);
    }
    let total = if o.prefill {
        o.keys
    } else {
        o.requests.unwrap_or(u64::MAX)
    };
    let shared = Arc::new(Shared {
        op: o.op,
        pipeline: o.pipeline,
        keys: o.keys,
        prefill: o.prefill,
        require_hit: o.require_hit,
        total,
        claimed: AtomicU64::new(0),
        deadline: OnceLock::new(),
        stop: AtomicBool::new(false),
        value: value_pattern(o.value_size),
        set_header_tail: format!(" 0 0 {}\r\n", o.value_size).into_bytes(),
    });

    // Connect everything before the clock starts.
    let mut groups: Vec<Vec<Conn>> = (0..o.threads).map(|_| Vec::new()).collect();
    for id in 0..o.conns {
        groups[id % o.threads].push(Conn::new(id, connect(&o), o.seed));
    }

    let barrier = Arc::new(Barrier::new(o.threads + 1));
    let mut handles = Vec::new();
    for mut conns in groups {
        let sh = Arc::clone(&shared);
        let b = Arc::clone(&barrier);
        handles.push(std::thread::spawn(move || {
            b.wait(); // released once the clock (and any deadline) is set
            let mut active: Vec<usize> = Vec::new();
            for (i, c) in conns.iter_mut().enumerate() {
                if let Some((first, n)) = sh.claim() {
                    c.send(&sh, first, n);
                    active.push(i);
                }
            }
            while !active.is_empty() {
                active.retain(|&i| {
                    let c = &mut conns[i];
                    c.receive(&sh);
                    match sh.claim() {
                        Some((first, n)) => {
                            c.send(&sh, first, n);
                            true
                        }
                        None => false,
                    }
                });
            }
            conns.iter().fold((0u64, 0u64, 0u64), |a, c| {
                (a.0 + c.done, a.1 + c.hits, a.2 + c.misses)
            })
        }));
    }
    let start = Instant::now();
    if let Some(d) = o.duration {
        shared.deadline.set(start + Duration::from_secs_f64(d)).ok();
    }
    barrier.wait();
    let (mut done, mut hits, mut misses) = (0u64, 0u64, 0u64);
    for h in handles {
        match h.join() {
            Ok((d, hi, mi)) => {
                done += d;
                hits += hi;
                misses += mi;
            }
            Err(_) => fail("a client thread panicked"),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(r) = o.requests
        && o.duration.is_none()
        && !o.prefill
        && done != r
    {
        fail(&format!("completed {done} requests, expected {r}"));
    }
    if o.prefill && done != o.keys {
        fail(&format!(
            "prefill completed {done} sets, expected {}",
            o.keys
        ));
    }
    let op = match o.op {
        Op::Get => "get",
        Op::Set if o.prefill => "prefill",
        Op::Set => "set",
        Op::Version => unreachable!(),
    };
    let hm = if o.op == Op::Get {
        format!(" hits={hits} misses={misses}")
    } else {
        String::new()
    };
    println!(
        "op={op} pipeline={} conns={} threads={} keys={} value_size={} requests={done} seconds={secs:.3} rps={:.0}{hm}",
        o.pipeline,
        o.conns,
        o.threads,
        o.keys,
        o.value_size,
        if secs > 0.0 { done as f64 / secs } else { 0.0 }
    );
}
