//! The wire protocol over raw sockets: inline commands, pipelining, split frames,
//! malformed input and limits, checked byte for byte against what Redis 7.4 sends.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{CairnProcess, RawConn};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A RESP multibulk request.
fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The server still serves a new connection.
fn assert_alive(srv: &CairnProcess) {
    let mut c = srv.raw();
    c.roundtrip(b"PING\r\n", b"+PONG\r\n");
}

/// Sends bad input on a fresh connection: the reply must be exactly `error` and then the
/// connection closes; a new connection is still served.
fn assert_protocol_error(srv: &CairnProcess, input: &[u8], error: &[u8]) {
    let mut c = srv.raw();
    c.send(input);
    let got = c.read_exact_len(error.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(error),
        "reply to {:?}",
        String::from_utf8_lossy(&input[..input.len().min(80)])
    );
    assert!(c.is_closed(), "still open after {error:?}");
    assert_alive(srv);
}

/// Reads one whole RESP2/RESP3 reply and returns its bytes.
fn read_reply(c: &mut RawConn) -> Vec<u8> {
    fn line(c: &mut RawConn, out: &mut Vec<u8>) -> String {
        let start = out.len();
        let mut b = [0u8; 1];
        while out.len() - start < 2 || !out.ends_with(b"\r\n") {
            c.s.read_exact(&mut b).expect("reply line");
            out.push(b[0]);
        }
        String::from_utf8_lossy(&out[start..out.len() - 2]).into_owned()
    }
    fn value(c: &mut RawConn, out: &mut Vec<u8>) {
        let l = line(c, out);
        let n = || l[1..].parse::<i64>().unwrap();
        match l.as_bytes()[0] {
            b'$' | b'=' if n() >= 0 => {
                let mut buf = vec![0u8; n() as usize + 2];
                c.s.read_exact(&mut buf).unwrap();
                out.extend_from_slice(&buf);
            }
            b'*' | b'~' | b'>' => (0..n().max(0)).for_each(|_| value(c, out)),
            b'%' => (0..n() * 2).for_each(|_| value(c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    value(c, &mut out);
    out
}

/// Writes `data` from another thread (so a large write cannot deadlock against replies
/// the test has not read yet); write errors are returned, not panicked on.
fn write_in_background(c: &RawConn, data: Vec<u8>) -> std::thread::JoinHandle<std::io::Result<()>> {
    let mut s = c.s.try_clone().unwrap();
    std::thread::spawn(move || s.write_all(&data))
}

// ---------------------------------------------------------------------------------------
// Inline commands
// ---------------------------------------------------------------------------------------

#[test]
fn inline_commands() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    c.roundtrip(b"PING\r\n", b"+PONG\r\n");
    c.roundtrip(b"ping\n", b"+PONG\r\n");
    c.roundtrip(b"  PING  \t \r\n", b"+PONG\r\n");
    // empty lines are skipped
    c.roundtrip(b"\r\n\n\r\nPING\r\n", b"+PONG\r\n");
    // double quotes group words
    c.roundtrip(b"SET k \"a b\"\r\n", b"+OK\r\n");
    c.roundtrip(b"GET k\r\n", b"$3\r\na b\r\n");
    // escapes inside double quotes
    c.roundtrip(b"SET k2 \"x\\ny\\x41\\t\\\"q\\\\\"\r\n", b"+OK\r\n");
    c.roundtrip(b"GET k2\r\n", b"$8\r\nx\nyA\t\"q\\\r\n");
    // \x without two hex digits is a plain x
    c.roundtrip(b"SET k3 \"\\x4g\"\r\n", b"+OK\r\n");
    c.roundtrip(b"GET k3\r\n", b"$3\r\nx4g\r\n");
    // single quotes: only \' is an escape
    c.roundtrip(b"SET k4 'it\\'s \\n'\r\n", b"+OK\r\n");
    c.roundtrip(b"GET k4\r\n", b"$7\r\nit's \\n\r\n");
    // empty quoted argument
    c.roundtrip(b"SET k5 \"\"\r\n", b"+OK\r\n");
    c.roundtrip(b"STRLEN k5\r\n", b":0\r\n");
    // a quoted word joined to a bare one
    c.roundtrip(b"SET k6 ab\"c d\"\r\n", b"+OK\r\n");
    c.roundtrip(b"GET k6\r\n", b"$5\r\nabc d\r\n");
    // integers and errors
    c.roundtrip(b"INCR n\r\n", b":1\r\n");
    c.roundtrip(
        b"GET\r\n",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
}

#[test]
fn unbalanced_quotes_close_the_connection() {
    let srv = CairnProcess::start(&[]);
    let err = b"-ERR Protocol error: unbalanced quotes in request\r\n";
    assert_protocol_error(&srv, b"SET k \"abc\r\n", err);
    assert_protocol_error(&srv, b"SET k 'abc\r\n", err);
    assert_protocol_error(&srv, b"SET k \"a\"b\r\n", err);
    assert_protocol_error(&srv, b"SET k 'a'b\r\n", err);
}

#[test]
fn too_big_inline_request() {
    let srv = CairnProcess::start(&[]);
    let mut line = vec![b'a'; 70 * 1024];
    line.extend_from_slice(b" b");
    assert_protocol_error(
        &srv,
        &line,
        b"-ERR Protocol error: too big inline request\r\n",
    );
}

// ---------------------------------------------------------------------------------------
// Multibulk framing
// ---------------------------------------------------------------------------------------

#[test]
fn multibulk_edge_cases() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    // binary payloads are taken by length
    c.roundtrip(&resp(&[b"SET", b"\r\n\0", b"a\r\nb\0"]), b"+OK\r\n");
    c.roundtrip(&resp(&[b"GET", b"\r\n\0"]), b"$5\r\na\r\nb\0\r\n");
    // empty bulk argument
    c.roundtrip(&resp(&[b"ECHO", b""]), b"$0\r\n\r\n");
    // *0 and negative counts are skipped
    c.roundtrip(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", b"+PONG\r\n");
    // the two bytes after a bulk payload are skipped, not checked
    c.roundtrip(
        b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
        b"+PONG\r\n+PONG\r\n",
    );
    // inline and multibulk mixed in one packet
    c.roundtrip(
        b"PING\r\n*1\r\n$4\r\nPING\r\nPING\r\n",
        b"+PONG\r\n+PONG\r\n+PONG\r\n",
    );
    // an empty command name
    c.roundtrip(
        b"*1\r\n$0\r\n\r\n",
        b"-ERR unknown command '', with args beginning with: \r\n",
    );
}

#[test]
fn pipeline_of_10000_commands_in_one_write() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    let mut batch = Vec::new();
    for _ in 0..10_000 {
        batch.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n");
    }
    let mut expected = Vec::new();
    for i in 1..=10_000 {
        expected.extend_from_slice(format!(":{i}\r\n").as_bytes());
    }
    let writer = write_in_background(&c, batch);
    let got = c.read_exact_len(expected.len());
    writer.join().unwrap().unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "replies out of order or wrong");
    // and inline commands pipelined the same way
    let mut batch = Vec::new();
    for i in 0..10_000 {
        batch.extend_from_slice(format!("SET k{i} {i}\r\nGET k{i}\r\n").as_bytes());
    }
    let mut expected = Vec::new();
    for i in 0..10_000 {
        let v = i.to_string();
        expected.extend_from_slice(format!("+OK\r\n${}\r\n{v}\r\n", v.len()).as_bytes());
    }
    let writer = write_in_background(&c, batch);
    let got = c.read_exact_len(expected.len());
    writer.join().unwrap().unwrap();
    assert!(got == expected, "inline pipeline replies differ");
}

#[test]
fn frame_split_byte_by_byte() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    c.s.set_nodelay(true).unwrap();
    let frame = resp(&[b"SET", b"split", b"hello world"]);
    for b in &frame {
        c.send(std::slice::from_ref(b));
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(c.read_exact_len(5), b"+OK\r\n");
    // an inline command the same way
    for b in b"GET split\r\n" {
        c.send(std::slice::from_ref(b));
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(c.read_exact_len(18), b"$11\r\nhello world\r\n");
    // two frames cut in the middle of a header and of a payload
    let two = [resp(&[b"ECHO", b"abcdef"]), resp(&[b"ECHO", b"xyz"])].concat();
    for chunk in two.chunks(7) {
        c.send(chunk);
        std::thread::sleep(Duration::from_millis(2));
    }
    c.roundtrip(b"", b"$6\r\nabcdef\r\n$3\r\nxyz\r\n");
}

// ---------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------

#[test]
fn malformed_multibulk_closes_the_connection() {
    let srv = CairnProcess::start(&[]);
    let mbulk = b"-ERR Protocol error: invalid multibulk length\r\n";
    assert_protocol_error(&srv, b"*x\r\n", mbulk);
    assert_protocol_error(&srv, b"*1x\r\n", mbulk);
    assert_protocol_error(&srv, b"*+1\r\n", mbulk);
    assert_protocol_error(
        &srv,
        b"*1\r\n+x\r\n",
        b"-ERR Protocol error: expected '$', got '+'\r\n",
    );
    assert_protocol_error(
        &srv,
        b"*1\r\nPING\r\n",
        b"-ERR Protocol error: expected '$', got 'P'\r\n",
    );
    assert_protocol_error(
        &srv,
        b"*2\r\n$3\r\nGET\r\n:1\r\n",
        b"-ERR Protocol error: expected '$', got ':'\r\n",
    );
    let bulk = b"-ERR Protocol error: invalid bulk length\r\n";
    assert_protocol_error(&srv, b"*1\r\n$-1\r\n", bulk);
    assert_protocol_error(&srv, b"*1\r\n$x\r\n", bulk);
    assert_protocol_error(&srv, b"*1\r\n$\r\n", bulk);
    // a header line without its \r\n grows past 64 KB
    let mut long = b"*".to_vec();
    long.extend(vec![b'1'; 70 * 1024]);
    assert_protocol_error(
        &srv,
        &long,
        b"-ERR Protocol error: too big mbulk count string\r\n",
    );
    let mut long = b"*1\r\n$".to_vec();
    long.extend(vec![b'1'; 70 * 1024]);
    assert_protocol_error(
        &srv,
        &long,
        b"-ERR Protocol error: too big bulk count string\r\n",
    );
}

#[test]
fn commands_before_a_protocol_error_still_run() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    c.send(b"SET a 1\r\n*1\r\n$4\r\nPING\r\n*x\r\nSET b 2\r\n");
    let want = b"+OK\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n";
    assert_eq!(
        String::from_utf8_lossy(&c.read_exact_len(want.len())),
        String::from_utf8_lossy(want)
    );
    assert!(c.is_closed());
    let mut c = srv.raw();
    c.roundtrip(b"GET a\r\n", b"$1\r\n1\r\n");
    c.roundtrip(b"EXISTS b\r\n", b":0\r\n");
}

/// Redis accepts any multibulk count up to INT_MAX and waits for the arguments.
#[test]
fn large_multibulk_counts_are_accepted() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    c.send(b"*2000000\r\n$4\r\nPING\r\n");
    c.s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut b = [0u8; 64];
    let silent = matches!(c.s.read(&mut b), Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
    assert!(
        silent,
        "the server answered {:?}",
        String::from_utf8_lossy(&b)
    );
    assert_protocol_error(
        &srv,
        b"*2147483648\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    );
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

#[test]
fn bulk_longer_than_proto_max_bulk_len() {
    let srv = CairnProcess::start(&["--proto-max-bulk-len", "1mb"]);
    let max = 1024 * 1024;
    // one byte too many: refused from the header alone
    assert_protocol_error(
        &srv,
        format!("*2\r\n$4\r\nECHO\r\n${}\r\n", max + 1).as_bytes(),
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    // exactly the limit is fine
    let mut c = srv.raw();
    let value = vec![b'v'; max];
    let writer = write_in_background(&c, resp(&[b"SET", b"big", &value]));
    assert_eq!(c.read_exact_len(5), b"+OK\r\n");
    writer.join().unwrap().unwrap();
    c.roundtrip(b"STRLEN big\r\n", format!(":{max}\r\n").as_bytes());
    // strings built by commands obey the same limit
    c.roundtrip(
        b"APPEND big x\r\n",
        b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
    );
    c.roundtrip(
        format!("SETRANGE other {max} x\r\n").as_bytes(),
        b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
    );
    c.roundtrip(
        b"CONFIG GET proto-max-bulk-len\r\n",
        b"*2\r\n$18\r\nproto-max-bulk-len\r\n$7\r\n1048576\r\n",
    );
    assert_alive(&srv);
}

#[test]
fn query_buffer_over_the_limit_closes_the_client() {
    let srv = CairnProcess::start(&["--client-query-buffer-limit", "1mb"]);
    let mut c = srv.raw();
    // a 2 MB argument, of which 1.5 MB is sent: more than 1 MB waits in the query buffer
    let mut data = b"*2\r\n$4\r\nECHO\r\n$2000000\r\n".to_vec();
    data.extend(vec![b'x'; 1_500_000]);
    let writer = write_in_background(&c, data);
    let t = Instant::now();
    assert!(c.is_closed(), "the client was not closed");
    assert!(t.elapsed() < Duration::from_secs(10));
    let _ = writer.join().unwrap();
    assert_alive(&srv);
    // a client that stays under the limit is served
    let mut c = srv.raw();
    let value = vec![b'y'; 900_000];
    let writer = write_in_background(&c, resp(&[b"SET", b"k", &value]));
    assert_eq!(c.read_exact_len(5), b"+OK\r\n");
    writer.join().unwrap().unwrap();
    c.roundtrip(b"STRLEN k\r\n", b":900000\r\n");
}

#[test]
fn maxclients_refuses_the_extra_connection() {
    let srv = CairnProcess::start(&["--maxclients", "2"]);
    let mut a = srv.raw();
    let mut b = srv.raw();
    a.roundtrip(b"PING\r\n", b"+PONG\r\n");
    b.roundtrip(b"PING\r\n", b"+PONG\r\n");
    // the third gets the error and is closed
    let mut third = srv.raw();
    assert_eq!(
        third.read_exact_len(36),
        b"-ERR max number of clients reached\r\n"
    );
    assert!(third.is_closed());
    // INFO counts it
    a.send(b"INFO stats\r\n");
    let header = {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            a.s.read_exact(&mut byte).unwrap();
            line.push(byte[0]);
        }
        String::from_utf8(line).unwrap()
    };
    let len: usize = header.trim_start_matches('$').trim_end().parse().unwrap();
    let body = String::from_utf8(a.read_exact_len(len + 2)).unwrap();
    assert!(body.contains("\r\nrejected_connections:1\r\n"), "{body}");
    assert!(
        body.contains("\r\ntotal_connections_received:3\r\n"),
        "{body}"
    );
    // once a client leaves there is room again
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = srv.raw();
        c.send(b"PING\r\n");
        let got = c.read_exact_len(7);
        if got == b"+PONG\r\n" {
            break;
        }
        assert_eq!(got, b"-ERR ma", "unexpected reply");
        assert!(Instant::now() < deadline, "no room after a client left");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// RESP3 bytes
// ---------------------------------------------------------------------------------------

#[test]
fn resp3_reply_bytes() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    c.send(b"HELLO 3\r\n");
    let hello = read_reply(&mut c);
    assert!(
        hello.starts_with(b"%"),
        "{}",
        String::from_utf8_lossy(&hello)
    );
    c.roundtrip(b"GET missing\r\n", b"_\r\n");
    c.roundtrip(b"MGET missing\r\n", b"*1\r\n_\r\n");
    c.roundtrip(b"SET k v\r\n", b"+OK\r\n");
    c.roundtrip(
        b"CONFIG GET maxmemory\r\n",
        b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n",
    );
    c.roundtrip(b"EXISTS k\r\n", b":1\r\n");
    c.roundtrip(b"CLIENT GETNAME\r\n", b"_\r\n");
    c.roundtrip(b"COMMAND INFO nosuch\r\n", b"*1\r\n_\r\n");
    c.roundtrip(b"GETRANGE k 0 -1\r\n", b"$1\r\nv\r\n");
    c.roundtrip(
        b"INCR k\r\n",
        b"-ERR value is not an integer or out of range\r\n",
    );
}
