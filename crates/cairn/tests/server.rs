//! Connection, CLIENT, CONFIG, INFO, COMMAND and server commands against the real binary,
//! with Redis 7.4's replies and error texts.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{CairnProcess, RawConn, err, q, start};
use redis::{Connection, FromRedisValue, Value};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn resp3(srv: &CairnProcess) -> Connection {
    redis::Client::open(srv.url_resp3())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn status(s: &str) -> Value {
    Value::SimpleString(s.to_string())
}

fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

/// A RESP2 map (flat array) or RESP3 map, as (text key, value) pairs.
fn pairs(v: Value) -> HashMap<String, Value> {
    match v {
        Value::Map(kv) => kv
            .into_iter()
            .map(|(k, v)| (String::from_redis_value(k).unwrap(), v))
            .collect(),
        Value::Array(items) => {
            assert!(items.len() % 2 == 0, "odd map: {items:?}");
            items
                .chunks(2)
                .map(|p| {
                    (
                        String::from_redis_value(p[0].clone()).unwrap(),
                        p[1].clone(),
                    )
                })
                .collect()
        }
        other => panic!("not a map: {other:?}"),
    }
}

/// The `field:value` lines of an INFO reply.
fn info(con: &mut Connection, sections: &[&str]) -> HashMap<String, String> {
    let mut args = vec!["INFO"];
    args.extend_from_slice(sections);
    let text: String = q(con, &args);
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn info_num(con: &mut Connection, section: &str, field: &str) -> i64 {
    let fields = info(con, &[section]);
    fields
        .get(field)
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .parse()
        .unwrap()
}

/// The `key=value` fields of one CLIENT LIST / CLIENT INFO line, in order.
fn client_fields(line: &str) -> Vec<(String, String)> {
    line.trim_end()
        .split(' ')
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap_or_else(|| panic!("field {f:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn client_field(line: &str, name: &str) -> String {
    client_fields(line)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .1
}

/// Reads one whole RESP reply from a raw connection and returns its bytes.
fn read_reply(c: &mut RawConn) -> Vec<u8> {
    let mut out = Vec::new();
    read_value(c, &mut out);
    out
}

fn read_line(c: &mut RawConn, out: &mut Vec<u8>) -> String {
    let start = out.len();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n") || out.len() - start < 2 {
        match c.s.read(&mut b) {
            Ok(1) => out.push(b[0]),
            Ok(_) => panic!(
                "connection closed mid-reply: {:?}",
                String::from_utf8_lossy(out)
            ),
            Err(e) => panic!("read failed: {e} after {:?}", String::from_utf8_lossy(out)),
        }
    }
    String::from_utf8_lossy(&out[start..out.len() - 2]).into_owned()
}

fn read_value(c: &mut RawConn, out: &mut Vec<u8>) {
    let line = read_line(c, out);
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" | "-" | ":" | "_" | "," | "#" => {}
        "$" | "=" => {
            let n: i64 = rest.parse().unwrap();
            if n >= 0 {
                let mut buf = vec![0u8; n as usize + 2];
                c.s.read_exact(&mut buf).unwrap();
                out.extend_from_slice(&buf);
            }
        }
        "*" | "~" | ">" => {
            for _ in 0..rest.parse::<i64>().unwrap().max(0) {
                read_value(c, out);
            }
        }
        "%" => {
            for _ in 0..rest.parse::<i64>().unwrap() * 2 {
                read_value(c, out);
            }
        }
        other => panic!("unknown reply type {other:?}"),
    }
}

/// Sends an inline command on a raw connection and returns the whole reply as text.
fn raw_cmd(c: &mut RawConn, line: &str) -> String {
    c.send(format!("{line}\r\n").as_bytes());
    String::from_utf8(read_reply(c)).unwrap()
}

/// The client id of a raw connection.
fn raw_id(c: &mut RawConn) -> i64 {
    let reply = raw_cmd(c, "CLIENT ID");
    reply.trim_start_matches(':').trim_end().parse().unwrap()
}

/// True when nothing arrives on `c` for `wait`.
fn stays_silent(c: &mut RawConn, wait: Duration) -> bool {
    c.s.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 1];
    let silent = match c.s.read(&mut b) {
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        Ok(_) => false,
    };
    c.s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    silent
}

// ---------------------------------------------------------------------------------------
// PING, ECHO, QUIT, RESET, unknown commands
// ---------------------------------------------------------------------------------------

#[test]
fn ping_and_echo() {
    let (_srv, mut con) = start();
    assert_eq!(q::<Value>(&mut con, &["PING"]), status("PONG"));
    assert_eq!(q::<Value>(&mut con, &["PING", "hello"]), bulk("hello"));
    assert_eq!(
        q::<Value>(&mut con, &["ECHO", "hi there"]),
        bulk("hi there")
    );
    assert_eq!(q::<Value>(&mut con, &["ECHO", ""]), bulk(""));
    assert_eq!(
        err(&mut con, &["PING", "a", "b"]),
        "ERR wrong number of arguments for 'ping' command"
    );
    assert_eq!(
        err(&mut con, &["ECHO"]),
        "ERR wrong number of arguments for 'echo' command"
    );
}

#[test]
fn unknown_command_and_wrong_arity_texts() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    c.roundtrip(
        b"foo a b\r\n",
        b"-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n",
    );
    c.roundtrip(
        b"FOO\r\n",
        b"-ERR unknown command 'FOO', with args beginning with: \r\n",
    );
    // arguments are shown up to 128 bytes in all
    let long = "x".repeat(200);
    c.roundtrip(
        format!("foo {long} b\r\n").as_bytes(),
        format!(
            "-ERR unknown command 'foo', with args beginning with: '{}' \r\n",
            "x".repeat(128)
        )
        .as_bytes(),
    );
    c.roundtrip(
        b"GET\r\n",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    c.roundtrip(
        b"get a b\r\n",
        b"-ERR wrong number of arguments for 'get' command\r\n",
    );
    c.roundtrip(
        b"CLIENT SETNAME\r\n",
        b"-ERR wrong number of arguments for 'client|setname' command\r\n",
    );
    c.roundtrip(
        b"CONFIG\r\n",
        b"-ERR wrong number of arguments for 'config' command\r\n",
    );
    c.roundtrip(
        b"client foo\r\n",
        b"-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n",
    );
    c.roundtrip(
        b"config nope x\r\n",
        b"-ERR unknown subcommand 'nope'. Try CONFIG HELP.\r\n",
    );
    // the connection is still fine
    c.roundtrip(b"PING\r\n", b"+PONG\r\n");
}

#[test]
fn quit_closes_the_connection() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    c.roundtrip(b"*1\r\n$4\r\nQUIT\r\n", b"+OK\r\n");
    assert!(c.is_closed());
    // commands pipelined after QUIT are not run
    let mut c = srv.raw();
    c.send(b"SET k v\r\nQUIT\r\nSET k w\r\n");
    assert_eq!(c.read_exact_len(10), b"+OK\r\n+OK\r\n");
    assert!(c.is_closed());
    let mut con = srv.client();
    assert_eq!(q::<String>(&mut con, &["GET", "k"]), "v");
}

#[test]
fn reset_returns_the_connection_to_its_initial_state() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    let hello = raw_cmd(&mut c, "HELLO 3");
    assert!(hello.starts_with('%'), "{hello}");
    assert_eq!(raw_cmd(&mut c, "SELECT 2"), "+OK\r\n");
    assert_eq!(raw_cmd(&mut c, "CLIENT SETNAME before-reset"), "+OK\r\n");
    assert_eq!(raw_cmd(&mut c, "CLIENT NO-EVICT on"), "+OK\r\n");
    assert_eq!(raw_cmd(&mut c, "SET k v"), "+OK\r\n");
    assert_eq!(raw_cmd(&mut c, "RESET"), "+RESET\r\n");
    // RESP2 again (a null is $-1), no name, database 0
    assert_eq!(raw_cmd(&mut c, "CLIENT GETNAME"), "$-1\r\n");
    assert_eq!(raw_cmd(&mut c, "GET k"), "$-1\r\n");
    let line = raw_cmd(&mut c, "CLIENT INFO");
    let line = line.split_once("\r\n").unwrap().1;
    assert_eq!(client_field(line, "db"), "0");
    assert_eq!(client_field(line, "resp"), "2");
    assert_eq!(client_field(line, "name"), "");
    assert_eq!(client_field(line, "flags"), "N");
    assert_eq!(raw_cmd(&mut c, "SELECT 2"), "+OK\r\n");
    assert_eq!(raw_cmd(&mut c, "GET k"), "$1\r\nv\r\n");
}

// ---------------------------------------------------------------------------------------
// HELLO
// ---------------------------------------------------------------------------------------

fn version_at_least_7_4(v: &Value) -> bool {
    let v = String::from_redis_value(v.clone()).unwrap();
    let parts: Vec<u32> = v.split('.').map(|p| p.parse().unwrap()).collect();
    parts.len() == 3 && (parts[0], parts[1]) >= (7, 4)
}

#[test]
fn hello_2_and_3() {
    let srv = CairnProcess::start(&[]);
    let mut con = srv.client();
    let id: i64 = q(&mut con, &["CLIENT", "ID"]);
    // RESP2: a flat array
    let reply: Value = q(&mut con, &["HELLO", "2"]);
    assert!(matches!(reply, Value::Array(_)), "{reply:?}");
    let m = pairs(reply);
    assert_eq!(m["server"], bulk("redis"));
    assert!(version_at_least_7_4(&m["version"]), "{:?}", m["version"]);
    assert_eq!(m["proto"], Value::Int(2));
    assert_eq!(m["id"], Value::Int(id));
    assert_eq!(m["mode"], bulk("standalone"));
    assert_eq!(m["role"], bulk("master"));
    assert_eq!(m["modules"], arr(vec![]));
    // no argument: the current protocol
    assert_eq!(pairs(q(&mut con, &["HELLO"]))["proto"], Value::Int(2));
    // RESP3: a real map, and the connection speaks RESP3 from then on
    let mut c = srv.raw();
    c.send(b"HELLO 3\r\n");
    let reply = String::from_utf8(read_reply(&mut c)).unwrap();
    assert!(reply.starts_with('%'), "{reply}");
    assert!(reply.contains("$5\r\nproto\r\n:3\r\n"), "{reply}");
    assert!(reply.contains("$6\r\nserver\r\n$5\r\nredis\r\n"), "{reply}");
    c.roundtrip(b"GET missing\r\n", b"_\r\n");
    // through the redis crate
    let mut con3 = resp3(&srv);
    let reply: Value = q(&mut con3, &["HELLO", "3"]);
    assert!(matches!(reply, Value::Map(_)), "{reply:?}");
    let m = pairs(reply);
    assert_eq!(m["proto"], Value::Int(3));
    assert!(version_at_least_7_4(&m["version"]));
    let id3: i64 = q(&mut con3, &["CLIENT", "ID"]);
    assert_eq!(m["id"], Value::Int(id3));
    // back to RESP2
    let mut c = srv.raw();
    raw_cmd(&mut c, "HELLO 3");
    let reply = raw_cmd(&mut c, "HELLO 2");
    assert!(reply.starts_with('*'), "{reply}");
    c.roundtrip(b"GET missing\r\n", b"$-1\r\n");
}

#[test]
fn hello_errors_and_setname() {
    let (_srv, mut con) = start();
    for v in ["4", "1", "0", "-1"] {
        assert_eq!(
            err(&mut con, &["HELLO", v]),
            "NOPROTO unsupported protocol version"
        );
    }
    assert_eq!(
        err(&mut con, &["HELLO", "abc"]),
        "ERR Protocol version is not an integer or out of range"
    );
    assert_eq!(
        err(&mut con, &["HELLO", "3", "FOO"]),
        "ERR Syntax error in HELLO option 'FOO'"
    );
    assert_eq!(
        err(&mut con, &["HELLO", "3", "SETNAME"]),
        "ERR Syntax error in HELLO option 'SETNAME'"
    );
    assert_eq!(
        err(&mut con, &["HELLO", "3", "AUTH", "default"]),
        "ERR Syntax error in HELLO option 'AUTH'"
    );
    // the errors left RESP2 in place
    assert_eq!(q::<Value>(&mut con, &["GET", "missing"]), Value::Nil);
    // SETNAME
    let m = pairs(q(&mut con, &["HELLO", "2", "SETNAME", "via-hello"]));
    assert_eq!(m["proto"], Value::Int(2));
    assert_eq!(q::<String>(&mut con, &["CLIENT", "GETNAME"]), "via-hello");
    assert_eq!(
        err(&mut con, &["HELLO", "2", "SETNAME", "bad name"]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    assert_eq!(q::<String>(&mut con, &["CLIENT", "GETNAME"]), "via-hello");
    // AUTH with the default user and SETNAME together
    let m = pairs(q(
        &mut con,
        &["HELLO", "2", "AUTH", "default", "secret", "SETNAME", "both"],
    ));
    assert_eq!(m["server"], bulk("redis"));
    assert_eq!(q::<String>(&mut con, &["CLIENT", "GETNAME"]), "both");
}

// ---------------------------------------------------------------------------------------
// CLIENT
// ---------------------------------------------------------------------------------------

#[test]
fn client_id_setname_getname() {
    let srv = CairnProcess::start(&[]);
    let mut a = srv.client();
    let mut b = srv.client();
    let (ida, idb): (i64, i64) = (q(&mut a, &["CLIENT", "ID"]), q(&mut b, &["CLIENT", "ID"]));
    assert!(ida > 0 && idb > ida, "{ida} {idb}");
    assert_eq!(q::<i64>(&mut a, &["CLIENT", "ID"]), ida);
    assert_eq!(q::<Option<String>>(&mut a, &["CLIENT", "GETNAME"]), None);
    assert_eq!(q::<String>(&mut a, &["CLIENT", "SETNAME", "alpha"]), "OK");
    assert_eq!(
        q::<Option<String>>(&mut a, &["CLIENT", "GETNAME"]).as_deref(),
        Some("alpha")
    );
    assert_eq!(q::<Option<String>>(&mut b, &["CLIENT", "GETNAME"]), None);
    for bad in ["a b", "a\nb", "tab\there"] {
        assert_eq!(
            err(&mut a, &["CLIENT", "SETNAME", bad]),
            "ERR Client names cannot contain spaces, newlines or special characters."
        );
    }
    // an empty name removes it
    assert_eq!(q::<String>(&mut a, &["CLIENT", "SETNAME", ""]), "OK");
    assert_eq!(q::<Option<String>>(&mut a, &["CLIENT", "GETNAME"]), None);
    assert_eq!(
        err(&mut a, &["CLIENT", "ID", "x"]),
        "ERR wrong number of arguments for 'client|id' command"
    );
}

const CLIENT_FIELDS_7_4: &[&str] = &[
    "id",
    "addr",
    "laddr",
    "fd",
    "name",
    "age",
    "idle",
    "flags",
    "db",
    "sub",
    "psub",
    "ssub",
    "multi",
    "watch",
    "qbuf",
    "qbuf-free",
    "argv-mem",
    "multi-mem",
    "rbs",
    "rbp",
    "obl",
    "oll",
    "omem",
    "tot-mem",
    "events",
    "cmd",
    "user",
    "redir",
    "resp",
    "lib-name",
    "lib-ver",
];

#[test]
fn client_list_and_info() {
    let srv = CairnProcess::start(&[]);
    let mut con = srv.client();
    let mut other = srv.client();
    let id: i64 = q(&mut con, &["CLIENT", "ID"]);
    let other_id: i64 = q(&mut other, &["CLIENT", "ID"]);
    q::<()>(&mut con, &["CLIENT", "SETNAME", "lister"]);
    q::<()>(&mut con, &["SELECT", "3"]);
    // CLIENT INFO: one line, Redis 7.4's fields in order
    let line: String = q(&mut con, &["CLIENT", "INFO"]);
    assert!(
        line.ends_with('\n') && line.matches('\n').count() == 1,
        "{line:?}"
    );
    let fields = client_fields(&line);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, CLIENT_FIELDS_7_4);
    let f: HashMap<String, String> = fields.into_iter().collect();
    assert_eq!(f["id"], id.to_string());
    assert!(f["addr"].starts_with("127.0.0.1:"), "{}", f["addr"]);
    assert_eq!(f["laddr"], srv.addr.to_string());
    assert_eq!(f["name"], "lister");
    assert_eq!(f["db"], "3");
    assert_eq!(f["flags"], "N");
    assert_eq!(f["cmd"], "client|info");
    assert_eq!(f["user"], "default");
    assert_eq!(f["resp"], "2");
    assert_eq!(f["multi"], "-1");
    // CLIENT LIST: one line per client, ending in a newline
    let list: String = q(&mut con, &["CLIENT", "LIST"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(list.ends_with('\n'));
    let mine = lines
        .iter()
        .find(|l| client_field(l, "id") == id.to_string())
        .expect("own line");
    assert_eq!(client_field(mine, "cmd"), "client|list");
    assert_eq!(client_field(mine, "name"), "lister");
    let theirs = lines
        .iter()
        .find(|l| client_field(l, "id") == other_id.to_string())
        .expect("other line");
    assert_eq!(client_field(theirs, "cmd"), "client|id");
    // filters
    let only: String = q(&mut con, &["CLIENT", "LIST", "ID", &other_id.to_string()]);
    assert_eq!(only.lines().count(), 1);
    assert_eq!(client_field(&only, "id"), other_id.to_string());
    let both: String = q(
        &mut con,
        &[
            "CLIENT",
            "LIST",
            "ID",
            &id.to_string(),
            &other_id.to_string(),
            "999999",
        ],
    );
    assert_eq!(both.lines().count(), 2);
    let normal: String = q(&mut con, &["CLIENT", "LIST", "TYPE", "normal"]);
    assert_eq!(normal.lines().count(), 2);
    let pubsub: String = q(&mut con, &["CLIENT", "LIST", "TYPE", "pubsub"]);
    assert_eq!(pubsub, "");
    assert_eq!(
        err(&mut con, &["CLIENT", "LIST", "TYPE", "foo"]),
        "ERR Unknown client type 'foo'"
    );
    assert_eq!(
        err(&mut con, &["CLIENT", "LIST", "ID", "abc"]),
        "ERR Invalid client ID"
    );
    assert_eq!(
        err(&mut con, &["CLIENT", "LIST", "FOO"]),
        "ERR syntax error"
    );
}

#[test]
fn client_setinfo_and_no_evict() {
    let (_srv, mut con) = start();
    assert_eq!(
        q::<String>(&mut con, &["CLIENT", "SETINFO", "lib-name", "mylib"]),
        "OK"
    );
    assert_eq!(
        q::<String>(&mut con, &["CLIENT", "SETINFO", "LIB-VER", "1.2.3"]),
        "OK"
    );
    let line: String = q(&mut con, &["CLIENT", "INFO"]);
    assert_eq!(client_field(&line, "lib-name"), "mylib");
    assert_eq!(client_field(&line, "lib-ver"), "1.2.3");
    assert_eq!(
        err(&mut con, &["CLIENT", "SETINFO", "foo", "bar"]),
        "ERR Unrecognized option 'foo'"
    );
    assert_eq!(
        err(&mut con, &["CLIENT", "SETINFO", "lib-name", "a b"]),
        "ERR lib-name cannot contain spaces, newlines or special characters."
    );
    assert_eq!(
        err(&mut con, &["CLIENT", "SETINFO", "lib-ver"]),
        "ERR wrong number of arguments for 'client|setinfo' command"
    );
    // NO-EVICT shows as flag e
    assert_eq!(q::<String>(&mut con, &["CLIENT", "NO-EVICT", "on"]), "OK");
    let line: String = q(&mut con, &["CLIENT", "INFO"]);
    assert_eq!(client_field(&line, "flags"), "e");
    assert_eq!(q::<String>(&mut con, &["CLIENT", "NO-EVICT", "OFF"]), "OK");
    let line: String = q(&mut con, &["CLIENT", "INFO"]);
    assert_eq!(client_field(&line, "flags"), "N");
    assert_eq!(
        err(&mut con, &["CLIENT", "NO-EVICT", "maybe"]),
        "ERR syntax error"
    );
}

#[test]
fn client_kill_by_id_and_addr() {
    let srv = CairnProcess::start(&[]);
    let mut con = srv.client();
    let me: i64 = q(&mut con, &["CLIENT", "ID"]);
    // by ID: the victim sees EOF
    let mut victim = srv.raw();
    let vid = raw_id(&mut victim);
    assert_eq!(
        q::<i64>(&mut con, &["CLIENT", "KILL", "ID", &vid.to_string()]),
        1
    );
    assert!(victim.is_closed());
    assert_eq!(
        q::<i64>(&mut con, &["CLIENT", "KILL", "ID", &vid.to_string()]),
        0
    );
    // by ADDR
    let mut victim = srv.raw();
    raw_id(&mut victim);
    let addr = victim.s.local_addr().unwrap().to_string();
    assert_eq!(q::<i64>(&mut con, &["CLIENT", "KILL", "ADDR", &addr]), 1);
    assert!(victim.is_closed());
    assert_eq!(q::<i64>(&mut con, &["CLIENT", "KILL", "ADDR", &addr]), 0);
    // the old form: ip:port, OK or an error
    let mut victim = srv.raw();
    raw_id(&mut victim);
    let addr = victim.s.local_addr().unwrap().to_string();
    assert_eq!(q::<String>(&mut con, &["CLIENT", "KILL", &addr]), "OK");
    assert!(victim.is_closed());
    assert_eq!(
        err(&mut con, &["CLIENT", "KILL", "1.2.3.4:5"]),
        "ERR No such client"
    );
    // errors
    for bad in ["0", "-3", "abc"] {
        assert_eq!(
            err(&mut con, &["CLIENT", "KILL", "ID", bad]),
            "ERR client-id should be greater than 0"
        );
    }
    assert_eq!(
        err(&mut con, &["CLIENT", "KILL", "ID", "1", "FOO", "bar"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["CLIENT", "KILL", "ID", "1", "SKIPME", "maybe"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["CLIENT", "KILL", "TYPE", "foo"]),
        "ERR Unknown client type 'foo'"
    );
    // the caller is skipped unless SKIPME no
    assert_eq!(
        q::<i64>(&mut con, &["CLIENT", "KILL", "ID", &me.to_string()]),
        0
    );
    let mut selfish = srv.raw();
    let sid = raw_id(&mut selfish);
    selfish.roundtrip(
        format!("CLIENT KILL ID {sid} SKIPME no\r\n").as_bytes(),
        b":1\r\n",
    );
    assert!(selfish.is_closed());
    // the killer is unaffected
    assert_eq!(q::<Value>(&mut con, &["PING"]), status("PONG"));
}

#[test]
fn client_pause_write_holds_writes_only() {
    let srv = CairnProcess::start(&[]);
    let mut admin = srv.client();
    let mut reader = srv.client();
    let mut writer = srv.raw();
    // pause writes
    assert_eq!(
        q::<String>(&mut admin, &["CLIENT", "PAUSE", "20000", "WRITE"]),
        "OK"
    );
    writer.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    assert!(
        stays_silent(&mut writer, Duration::from_millis(300)),
        "a write ran during CLIENT PAUSE WRITE"
    );
    // reads are served at once
    let t = Instant::now();
    assert_eq!(q::<Option<String>>(&mut reader, &["GET", "k"]), None);
    assert_eq!(q::<Value>(&mut reader, &["PING"]), status("PONG"));
    assert!(t.elapsed() < Duration::from_secs(5));
    // unpause: the held write completes
    assert_eq!(q::<String>(&mut admin, &["CLIENT", "UNPAUSE"]), "OK");
    assert_eq!(writer.read_exact_len(5), b"+OK\r\n");
    assert_eq!(
        q::<Option<String>>(&mut reader, &["GET", "k"]).as_deref(),
        Some("v")
    );
}

/// CLIENT PAUSE WRITE holds an EXEC whose transaction writes (as Redis does) and lets one
/// that only reads run.
#[test]
fn client_pause_write_holds_a_writing_exec() {
    let srv = CairnProcess::start(&[]);
    let mut admin = srv.client();
    let mut tx = srv.raw();
    tx.roundtrip(b"MULTI\r\n", b"+OK\r\n");
    tx.roundtrip(b"GET k\r\n", b"+QUEUED\r\n");
    assert_eq!(
        q::<String>(&mut admin, &["CLIENT", "PAUSE", "20000", "WRITE"]),
        "OK"
    );
    // Reads only: runs at once.
    tx.roundtrip(b"EXEC\r\n", b"*1\r\n$-1\r\n");
    tx.roundtrip(b"MULTI\r\n", b"+OK\r\n");
    tx.roundtrip(b"SET k v\r\n", b"+QUEUED\r\n");
    tx.send(b"EXEC\r\n");
    assert!(
        stays_silent(&mut tx, Duration::from_millis(300)),
        "a writing transaction ran during CLIENT PAUSE WRITE"
    );
    assert_eq!(q::<String>(&mut admin, &["CLIENT", "UNPAUSE"]), "OK");
    assert_eq!(tx.read_exact_len(9), b"*1\r\n+OK\r\n");
}

#[test]
fn client_pause_all_and_timeout() {
    let srv = CairnProcess::start(&[]);
    let mut admin = srv.client();
    let mut c = srv.raw();
    // ALL holds reads too
    assert_eq!(q::<String>(&mut admin, &["CLIENT", "PAUSE", "20000"]), "OK");
    c.send(b"GET k\r\n");
    assert!(stays_silent(&mut c, Duration::from_millis(300)));
    assert_eq!(q::<String>(&mut admin, &["CLIENT", "UNPAUSE"]), "OK");
    assert_eq!(c.read_exact_len(5), b"$-1\r\n");
    // a pause ends by itself
    assert_eq!(
        q::<String>(&mut admin, &["CLIENT", "PAUSE", "400", "WRITE"]),
        "OK"
    );
    let t = Instant::now();
    c.roundtrip(b"SET k v\r\n", b"+OK\r\n");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // errors
    assert_eq!(
        err(&mut admin, &["CLIENT", "PAUSE", "abc"]),
        "ERR timeout is not an integer or out of range"
    );
    assert_eq!(
        err(&mut admin, &["CLIENT", "PAUSE", "-1"]),
        "ERR timeout is negative"
    );
    assert_eq!(
        err(&mut admin, &["CLIENT", "PAUSE", "100", "SOME"]),
        "ERR syntax error"
    );
}

// ---------------------------------------------------------------------------------------
// CONFIG
// ---------------------------------------------------------------------------------------

#[test]
fn config_get_with_patterns() {
    let srv = CairnProcess::start(&["--maxclients", "77"]);
    let mut con = srv.client();
    let get = |con: &mut Connection, args: &[&str]| {
        let mut full = vec!["CONFIG", "GET"];
        full.extend_from_slice(args);
        pairs(q(con, &full))
            .into_iter()
            .map(|(k, v)| (k, String::from_redis_value(v).unwrap()))
            .collect::<HashMap<String, String>>()
    };
    let m = get(&mut con, &["maxmemory"]);
    assert_eq!(
        m,
        HashMap::from([("maxmemory".to_string(), "0".to_string())])
    );
    assert_eq!(get(&mut con, &["maxclients"])["maxclients"], "77");
    // (port: the harness starts with --port 0, which Redis has no equivalent for)
    assert!(get(&mut con, &["port"]).contains_key("port"));
    assert_eq!(get(&mut con, &["databases"])["databases"], "16");
    // glob patterns
    let m = get(&mut con, &["maxmemory*"]);
    assert_eq!(m["maxmemory"], "0");
    assert_eq!(m["maxmemory-policy"], "allkeys-tinylfu");
    assert_eq!(m["maxmemory-samples"], "5");
    assert!(m.keys().all(|k| k.starts_with("maxmemory")), "{m:?}");
    let m = get(&mut con, &["*max-*-len"]);
    assert_eq!(m["proto-max-bulk-len"], "536870912");
    let m = get(&mut con, &["p?rt", "hz", "nosuch*"]);
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m["hz"], "10");
    assert!(get(&mut con, &["*"]).len() >= 20);
    assert!(get(&mut con, &["nosuch"]).is_empty());
    // an exact name answers under the client's spelling, once
    let m = get(&mut con, &["MAXMEMORY", "maxmemory", "maxmemory*"]);
    assert_eq!(m["MAXMEMORY"], "0");
    assert!(!m.contains_key("maxmemory"), "{m:?}");
    assert_eq!(m["maxmemory-policy"], "allkeys-tinylfu");
    assert_eq!(
        err(&mut con, &["CONFIG", "GET"]),
        "ERR wrong number of arguments for 'config|get' command"
    );
}

#[test]
fn config_set_runtime_and_errors() {
    let (srv, mut con) = start();
    let get1 = |con: &mut Connection, name: &str| {
        let v: Vec<String> = q(con, &["CONFIG", "GET", name]);
        v[1].clone()
    };
    // runtime settings take effect
    assert_eq!(
        q::<String>(&mut con, &["CONFIG", "SET", "maxmemory", "10mb"]),
        "OK"
    );
    assert_eq!(get1(&mut con, "maxmemory"), "10485760");
    assert_eq!(
        q::<String>(&mut con, &["CONFIG", "SET", "maxmemory", "1k"]),
        "OK"
    );
    assert_eq!(get1(&mut con, "maxmemory"), "1000");
    assert_eq!(
        err(&mut con, &["SET", "k", "v"]),
        "OOM command not allowed when used memory > 'maxmemory'."
    );
    assert_eq!(q::<Option<String>>(&mut con, &["GET", "k"]), None);
    assert_eq!(
        q::<String>(&mut con, &["CONFIG", "SET", "maxmemory", "0"]),
        "OK"
    );
    assert_eq!(q::<String>(&mut con, &["SET", "k", "v"]), "OK");
    // several at once
    assert_eq!(
        q::<String>(&mut con, &["CONFIG", "SET", "hz", "20", "timeout", "300"]),
        "OK"
    );
    assert_eq!(get1(&mut con, "hz"), "20");
    assert_eq!(get1(&mut con, "timeout"), "300");
    // names are case-insensitive
    assert_eq!(
        q::<String>(&mut con, &["CONFIG", "SET", "MAXMEMORY", "2gb"]),
        "OK"
    );
    assert_eq!(get1(&mut con, "maxmemory"), "2147483648");
    // maxclients applies to new connections
    assert_eq!(
        q::<String>(&mut con, &["CONFIG", "SET", "maxclients", "1"]),
        "OK"
    );
    let mut refused = srv.raw();
    assert_eq!(
        refused.read_exact_len(36),
        b"-ERR max number of clients reached\r\n"
    );
    assert!(refused.is_closed());
    q::<()>(&mut con, &["CONFIG", "SET", "maxclients", "100"]);
    // errors
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "maxmemory", "abc"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "maxmemory", "-1"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "hz", "fast"]),
        "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "daemonize", "yes"]),
        "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "tcp-backlog", "10"]),
        "ERR CONFIG SET failed (possibly related to argument 'tcp-backlog') - can't set immutable config"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "foo", "bar"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "hz", "5", "hz", "6"]),
        "ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "maxmemory"]),
        "ERR wrong number of arguments for 'config|set' command"
    );
    // errors name the setting as typed
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "DAEMONIZE", "yes"]),
        "ERR CONFIG SET failed (possibly related to argument 'DAEMONIZE') - can't set immutable config"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "FOO", "bar"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'FOO'"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "MaxMemory", "x"]),
        "ERR CONFIG SET failed (possibly related to argument 'MaxMemory') - argument must be a memory value"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "hz", "5", "HZ", "6"]),
        "ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter"
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "hz", "5", "maxmemory"]),
        "ERR wrong number of arguments for 'config|set' command"
    );
    // all or nothing
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "hz", "30", "maxmemory", "abc"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    assert_eq!(get1(&mut con, "hz"), "20");
}

#[test]
fn config_resetstat() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["SET", "a", "1"]);
    q::<()>(&mut con, &["GET", "a"]);
    q::<()>(&mut con, &["GET", "nope"]);
    let _ = err(&mut con, &["GET"]);
    assert!(info_num(&mut con, "stats", "total_commands_processed") > 3);
    assert_eq!(q::<String>(&mut con, &["CONFIG", "RESETSTAT"]), "OK");
    let stats = info(&mut con, &["stats"]);
    // RESETSTAT itself is the one command counted so far
    assert_eq!(stats["total_commands_processed"], "1");
    for field in [
        "keyspace_hits",
        "keyspace_misses",
        "expired_keys",
        "rejected_connections",
        "total_connections_received",
        "total_error_replies",
    ] {
        assert_eq!(stats[field], "0", "{field}");
    }
    let cmdstats = info(&mut con, &["commandstats"]);
    assert!(!cmdstats.contains_key("cmdstat_get"), "{cmdstats:?}");
    assert!(
        cmdstats.contains_key("cmdstat_config|resetstat"),
        "{cmdstats:?}"
    );
    let errstats = info(&mut con, &["errorstats"]);
    assert!(!errstats.contains_key("errorstat_ERR"), "{errstats:?}");
}

// ---------------------------------------------------------------------------------------
// INFO
// ---------------------------------------------------------------------------------------

#[test]
fn info_sections() {
    let srv = CairnProcess::start(&[]);
    let mut con = srv.client();
    // default: the default sections, not commandstats / latencystats
    let text: String = q(&mut con, &["INFO"]);
    for title in [
        "# Server\r\n",
        "# Clients\r\n",
        "# Memory\r\n",
        "# Persistence\r\n",
        "# Stats\r\n",
        "# Replication\r\n",
        "# CPU\r\n",
        "# Keyspace\r\n",
    ] {
        assert!(text.contains(title), "{title} missing");
    }
    assert!(!text.contains("# Commandstats"));
    let all: String = q(&mut con, &["INFO", "all"]);
    assert!(all.contains("# Commandstats\r\n") && all.contains("# Latencystats\r\n"));
    let everything: String = q(&mut con, &["INFO", "everything"]);
    assert!(everything.contains("# Commandstats\r\n"));
    // one section
    let server: String = q(&mut con, &["INFO", "server"]);
    assert!(server.starts_with("# Server\r\n"), "{server}");
    assert!(!server.contains("# Clients"));
    let fields = info(&mut con, &["server"]);
    let version: Vec<u32> = fields["redis_version"]
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    assert!((version[0], version[1]) >= (7, 4), "{version:?}");
    assert!(fields.contains_key("tcp_port"));
    assert_eq!(fields["process_id"], srv.pid().to_string());
    assert_eq!(fields["redis_mode"], "standalone");
    // several sections, any case
    let two: String = q(&mut con, &["INFO", "SERVER", "clients"]);
    assert!(two.contains("# Server\r\n") && two.contains("# Clients\r\n"));
    assert!(!two.contains("# Stats"));
    // an unknown section is empty
    assert_eq!(q::<String>(&mut con, &["INFO", "nosuchsection"]), "");
}

#[test]
fn info_clients_and_stats_fields() {
    let srv = CairnProcess::start(&[]);
    let mut con = srv.client();
    q::<()>(&mut con, &["CONFIG", "RESETSTAT"]);
    // clients
    let clients = info(&mut con, &["clients"]);
    assert_eq!(clients["connected_clients"], "1");
    assert_eq!(clients["blocked_clients"], "0");
    let mut a = srv.raw();
    let mut b = srv.raw();
    a.roundtrip(b"PING\r\n", b"+PONG\r\n");
    b.roundtrip(b"PING\r\n", b"+PONG\r\n");
    assert_eq!(info_num(&mut con, "clients", "connected_clients"), 3);
    // stats
    q::<()>(&mut con, &["SET", "k", "v"]);
    q::<()>(&mut con, &["GET", "k"]);
    q::<()>(&mut con, &["GET", "k"]);
    q::<()>(&mut con, &["GET", "missing"]);
    let stats = info(&mut con, &["stats"]);
    assert_eq!(stats["keyspace_hits"], "2");
    assert_eq!(stats["keyspace_misses"], "1");
    assert_eq!(stats["expired_keys"], "0");
    // RESETSTAT, INFO clients twice, the two raw PINGs, SET, GET x3
    assert_eq!(stats["total_commands_processed"], "9");
    assert_eq!(stats["total_connections_received"], "2");
    assert_eq!(stats["rejected_connections"], "0");
    assert!(stats["instantaneous_ops_per_sec"].parse::<u64>().is_ok());
    assert!(stats["total_net_input_bytes"].parse::<u64>().unwrap() > 0);
    // connections close
    drop(a);
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_num(&mut con, "clients", "connected_clients") != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info_num(&mut con, "clients", "connected_clients"), 1);
}

#[test]
fn info_commandstats_errorstats_latencystats() {
    let (_srv, mut con) = start();
    q::<()>(&mut con, &["CONFIG", "RESETSTAT"]);
    q::<()>(&mut con, &["SET", "s", "abc"]);
    for _ in 0..3 {
        q::<()>(&mut con, &["GET", "s"]);
    }
    // rejected (arity) and failed (ran, answered an error)
    let _ = err(&mut con, &["GET"]);
    let _ = err(&mut con, &["INCR", "s"]);
    let stats = info(&mut con, &["commandstats"]);
    let get: HashMap<&str, &str> = stats["cmdstat_get"]
        .split(',')
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    assert_eq!(get["calls"], "3");
    assert_eq!(get["rejected_calls"], "1");
    assert_eq!(get["failed_calls"], "0");
    assert!(get["usec"].parse::<u64>().is_ok());
    assert!(get["usec_per_call"].parse::<f64>().is_ok());
    let keys: Vec<&str> = stats["cmdstat_get"]
        .split(',')
        .map(|kv| kv.split_once('=').unwrap().0)
        .collect();
    assert_eq!(
        keys,
        [
            "calls",
            "usec",
            "usec_per_call",
            "rejected_calls",
            "failed_calls"
        ]
    );
    assert!(
        stats["cmdstat_incr"].starts_with("calls=1,"),
        "{}",
        stats["cmdstat_incr"]
    );
    assert!(stats["cmdstat_incr"].ends_with(",rejected_calls=0,failed_calls=1"));
    assert!(stats["cmdstat_set"].starts_with("calls=1,"));
    // errorstats
    let errors = info(&mut con, &["errorstats"]);
    assert_eq!(errors["errorstat_ERR"], "count=2");
    assert_eq!(info_num(&mut con, "stats", "total_error_replies"), 2);
    // latencystats: p50, p99 and p99.9 in microseconds
    let lat = info(&mut con, &["latencystats"]);
    let line = &lat["latency_percentiles_usec_get"];
    let parts: Vec<(&str, &str)> = line
        .split(',')
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    assert_eq!(
        parts.iter().map(|p| p.0).collect::<Vec<_>>(),
        ["p50", "p99", "p99.9"],
        "{line}"
    );
    for (_, v) in parts {
        let (int, frac) = v.split_once('.').expect("three decimals");
        assert!(int.parse::<u64>().is_ok() && frac.len() == 3, "{line}");
    }
}

// ---------------------------------------------------------------------------------------
// COMMAND
// ---------------------------------------------------------------------------------------

#[test]
fn command_count_list_and_bare() {
    let (_srv, mut con) = start();
    let count: i64 = q(&mut con, &["COMMAND", "COUNT"]);
    let list: Vec<String> = q(&mut con, &["COMMAND", "LIST"]);
    let top: Vec<&String> = list.iter().filter(|n| !n.contains('|')).collect();
    assert_eq!(count as usize, top.len());
    assert!(count > 50, "{count}");
    for name in [
        "get",
        "set",
        "del",
        "client|list",
        "config|get",
        "command|info",
    ] {
        assert!(list.iter().any(|n| n == name), "{name} not listed");
    }
    let all: Vec<Value> = q(&mut con, &["COMMAND"]);
    assert_eq!(all.len() as i64, count);
    // filters
    let get_star: Vec<String> = q(
        &mut con,
        &["COMMAND", "LIST", "FILTERBY", "PATTERN", "get*"],
    );
    for name in ["get", "getdel", "getex", "getrange", "getset", "getbit"] {
        assert!(get_star.contains(&name.to_string()), "{name}");
    }
    assert!(
        get_star.iter().all(|n| n.starts_with("get")),
        "{get_star:?}"
    );
    let keyspace: Vec<String> = q(
        &mut con,
        &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "keyspace"],
    );
    for name in ["del", "expire", "scan", "dbsize", "flushall"] {
        assert!(keyspace.contains(&name.to_string()), "{name} not @keyspace");
    }
    for name in ["get", "set", "incr"] {
        assert!(
            !keyspace.contains(&name.to_string()),
            "{name} is not @keyspace"
        );
    }
    let module: Vec<String> = q(
        &mut con,
        &["COMMAND", "LIST", "FILTERBY", "MODULE", "nosuch"],
    );
    assert!(module.is_empty());
    assert_eq!(
        err(&mut con, &["COMMAND", "LIST", "FILTERBY", "FOO", "x"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["COMMAND", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try COMMAND HELP."
    );
}

#[test]
fn command_info_matches_redis() {
    let srv = CairnProcess::start(&[]);
    let mut con = srv.client();
    let key_spec = |flags: &[&str], lastkey: i64, step: i64| {
        arr(vec![
            bulk("flags"),
            arr(flags.iter().map(|f| status(f)).collect()),
            bulk("begin_search"),
            arr(vec![
                bulk("type"),
                bulk("index"),
                bulk("spec"),
                arr(vec![bulk("index"), Value::Int(1)]),
            ]),
            bulk("find_keys"),
            arr(vec![
                bulk("type"),
                bulk("range"),
                bulk("spec"),
                arr(vec![
                    bulk("lastkey"),
                    Value::Int(lastkey),
                    bulk("keystep"),
                    Value::Int(step),
                    bulk("limit"),
                    Value::Int(0),
                ]),
            ]),
        ])
    };
    let get = arr(vec![
        bulk("get"),
        Value::Int(2),
        arr(vec![status("readonly"), status("fast")]),
        Value::Int(1),
        Value::Int(1),
        Value::Int(1),
        arr(vec![status("@read"), status("@string"), status("@fast")]),
        arr(vec![]),
        arr(vec![key_spec(&["RO", "access"], 0, 1)]),
        arr(vec![]),
    ]);
    assert_eq!(
        q::<Value>(&mut con, &["COMMAND", "INFO", "get"]),
        arr(vec![get.clone()])
    );
    assert_eq!(
        q::<Value>(&mut con, &["COMMAND", "INFO", "GET"]),
        arr(vec![get])
    );
    // ACL categories in Redis's order
    let cats = |con: &mut Connection, name: &str| -> Vec<String> {
        let info: Vec<Value> = q(con, &["COMMAND", "INFO", name]);
        let Value::Array(fields) = &info[0] else {
            panic!("{info:?}")
        };
        Vec::<String>::from_redis_value(fields[6].clone()).unwrap()
    };
    assert_eq!(cats(&mut con, "set"), ["@write", "@string", "@slow"]);
    assert_eq!(cats(&mut con, "del"), ["@keyspace", "@write", "@slow"]);
    assert_eq!(cats(&mut con, "ping"), ["@fast", "@connection"]);
    assert_eq!(
        cats(&mut con, "client|list"),
        ["@admin", "@slow", "@dangerous", "@connection"]
    );
    // unknown names are nil (a null bulk in RESP2)
    let reply: Vec<Value> = q(&mut con, &["COMMAND", "INFO", "get", "nosuch"]);
    assert_eq!(reply.len(), 2);
    assert_eq!(reply[1], Value::Nil);
    let mut raw = srv.raw();
    raw.roundtrip(b"COMMAND INFO nosuch\r\n", b"*1\r\n$-1\r\n");
    // subcommands by their full name
    let reply: Vec<Value> = q(&mut con, &["COMMAND", "INFO", "client|list"]);
    let Value::Array(fields) = &reply[0] else {
        panic!("{reply:?}")
    };
    assert_eq!(fields[0], bulk("client|list"));
    assert_eq!(fields[1], Value::Int(-2));
    // a container lists its subcommands
    let reply: Vec<Value> = q(&mut con, &["COMMAND", "INFO", "config"]);
    let Value::Array(fields) = &reply[0] else {
        panic!("{reply:?}")
    };
    assert_eq!(fields[0], bulk("config"));
    let Value::Array(subs) = &fields[9] else {
        panic!("{fields:?}")
    };
    assert!(subs.len() >= 3);
}

#[test]
fn command_docs_and_getkeys() {
    let (_srv, mut con) = start();
    let docs = pairs(q(&mut con, &["COMMAND", "DOCS", "get", "nosuch"]));
    assert_eq!(docs.len(), 1);
    let get = pairs(docs["get"].clone());
    assert_eq!(get["summary"], bulk("Returns the string value of a key."));
    assert_eq!(get["since"], bulk("1.0.0"));
    assert_eq!(get["group"], bulk("string"));
    let docs = pairs(q(&mut con, &["COMMAND", "DOCS", "client"]));
    let client = pairs(docs["client"].clone());
    let subs = pairs(client["subcommands"].clone());
    assert!(subs.contains_key("client|list"), "{subs:?}");
    // GETKEYS
    assert_eq!(
        q::<Vec<String>>(&mut con, &["COMMAND", "GETKEYS", "GET", "k"]),
        ["k"]
    );
    assert_eq!(
        q::<Vec<String>>(
            &mut con,
            &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]
        ),
        ["a", "b"]
    );
    assert_eq!(
        q::<Vec<String>>(&mut con, &["COMMAND", "GETKEYS", "del", "x", "y", "z"]),
        ["x", "y", "z"]
    );
    assert_eq!(
        q::<Vec<String>>(&mut con, &["COMMAND", "GETKEYS", "RENAME", "from", "to"]),
        ["from", "to"]
    );
    assert_eq!(
        err(&mut con, &["COMMAND", "GETKEYS", "nosuch", "x"]),
        "ERR Invalid command specified"
    );
    assert_eq!(
        err(&mut con, &["COMMAND", "GETKEYS", "GET"]),
        "ERR Invalid number of arguments specified for command"
    );
    assert_eq!(
        err(&mut con, &["COMMAND", "GETKEYS", "PING"]),
        "ERR The command has no key arguments"
    );
    // "no keys" is decided before the arity
    assert_eq!(
        err(&mut con, &["COMMAND", "GETKEYS", "ECHO"]),
        "ERR The command has no key arguments"
    );
    assert_eq!(
        err(&mut con, &["COMMAND", "GETKEYS"]),
        "ERR wrong number of arguments for 'command|getkeys' command"
    );
    // MIGRATE's keys: the key argument, or those after KEYS when it is empty (its key
    // spec is incomplete, so the command's own rule decides, as in Redis).
    fn migrate<'a>(keys: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "COMMAND", "GETKEYS", "MIGRATE", "h", "1", keys[0], "0", "5000",
        ];
        args.extend(&keys[1..]);
        args
    }
    assert_eq!(q::<Vec<String>>(&mut con, &migrate(&["k"])), ["k"]);
    assert_eq!(
        q::<Vec<String>>(&mut con, &migrate(&["", "AUTH", "pw", "KEYS", "a", "b"])),
        ["a", "b"]
    );
    // GETKEYSANDFLAGS: each key with how the command uses it.
    assert_eq!(
        q::<Value>(&mut con, &["COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v"]),
        arr(vec![arr(vec![
            bulk("k"),
            arr(vec![
                status("RW"),
                status("access"),
                status("update"),
                status("variable_flags")
            ])
        ])])
    );
    assert_eq!(
        q::<Value>(&mut con, &["COMMAND", "GETKEYSANDFLAGS", "COPY", "a", "b"]),
        arr(vec![
            arr(vec![bulk("a"), arr(vec![status("RO"), status("access")])]),
            arr(vec![bulk("b"), arr(vec![status("OW"), status("update")])]),
        ])
    );
    assert_eq!(
        err(&mut con, &["COMMAND", "GETKEYSANDFLAGS", "PING"]),
        "ERR The command has no key arguments"
    );
    // COMMAND INFO of a command whose keys move: the legacy range Redis shows, the
    // movablekeys flag, and a keyword key spec.
    let info: Vec<Value> = q(&mut con, &["COMMAND", "INFO", "migrate"]);
    let Value::Array(fields) = &info[0] else {
        panic!("{info:?}")
    };
    let flags = Vec::<String>::from_redis_value(fields[2].clone()).unwrap();
    assert_eq!(flags, ["write", "movablekeys"]);
    assert_eq!(
        &fields[3..6],
        &[Value::Int(3), Value::Int(3), Value::Int(1)]
    );
    let Value::Array(specs) = &fields[8] else {
        panic!("{fields:?}")
    };
    assert_eq!(specs.len(), 2);
    let second = format!("{:?}", specs[1]);
    assert!(
        second.contains("keyword") && second.contains("KEYS"),
        "{second}"
    );
    // Routing tips cluster clients read: DBSIZE goes to every shard and is summed.
    let info: Vec<Value> = q(&mut con, &["COMMAND", "INFO", "dbsize"]);
    let Value::Array(fields) = &info[0] else {
        panic!("{info:?}")
    };
    assert_eq!(
        Vec::<String>::from_redis_value(fields[7].clone()).unwrap(),
        ["request_policy:all_shards", "response_policy:agg_sum"]
    );
}

// ---------------------------------------------------------------------------------------
// TIME, DEBUG SLEEP, SHUTDOWN, SIGTERM
// ---------------------------------------------------------------------------------------

#[test]
fn time_and_debug_sleep() {
    let (_srv, mut con) = start();
    let (secs, micros): (String, String) = q(&mut con, &["TIME"]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let secs: u64 = secs.parse().unwrap();
    assert!(secs.abs_diff(now) <= 2, "{secs} vs {now}");
    assert!(micros.parse::<u32>().unwrap() < 1_000_000);
    assert_eq!(q::<String>(&mut con, &["DEBUG", "SLEEP", "0"]), "OK");
    let t = Instant::now();
    assert_eq!(q::<String>(&mut con, &["DEBUG", "SLEEP", "0.2"]), "OK");
    assert_eq!(q::<Value>(&mut con, &["PING"]), status("PONG"));
    assert!(t.elapsed() >= Duration::from_millis(200));
}

#[test]
fn shutdown_stops_the_process() {
    let mut srv = CairnProcess::start(&[]);
    let mut con = srv.client();
    assert_eq!(
        err(&mut con, &["SHUTDOWN", "ABORT"]),
        "ERR No shutdown in progress."
    );
    assert_eq!(err(&mut con, &["SHUTDOWN", "FOO"]), "ERR syntax error");
    let mut c = srv.raw();
    c.send(b"SHUTDOWN NOSAVE\r\n");
    // no reply: the connection just closes
    assert!(c.is_closed());
    let status = srv
        .wait_exit(Duration::from_secs(10))
        .expect("cairn exited");
    assert!(status.success(), "{status:?}");
    let log = srv.log_lines().join("\n");
    assert!(log.contains("User requested shutdown"), "{log}");
}

#[test]
fn sigterm_exits_cleanly() {
    let mut srv = CairnProcess::start(&[]);
    let mut c = srv.raw();
    c.roundtrip(b"PING\r\n", b"+PONG\r\n");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &srv.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = srv
        .wait_exit(Duration::from_secs(10))
        .expect("cairn exited");
    assert!(status.success(), "{status:?}");
    // the open connection was closed
    assert!(c.is_closed());
    let log = srv.log_lines().join("\n");
    assert!(log.contains("SIGTERM"), "{log}");
}

// ---------------------------------------------------------------------------------------
// RESP3 through the redis crate
// ---------------------------------------------------------------------------------------

#[test]
fn resp3_replies() {
    let srv = CairnProcess::start(&[]);
    let mut con = resp3(&srv);
    q::<()>(&mut con, &["SET", "a", "1"]);
    assert_eq!(
        q::<Value>(&mut con, &["MGET", "a", "missing"]),
        arr(vec![bulk("1"), Value::Nil])
    );
    assert_eq!(q::<Value>(&mut con, &["GET", "missing"]), Value::Nil);
    assert_eq!(
        q::<Value>(&mut con, &["CONFIG", "GET", "maxmemory"]),
        Value::Map(vec![(bulk("maxmemory"), bulk("0"))])
    );
    match q::<Value>(&mut con, &["INFO", "server"]) {
        Value::VerbatimString { text, .. } => assert!(text.starts_with("# Server")),
        other => panic!("INFO is not a verbatim string: {other:?}"),
    }
    match q::<Value>(&mut con, &["CLIENT", "INFO"]) {
        Value::VerbatimString { text, .. } => assert_eq!(client_field(&text, "resp"), "3"),
        other => panic!("CLIENT INFO is not a verbatim string: {other:?}"),
    }
    assert_eq!(q::<Value>(&mut con, &["TYPE", "a"]), status("string"));
    assert_eq!(q::<Value>(&mut con, &["INCR", "a"]), Value::Int(2));
    // a map in COMMAND DOCS, a set of flags in COMMAND INFO
    assert!(matches!(
        q::<Value>(&mut con, &["COMMAND", "DOCS", "get"]),
        Value::Map(_)
    ));
    let info: Vec<Value> = q(&mut con, &["COMMAND", "INFO", "get"]);
    let Value::Array(fields) = &info[0] else {
        panic!("{info:?}")
    };
    assert_eq!(
        fields[2],
        Value::Set(vec![status("readonly"), status("fast")])
    );
    assert_eq!(
        err(&mut con, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
}

/// Started with `--port 0`, the server reports the port it actually bound.
#[test]
fn port_zero_reports_the_bound_port() {
    let (srv, mut con) = start();
    let port = srv.addr.port().to_string();
    let cfg: Vec<String> = q(&mut con, &["CONFIG", "GET", "port"]);
    assert_eq!(cfg, vec!["port".to_string(), port.clone()]);
    assert_eq!(info(&mut con, &["server"])["tcp_port"], port);
}

/// CLIENT REPLY OFF / SKIP / ON: the same replies, in the same order, as redis-server
/// sends for one stream of commands (OFF and SKIP answer nothing themselves; SKIP while
/// OFF changes nothing; errors are dropped too; RESET turns replies back on and answers).
#[test]
fn client_reply_drops_the_replies_redis_drops() {
    let Some(mut both) = common::versus::Both::start(&[], &[]) else {
        return;
    };
    let lines = [
        "SET a 1",
        "CLIENT REPLY OFF",
        "SET a 2",
        "GET a",
        "NOSUCHCOMMAND",
        "CLIENT REPLY SKIP",
        "CLIENT REPLY ON",
        "GET a",
        "CLIENT REPLY SKIP",
        "SET a 3",
        "GET a",
        "CLIENT REPLY SKIP",
        "CLIENT REPLY BAD",
        "CLIENT REPLY BAD",
        "CLIENT REPLY OFF",
        "INCR a",
        "RESET",
        "GET a",
        "PING",
    ];
    let mut replies = Vec::new();
    for (name, conn) in [("cairn", &mut both.cairn), ("redis", &mut both.redis)] {
        for l in lines {
            conn.send(l);
        }
        // PING's PONG is the last reply either sends.
        let mut got = Vec::new();
        loop {
            let f = conn.read();
            let last = f == cairn_protocol::Frame::Simple(b"PONG".to_vec());
            got.push(common::versus::show(&f));
            if last {
                break;
            }
            assert!(got.len() < lines.len(), "{name}: {got:?}");
        }
        replies.push(got);
    }
    assert_eq!(replies[0], replies[1]);
    assert!(replies[1].len() >= 5, "{:?}", replies[1]);
}

/// MONITOR: the same lines as redis-server's for one client's commands (times and ports
/// aside): arguments quoted as sdscatrepr quotes them, the database after the command,
/// EXEC's commands one by one before EXEC, admin commands left out; a second MONITOR is
/// ignored without a reply; RESET ends it.
#[test]
fn monitor_shows_the_lines_redis_shows() {
    let Some(redis) = common::versus::RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let commands = [
        "SET k va\"l\\ue",
        "GET k",
        "SELECT 1",
        "SET x 1",
        "MULTI",
        "INCR x",
        "EXEC",
        "CONFIG SET maxmemory-policy noeviction",
        "HELLO 2 SETNAME me",
        "NOSUCHCOMMAND",
        "GET",
        "PING",
    ];
    let mut shown = Vec::new();
    for addr in [cairn.addr, redis.addr] {
        let mut m = common::versus::Resp::connect(addr);
        assert_eq!(
            m.cmd("MONITOR"),
            cairn_protocol::Frame::Simple(b"OK".to_vec())
        );
        m.send("MONITOR");
        let mut c = common::versus::Resp::connect(addr);
        for line in commands {
            c.cmd(line);
        }
        let mut lines = Vec::new();
        loop {
            let cairn_protocol::Frame::Simple(l) = m.read() else {
                panic!("a monitor line");
            };
            let l = String::from_utf8(l).unwrap();
            // "<secs>.<usecs> [<db> 127.0.0.1:<port>] <args>"
            let (time, rest) = l.split_once(' ').unwrap();
            assert!(
                time.split_once('.').is_some_and(|(_, us)| us.len() == 6),
                "{l}"
            );
            let (client, args) = rest.split_once("] ").unwrap();
            let db = client.trim_start_matches('[').split(' ').next().unwrap();
            lines.push(format!("{db} {args}"));
            if args == "\"PING\"" {
                break;
            }
        }
        assert_eq!(
            m.cmd("RESET"),
            cairn_protocol::Frame::Simple(b"RESET".to_vec())
        );
        c.cmd("SET after reset");
        assert_eq!(
            m.cmd("PING"),
            cairn_protocol::Frame::Simple(b"PONG".to_vec())
        );
        shown.push(lines);
    }
    assert_eq!(shown[0], shown[1]);
    assert!(shown[1].len() >= 8, "{:?}", shown[1]);
}

/// CLIENT NO-TOUCH (Redis 7.2): the client's reads leave a key's idle time alone, TOUCH
/// still touches, and OFF (or RESET) restores normal access.
#[test]
fn client_no_touch_leaves_idle_times_alone() {
    let (_srv, mut c) = start();
    let idle = |c: &mut Connection| -> i64 { q(c, &["OBJECT", "IDLETIME", "k"]) };
    let _: () = q(&mut c, &["SET", "k", "v"]);
    std::thread::sleep(Duration::from_millis(2100));
    let _: () = q(&mut c, &["CLIENT", "NO-TOUCH", "ON"]);
    let flags: String = q(&mut c, &["CLIENT", "INFO"]);
    assert!(flags.contains("flags=T"), "{flags}");
    let _: String = q(&mut c, &["GET", "k"]);
    assert!(idle(&mut c) >= 2);
    let _: i64 = q(&mut c, &["TOUCH", "k"]);
    assert_eq!(idle(&mut c), 0);
    std::thread::sleep(Duration::from_millis(1100));
    let _: String = q(&mut c, &["GET", "k"]);
    assert!(idle(&mut c) >= 1);
    let _: () = q(&mut c, &["CLIENT", "NO-TOUCH", "OFF"]);
    let _: String = q(&mut c, &["GET", "k"]);
    assert_eq!(idle(&mut c), 0);
    assert_eq!(
        err(&mut c, &["CLIENT", "NO-TOUCH", "MAYBE"]),
        "ERR syntax error"
    );
}
