//! XPENDING, XCLAIM, XAUTOCLAIM and XINFO against the real binary: replies and errors held
//! against a real redis-server's (7.0), in RESP2 and RESP3; the fields Redis 7.2 added
//! (XINFO CONSUMERS' `inactive`, XINFO STREAM FULL's `active-time`) on Cairn alone; the
//! claims' journal replayed from the append-only file with the primary's delivery times
//! and counts; and the keyspace events claims fire (only `xgroup-createconsumer`).

mod common;

use common::events::keyevents;
use common::streams::{in_both_protocols, pairs};
use common::versus::RedisServer;
use common::{CairnProcess, q};
use redis::Value;

const CLAIMS: &str = "
    XADD c 1-0 f 1
    XADD c 2-0 f 2
    XADD c 3-0 f 3
    XADD c 4-0 f 4
    XADD c 5-0 f 5
    XADD c 6-0 f 6
    XGROUP CREATE c g 0
    XREADGROUP GROUP g alice COUNT 4 STREAMS c >
    # ids are claimed one after the other, a repeated one twice; JUSTID counts no delivery
    XCLAIM c g bob 0 1-0 1-0 JUSTID
    XCLAIM c g bob 0 1-0 1-0
    %XPENDING c g - + 10
    # FORCE makes the pending entry of a live entry (delivered once, then claimed)
    XCLAIM c g bob 0 5-0 FORCE
    XCLAIM c g bob 0 6-0 FORCE JUSTID
    XCLAIM c g bob 0 9-0 FORCE
    %XPENDING c g - + 10
    # a consumer is made only when it gets something
    XCLAIM c g newguy 99999999 1-0
    XCLAIM c g newguy 0 9-0 FORCE
    XINFO GROUPS c
    # the ids end at the first argument that is no id; the options follow
    XCLAIM c g bob 0 x
    XCLAIM c g bob 0 1-0 JUSTID 2-0
    XCLAIM c g bob 0 JUSTID
    XCLAIM c g bob 0 1-0 IDLE
    XCLAIM c g bob 0 1-0 IDLE x
    XCLAIM c g bob 0 1-0 TIME x
    XCLAIM c g bob 0 1-0 RETRYCOUNT x
    XCLAIM c g bob 0 1-0 LASTID x
    XCLAIM c g bob 0 1-0 LASTID +
    XCLAIM c g bob 0 1-0 FOO bar
    XCLAIM c g bob x 1-0
    XCLAIM c nog bob x 1-0
    XCLAIM nos g bob x 1-0
    XCLAIM c g bob 0
    # IDLE and TIME set the delivery time; a time past now, or before the epoch, is now
    XCLAIM c g bob 0 1-0 IDLE 100000 JUSTID
    %XPENDING c g IDLE 50000 - + 10
    XCLAIM c g bob 0 1-0 TIME 99999999999999 JUSTID
    XPENDING c g IDLE 50000 - + 10
    XCLAIM c g bob 0 2-0 TIME -5 JUSTID
    XCLAIM c g bob 0 3-0 IDLE -5 JUSTID RETRYCOUNT 0
    XCLAIM c g bob 0 4-0 RETRYCOUNT -1 JUSTID
    %XPENDING c g - + 10
    # min-idle-time: only entries idle that long are claimed
    XCLAIM c g carol 50000 1-0 2-0 3-0
    XCLAIM c g bob 0 4-0 IDLE 60000 JUSTID
    XCLAIM c g carol 50000 1-0 4-0 JUSTID
    XCLAIM c g carol -7 3-0
    %XPENDING c g - + 10
    XPENDING c g
    # LASTID moves the group's last id, only forwards
    XCLAIM c g bob 0 1-0 LASTID 5-0 JUSTID
    XINFO GROUPS c
    XCLAIM c g bob 0 1-0 LASTID 2-0 JUSTID
    XINFO GROUPS c
    # an entry deleted leaves the pending list, claimed by nobody
    XDEL c 1-0 3-0
    XCLAIM c g dave 0 1-0 3-0 LASTID 8-0
    XINFO GROUPS c
    XPENDING c g
    # XAUTOCLAIM: a cursor over the pending list; deleted entries count against COUNT
    XDEL c 2-0
    XAUTOCLAIM c g erin 0 0 COUNT 1
    XAUTOCLAIM c g erin 0 0 COUNT 1
    XAUTOCLAIM c g erin 0 (4 COUNT 1 JUSTID
    XAUTOCLAIM c g erin 0 + JUSTID
    XAUTOCLAIM c g erin 0 - COUNT 5 COUNT 1
    XAUTOCLAIM c g erin 0 0 JUSTID JUSTID
    XAUTOCLAIM c g erin 99999999 -
    XAUTOCLAIM c g frank 99999999 -
    XAUTOCLAIM c g frank -5 - JUSTID
    XINFO GROUPS c
    %XPENDING c g - + 10
    XPENDING c g
    XAUTOCLAIM c g erin 0 0 COUNT 0
    XAUTOCLAIM c g erin 0 0 COUNT -1
    XAUTOCLAIM c g erin 0 0 COUNT x
    XAUTOCLAIM c g erin 0 0 COUNT 576460752303423488
    XAUTOCLAIM c g erin 0 0 COUNT 9223372036854775807
    XAUTOCLAIM c g erin 0 0 COUNT
    XAUTOCLAIM c g erin 0 0 FOO
    XAUTOCLAIM c g erin x 0
    XAUTOCLAIM c g erin 0 x
    XAUTOCLAIM c g erin 0 (18446744073709551615-18446744073709551615
    XAUTOCLAIM nos g erin 0 0 COUNT 0
    XAUTOCLAIM nos g erin 0 0
    XAUTOCLAIM c nog erin 0 0
    XAUTOCLAIM c g erin 0
    SET str x
    XCLAIM str g c 0 1-0
    XCLAIM str g c x 1-0
    XAUTOCLAIM str g c 0 0
    XAUTOCLAIM str g c 0 x
";

#[test]
fn claims_answer_as_redis_does() {
    in_both_protocols(&[CLAIMS]);
}

const PENDING_AND_INFO: &str = "
    XADD p 1-0 f 1
    XADD p 2-0 f 2
    XADD p 3-0 f 3
    XADD p 4-0 f 4
    XADD p 5-0 f 5
    XADD p 6-0 f 6
    XGROUP CREATE p g 0
    XGROUP CREATE p empty $
    XREADGROUP GROUP g alice COUNT 3 STREAMS p >
    XREADGROUP GROUP g bob STREAMS p >
    XGROUP CREATECONSUMER p g idle
    # the summary: count, lowest and highest ids, each consumer's count (a bulk string)
    XPENDING p g
    XPENDING p empty
    XPENDING p empty - + 10
    %XPENDING p g - + 10
    %XPENDING p g - + 2
    %XPENDING p g (2 (5 10
    %XPENDING p g 3 3 10
    %XPENDING p g 3 + 10 bob
    XPENDING p g - + 10 idle
    XPENDING p g - + 10 nobody
    %XPENDING p g - + 10 bob extra
    %XPENDING p g - + 10 bob extra more
    %XPENDING p g IDLE 0 - + 10 bob
    %XPENDING p g idle -5 - + 10
    XPENDING p g IDLE 99999999 - + 10
    XPENDING p g + - 10
    XPENDING p g - + 0
    XPENDING p g - + -3
    XPENDING p g IDLE 0 - + 10 bob extra
    XPENDING p g IDLE 0 - +
    XPENDING p g IDLE 0 - + x
    XPENDING p g IDLE x - + 10
    XPENDING p g - + 9223372036854775808
    XPENDING p g x + 10
    XPENDING p g - x 10
    XPENDING p g (18446744073709551615-18446744073709551615 + 10
    XPENDING p g - (0-0 10
    XPENDING p g - +
    XPENDING p g -
    XPENDING p g a b c d e f g
    XPENDING p nog x + 10
    XPENDING p nog - + 10
    XPENDING p nog
    XPENDING nos g
    XPENDING p
    # XINFO GROUPS and STREAM, and lag: unknown past a deletion, negative past the count
    XINFO GROUPS p
    %XINFO STREAM p
    XGROUP CREATE p ahead 0 ENTRIESREAD 100
    XINFO GROUPS p
    XDEL p 6-0
    XINFO GROUPS p
    %XINFO STREAM p
    XDEL p 1-0
    %XINFO STREAM p
    # FULL without consumers: the same fields in Redis 7.0 and 7.2
    XADD q 1-0 a 1
    XADD q 2-0 b 2 c 3
    XADD q 3-0 d 4
    XADD q 4-0 e 5
    XADD q 5-0 f 6
    XADD q 6-0 f 7
    XADD q 7-0 f 8
    XADD q 8-0 f 9
    XADD q 9-0 f 10
    XADD q 10-0 f 11
    XADD q 11-0 f 12
    XGROUP CREATE q g1 0
    XGROUP CREATE q g2 2-0 ENTRIESREAD 2
    %XINFO STREAM q FULL
    %XINFO STREAM q full COUNT 2
    %XINFO STREAM q FULL COUNT 0
    %XINFO STREAM q FULL COUNT -5
    XINFO STREAM q FULL COUNT x
    XINFO STREAM q FULL FOO
    XINFO STREAM q FULL COUNT
    XINFO STREAM q FOO
    XINFO stream q COUNT 1
    XINFO STREAM q FULL COUNT 1 FOO
    XINFO STREAM q FULL COUNT 1 COUNT 2
    XINFO STREAM nos FOO
    XINFO CONSUMERS q nog
    XINFO CONSUMERS nos g
    XINFO CONSUMERS q
    XINFO CONSUMERS q g1 extra
    XINFO GROUPS nos
    XINFO GROUPS q extra
    XINFO STREAM
    XINFO
    XINFO FOO
    XINFO FOO bar
    XINFO HELP extra
    # an empty stream: no first or last entry
    XGROUP CREATE e g $ MKSTREAM
    %XINFO STREAM e
    %XINFO STREAM e FULL
    XINFO GROUPS e
    XINFO CONSUMERS e g
    XPENDING e g
    SET str x
    XINFO STREAM str
    XINFO STREAM str FULL
    XINFO GROUPS str
    XINFO CONSUMERS str g
    XPENDING str g
    XPENDING str g - + x
";

#[test]
fn xpending_and_xinfo_answer_as_redis_does() {
    in_both_protocols(&[PENDING_AND_INFO]);
}

// ---------------------------------------------------------------------------------------
// Redis 7.2's fields, on Cairn alone
// ---------------------------------------------------------------------------------------

/// The fields of `v`, which must be exactly `names`, in order.
fn fields(v: &Value, names: &[&str]) -> Vec<Value> {
    let p = pairs(v);
    let got: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(got, names, "the fields of {v:?}");
    p.into_iter().map(|(_, v)| v).collect()
}

fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => panic!("an array, not {other:?}"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("an integer, not {other:?}"),
    }
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// XINFO CONSUMERS' `idle` (since the last attempt) and `inactive` (since the last
/// attempt that got something, -1 if none did), and FULL's `seen-time` and
/// `active-time`, in RESP2 and RESP3.
#[test]
fn xinfo_reports_seen_and_active_times_as_redis_7_2_does() {
    let srv = CairnProcess::start(&[]);
    for url in [srv.url(), srv.url_resp3()] {
        let mut c = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .expect("connect");
        let _: () = q(&mut c, &["FLUSHALL"]);
        for id in ["1-0", "2-0", "3-0"] {
            let _: String = q(&mut c, &["XADD", "s", id, "f", "v"]);
        }
        let _: () = q(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
        let _: Value = q(
            &mut c,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "alice",
                "COUNT",
                "2",
                "STREAMS",
                "s",
                ">",
            ],
        );
        let _: i64 = q(&mut c, &["XGROUP", "CREATECONSUMER", "s", "g", "dave"]);
        // The server reads its clock once per batch: a second of slack.
        let before = now_ms() - 1000;
        let got: Vec<String> = q(&mut c, &["XCLAIM", "s", "g", "bob", "0", "1-0", "JUSTID"]);
        assert_eq!(got, ["1-0"]);
        // Nothing claimed: no consumer made.
        let got: Vec<String> = q(&mut c, &["XCLAIM", "s", "g", "carol", "0", "3-0"]);
        assert!(got.is_empty());
        std::thread::sleep(std::time::Duration::from_millis(300));
        // An attempt that gets nothing: seen now, still active 300 ms ago.
        let got: Vec<String> = q(&mut c, &["XCLAIM", "s", "g", "bob", "99999999", "2-0"]);
        assert!(got.is_empty());

        let consumers = items(&q(&mut c, &["XINFO", "CONSUMERS", "s", "g"]));
        assert_eq!(consumers.len(), 3, "{consumers:?}");
        if url == srv.url_resp3() {
            assert!(matches!(consumers[0], Value::Map(_)), "{consumers:?}");
        }
        let names = ["name", "pending", "idle", "inactive"];
        let f: Vec<Vec<Value>> = consumers.iter().map(|v| fields(v, &names)).collect();
        assert_eq!(
            (&f[0][0], &f[1][0], &f[2][0]),
            (&bulk("alice"), &bulk("bob"), &bulk("dave"))
        );
        assert_eq!((int(&f[0][1]), int(&f[1][1]), int(&f[2][1])), (1, 1, 0));
        let (bob_idle, bob_inactive) = (int(&f[1][2]), int(&f[1][3]));
        assert!(bob_idle >= 0, "bob's idle {bob_idle}");
        assert!(
            bob_inactive - bob_idle >= 290,
            "bob was seen 300 ms after he last claimed: idle {bob_idle}, inactive {bob_inactive}"
        );
        assert!(int(&f[0][3]) >= 290, "alice read 300 ms ago: {:?}", f[0]);
        assert_eq!(int(&f[2][3]), -1, "dave never got anything");

        let info = q::<Value>(&mut c, &["XINFO", "STREAM", "s", "FULL"]);
        let top = fields(
            &info,
            &[
                "length",
                "radix-tree-keys",
                "radix-tree-nodes",
                "last-generated-id",
                "max-deleted-entry-id",
                "entries-added",
                "recorded-first-entry-id",
                "entries",
                "groups",
            ],
        );
        let groups = items(&top[8]);
        let g = fields(
            &groups[0],
            &[
                "name",
                "last-delivered-id",
                "entries-read",
                "lag",
                "pel-count",
                "pending",
                "consumers",
            ],
        );
        assert_eq!(
            (&g[0], &g[1], int(&g[2]), int(&g[3]), int(&g[4])),
            (&bulk("g"), &bulk("2-0"), 2, 1, 2)
        );
        let pending = items(&g[5]);
        assert_eq!(items(&pending[0])[..2], [bulk("1-0"), bulk("bob")]);
        assert!(int(&items(&pending[0])[2]) >= before);
        assert_eq!(
            items(&pending[0])[3],
            Value::Int(1),
            "JUSTID counts no delivery"
        );
        let names = ["name", "seen-time", "active-time", "pel-count", "pending"];
        let cs: Vec<Vec<Value>> = items(&g[6]).iter().map(|v| fields(v, &names)).collect();
        let bob = &cs[1];
        assert_eq!(bob[0], bulk("bob"));
        assert!(
            int(&bob[1]) - int(&bob[2]) >= 290,
            "seen after active: {bob:?}"
        );
        assert!(int(&bob[2]) >= before, "{bob:?}");
        assert_eq!(
            items(&bob[4]),
            [Value::Array(vec![
                bulk("1-0"),
                items(&pending[0])[2].clone(),
                Value::Int(1)
            ])]
        );
        assert_eq!(cs[2][0], bulk("dave"));
        assert_eq!(cs[2][2], Value::Int(-1), "dave never got anything");
        assert!(int(&cs[2][1]) >= before, "{:?}", cs[2]);
    }
}

#[test]
fn xinfo_help_lists_the_subcommands() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    let help: Vec<String> = q(&mut c, &["XINFO", "HELP"]);
    assert_eq!(
        help[0],
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    );
    for sub in [
        "CONSUMERS <key> <groupname>",
        "GROUPS <key>",
        "STREAM <key> [FULL [COUNT <count>]",
    ] {
        assert!(help.iter().any(|l| l == sub), "{sub} in {help:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The journal, and events
// ---------------------------------------------------------------------------------------

/// What claims leave behind, as a server reports it: each group's pending entries with
/// their delivery times and counts (XINFO STREAM FULL), the summaries, the groups, and
/// who owns what (consumers' own times are those of the replay).
fn claim_state(c: &mut redis::Connection) -> Vec<Value> {
    let info: Value = q(c, &["XINFO", "STREAM", "s", "FULL", "COUNT", "0"]);
    let mut out = Vec::new();
    for g in items(&pairs(&info)[8].1) {
        let p = pairs(&g);
        out.push(p[0].1.clone());
        out.push(p[5].1.clone());
        for consumer in items(&p[6].1) {
            let cp = pairs(&consumer);
            out.extend([cp[0].1.clone(), cp[3].1.clone(), cp[4].1.clone()]);
        }
    }
    out.push(q(c, &["XPENDING", "s", "g"]));
    out.push(q(c, &["XINFO", "GROUPS", "s"]));
    out.push(q(c, &["XRANGE", "s", "-", "+"]));
    out
}

/// XCLAIM and XAUTOCLAIM journal their final state (times, counts, the consumer made,
/// deleted entries dropped, LASTID alone): the append-only file brings back exactly the
/// pending lists the primary had.
#[test]
fn claims_replay_from_the_aof_with_their_times_and_counts() {
    let dir = std::env::temp_dir().join(format!("cairn-claims-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display().to_string();
    let args = [
        "--dir",
        d.as_str(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let before;
    {
        let srv = CairnProcess::start(&args);
        let mut c = srv.client();
        for line in [
            "XADD s 1-0 f 1",
            "XADD s 2-0 f 2",
            "XADD s 3-0 f 3",
            "XADD s 4-0 f 4",
            "XADD s 5-0 f 5",
            "XADD s 6-0 f 6",
            "XADD s 7-0 f 7",
            "XGROUP CREATE s g 0",
            "XGROUP CREATE s h 0",
            "XREADGROUP GROUP g alice COUNT 5 STREAMS s >",
            "XCLAIM s g bob 0 1-0 TIME 1000 RETRYCOUNT 7",
            "XCLAIM s g bob 0 2-0 IDLE 5000 JUSTID",
            "XCLAIM s g bob 0 6-0 FORCE",
            "XCLAIM s g bob 0 7-0 FORCE JUSTID",
            "XDEL s 3-0",
            "XCLAIM s g carol 0 3-0 LASTID 5-0",
            "XCLAIM s g carol 0 9-0 LASTID 6-0",
            "XCLAIM s h carol 0 9-0 LASTID 4-0",
            "XAUTOCLAIM s g dave 0 2-0 COUNT 1",
            "XAUTOCLAIM s g dave 0 2-0 COUNT 1 JUSTID",
            "XDEL s 4-0",
            "XAUTOCLAIM s g erin 0 4-0 COUNT 2",
            // Nothing claimed (1-0, delivered at 1 s past the epoch, is not looked at).
            "XCLAIM s g bob 99999999 5-0",
            "XAUTOCLAIM s g bob 99999999 2-0",
        ] {
            let words: Vec<&str> = line.split_whitespace().collect();
            let _: Value = q(&mut c, &words);
        }
        before = claim_state(&mut c);
        // Group g's pending entries: 1-0 as XCLAIM's TIME and RETRYCOUNT left it.
        let want = Value::Array(vec![
            bulk("1-0"),
            bulk("bob"),
            Value::Int(1000),
            Value::Int(7),
        ]);
        assert!(items(&before[1]).contains(&want), "{before:?}");
    }
    let srv = CairnProcess::start(&args);
    let mut c = srv.client();
    assert_eq!(claim_state(&mut c), before);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Claims fire no event of their own: only `xgroup-createconsumer` when they make one.
#[test]
fn claim_events_are_redis_s() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let commands: &[&[&str]] = &[
        &["XADD", "s", "1-0", "f", "v"],
        &["XADD", "s", "2-0", "f", "v"],
        &["XADD", "s", "3-0", "f", "v"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ],
        &["XCLAIM", "s", "g", "bob", "0", "1-0"],
        &["XCLAIM", "s", "g", "bob", "0", "1-0", "JUSTID"],
        &["XCLAIM", "s", "g", "carol", "99999999", "2-0"],
        &["XCLAIM", "s", "g", "carol", "0", "9-0", "FORCE"],
        &[
            "XCLAIM", "s", "g", "carol", "0", "3-0", "FORCE", "LASTID", "5-0",
        ],
        &["XCLAIM", "s", "g", "dave", "0", "3-0", "LASTID", "6-0"],
        &["XAUTOCLAIM", "s", "g", "erin", "0", "0", "COUNT", "1"],
        &["XAUTOCLAIM", "s", "g", "frank", "99999999", "0"],
        &["XDEL", "s", "2-0"],
        &["XAUTOCLAIM", "s", "g", "frank", "0", "0", "JUSTID"],
        &["XCLAIM", "nos", "g", "bob", "0", "1-0"],
        &["XAUTOCLAIM", "s", "nog", "bob", "0", "0"],
        &["XPENDING", "s", "g"],
        &["XINFO", "STREAM", "s"],
    ];
    let from_redis = keyevents(|| redis.client(), commands);
    let from_cairn = keyevents(|| cairn.client(), commands);
    assert!(
        from_redis
            .iter()
            .filter(|(e, _)| e == "xgroup-createconsumer")
            .count()
            >= 4,
        "{from_redis:?}"
    );
    assert_eq!(from_cairn, from_redis);
}
