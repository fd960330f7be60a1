//! The memcached protocol (text and meta) against the real binary: exact reply bytes over
//! raw sockets, real memcached client crates, the keyspace shared with RESP, CAS races,
//! the meta-protocol stampede recipe, RESP leases, bad input, and eviction.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use async_memcached::{AsciiProtocol, MetaProtocol};
use common::{CairnProcess, q, raw_to};

/// Sends `req` and reads one reply line (without its CRLF).
fn line(r: &mut BufReader<TcpStream>, req: &[u8]) -> String {
    r.get_mut().write_all(req).unwrap();
    read_line(r)
}

fn read_line(r: &mut BufReader<TcpStream>) -> String {
    let mut s = String::new();
    r.read_line(&mut s).expect("a reply line");
    assert!(s.ends_with("\r\n"), "line {s:?} ends in CRLF");
    s.truncate(s.len() - 2);
    s
}

fn reader(addr: SocketAddr) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
}

#[test]
fn text_commands_answer_as_memcached_does() {
    let (_srv, mc) = CairnProcess::start_memcached(&[]);
    let mut c = raw_to(mc);
    c.roundtrip(b"set a 5 0 3\r\nabc\r\n", b"STORED\r\n");
    c.roundtrip(b"get a nope\r\n", b"VALUE a 5 3\r\nabc\r\nEND\r\n");
    c.roundtrip(b"add a 0 0 1\r\nx\r\n", b"NOT_STORED\r\n");
    c.roundtrip(b"replace nope 0 0 1\r\nx\r\n", b"NOT_STORED\r\n");
    c.roundtrip(b"append a 9 9 2\r\nde\r\n", b"STORED\r\n");
    c.roundtrip(b"prepend a 0 0 2\r\n<<\r\n", b"STORED\r\n");
    // append and prepend keep the flags they found.
    c.roundtrip(b"get a\r\n", b"VALUE a 5 7\r\n<<abcde\r\nEND\r\n");
    c.roundtrip(b"set n 0 0 2\r\n10\r\n", b"STORED\r\n");
    c.roundtrip(b"incr n 5\r\n", b"15\r\n");
    c.roundtrip(b"decr n 100\r\n", b"0\r\n");
    // A shorter number is padded in place, as memcached rewrites the item.
    c.roundtrip(b"get n\r\n", b"VALUE n 0 2\r\n0 \r\nEND\r\n");
    c.roundtrip(b"set big 0 0 20\r\n18446744073709551615\r\n", b"STORED\r\n");
    c.roundtrip(b"incr big 2\r\n", b"1\r\n");
    c.roundtrip(
        b"incr a 1\r\n",
        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    );
    c.roundtrip(b"incr nope 1\r\n", b"NOT_FOUND\r\n");
    c.roundtrip(
        b"incr n -1\r\n",
        b"CLIENT_ERROR invalid numeric delta argument\r\n",
    );
    c.roundtrip(b"touch a 100\r\n", b"TOUCHED\r\n");
    c.roundtrip(b"touch nope 100\r\n", b"NOT_FOUND\r\n");
    c.roundtrip(b"delete a\r\n", b"DELETED\r\n");
    c.roundtrip(b"delete a\r\n", b"NOT_FOUND\r\n");
    c.roundtrip(b"delete a 0\r\n", b"NOT_FOUND\r\n");
    c.roundtrip(
        b"delete a 5\r\n",
        b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
    );
    // noreply silences each command; the version after it shows nothing was sent.
    c.send(b"set q 0 0 1 noreply\r\nq\r\nadd q 0 0 1 noreply\r\nq\r\nincr q 1 noreply\r\ndelete q noreply\r\ntouch q 1 noreply\r\n");
    c.send(b"flush_all noreply\r\nverbosity 0 noreply\r\n");
    let mut v = reader(mc);
    let version = line(&mut v, b"version\r\n");
    assert!(version.starts_with("VERSION 1.6."), "{version}");
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    c.roundtrip(b"flush_all\r\n", b"OK\r\n");
    c.roundtrip(b"get n\r\n", b"END\r\n");
    c.roundtrip(b"verbosity 1\r\n", b"OK\r\n");
    c.roundtrip(b"verbosity 0\r\n", b"OK\r\n");
    // 30-day rule: a negative time and an absolute time in the past both expire at once.
    c.roundtrip(b"set neg 0 -1 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(b"set past 0 2592001 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(b"set rel 0 2592000 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(b"get neg past rel\r\n", b"VALUE rel 0 1\r\nx\r\nEND\r\n");
    // gat answers with the value, then the past TTL takes it away.
    c.roundtrip(b"gat -1 rel\r\n", b"VALUE rel 0 1\r\nx\r\nEND\r\n");
    c.roundtrip(b"get rel\r\n", b"END\r\n");
}

#[test]
fn cas_uniques_change_with_every_write_from_either_protocol() {
    let (srv, mc) = CairnProcess::start_memcached(&[]);
    let mut r = reader(mc);
    assert_eq!(line(&mut r, b"set k 0 0 1\r\na\r\n"), "STORED");
    let value_line = line(&mut r, b"gets k\r\n");
    let cas: u64 = value_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(read_line(&mut r), "a");
    assert_eq!(read_line(&mut r), "END");
    // The same CAS until something writes the key.
    assert_eq!(line(&mut r, b"gets k\r\n"), value_line);
    read_line(&mut r);
    read_line(&mut r);
    // A RESP write of the value makes the memcached client's CAS stale.
    let mut con = srv.client();
    let _: () = q(&mut con, &["SET", "k", "b"]);
    let stale = format!("cas k 0 0 1 {cas}\r\nc\r\n");
    assert_eq!(line(&mut r, stale.as_bytes()), "EXISTS");
    let fresh_line = line(&mut r, b"gets k\r\n");
    let fresh: u64 = fresh_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(fresh > cas);
    read_line(&mut r);
    read_line(&mut r);
    let ok = format!("cas k 3 0 1 {fresh}\r\nc\r\n");
    assert_eq!(line(&mut r, ok.as_bytes()), "STORED");
    assert_eq!(line(&mut r, ok.as_bytes()), "EXISTS", "a CAS is good once");
    assert_eq!(line(&mut r, b"cas nope 0 0 1 1\r\nc\r\n"), "NOT_FOUND");
    assert_eq!(line(&mut r, b"cas k 0 0 1 0\r\nc\r\n"), "EXISTS");
    let got: String = q(&mut con, &["GET", "k"]);
    assert_eq!(got, "c");
}

#[test]
fn concurrent_cas_increments_lose_no_update() {
    let (srv, mc) = CairnProcess::start_memcached(&["--threads", "2"]);
    let mut r = reader(mc);
    assert_eq!(line(&mut r, b"set counter 0 0 1\r\n0\r\n"), "STORED");
    let (clients, each) = (8, 50);
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut r = reader(mc);
                barrier.wait();
                let (mut done, mut conflicts) = (0, 0);
                while done < each {
                    let header = line(&mut r, b"gets counter\r\n");
                    let fields: Vec<&str> = header.split(' ').collect();
                    let cas = fields[4].to_string();
                    let n: u64 = read_line(&mut r).parse().unwrap();
                    assert_eq!(read_line(&mut r), "END");
                    let next = (n + 1).to_string();
                    let req = format!("cas counter 0 0 {} {cas}\r\n{next}\r\n", next.len());
                    match line(&mut r, req.as_bytes()).as_str() {
                        "STORED" => done += 1,
                        "EXISTS" => conflicts += 1,
                        other => panic!("unexpected {other}"),
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let mut con = srv.client();
    let total: u64 = q(&mut con, &["GET", "counter"]);
    assert_eq!(
        total,
        (clients * each) as u64,
        "every successful cas counted once"
    );
    let stats = line(&mut r, b"stats\r\n");
    let mut badval = None;
    let mut l = stats;
    while l != "END" {
        if let Some(v) = l.strip_prefix("STAT cas_badval ") {
            badval = Some(v.parse::<u64>().unwrap());
        }
        l = read_line(&mut r);
    }
    assert_eq!(badval, Some(conflicts), "stats counts the refused cas");
}

#[test]
fn one_keyspace_for_both_protocols() {
    let (srv, mc) = CairnProcess::start_memcached(&[]);
    let mut con = srv.client();
    let mut r = reader(mc);
    assert_eq!(line(&mut r, b"set from-mc 42 0 5\r\nhello\r\n"), "STORED");
    let v: String = q(&mut con, &["GET", "from-mc"]);
    assert_eq!(v, "hello");
    let _: () = q(&mut con, &["SET", "from-resp", "world"]);
    let _: () = q(&mut con, &["SET", "num", "7"]);
    assert_eq!(line(&mut r, b"get from-resp\r\n"), "VALUE from-resp 0 5");
    assert_eq!(read_line(&mut r), "world");
    assert_eq!(read_line(&mut r), "END");
    assert_eq!(line(&mut r, b"incr num 3\r\n"), "10");
    let n: i64 = q(&mut con, &["INCR", "num"]);
    assert_eq!(n, 11);
    // The client flags stay with the item until a RESP write replaces the value.
    assert_eq!(line(&mut r, b"mg from-mc f v\r\n"), "VA 5 f42");
    assert_eq!(read_line(&mut r), "hello");
    let _: () = q(&mut con, &["APPEND", "from-mc", "!"]);
    assert_eq!(line(&mut r, b"mg from-mc f v\r\n"), "VA 6 f0");
    assert_eq!(read_line(&mut r), "hello!");
    // TTLs cross too.
    assert_eq!(line(&mut r, b"set ttl 0 100 1\r\nx\r\n"), "STORED");
    let ttl: i64 = q(&mut con, &["TTL", "ttl"]);
    assert!((99..=100).contains(&ttl), "{ttl}");
    let deleted: i64 = q(&mut con, &["DEL", "from-resp"]);
    assert_eq!(deleted, 1);
    assert_eq!(line(&mut r, b"get from-resp\r\n"), "END");
    let keys: i64 = q(&mut con, &["DBSIZE"]);
    assert_eq!(keys, 3);
}

#[test]
fn memcached_writes_invalidate_resp_near_caches() {
    let (srv, mc) = CairnProcess::start_memcached(&[]);
    let mut tracked = srv.raw();
    tracked.send(b"HELLO 3\r\n");
    std::thread::sleep(Duration::from_millis(100));
    let mut sink = [0u8; 4096];
    let _ = tracked.s.read(&mut sink);
    tracked.roundtrip(b"CLIENT TRACKING ON\r\n", b"+OK\r\n");
    tracked.roundtrip(b"GET shared\r\n", b"_\r\n");
    let mut r = reader(mc);
    assert_eq!(line(&mut r, b"set shared 0 0 1\r\nx\r\n"), "STORED");
    tracked.roundtrip(b"", b">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nshared\r\n");
}

/// The meta protocol's "serve stale while one client refills" recipe, with 100 clients
/// asking for one missing key at once: exactly one wins the refill.
#[test]
fn meta_stampede_has_exactly_one_winner() {
    let (_srv, mc) = CairnProcess::start_memcached(&["--threads", "2"]);
    let clients = 100;
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut r = reader(mc);
                barrier.wait();
                let header = line(&mut r, b"mg hot v c N30 t\r\n");
                let value = read_line(&mut r);
                (header, value)
            })
        })
        .collect();
    let answers: Vec<(String, String)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<&(String, String)> = answers
        .iter()
        .filter(|(h, _)| h.split(' ').any(|f| f == "W"))
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for (h, v) in &answers {
        assert!(h.starts_with("VA 0 "), "{h}");
        assert!(v.is_empty());
        let flags: Vec<&str> = h.split(' ').collect();
        assert!(flags.contains(&"W") != flags.contains(&"Z"), "{h}");
    }
    // The winner refills with its CAS; everyone then sees the value, no flags.
    let cas = winners[0]
        .0
        .split(' ')
        .find_map(|f| f.strip_prefix('c'))
        .unwrap()
        .to_string();
    let mut r = reader(mc);
    let set = format!("ms hot 5 C{cas} T60\r\nfresh\r\n");
    assert_eq!(line(&mut r, set.as_bytes()), "HD");
    assert_eq!(line(&mut r, b"mg hot v\r\n"), "VA 5");
    assert_eq!(read_line(&mut r), "fresh");
    // Invalidate: readers get the stale value; the first of them wins the refill.
    assert_eq!(line(&mut r, b"md hot I T30\r\n"), "HD");
    assert_eq!(
        line(&mut r, b"mg hot v c\r\n")
            .split(' ')
            .filter(|f| *f == "W" || *f == "X")
            .count(),
        2
    );
    assert_eq!(read_line(&mut r), "fresh");
    let second = line(&mut r, b"mg hot v\r\n");
    assert_eq!(second, "VA 5 Z X");
    assert_eq!(read_line(&mut r), "fresh");
    // A refill with a CAS from before the invalidation is refused.
    let late = format!("ms hot 4 C{cas}\r\nlate\r\n");
    assert_eq!(line(&mut r, late.as_bytes()), "EX");
    // mn flushes; q hides nominal replies.
    assert_eq!(line(&mut r, b"mg missing v q\r\nmn\r\n"), "MN");
}

#[test]
fn meta_commands_answer_as_memcached_does() {
    let (_srv, mc) = CairnProcess::start_memcached(&[]);
    let mut c = raw_to(mc);
    c.roundtrip(b"ms k 2 T0 F7\r\nhi\r\n", b"HD\r\n");
    c.roundtrip(
        b"mg k s v f t Oxyz k\r\n",
        b"VA 2 s2 f7 t-1 Oxyz kk\r\nhi\r\n",
    );
    c.roundtrip(b"mg nope v Oab k\r\n", b"EN Oab knope\r\n");
    c.roundtrip(b"mg k h\r\n", b"HD h1\r\n");
    c.roundtrip(b"ms k 2 MA\r\n!!\r\n", b"HD\r\n");
    c.roundtrip(b"ms new 1 ME\r\nx\r\n", b"HD\r\n");
    c.roundtrip(b"ms new 1 ME\r\nx\r\n", b"NS\r\n");
    c.roundtrip(b"ms gone 1 MR\r\nx\r\n", b"NS\r\n");
    c.roundtrip(
        b"ms k 1 MX\r\nx\r\n",
        b"CLIENT_ERROR invalid mode for ms M token\r\n",
    );
    c.roundtrip(b"mg k v v\r\n", b"CLIENT_ERROR duplicate flag\r\n");
    c.roundtrip(b"mg k !\r\n", b"CLIENT_ERROR invalid flag\r\n");
    c.roundtrip(b"md nope\r\n", b"NF\r\n");
    c.roundtrip(b"md nope q\r\nmn\r\n", b"NF\r\nMN\r\n");
    c.roundtrip(b"md new q\r\nmn\r\n", b"MN\r\n");
    c.roundtrip(b"ma cnt\r\n", b"NF\r\n");
    c.roundtrip(b"ma cnt N0 J10 v\r\n", b"VA 2\r\n10\r\n");
    c.roundtrip(b"ma cnt D5 v\r\n", b"VA 2\r\n15\r\n");
    c.roundtrip(b"ma cnt MD D20 v\r\n", b"VA 1\r\n0\r\n");
    c.roundtrip(b"get cnt\r\n", b"VALUE cnt 0 2\r\n0 \r\nEND\r\n");
    c.roundtrip(
        b"ma k\r\n",
        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    );
    // Base64 keys: stored decoded, echoed encoded.
    c.roundtrip(b"ms Zm9v 1 b\r\nz\r\n", b"HD\r\n");
    c.roundtrip(b"get foo\r\n", b"VALUE foo 0 1\r\nz\r\nEND\r\n");
    c.roundtrip(b"mg Zm9v b k v\r\n", b"VA 1 kZm9v b\r\nz\r\n");
    c.roundtrip(b"mx\r\n", b"ERROR\r\n");
}

#[test]
fn bad_input_gets_memcached_error_lines_and_the_connection_goes_on() {
    let (_srv, mc) = CairnProcess::start_memcached(&["--memcached-max-item-size", "1k"]);
    let mut c = raw_to(mc);
    c.roundtrip(b"foo\r\n", b"ERROR\r\n");
    c.roundtrip(b"\r\n", b"ERROR\r\n");
    c.roundtrip(b"set k 0 0\r\n", b"ERROR\r\n");
    let long_key = "k".repeat(251);
    c.roundtrip(
        format!("get {long_key}\r\n").as_bytes(),
        b"CLIENT_ERROR bad command line format\r\n",
    );
    c.roundtrip(
        format!("get {}\r\n", "k".repeat(250)).as_bytes(),
        b"END\r\n",
    );
    c.roundtrip(
        b"set k abc 0 1\r\n",
        b"CLIENT_ERROR bad command line format\r\n",
    );
    c.roundtrip(
        b"set k 0 0 -1\r\n",
        b"CLIENT_ERROR bad command line format\r\n",
    );
    // A data block longer than announced: the block is consumed, the rest is a command.
    c.roundtrip(
        b"set k 0 0 1\r\nxyz\r\n",
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\n",
    );
    // Too large: refused, the data is discarded, the old value is gone.
    c.roundtrip(b"set k 0 0 1\r\nv\r\n", b"STORED\r\n");
    let big = vec![b'x'; 2000];
    let mut req = b"set k 0 0 2000\r\n".to_vec();
    req.extend_from_slice(&big);
    req.extend_from_slice(b"\r\n");
    c.roundtrip(&req, b"SERVER_ERROR object too large for cache\r\n");
    c.roundtrip(b"get k\r\n", b"END\r\n");
    c.roundtrip(
        b"gat abc k\r\n",
        b"CLIENT_ERROR invalid exptime argument\r\n",
    );
    c.roundtrip(
        b"touch k abc\r\n",
        b"CLIENT_ERROR invalid exptime argument\r\n",
    );
    c.roundtrip(b"stats nonsense\r\n", b"ERROR\r\n");
    c.roundtrip(b"shutdown\r\n", b"ERROR: shutdown not enabled\r\n");
    // A line of junk without a newline: memcached closes the connection.
    let mut junk = raw_to(mc);
    junk.send(&[b'x'; 4096]);
    assert!(junk.is_closed());
    // So does the binary protocol's magic byte.
    let mut binary = raw_to(mc);
    binary.send(&[0x80, 0x00, 0x00, 0x00]);
    assert!(binary.is_closed());
    // quit closes after what came before it.
    let mut quit = raw_to(mc);
    quit.send(b"mn\r\nquit\r\n");
    assert_eq!(quit.read_exact_len(4), b"MN\r\n");
    assert!(quit.is_closed());
    c.roundtrip(b"version\r\n", b"VERSION ");
}

#[test]
fn client_crates_work_unchanged() {
    let (srv, mc) = CairnProcess::start_memcached(&[]);
    let client = memcache::connect(format!("memcache://{mc}?protocol=ascii")).unwrap();
    client.set("crate-key", "value", 0).unwrap();
    let got: Option<String> = client.get("crate-key").unwrap();
    assert_eq!(got.as_deref(), Some("value"));
    client.set("n", 5u64, 0).unwrap();
    assert_eq!(client.increment("n", 3).unwrap(), 8);
    client.add("crate-key", "other", 0).unwrap();
    let kept: Option<String> = client.get("crate-key").unwrap();
    assert_eq!(kept.as_deref(), Some("value"), "add does not replace");
    client.delete("crate-key").unwrap();
    let gone: Option<String> = client.get("crate-key").unwrap();
    assert_eq!(gone, None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = async_memcached::Client::new(format!("tcp://{mc}"))
            .await
            .unwrap();
        c.set("async-key", "async-value", None, None).await.unwrap();
        let v = c.get("async-key").await.unwrap().expect("a hit");
        assert_eq!(v.data.as_deref(), Some(&b"async-value"[..]));
        let version = c.version().await.unwrap();
        assert!(version.starts_with("1.6."), "{version}");
        let m = c
            .meta_get(
                "async-key",
                false,
                Some(b"op1"),
                Some(&["v", "f", "t", "c"]),
            )
            .await
            .unwrap()
            .expect("a meta hit");
        assert_eq!(m.data.as_deref(), Some(&b"async-value"[..]));
        assert_eq!((m.flags, m.ttl_remaining), (Some(0), Some(-1)));
        assert!(m.cas.is_some_and(|c| c > 0));
        assert_eq!(m.opaque_token.as_deref(), Some(&b"op1"[..]));
    });
    let mut con = srv.client();
    let v: String = q(&mut con, &["GET", "async-key"]);
    assert_eq!(v, "async-value");
}

/// pymemcache (run when python3 has it; .ci/run installs it), with its pickle serializer
/// (client flags carry the type) and its HashClient spreading keys over two nodes.
#[test]
fn pymemcache_works_unchanged() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import pymemcache"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: python3 with pymemcache is not installed (.ci/run installs it)");
        return;
    }
    let (srv_a, a) = CairnProcess::start_memcached(&[]);
    let (_srv_b, b) = CairnProcess::start_memcached(&[]);
    let script = r#"
import sys
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
from pymemcache import serde
a, b = sys.argv[1], sys.argv[2]
c = Client(a, serde=serde.pickle_serde)
c.set("obj", {"id": 1, "tags": ["x"]})
assert c.get("obj") == {"id": 1, "tags": ["x"]}
c.set("n", 10)
assert c.incr("n", 5) == 15
value, cas = c.gets("obj")
assert c.cas("obj", {"id": 2}, cas) is True
assert c.cas("obj", {"id": 3}, cas) is False
assert c.get("obj") == {"id": 2}
assert c.add("obj", 1, noreply=False) is False
assert c.touch("obj", 100) is True
c.set_many({"m1": "a", "m2": "b"})
assert c.get_many(["m1", "m2", "nope"]) == {"m1": "a", "m2": "b"}
c.delete_many(["m1", "m2"])
assert c.get("m1") is None
c.set("plain", b"bytes-from-pymemcache")
stats = c.stats()
assert stats[b"curr_connections"] >= 1, stats
h = HashClient([a, b])
for i in range(200):
    h.set("k%d" % i, str(i))
assert all(h.get("k%d" % i) == str(i).encode() for i in range(200))
counts = [Client(s).stats()[b"curr_items"] for s in (a, b)]
assert min(counts) > 20, counts
print("ok", counts)
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &a.to_string(), &b.to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "pymemcache failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut con = srv_a.client();
    let plain: String = q(&mut con, &["GET", "plain"]);
    assert_eq!(plain, "bytes-from-pymemcache");
}

#[test]
fn resp_leases_refuse_a_refill_that_raced_with_a_delete() {
    let (srv, mc) = CairnProcess::start_memcached(&[]);
    let mut a = srv.client();
    let mut b = srv.client();
    type Answer = (String, Option<String>, Option<i64>);
    let first: Answer = q(&mut a, &["LEASE", "GET", "user:1"]);
    assert_eq!(first.0, "lease");
    let token = first.2.expect("a token").to_string();
    let second: Answer = q(&mut b, &["LEASE", "GET", "user:1"]);
    assert_eq!(second, ("wait".to_string(), None, None));
    // The database row changes; the application deletes the key. The refill that read
    // the row before the change must not land.
    let _: i64 = q(&mut b, &["DEL", "user:1"]);
    let refused: Option<String> = q(&mut a, &["LEASE", "SET", "user:1", &token, "old-row"]);
    assert_eq!(refused, None);
    let now: Option<String> = q(&mut a, &["GET", "user:1"]);
    assert_eq!(now, None);
    // Rate limit: no new token for this key within lease-timeout, even after the delete.
    let limited: Answer = q(&mut b, &["LEASE", "GET", "user:1"]);
    assert_eq!(limited.0, "wait");
    // Another key: the normal path, refill accepted once.
    let l: Answer = q(&mut a, &["LEASE", "GET", "user:2"]);
    let t = l.2.unwrap().to_string();
    let ok: String = q(&mut a, &["LEASE", "SET", "user:2", &t, "row", "EX", "100"]);
    assert_eq!(ok, "OK");
    let again: Option<String> = q(&mut a, &["LEASE", "SET", "user:2", &t, "row2"]);
    assert_eq!(again, None, "a token is good once");
    let hit: Answer = q(&mut b, &["LEASE", "GET", "user:2"]);
    assert_eq!(hit, ("hit".to_string(), Some("row".to_string()), None));
    // Invalidation keeps the stale value for readers and hands out one refill.
    let marked: i64 = q(&mut a, &["LEASE", "INVALIDATE", "user:2"]);
    assert_eq!(marked, 1);
    let won: Answer = q(&mut a, &["LEASE", "GET", "user:2"]);
    assert_eq!((won.0.as_str(), won.1.as_deref()), ("lease", Some("row")));
    let stale: Answer = q(&mut b, &["LEASE", "GET", "user:2"]);
    assert_eq!(stale, ("stale".to_string(), Some("row".to_string()), None));
    // A plain write in between makes the refill's token worthless.
    let _: () = q(&mut b, &["SET", "user:2", "newer"]);
    let late: Option<String> = q(
        &mut a,
        &["LEASE", "SET", "user:2", &won.2.unwrap().to_string(), "x"],
    );
    assert_eq!(late, None);
    // The same lease state is visible to a memcached meta client.
    let l3: Answer = q(&mut a, &["LEASE", "GET", "user:3"]);
    assert_eq!(l3.0, "lease");
    let mut r = reader(mc);
    assert_eq!(line(&mut r, b"mg user:3 v\r\n"), "VA 0 Z");
    assert_eq!(read_line(&mut r), "");
    let bad: redis::RedisResult<String> =
        common::cmd(&["LEASE", "SET", "user:3", "abc", "v"]).query(&mut a);
    assert!(bad.unwrap_err().to_string().contains("invalid lease token"));
}

#[test]
fn eviction_applies_to_memcached_items_and_stats_match_info() {
    let (srv, mc) =
        CairnProcess::start_memcached(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = raw_to(mc);
    let value = vec![b'v'; 1000];
    let mut batch = Vec::new();
    for i in 0..20_000 {
        batch.extend_from_slice(format!("set key:{i} 0 0 1000 noreply\r\n").as_bytes());
        batch.extend_from_slice(&value);
        batch.extend_from_slice(b"\r\n");
        if batch.len() > 256 * 1024 {
            c.send(&batch);
            batch.clear();
        }
    }
    c.send(&batch);
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    let mut r = reader(mc);
    // `stats` fields by name.
    let mut stats = || {
        let mut out = std::collections::HashMap::new();
        let mut l = line(&mut r, b"stats\r\n");
        while l != "END" {
            let mut f = l.split(' ').skip(1);
            if let (Some(k), Some(v)) = (f.next(), f.next()) {
                out.insert(k.to_string(), v.parse::<u64>().unwrap_or(0));
            }
            l = read_line(&mut r);
        }
        out
    };
    let first = stats();
    let (evictions, items) = (first["evictions"], first["curr_items"]);
    assert!(evictions > 10_000, "{evictions}");
    assert!(items < 5_000, "{items}");
    // The cron may still be evicting what the last writes left over the limit: the
    // same counter read by INFO lies between two readings of it by `stats`.
    let mut con = srv.client();
    let info: String = q(&mut con, &["INFO", "stats"]);
    let evicted: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let later = stats()["evictions"];
    assert!(
        (evictions..=later).contains(&evicted),
        "stats and INFO count the same evictions: stats {evictions} then {later}, INFO {evicted}"
    );
    // noeviction: memcached's out-of-memory line, once the memory is full (the cron may
    // have evicted to just under the limit, so the first writes can still fit).
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
    );
    let oom = b"SERVER_ERROR out of memory storing object\r\n";
    let mut refused = false;
    let mut w = reader(mc);
    for i in 0..10_000 {
        let mut req = format!("set more:{i} 0 0 1000\r\n").into_bytes();
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
        let l = line(&mut w, &req) + "\r\n";
        if l.as_bytes() == oom {
            refused = true;
            break;
        }
        assert_eq!(l, "STORED\r\n", "set more:{i}");
    }
    assert!(refused, "a full cache under noeviction refuses a set");
}
