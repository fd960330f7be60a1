//! Streams against the real binary: every command's replies and errors held against a real
//! redis-server's (7.0), byte for byte, in RESP2 and RESP3; blocking reads played on both
//! servers with the same clients and their replies compared; keyspace events; DUMP and
//! RESTORE between the two. Where Redis 7.2 added fields (XINFO CONSUMERS' `inactive`,
//! XINFO STREAM FULL's consumer `active-time`), the replies are checked against Cairn alone,
//! for the fields Redis 7.0 documents.
//!
//! Ids are explicit wherever a reply depends on them; `*` only where the shape is checked or
//! where the last id is in the future (then `*` is the last id's next sequence).

mod common;

use std::net::SocketAddr;

use cairn_protocol::Frame;
use common::events::{blocked_clients, keyevents};
use common::streams::{Read, in_both_protocols, pairs};
use common::versus::{RedisServer, Resp, show};
use common::{CairnProcess, q, qb, wait_until};
use redis::{Connection, Value};

// ---------------------------------------------------------------------------------------
// Scripts, and what varies between two servers
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// XADD, XLEN, XRANGE, XREVRANGE, XDEL
// ---------------------------------------------------------------------------------------

const ADD: &str = "
    # explicit ids, incomplete ones (the sequence is 0) and partly automatic ones
    XADD s 1-1 f v
    XADD s 1-1 f v
    XADD s 1-0 f v
    XADD s 0-0 f v
    XADD fresh 0-0 f v
    EXISTS fresh
    XADD s 1-* a b
    XADD s 2-* a b
    XADD s 2 c d
    XADD s 3 c d
    XADD s 008-01 e f
    XADD s 9-0 f v f w
    # ids that do not parse
    XADD s abc f v
    XADD s 1-x f v
    XADD s 10- f v
    XADD s -10 f v
    XADD s 10-1-1 f v
    XADD s 1e3 f v
    XADD s 0x10 f v
    XADD s 18446744073709551616-0 f v
    XADD s 10-18446744073709551616 f v
    # a sequence at its end cannot grow within its millisecond
    XADD s 10-18446744073709551615 f v
    XADD s 10-* f v
    XADD s 11-* f v
    # nor can the last possible id
    XADD ex 18446744073709551615-18446744073709551615 f v
    XADD ex * f v
    XADD ex 18446744073709551615-* f v
    XADD ex2 18446744073709551615-5 f v
    XADD ex2 18446744073709551615-* f v
    XADD ex2 * f v
    # `*` takes the clock's millisecond, or the next sequence of a last id in the future
    ?XADD auto * f v
    XADD auto 99-* f v
    XADD future 99999999999999-0 f v
    XADD future * f v
    XADD future 99999999999999-* f v
    # NOMKSTREAM, and the trimming options' errors
    XADD nos NOMKSTREAM 1-0 f v
    XADD nos NOMKSTREAM * f v
    XADD nos MAXLEN 1 NOMKSTREAM 1-0 f v
    EXISTS nos
    XADD s NOMKSTREAM 12-0 f v
    XADD s NOMKSTREAM NOMKSTREAM 13-0 f v
    XADD s MAXLEN -1 14-0 f v
    XADD s MAXLEN x 14-0 f v
    XADD s MAXLEN 9223372036854775808 14-0 f v
    XADD s MAXLEN 5 LIMIT 10 14-0 f v
    XADD s LIMIT 10 14-0 f v
    XADD s MAXLEN ~ 5 LIMIT -1 14-0 f v
    XADD s MAXLEN ~ 5 LIMIT x 14-0 f v
    XADD s MAXLEN 1 MINID 1 14-0 f v
    XADD s MINID x 14-0 f v
    XADD s MINID -1 14-0 f v
    XADD s FOO 14-0 f v
    # fields come in pairs
    XADD s 14-0 f
    XADD s 14-0 f v g
    XADD s 14-0
    XADD s
    XADD
    XLEN s
    XLEN nos
    XLEN
    XLEN s nos
    XRANGE s - +
    TYPE s
    OBJECT ENCODING s
    # other types
    SET str x
    XADD str 1-0 f v
    XLEN str
    XRANGE str - +
    XREVRANGE str + -
    XDEL str 1-0
    LPUSH s x
    GET s
";

const RANGE: &str = "
    XADD r 1-0 a 1
    XADD r 1-1 b 2
    XADD r 2-0 c 3
    XADD r 2-5 d 4
    XADD r 3-0 e 5 f 6
    XRANGE r - +
    XRANGE r 1 2
    XRANGE r 1-1 2-0
    XRANGE r (1-0 (3-0
    XRANGE r (1 +
    XRANGE r - (2
    XRANGE r (0 +
    XRANGE r (2-5 (2-5
    XRANGE r 2-5 2-5
    XRANGE r 3 1
    XRANGE r 0 0
    XRANGE r - + COUNT 2
    XRANGE r - + COUNT 0
    XRANGE r - + COUNT -1
    XRANGE r - + COUNT 1 COUNT 3
    XRANGE r - + COUNT 9223372036854775807
    XRANGE r - + COUNT 9223372036854775808
    XRANGE r - + COUNT x
    XRANGE r - + COUNT
    XRANGE r - + FOO 1
    XRANGE r x +
    XRANGE r ( +
    XRANGE r (- +
    XRANGE r - (+
    XRANGE r 1-0-0 +
    XRANGE r 1- +
    XRANGE r (18446744073709551615-18446744073709551615 +
    XRANGE r - (0-0
    XRANGE nos - +
    XRANGE r -
    XREVRANGE r + -
    XREVRANGE r 2 1
    XREVRANGE r (3 (1-0
    XREVRANGE r + - COUNT 2
    XREVRANGE r + - COUNT 0
    XREVRANGE r + (2 COUNT 10
    XREVRANGE r (3 (3
    XREVRANGE r (0 -
    XREVRANGE r - +
    XREVRANGE nos + -
    XREVRANGE r (- -
    XREVRANGE r + (18446744073709551615-18446744073709551615
    # XDEL checks every id before it deletes any
    XDEL r 1-1 9-9 1-1
    XDEL r 2
    XDEL r x
    XDEL r 2-5 x
    XRANGE r - +
    XDEL nos 1-0
    XDEL r
    XLEN r
    # a stream emptied by XDEL stays, with its last id
    XDEL r 1-0 2-5 3-0
    EXISTS r
    XLEN r
    XRANGE r - +
    XINFO STREAM r
    XADD r 3-0 f v
    XADD r 3-1 f v
";

#[test]
fn adds_ranges_and_deletes_answer_as_redis_does() {
    in_both_protocols(&[ADD, RANGE]);
}

// ---------------------------------------------------------------------------------------
// Trimming and XSETID
// ---------------------------------------------------------------------------------------

const TRIM: &str = "
    XADD t 1-0 a 1
    XADD t 2-0 a 2
    XADD t 3-0 a 3
    XADD t 4-0 a 4
    XADD t 5-0 a 5
    XTRIM t MAXLEN 4
    XTRIM t MAXLEN = 4
    XTRIM t MAXLEN ~ 1
    XTRIM t MINID 3
    XTRIM t MINID = 3-1
    XTRIM t MINID ~ 9
    XRANGE t - +
    EXISTS t
    XINFO STREAM t
    XTRIM t MINID (4
    XTRIM t MAXLEN 1 LIMIT 1
    XTRIM t MAXLEN ~ 1 LIMIT 1
    XTRIM t MAXLEN ~ 1 LIMIT -1
    XTRIM t MAXLEN
    XTRIM t
    XTRIM t FOO 1
    XTRIM t MAXLEN -1
    XTRIM t MAXLEN x
    XTRIM t MAXLEN 1 MINID 1
    XTRIM t MINID x
    XTRIM t MAXLEN 1 EXTRA
    XTRIM t LIMIT 1
    XTRIM nos MAXLEN 0
    EXISTS nos
    # XADD trims after it adds
    XADD a 1-0 f v
    XADD a 2-0 f v
    XADD a MAXLEN 2 3-0 f v
    XRANGE a - +
    XADD a MAXLEN = 1 4-0 f v
    XRANGE a - +
    XADD a MAXLEN ~ 1 5-0 f v
    XLEN a
    XADD a MINID 5 6-0 f v
    XRANGE a - +
    XADD a MINID = 6-0 7-0 f v
    XADD a MINID ~ 0 8-0 f v
    XADD a MAXLEN ~ 1 LIMIT 0 9-0 f v
    XLEN a
    XADD a MAXLEN 0 10-0 f v
    XLEN a
    EXISTS a
    XINFO STREAM a
    XADD b MINID 5 1-0 f v
    XADD b MAXLEN ~ 0 LIMIT 0 2-0 f v
    EXISTS b
    XINFO STREAM b
    # XSETID
    XADD x 5-0 f v
    XSETID x 4-0
    XSETID x 5-0
    XSETID x 6-0
    XINFO STREAM x
    XADD x 6-0 f v
    XADD x 6-* f v
    XSETID x 10-0 ENTRIESADDED 0
    XSETID x 10-0 ENTRIESADDED -1
    XSETID x 10-0 ENTRIESADDED x
    XSETID x 10-0 ENTRIESADDED 9223372036854775808
    XSETID x 10-0 MAXDELETEDID 11-0
    XSETID x 10-0 MAXDELETEDID x
    XSETID x 6-0 ENTRIESADDED 2 MAXDELETEDID 7-0
    XSETID x 10-0 ENTRIESADDED 5 MAXDELETEDID 3
    XINFO STREAM x
    XSETID x 10-0 ENTRIESADDED 9223372036854775807 MAXDELETEDID 10-0
    XINFO STREAM x
    XSETID x 10-0 FOO
    XSETID x 10-0 MAXDELETEDID
    XSETID x 10-0 ENTRIESADDED
    XSETID x x
    XSETID x
    XSETID nos 1-0
    XADD x 10-0 f v
    XADD x 10-* f v
    # an empty stream takes any last id, even one below its old one
    XADD e 5-0 f v
    XDEL e 5-0
    XSETID e 1-0
    XINFO STREAM e
    XADD e 2-0 f v
    XSETID e 0-0
    XSETID e 3-0 ENTRIESADDED 0
    SET str x
    XSETID str 1-0
    XTRIM str MAXLEN 0
";

/// A stream of 350 entries (four nodes of at most 100, the default), trimmed by whole
/// nodes (`~`, LIMIT) and exactly, with a consumer group's lag along the way.
fn long_script() -> String {
    let mut s = String::new();
    for i in 1..=350 {
        if i % 50 == 0 {
            s.push_str(&format!("XADD L {i}-0 other {i} more x\n"));
        } else {
            s.push_str(&format!("XADD L {i}-0 f v{i}\n"));
        }
    }
    s.push_str(
        "
        XLEN L
        %XINFO STREAM L
        XGROUP CREATE L g 0
        XREADGROUP GROUP g alice COUNT 120 STREAMS L >
        XINFO GROUPS L
        XTRIM L MAXLEN ~ 300
        XLEN L
        XTRIM L MAXLEN ~ 249
        XLEN L
        XRANGE L - + COUNT 2
        XINFO GROUPS L
        XTRIM L MAXLEN ~ 0 LIMIT 99
        XTRIM L MAXLEN ~ 0 LIMIT 100
        XINFO GROUPS L
        XTRIM L MAXLEN ~ 10 LIMIT 150
        XLEN L
        XINFO STREAM L
        XINFO GROUPS L
        XPENDING L g
        XTRIM L MINID ~ 290
        XTRIM L MINID ~ 320 LIMIT 10
        XTRIM L MINID = 320
        XRANGE L - + COUNT 1
        XADD L MAXLEN ~ 5 351-0 f v
        XLEN L
        XADD L MAXLEN 5 352-0 f v
        XRANGE L - +
        XDEL L 349-0 350-0
        XINFO STREAM L
        XRANGE L - +
        XREVRANGE L + - COUNT 2
        XINFO GROUPS L
        XAUTOCLAIM L g bob 0 0 COUNT 5 JUSTID
        XAUTOCLAIM L g bob 0 0 COUNT 200 JUSTID
        XPENDING L g
        ",
    );
    // XADD trims by whole nodes too.
    for i in 1..=250 {
        s.push_str(&format!("XADD M {i}-0 f v\n"));
    }
    s.push_str(
        "
        XADD M MAXLEN ~ 10 LIMIT 99 251-0 f v
        XLEN M
        XADD M MAXLEN ~ 10 LIMIT 100 252-0 f v
        XLEN M
        XRANGE M - + COUNT 1
        XADD M MINID ~ 250 253-0 f v
        XLEN M
        XADD M MINID 250 254-0 f v
        XLEN M
        XINFO STREAM M
        ",
    );
    s
}

#[test]
fn trimming_and_xsetid_answer_as_redis_does() {
    in_both_protocols(&[TRIM, long_script().as_str()]);
}

// ---------------------------------------------------------------------------------------
// XREAD
// ---------------------------------------------------------------------------------------

const READ: &str = "
    XADD a 1-0 f 1
    XADD a 2-0 f 2
    XADD a 3-0 f 3
    XADD b 1-5 g 1
    XREAD STREAMS a 0
    XREAD STREAMS a b 1 0
    XREAD COUNT 1 STREAMS a b 1 0
    XREAD COUNT 0 STREAMS a 0
    XREAD COUNT -1 STREAMS a 0
    XREAD COUNT 1 COUNT 2 STREAMS a 0
    XREAD STREAMS a 2
    XREAD STREAMS a 3
    XREAD STREAMS a $
    XREAD STREAMS a b $ 1-5
    XREAD STREAMS a a 0 2
    # missing keys answer nothing, and no reply at all when nothing answers
    XREAD STREAMS nos 0
    XREAD STREAMS nos a 0 2
    XREAD STREAMS nos $
    # (`+`, Redis 7.4's last entry, is held against Cairn alone below: 7.0 refuses it)
    XREAD STREAMS a b 0
    XREAD STREAMS a b c 0 0
    XREAD STREAMS a
    XREAD STREAMS
    XREAD a 0
    XREAD COUNT 1
    XREAD
    XREAD COUNT x STREAMS a 0
    XREAD STREAMS a x
    XREAD STREAMS a >
    XREAD STREAMS a (1
    XREAD STREAMS a -
    XREAD STREAMS a 1-0-0
    XREAD FOO 1 STREAMS a 0
    XREAD NOACK STREAMS a 0
    XREAD BLOCK -1 STREAMS a 0
    XREAD BLOCK x STREAMS a 0
    # BLOCK with something to read answers at once, or times out
    XREAD BLOCK 0 STREAMS a 0
    XREAD COUNT 1 BLOCK 0 STREAMS a b 0 0
    XREAD BLOCK 10 STREAMS nos $
    XREAD BLOCK 10 STREAMS a 3-0
    MULTI
    XREAD BLOCK 0 STREAMS nos $
    XREAD BLOCK 0 STREAMS a 2
    EXEC
    XADD e 1-0 f v
    XDEL e 1-0
    XREAD STREAMS e 0
    SET str x
    XREAD STREAMS str 0
    XREAD STREAMS a str 0 0
    XREAD STREAMS str $
";

#[test]
fn xread_answers_as_redis_does() {
    in_both_protocols(&[READ]);
}

/// Redis 7.4's `+`: the last entry of each stream, nothing from an empty or missing one,
/// and (with BLOCK) the next entry when there is none. XREADGROUP refuses it.
#[test]
fn xread_plus_reads_the_last_entry_as_redis_7_4_does() {
    let srv = CairnProcess::start(&[]);
    let mut c = srv.client();
    for (k, id) in [("a", "1-0"), ("a", "2-0"), ("b", "5-5")] {
        let _: String = q(&mut c, &["XADD", k, id, "f", id]);
    }
    let _: () = q(&mut c, &["XGROUP", "CREATE", "e", "g", "$", "MKSTREAM"]);
    let got: Read = q(
        &mut c,
        &[
            "XREAD", "COUNT", "5", "STREAMS", "a", "b", "e", "none", "+", "+", "+", "+",
        ],
    );
    let entry = |id: &str| vec![(id.to_string(), vec!["f".to_string(), id.to_string()])];
    assert_eq!(
        got,
        vec![
            ("a".to_string(), entry("2-0")),
            ("b".to_string(), entry("5-5"))
        ]
    );
    let blocked = common::events::in_thread(&srv, &["XREAD", "BLOCK", "0", "STREAMS", "e", "+"]);
    common::events::wait_blocked(&mut c, 1);
    let _: String = q(&mut c, &["XADD", "e", "9-9", "f", "9-9"]);
    let got: Read = redis::from_redis_value(blocked.join().unwrap().unwrap()).unwrap();
    assert_eq!(got, vec![("e".to_string(), entry("9-9"))]);
    let e = common::err(
        &mut c,
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "e", "+"],
    );
    assert_eq!(
        e,
        "ERR Invalid stream ID specified as stream command argument"
    );
}

// ---------------------------------------------------------------------------------------
// Consumer groups: XGROUP, XREADGROUP, XACK, XPENDING
// ---------------------------------------------------------------------------------------

const GROUPS: &str = "
    XADD s 1-0 f 1
    XADD s 2-0 f 2
    XADD s 3-0 f 3
    XADD s 4-0 f 4
    XGROUP CREATE s g 0
    XGROUP CREATE s g 0
    XGROUP CREATE s tail $
    XGROUP CREATE s mid 2-0 ENTRIESREAD 2
    XGROUP CREATE s unset 0 ENTRIESREAD -1
    XGROUP CREATE s ahead 0 ENTRIESREAD 10
    XGROUP CREATE s future 99-0
    XGROUP CREATE s twice 0 MKSTREAM MKSTREAM
    XGROUP CREATE s bad 0 ENTRIESREAD -2
    XGROUP CREATE s bad 0 ENTRIESREAD x
    XGROUP CREATE s bad x
    XGROUP CREATE s bad >
    XGROUP CREATE s bad +
    XGROUP CREATE s bad (1
    XGROUP CREATE s bad 0 FOO
    XGROUP CREATE s bad
    XGROUP CREATE nos g 0
    XGROUP CREATE made g $ MKSTREAM
    XGROUP CREATE made2 g 5-0 MKSTREAM ENTRIESREAD 3
    TYPE made
    XLEN made
    XINFO STREAM made2
    XINFO GROUPS made2
    XPENDING made g
    XINFO GROUPS s
    XGROUP
    XGROUP FOO s g
    XGROUP SETID s mid 3-0
    XGROUP SETID s tail 0 ENTRIESREAD 0
    XGROUP SETID s unset $ ENTRIESREAD 4
    XGROUP SETID s nog 0
    XGROUP SETID nos g 0
    XGROUP SETID s g x
    XGROUP SETID s g 0 ENTRIESREAD -5
    XGROUP SETID s g 0 FOO
    XGROUP SETID s g
    XINFO GROUPS s
    XGROUP CREATECONSUMER s g alice
    XGROUP CREATECONSUMER s g alice
    XGROUP CREATECONSUMER s nog alice
    XGROUP CREATECONSUMER nos g alice
    XGROUP CREATECONSUMER s g
    # new entries, then each consumer's own history
    XREADGROUP GROUP g alice COUNT 2 STREAMS s >
    XREADGROUP GROUP g bob STREAMS s >
    XREADGROUP GROUP g bob STREAMS s >
    XREADGROUP GROUP g alice STREAMS s 0
    XREADGROUP GROUP g alice STREAMS s 1
    XREADGROUP GROUP g alice COUNT 1 STREAMS s 0
    XREADGROUP GROUP g alice COUNT 0 STREAMS s 0
    XREADGROUP GROUP g carol STREAMS s 0
    XREADGROUP GROUP g alice BLOCK 0 STREAMS s 0
    XREADGROUP GROUP g alice STREAMS s s > >
    XINFO GROUPS s
    XPENDING s g
    %XPENDING s g - + 10
    %XPENDING s g - + 10 alice
    %XPENDING s g (1 + 10 bob
    %XPENDING s g - (4 2
    %XPENDING s g IDLE 0 - + 10 bob
    %XPENDING s g - + 10 alice extra
    XPENDING s g IDLE 99999999 - + 10
    XPENDING s g - + 0
    XPENDING s g - + -1
    XPENDING s g - + 10 nobody
    XPENDING s nog
    XPENDING nos g
    XPENDING s g - +
    XPENDING s g - + x
    XPENDING s g x + 10
    XPENDING s g IDLE x - + 10
    XPENDING s g IDLE 0
    XPENDING s
    XACK s g 1-0 9-0 1-0
    XACK s g 1
    XACK s g x
    XACK s g 2-0 x
    XACK s nog 2-0
    XACK nos g 2-0
    XACK s g
    XPENDING s g
    XREADGROUP GROUP nog alice STREAMS s >
    XREADGROUP GROUP g alice STREAMS nos >
    XREADGROUP GROUP g alice STREAMS s nos > >
    XREADGROUP GROUP g alice STREAMS s $
    XREADGROUP GROUP g alice STREAMS s +
    XREADGROUP GROUP g alice STREAMS s x
    XREADGROUP GROUP g STREAMS s >
    XREADGROUP GROUP g alice
    XREADGROUP STREAMS s >
    XREADGROUP GROUP g alice STREAMS s > 0
    XREADGROUP GROUP g alice FOO STREAMS s >
    XREADGROUP GROUP g alice COUNT x STREAMS s >
    XREADGROUP GROUP g alice BLOCK -1 STREAMS s >
    # NOACK delivers without a pending entry
    XADD s 5-0 f 5
    XADD s 6-0 f 6
    XREADGROUP GROUP g dave NOACK COUNT 1 STREAMS s >
    XPENDING s g
    XREADGROUP GROUP g dave NOACK STREAMS s 0
    XREADGROUP GROUP g dave STREAMS s >
    # a deleted entry still pending reads as a null
    XDEL s 2-0
    XREADGROUP GROUP g alice STREAMS s 0
    XPENDING s g
    # DELCONSUMER answers how many entries it had pending
    XGROUP DELCONSUMER s g alice
    XGROUP DELCONSUMER s g alice
    XGROUP DELCONSUMER s nog alice
    XGROUP DELCONSUMER nos g alice
    XGROUP DELCONSUMER s g
    XPENDING s g
    XINFO GROUPS s
    XGROUP DESTROY s tail
    XGROUP DESTROY s tail
    XGROUP DESTROY nos g
    XGROUP DESTROY s
    XINFO GROUPS s
    SET str x
    XGROUP CREATE str g 0
    XGROUP CREATE str g 0 MKSTREAM
    XGROUP SETID str g 0
    XGROUP DESTROY str g
    XGROUP CREATECONSUMER str g c
    XGROUP DELCONSUMER str g c
    XREADGROUP GROUP g alice STREAMS str >
    XACK str g 1-0
    XPENDING str g
";

#[test]
fn consumer_groups_answer_as_redis_does() {
    in_both_protocols(&[GROUPS]);
}

// ---------------------------------------------------------------------------------------
// XCLAIM and XAUTOCLAIM
// ---------------------------------------------------------------------------------------

const CLAIMS: &str = "
    XADD c 1-0 f 1
    XADD c 2-0 f 2
    XADD c 3-0 f 3
    XADD c 4-0 f 4
    XADD c 5-0 f 5
    XGROUP CREATE c g 0
    XREADGROUP GROUP g alice COUNT 3 STREAMS c >
    XGROUP CREATECONSUMER c g bob
    XGROUP CREATECONSUMER c g carol
    XGROUP CREATECONSUMER c g dave
    XCLAIM c g bob 0 1-0
    XCLAIM c g bob 0 1-0 2-0 JUSTID
    XCLAIM c g bob 99999999 3-0
    XCLAIM c g bob 0 4-0
    XCLAIM c g bob 0 4-0 FORCE
    XCLAIM c g bob 0 9-0 FORCE
    XCLAIM c g bob 0 3-0 RETRYCOUNT 7 JUSTID
    %XPENDING c g - + 10
    XCLAIM c g carol 0 3-0 IDLE 5000 JUSTID
    %XPENDING c g - + 10 carol
    # TIME sets the delivery time: an entry delivered at 1 s past the epoch is idle
    XCLAIM c g carol 0 3-0 TIME 1000 JUSTID
    %XPENDING c g IDLE 99999999 - + 10
    XCLAIM c g carol 0 2-0 LASTID 5-0 JUSTID
    XINFO GROUPS c
    XCLAIM c g carol 0 2-0 LASTID 3-0
    XINFO GROUPS c
    XCLAIM c g carol -1 2-0
    XCLAIM c g carol 0 2-0 RETRYCOUNT -1
    XCLAIM c g carol 0 2-0 IDLE -5 JUSTID
    XCLAIM c g carol x 2-0
    XCLAIM c g carol 0 x
    XCLAIM c g carol 0 2-0 IDLE x
    XCLAIM c g carol 0 2-0 TIME x
    XCLAIM c g carol 0 2-0 RETRYCOUNT x
    XCLAIM c g carol 0 2-0 LASTID x
    XCLAIM c g carol 0 2-0 FOO
    XCLAIM c g carol 0 2-0 IDLE
    XCLAIM c nog carol 0 2-0
    XCLAIM nos g carol 0 2-0
    XCLAIM c g carol 0
    # a deleted entry leaves the pending list when claimed
    XDEL c 1-0
    XCLAIM c g carol 0 1-0 2-0
    XPENDING c g
    XAUTOCLAIM c g dave 0 0
    XAUTOCLAIM c g dave 0 0 COUNT 1
    XAUTOCLAIM c g dave 0 0 COUNT 1 JUSTID
    XAUTOCLAIM c g dave 99999999 0
    XAUTOCLAIM c g dave 0 (2
    XAUTOCLAIM c g dave 0 - JUSTID
    XAUTOCLAIM c g dave 0 + JUSTID
    XAUTOCLAIM c g dave -1 0 JUSTID
    # deleted entries come back as the third element, and leave the pending list
    XDEL c 3-0
    XAUTOCLAIM c g bob 0 0 JUSTID
    XAUTOCLAIM c g bob 0 0
    XPENDING c g
    %XPENDING c g - + 10
    XAUTOCLAIM c g bob 0 x
    XAUTOCLAIM c g bob x 0
    XAUTOCLAIM c g bob 0 0 COUNT 0
    XAUTOCLAIM c g bob 0 0 COUNT -1
    XAUTOCLAIM c g bob 0 0 COUNT x
    XAUTOCLAIM c g bob 0 0 COUNT 9223372036854775807
    XAUTOCLAIM c g bob 0 0 FOO
    XAUTOCLAIM c nog bob 0 0
    XAUTOCLAIM nos g bob 0 0
    XAUTOCLAIM c g bob 0
    XINFO GROUPS c
    SET str x
    XCLAIM str g c 0 1-0
    XAUTOCLAIM str g c 0 0
";

#[test]
fn claims_answer_as_redis_does() {
    in_both_protocols(&[CLAIMS]);
}

// ---------------------------------------------------------------------------------------
// XINFO STREAM and GROUPS, and the groups' lag
// ---------------------------------------------------------------------------------------

const INFO: &str = "
    XADD i 1-0 f 1
    XADD i 2-0 f 2
    XADD i 3-0 f 3
    XADD i 4-0 f 4
    XADD i 5-0 f 5
    XGROUP CREATE i g 0
    XGROUP CREATE i h 0
    XGROUP CREATE i late $
    XREADGROUP GROUP g alice COUNT 2 STREAMS i >
    XINFO GROUPS i
    XINFO STREAM i
    # a deletion past a group's last id makes its lag unknown (null)
    XDEL i 4-0
    XINFO GROUPS i
    XINFO STREAM i
    XREADGROUP GROUP g alice COUNT 1 STREAMS i >
    XINFO GROUPS i
    XREADGROUP GROUP g alice COUNT 1 STREAMS i >
    XINFO GROUPS i
    XDEL i 1-0
    XINFO GROUPS i
    XTRIM i MAXLEN 1
    XINFO GROUPS i
    XINFO STREAM i
    XADD i 6-0 f 6
    XINFO GROUPS i
    XREADGROUP GROUP h bob STREAMS i >
    XINFO GROUPS i
    XGROUP SETID i h 0
    XINFO GROUPS i
    XGROUP SETID i h 5-0 ENTRIESREAD 5
    XINFO GROUPS i
    # FULL without consumers holds nothing Redis 7.2 changed
    XADD j 1-0 a 1
    XADD j 2-0 b 2 c 3
    XADD j 3-0 d 4
    XINFO STREAM j FULL
    XGROUP CREATE j g1 0
    XGROUP CREATE j g2 2-0 ENTRIESREAD 2
    XDEL j 2-0
    XINFO STREAM j FULL
    XINFO STREAM j FULL COUNT 1
    XINFO STREAM j FULL COUNT 0
    XINFO STREAM j FULL COUNT -1
    XINFO STREAM j
    XINFO GROUPS j
    XINFO STREAM i FULL COUNT x
    XINFO STREAM i FULL FOO
    XINFO STREAM i FULL COUNT
    XINFO STREAM i FOO
    XINFO STREAM nos
    XINFO STREAM nos FULL
    XINFO GROUPS nos
    XINFO CONSUMERS nos g
    XINFO CONSUMERS i nog
    XINFO CONSUMERS i
    XINFO STREAM
    XINFO GROUPS
    XINFO
    XINFO FOO
    XGROUP CREATE empty g $ MKSTREAM
    XINFO STREAM empty
    XINFO STREAM empty FULL
    XINFO GROUPS empty
    XINFO CONSUMERS empty g
    SET str x
    XINFO STREAM str
    XINFO GROUPS str
    XINFO CONSUMERS str g
";

#[test]
fn xinfo_and_lag_answer_as_redis_does() {
    in_both_protocols(&[INFO]);
}

// ---------------------------------------------------------------------------------------
// XINFO CONSUMERS and XINFO STREAM FULL: Redis 7.0's fields, on Cairn alone
// ---------------------------------------------------------------------------------------

/// The value of `name` among `v`'s fields, after checking that the fields Redis 7.0
/// reports (`fields_7_0`) are all there and in Redis's order (later fields may come
/// between or after them).
fn field(v: &Value, fields_7_0: &[&str], name: &str) -> Value {
    let p = pairs(v);
    let names: Vec<&str> = p
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| fields_7_0.contains(k))
        .collect();
    assert_eq!(names, fields_7_0, "the fields of {v:?}");
    p.into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name} in {v:?}"))
}

/// [`q`] with the command written as one line.
fn run<T: redis::FromRedisValue>(con: &mut Connection, line: &str) -> T {
    q(con, &line.split_whitespace().collect::<Vec<_>>())
}

fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => panic!("an array, not {other:?}"),
    }
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

/// An integer that reads as a Unix time in milliseconds (between 2020 and 2286).
fn assert_unix_ms(v: &Value, what: &str) {
    match v {
        Value::Int(t) => assert!(
            (1_577_836_800_000..10_000_000_000_000).contains(t),
            "{what}: {t} is no Unix time in milliseconds"
        ),
        other => panic!("{what}: not an integer: {other:?}"),
    }
}

const CONSUMER_7_0: &[&str] = &["name", "pending", "idle"];
const FULL_7_0: &[&str] = &[
    "length",
    "radix-tree-keys",
    "radix-tree-nodes",
    "last-generated-id",
    "max-deleted-entry-id",
    "entries-added",
    "recorded-first-entry-id",
    "entries",
    "groups",
];
const FULL_GROUP_7_0: &[&str] = &[
    "name",
    "last-delivered-id",
    "entries-read",
    "lag",
    "pel-count",
    "pending",
    "consumers",
];
const FULL_CONSUMER_7_0: &[&str] = &["name", "seen-time", "pel-count", "pending"];

/// XINFO STREAM FULL's one group, checked against what XREADGROUP and XCLAIM did in
/// [`xinfo_consumers_and_full_report_redis_7_0_s_fields`]; `count` is FULL's COUNT.
fn check_full_group(group: &Value, count: usize) {
    let f = |n| field(group, FULL_GROUP_7_0, n);
    assert_eq!(f("name"), bulk("g"));
    assert_eq!(f("last-delivered-id"), bulk("2-0"));
    assert_eq!(f("entries-read"), Value::Int(2));
    assert_eq!(f("lag"), Value::Int(1));
    assert_eq!(f("pel-count"), Value::Int(2));
    // the group's pending entries: id, consumer, delivery time, deliveries
    let pending = items(f("pending"));
    assert_eq!(pending.len(), count, "{pending:?}");
    let first = items(pending[0].clone());
    assert_eq!(first[..2], [bulk("1-0"), bulk("alice")]);
    assert_unix_ms(&first[2], "1-0's delivery time");
    assert_eq!(first[3], Value::Int(1));
    if count > 1 {
        let second = items(pending[1].clone());
        assert_eq!(
            second,
            [bulk("2-0"), bulk("alice"), Value::Int(1000), Value::Int(5)]
        );
    }
    // the consumers, by name: alice with both entries, bob (made by CREATECONSUMER) none
    let consumers = items(f("consumers"));
    assert_eq!(consumers.len(), 2, "{consumers:?}");
    let c = |i: usize, n| field(&consumers[i], FULL_CONSUMER_7_0, n);
    assert_eq!(c(0, "name"), bulk("alice"));
    assert_unix_ms(&c(0, "seen-time"), "alice's seen-time");
    assert_eq!(c(0, "pel-count"), Value::Int(2));
    let own = items(c(0, "pending"));
    assert_eq!(own.len(), count, "{own:?}");
    let first = items(own[0].clone());
    assert_eq!(first[0], bulk("1-0"));
    assert_unix_ms(&first[1], "1-0's delivery time");
    assert_eq!(first[2], Value::Int(1));
    if count > 1 {
        assert_eq!(
            items(own[1].clone()),
            [bulk("2-0"), Value::Int(1000), Value::Int(5)]
        );
    }
    assert_eq!(c(1, "name"), bulk("bob"));
    assert_unix_ms(&c(1, "seen-time"), "bob's seen-time");
    assert_eq!(c(1, "pel-count"), Value::Int(0));
    assert_eq!(c(1, "pending"), Value::Array(vec![]));
}

/// XINFO CONSUMERS (name, pending, idle) and XINFO STREAM FULL as Redis 7.0 documents
/// them, in RESP2 and RESP3; fields Redis 7.2 added may come too.
#[test]
fn xinfo_consumers_and_full_report_redis_7_0_s_fields() {
    let srv = CairnProcess::start(&[]);
    for url in [srv.url(), srv.url_resp3()] {
        let mut c = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .expect("connect");
        let _: () = run(&mut c, "FLUSHALL");
        for line in ["XADD s 1-0 f 1", "XADD s 2-0 f 2", "XADD s 3-0 f 3"] {
            let _: String = run(&mut c, line);
        }
        let _: () = run(&mut c, "XGROUP CREATE s g 0");
        let _: Value = run(&mut c, "XREADGROUP GROUP g alice COUNT 2 STREAMS s >");
        let _: i64 = run(&mut c, "XGROUP CREATECONSUMER s g bob");
        // 2-0 delivered at 1000 ms past the epoch, five times
        let claimed: Vec<String> = run(
            &mut c,
            "XCLAIM s g alice 0 2-0 TIME 1000 RETRYCOUNT 5 JUSTID",
        );
        assert_eq!(claimed, ["2-0"]);

        let consumers = items(run(&mut c, "XINFO CONSUMERS s g"));
        assert_eq!(consumers.len(), 2, "{consumers:?}");
        if url == srv.url_resp3() {
            assert!(
                matches!(consumers[0], Value::Map(_)),
                "RESP3: maps, not {consumers:?}"
            );
        }
        for (entry, (name, pending)) in consumers.iter().zip([("alice", 2), ("bob", 0)]) {
            assert_eq!(field(entry, CONSUMER_7_0, "name"), bulk(name));
            assert_eq!(field(entry, CONSUMER_7_0, "pending"), Value::Int(pending));
            let idle = field(entry, CONSUMER_7_0, "idle");
            assert!(matches!(idle, Value::Int(t) if t >= 0), "{name}: {idle:?}");
        }
        let _: i64 = run(&mut c, "XGROUP DELCONSUMER s g bob");
        let consumers = items(run(&mut c, "XINFO CONSUMERS s g"));
        assert_eq!(consumers.len(), 1, "{consumers:?}");
        let _: i64 = run(&mut c, "XGROUP CREATECONSUMER s g bob");

        let entry = |id: &str, v: &str| {
            Value::Array(vec![bulk(id), Value::Array(vec![bulk("f"), bulk(v)])])
        };
        for (line, count) in [
            ("XINFO STREAM s FULL", 2),
            ("XINFO STREAM s FULL COUNT 1", 1),
            ("XINFO STREAM s FULL COUNT 0", 2),
        ] {
            let full: Value = run(&mut c, line);
            if url == srv.url_resp3() {
                assert!(matches!(full, Value::Map(_)), "RESP3: a map, not {full:?}");
            }
            let f = |n| field(&full, FULL_7_0, n);
            assert_eq!(f("length"), Value::Int(3));
            assert_eq!(f("radix-tree-keys"), Value::Int(1));
            assert_eq!(f("radix-tree-nodes"), Value::Int(2));
            assert_eq!(f("last-generated-id"), bulk("3-0"));
            assert_eq!(f("max-deleted-entry-id"), bulk("0-0"));
            assert_eq!(f("entries-added"), Value::Int(3));
            assert_eq!(f("recorded-first-entry-id"), bulk("1-0"));
            let want = [entry("1-0", "1"), entry("2-0", "2"), entry("3-0", "3")];
            let n = if count == 1 { 1 } else { 3 };
            assert_eq!(items(f("entries")), want[..n], "{line}");
            let groups = items(f("groups"));
            assert_eq!(groups.len(), 1, "{groups:?}");
            check_full_group(&groups[0], count);
        }
        assert!(common::err(&mut c, &["XINFO", "CONSUMERS", "s", "nog"]).starts_with("NOGROUP"));
    }
}

// ---------------------------------------------------------------------------------------
// Blocking reads, played on both servers
// ---------------------------------------------------------------------------------------

/// One server's side of a blocking scenario: a connection that writes, clients that
/// block, and every reply in order, to hold Cairn's against Redis's.
struct Scene {
    addr: SocketAddr,
    control: Resp,
    watch: Connection,
    clients: Vec<Resp>,
    transcript: Vec<(String, Frame)>,
}

impl Scene {
    fn new(addr: SocketAddr) -> Scene {
        let watch = redis::Client::open(format!("redis://{addr}"))
            .and_then(|c| c.get_connection())
            .expect("connect");
        Scene {
            addr,
            control: Resp::connect(addr),
            watch,
            clients: Vec::new(),
            transcript: Vec::new(),
        }
    }

    fn client(&mut self, i: usize) -> &mut Resp {
        while self.clients.len() <= i {
            self.clients.push(Resp::connect(self.addr));
        }
        &mut self.clients[i]
    }

    /// A command on the writing connection; its reply goes in the transcript.
    fn cmd(&mut self, line: &str) {
        let f = self.control.cmd(line);
        self.transcript.push((line.to_string(), f));
    }

    /// A command on client `i` that answers by itself (a timeout, a read that finds
    /// entries); its reply goes in the transcript.
    fn call(&mut self, i: usize, line: &str) {
        let f = self.client(i).cmd(line);
        self.transcript.push((format!("client {i}: {line}"), f));
    }

    /// Client `i` sends a blocking command; then `blocked` clients must be blocked.
    fn block(&mut self, i: usize, line: &str, blocked: usize) {
        self.client(i).send(line);
        self.blocked(blocked, line);
    }

    /// Waits until `n` clients are blocked (at once when they already are: a write's reply
    /// comes after the clients it serves were served).
    fn blocked(&mut self, n: usize, after: &str) {
        let n = n as i64;
        let watch = &mut self.watch;
        wait_until(10, &format!("{n} clients blocked after `{after}`"), || {
            blocked_clients(watch) == n
        });
    }

    /// Client `i`'s reply to its blocking command goes in the transcript.
    fn reply(&mut self, i: usize) {
        let f = self.client(i).read();
        self.transcript.push((format!("client {i}'s reply"), f));
    }

    fn resp3(&mut self, i: usize) {
        assert!(matches!(self.client(i).cmd("HELLO 3"), Frame::Map(_)));
    }
}

/// Plays `scenario` on a redis-server, then on Cairn, and holds each reply Cairn gave
/// against Redis's.
fn versus(scenario: impl Fn(&mut Scene)) {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let play = |addr| {
        let mut s = Scene::new(addr);
        scenario(&mut s);
        s.transcript
    };
    let want = play(redis.addr);
    let got = play(cairn.addr);
    for (i, ((step, r), (_, c))) in want.iter().zip(&got).enumerate() {
        assert!(
            c == r,
            "step {i}, {step}: Cairn answered {}, Redis {}",
            show(c),
            show(r)
        );
    }
    assert_eq!(got.len(), want.len());
}

#[test]
fn blocked_xreads_are_served_as_redis_serves_them() {
    versus(|s| {
        // One XADD serves every reader waiting past its id, each with its own COUNT.
        s.cmd("XADD s 5-0 f v");
        s.block(1, "XREAD BLOCK 0 STREAMS s $", 1);
        s.block(2, "XREAD BLOCK 0 STREAMS other s $ $", 2);
        s.block(3, "XREAD COUNT 1 BLOCK 0 STREAMS s 5-0", 3);
        s.cmd("XADD s 6-0 a 1");
        s.reply(1);
        s.reply(2);
        s.reply(3);
        s.blocked(0, "XADD s 6-0");
        // Entries added inside MULTI serve the reader after EXEC, up to its COUNT.
        s.block(1, "XREAD COUNT 2 BLOCK 0 STREAMS s $", 1);
        s.cmd("MULTI");
        s.cmd("XADD s 7-0 b 2");
        s.cmd("XADD s 8-0 c 3");
        s.cmd("XADD s 9-0 d 4");
        s.cmd("EXEC");
        s.reply(1);
        // `$` is the last id when the reader blocked: a key made again with an older
        // entry does not serve it, nor does a string; a later entry does.
        s.block(1, "XREAD BLOCK 0 STREAMS s $", 1);
        s.cmd("DEL s");
        s.blocked(1, "DEL s");
        s.cmd("XADD s 1-0 old 1");
        s.blocked(1, "XADD s 1-0");
        s.cmd("DEL s");
        s.cmd("SET s text");
        s.blocked(1, "SET s text");
        s.cmd("DEL s");
        s.cmd("XADD s 10-0 new 1");
        s.reply(1);
        // Several keys: the one written answers.
        s.block(1, "XREAD BLOCK 0 STREAMS a b $ $", 1);
        s.cmd("XADD b 1-0 f v");
        s.reply(1);
        // Timeouts answer a null, in RESP2 and RESP3; RESP3 serves a map.
        s.call(2, "XREAD BLOCK 10 STREAMS s $");
        s.call(2, "XREAD BLOCK 10 STREAMS nokey $");
        s.resp3(2);
        s.call(2, "XREAD BLOCK 10 STREAMS s $");
        s.block(2, "XREAD BLOCK 0 STREAMS a s $ $", 1);
        s.cmd("XADD s 11-0 f v");
        s.reply(2);
        // Inside MULTI nothing blocks.
        s.cmd("MULTI");
        s.cmd("XREAD BLOCK 0 STREAMS s $");
        s.cmd("EXEC");
        s.blocked(0, "the end");
    });
}

#[test]
fn blocked_group_reads_are_served_as_redis_serves_them() {
    versus(|s| {
        s.cmd("XGROUP CREATE s g $ MKSTREAM");
        // First blocked, first served: one entry serves alice, bob waits for the next;
        // a plain reader sees the entry too.
        s.block(1, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >", 1);
        s.block(2, "XREADGROUP GROUP g bob COUNT 5 BLOCK 0 STREAMS s >", 2);
        s.block(3, "XREAD BLOCK 0 STREAMS s $", 3);
        s.cmd("XADD s 1-0 f 1");
        s.reply(1);
        s.reply(3);
        s.blocked(1, "XADD s 1-0");
        s.cmd("XADD s 2-0 f 2");
        s.reply(2);
        s.cmd("XPENDING s g");
        s.cmd("XINFO GROUPS s");
        // NOACK: served, nothing pending.
        s.block(1, "XREADGROUP GROUP g carol NOACK BLOCK 0 STREAMS s >", 1);
        s.cmd("XADD s 3-0 f 3");
        s.reply(1);
        s.cmd("XPENDING s g");
        // Entries added inside MULTI serve the reader after EXEC.
        s.block(
            1,
            "XREADGROUP GROUP g alice COUNT 10 BLOCK 0 STREAMS s >",
            1,
        );
        s.cmd("MULTI");
        s.cmd("XADD s 4-0 f 4");
        s.cmd("XADD s 5-0 f 5");
        s.cmd("EXEC");
        s.reply(1);
        s.cmd("XPENDING s g");
        // A history id never blocks; `>` with nothing new times out with a null.
        s.call(2, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s 0");
        s.call(2, "XREADGROUP GROUP g alice BLOCK 10 STREAMS s >");
        s.resp3(2);
        s.call(2, "XREADGROUP GROUP g alice BLOCK 10 STREAMS s >");
        s.block(2, "XREADGROUP GROUP g bob BLOCK 0 STREAMS s >", 1);
        s.cmd("XADD s 6-0 f 6");
        s.reply(2);
        s.cmd("XINFO GROUPS s");
        s.blocked(0, "the end");
    });
}

#[test]
fn blocked_group_readers_lose_their_group_as_redis_s_do() {
    versus(|s| {
        // The group goes.
        s.cmd("XGROUP CREATE s g $ MKSTREAM");
        s.block(1, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >", 1);
        s.cmd("XGROUP DESTROY s g");
        s.reply(1);
        s.blocked(0, "XGROUP DESTROY");
        // The key goes (Redis 7.0 answers UNBLOCKED).
        s.cmd("XGROUP CREATE s g $");
        s.block(1, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >", 1);
        s.cmd("DEL s");
        s.reply(1);
        s.blocked(0, "DEL s");
        // The key becomes a string.
        s.cmd("XGROUP CREATE s g $ MKSTREAM");
        s.block(1, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >", 1);
        s.cmd("SET s text");
        s.reply(1);
        s.blocked(0, "SET s text");
        // In RESP3 too.
        s.cmd("DEL s");
        s.cmd("XGROUP CREATE s g $ MKSTREAM");
        s.resp3(1);
        s.block(1, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >", 1);
        s.cmd("XGROUP DESTROY s g");
        s.reply(1);
        // A plain reader stays through all of it.
        s.cmd("XGROUP CREATE s g $");
        s.block(2, "XREAD BLOCK 0 STREAMS s $", 1);
        s.block(1, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >", 2);
        s.cmd("XGROUP DESTROY s g");
        s.reply(1);
        s.blocked(1, "XGROUP DESTROY");
        s.cmd("XADD s 1-0 f v");
        s.reply(2);
    });
}

// ---------------------------------------------------------------------------------------
// Keyspace events
// ---------------------------------------------------------------------------------------

const EVENTS: &str = "
    XADD s 1-0 f v
    XADD s MAXLEN 1 2-0 f v
    XADD nos NOMKSTREAM 1-0 f v
    XADD s 2-0 f v
    XADD s MAXLEN 5 3-0 f v
    XDEL s 2-0
    XDEL s 9-0
    XADD s 4-0 f v
    XTRIM s MAXLEN 1
    XTRIM s MAXLEN 5
    XADD s 5-0 f v
    XADD s 6-0 f v
    XSETID s 10-0
    XSETID s 10-0 ENTRIESADDED 9 MAXDELETEDID 5-0
    XSETID s 1-0
    XGROUP CREATE s g 0
    XGROUP CREATE s g 0
    XGROUP CREATE m g $ MKSTREAM
    XGROUP SETID s g 0
    XGROUP CREATECONSUMER s g alice
    XGROUP CREATECONSUMER s g alice
    XREADGROUP GROUP g bob COUNT 1 STREAMS s >
    XREADGROUP GROUP g bob STREAMS s >
    XREADGROUP GROUP g hist STREAMS s 0
    XCLAIM s g carol 0 4-0
    XCLAIM s g carol 0 4-0
    XCLAIM s g bob 0 4-0 JUSTID
    XAUTOCLAIM s g dave 0 0
    XAUTOCLAIM s g dave 0 0
    XDEL s 5-0
    XAUTOCLAIM s g dave 0 0
    XACK s g 4-0
    XGROUP DELCONSUMER s g alice
    XGROUP DELCONSUMER s g nobody
    XGROUP DESTROY s g
    XGROUP DESTROY s g
    XTRIM s MAXLEN ~ 0
    XTRIM s MAXLEN 0
    XADD s 11-0 f v
    DEL s
";

#[test]
fn stream_events_are_redis_s() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let lines: Vec<Vec<&str>> = EVENTS
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|l| !l.is_empty())
        .collect();
    let commands: Vec<&[&str]> = lines.iter().map(Vec::as_slice).collect();
    let from_redis = keyevents(|| redis.client(), &commands);
    let from_cairn = keyevents(|| cairn.client(), &commands);
    assert!(from_redis.len() >= 25, "{from_redis:?}");
    assert_eq!(from_cairn, from_redis);
}

// ---------------------------------------------------------------------------------------
// DUMP and RESTORE
// ---------------------------------------------------------------------------------------

/// A stream over three nodes with deletions, an XSETID'd last id, two groups with pending
/// entries, a consumer with none and one whose entries were deleted.
fn build(con: &mut Connection) {
    for i in 1..=250 {
        let (id, v) = (format!("{i}-{}", i % 3), format!("value {i}"));
        let _: String = q(con, &["XADD", "s", &id, "field", &v, "n", &i.to_string()]);
    }
    for line in [
        "XDEL s 2-2 100-1 101-2 250-1",
        "XGROUP CREATE s g 0",
        "XGROUP CREATE s h 120-0 ENTRIESREAD 119",
        "XREADGROUP GROUP g alice COUNT 30 STREAMS s >",
        "XREADGROUP GROUP g bob NOACK COUNT 5 STREAMS s >",
        "XREADGROUP GROUP g carol COUNT 10 STREAMS s >",
        "XACK s g 3-0 4-1 5-2",
        "XCLAIM s g bob 0 10-1 11-2 RETRYCOUNT 4 JUSTID",
        "XDEL s 20-2 21-0",
        "XGROUP CREATECONSUMER s g idle",
        "XREADGROUP GROUP h dave COUNT 3 STREAMS s >",
        "XSETID s 300-0 ENTRIESADDED 260 MAXDELETEDID 280-0",
    ] {
        let _: Value = run(con, line);
    }
}

/// What a stream holds as a server reports it: its entries, its counters, every group
/// and its pending entries (without idle times) and consumers (without times).
fn contents(con: &mut Connection, key: &str) -> Vec<Value> {
    let mut out: Vec<Value> = vec![
        q(con, &["TYPE", key]),
        q(con, &["OBJECT", "ENCODING", key]),
        q(con, &["XRANGE", key, "-", "+"]),
    ];
    let info: Value = q(con, &["XINFO", "STREAM", key]);
    out.extend(
        pairs(&info)
            .into_iter()
            .filter(|(k, _)| k != "radix-tree-nodes")
            .map(|(_, v)| v),
    );
    let groups: Value = q(con, &["XINFO", "GROUPS", key]);
    out.push(groups.clone());
    for g in items(groups) {
        let name = match field(&g, &["name"], "name") {
            Value::BulkString(b) => String::from_utf8(b).unwrap(),
            other => panic!("{other:?}"),
        };
        out.push(q(con, &["XPENDING", key, &name]));
        for e in items(q(con, &["XPENDING", key, &name, "-", "+", "1000"])) {
            let mut e = items(e);
            e.remove(2);
            out.push(Value::Array(e));
        }
        for c in items(q(con, &["XINFO", "CONSUMERS", key, &name])) {
            out.push(field(&c, &["name", "pending"], "name"));
            out.push(field(&c, &["name", "pending"], "pending"));
        }
    }
    out
}

fn dump(con: &mut Connection, key: &str) -> Vec<u8> {
    qb(con, &[b"DUMP", key.as_bytes()])
}

fn restore(con: &mut Connection, key: &str, payload: &[u8]) {
    let ok: String = qb(con, &[b"RESTORE", key.as_bytes(), b"0", payload]);
    assert_eq!(ok, "OK", "RESTORE {key}");
}

fn digest(con: &mut Connection, key: &str) -> Value {
    q(con, &["DEBUG", "DIGEST-VALUE", key])
}

/// Redis's payload RESTOREs into Cairn and Cairn's back into Redis, and Cairn's own
/// round trip, each holding what the stream held (and the same DEBUG DIGEST-VALUE on the
/// server that restored it).
#[test]
fn streams_move_by_dump_and_restore_both_ways() {
    let Some(redis) = RedisServer::start(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let (mut rcon, mut ccon) = (redis.client(), cairn.client());
    build(&mut rcon);
    build(&mut ccon);
    let want = contents(&mut rcon, "s");
    assert_eq!(contents(&mut ccon, "s"), want, "the same commands on Cairn");

    let from_redis = dump(&mut rcon, "s");
    restore(&mut ccon, "copy", &from_redis);
    assert_eq!(
        contents(&mut ccon, "copy"),
        want,
        "Redis's payload in Cairn"
    );
    // (Cairn's digest covers pending entries' delivery times, which are Redis's in the
    // copy: it is held against a second copy of the same payload.)
    restore(&mut ccon, "copy2", &from_redis);
    assert_eq!(digest(&mut ccon, "copy"), digest(&mut ccon, "copy2"));
    assert_ne!(digest(&mut ccon, "copy"), digest(&mut ccon, "e-none"));

    let from_cairn = dump(&mut ccon, "copy");
    restore(&mut rcon, "back", &from_cairn);
    assert_eq!(
        contents(&mut rcon, "back"),
        want,
        "Cairn's payload in Redis"
    );
    assert_eq!(digest(&mut rcon, "back"), digest(&mut rcon, "s"));

    let own = dump(&mut ccon, "s");
    restore(&mut ccon, "own", &own);
    assert_eq!(contents(&mut ccon, "own"), want, "Cairn's payload in Cairn");
    assert_eq!(digest(&mut ccon, "own"), digest(&mut ccon, "s"));

    // An empty stream keeps its last id and groups through a round trip too.
    for con in [&mut rcon, &mut ccon] {
        let _: () = q(con, &["XGROUP", "CREATE", "e", "g", "$", "MKSTREAM"]);
        let _: () = q(con, &["XSETID", "e", "7-7"]);
    }
    let want = contents(&mut rcon, "e");
    let payload = dump(&mut rcon, "e");
    restore(&mut ccon, "e2", &payload);
    assert_eq!(contents(&mut ccon, "e2"), want);
    let payload = dump(&mut ccon, "e2");
    restore(&mut rcon, "e3", &payload);
    assert_eq!(contents(&mut rcon, "e3"), want);
}
