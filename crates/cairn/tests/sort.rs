//! SORT and SORT_RO against the real binary: every option and error held against a real
//! redis-server's replies, byte for byte, in RESP2 and RESP3, on lists, sets and sorted
//! sets in both their encodings; BY and GET through strings and hash fields; STORE (and
//! what it leaves behind); the refusals of cluster mode; and a SORT ... STORE that the
//! append-only file replays to the same list.

mod common;

use common::events::keyevents;
use common::versus::Both;
use common::{CairnProcess, q};

/// Data every script sorts: numbers, words, weights and hash fields to sort by and get.
const DATA: &str = "
    FLUSHALL
    RPUSH nums 3 1 2 10 -5 2.5 1e2 0x10 inf -inf 7
    RPUSH words pear apple fig banana cherry apple
    RPUSH mixed 3 b 1
    RPUSH dup 2 1 2 1
    SADD iset 5 3 9 1 7
    SADD wset pear apple fig banana
    ZADD z 1 c 2 a 3 d 4 b 5 e
    ZADD zn 1 30 2 10 3 20
    MSET w_pear 4 w_apple 3 w_fig 1 w_banana 2 w_cherry 9
    MSET n_3 c n_1 a n_2 b n_10 j n_-5 m
    HSET h_pear price 40 name Pear
    HSET h_apple price 30 name Apple
    HSET h_fig price 10
    HSET h_banana price 20 name Banana
    SET str hello
    HSET hash f v
    RPUSH emptyish x
    LPOP emptyish
";

const SCRIPT: &str = "
    SORT nums
    SORT nums DESC
    SORT nums LIMIT 0 3
    SORT nums LIMIT 2 4 DESC
    SORT nums LIMIT -5 3
    SORT nums LIMIT 3 -1
    SORT nums LIMIT 3 0
    SORT nums LIMIT 100 5
    SORT nums LIMIT 10 5
    SORT nums LIMIT 11 5
    SORT nums LIMIT 0 100
    SORT nums LIMIT 9223372036854775807 9223372036854775807
    SORT nums LIMIT -9223372036854775808 -9223372036854775808
    SORT nums asc limit 1 2 desc
    SORT_RO nums
    SORT_RO nums DESC LIMIT 1 3
    SORT words
    SORT words ALPHA
    SORT words ALPHA DESC
    SORT words ALPHA LIMIT 1 2
    SORT mixed
    SORT mixed ALPHA
    SORT dup
    SORT dup DESC
    ~SORT iset BY nosort
    SORT iset
    SORT iset DESC LIMIT 1 2
    SORT wset ALPHA
    SORT wset
    SORT z
    SORT z ALPHA
    SORT z ALPHA DESC
    SORT z BY nosort
    SORT z BY nosort DESC
    SORT z BY nosort LIMIT 1 2
    SORT z BY nosort DESC LIMIT 1 2
    SORT z BY nosort LIMIT 4 10
    SORT z BY nosort LIMIT 5 10
    SORT zn
    SORT zn BY nosort
    SORT words BY nosort
    SORT words BY nosort DESC
    SORT words BY nosort LIMIT 2 3
    SORT words BY nosort DESC LIMIT 2 3
    SORT words BY nosort LIMIT 6 1
    SORT words BY w_*
    SORT words BY w_* DESC
    SORT words BY w_* LIMIT 1 2
    SORT words BY w_* GET #
    SORT words BY w_* GET # GET w_*
    SORT words BY w_*->x
    SORT words BY h_*->price
    SORT words BY h_*->price GET h_*->name GET # GET h_*->price
    SORT words BY h_*->price ALPHA DESC GET h_*->name
    SORT words BY w_* ALPHA
    SORT words ALPHA GET w_* GET nopattern GET h_*->nofield GET h_*->
    SORT words ALPHA GET h_*->name
    SORT words ALPHA GET w_*
    SORT words ALPHA GET hash
    SORT words BY nosort GET w_*
    SORT nums GET n_*
    SORT nums BY nosort GET # LIMIT 0 2
    SORT words BY w_* BY nosort
    SORT words BY nosort BY w_*
    SORT_RO words BY w_* GET # GET h_*->name
    SORT wset BY w_* GET #
    SORT wset BY h_*->price GET h_*->name
    SORT missing
    SORT missing DESC LIMIT 0 1
    SORT missing BY w_* GET #
    SORT_RO missing
    SORT emptyish
    SORT words BY str
    SORT words BY st*r
    SORT words
    SORT mixed DESC
    SORT words BY h_*->name
    SORT str
    SORT hash
    SORT_RO str
    SORT str LIMIT x 1
    SORT nums LIMIT x 1
    SORT nums LIMIT 1 x
    SORT nums LIMIT 1
    SORT nums LIMIT
    SORT nums BY
    SORT nums GET
    SORT nums STORE
    SORT nums FOO
    SORT nums ALPHA FOO LIMIT x y
    SORT nums LIMIT x y FOO
    SORT_RO nums STORE dst
    SORT_RO nums FOO
    SORT
    SORT_RO
    SORT str FOO
    SORT nums LIMIT 1.5 2
    SORT nums LIMIT 99999999999999999999 2
";

const STORE_SCRIPT: &str = "
    SORT nums STORE dst
    LRANGE dst 0 -1
    TYPE dst
    SORT words ALPHA DESC LIMIT 1 3 STORE dst
    LRANGE dst 0 -1
    SORT words BY w_* GET # GET h_*->name STORE dst
    LRANGE dst 0 -1
    SORT words BY nosort DESC STORE dst
    LRANGE dst 0 -1
    SORT wset BY nosort STORE dst
    LRANGE dst 0 -1
    SORT wset BY nosort DESC LIMIT 1 2 STORE dst
    LRANGE dst 0 -1
    SORT iset BY nosort STORE dst
    LRANGE dst 0 -1
    SORT z BY nosort DESC LIMIT 0 3 STORE dst
    LRANGE dst 0 -1
    SET target x EX 100
    SORT nums LIMIT 0 2 STORE target
    TTL target
    LRANGE target 0 -1
    SADD target2 a
    SORT z ALPHA STORE target2
    TYPE target2
    LRANGE target2 0 -1
    SORT missing STORE target2
    EXISTS target2
    SORT missing STORE target2
    SORT nums LIMIT 20 1 STORE dst
    EXISTS dst
    SORT nums STORE d1 STORE d2
    EXISTS d1
    LRANGE d2 0 -1
    SORT words STORE dst
    EXISTS dst
    SORT words ALPHA STORE words
    LRANGE words 0 -1
    SORT str STORE dst
    SORT nums store
    RPUSH big a
    SORT wset ALPHA GET nokey_* STORE big
    LRANGE big 0 -1
";

/// Past the small encodings' limits, so the big forms (quicklist, hashtable set, skiplist)
/// are sorted too.
fn big_script() -> String {
    let mut s = String::from("DEL bl bs bz bzs\n");
    for i in 0..300 {
        let v = (i * 7919) % 1000;
        s.push_str(&format!("RPUSH bl {v}\nSADD bs m{v:03}\nZADD bz {i} {v}\n"));
    }
    s.push_str("SADD bzs 1 2 3\n");
    for cmd in [
        "SORT bl",
        "SORT bl DESC LIMIT 10 20",
        "SORT bl BY nosort LIMIT 290 20",
        "SORT bl BY nosort DESC LIMIT 5 5",
        "SORT bs ALPHA LIMIT 0 30",
        "SORT bs ALPHA DESC LIMIT 100 10",
        "SORT bz",
        "SORT bz BY nosort LIMIT 150 10",
        "SORT bz BY nosort DESC LIMIT 150 10",
        "SORT bz ALPHA LIMIT 7 7",
        "SORT bs ALPHA STORE bdst",
        "LRANGE bdst 0 -1",
        "SORT bs STORE bdst",
    ] {
        s.push_str(cmd);
        s.push('\n');
    }
    s
}

#[test]
fn sort_answers_as_redis_does() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    both.script(DATA);
    both.script(SCRIPT);
    both.script(STORE_SCRIPT);
    both.script(&big_script());
    both.resp3();
    both.script(DATA);
    both.script(SCRIPT);
    both.script(STORE_SCRIPT);
}

#[test]
fn sort_in_small_encodings_answers_as_redis_does() {
    let small = [
        "--zset-max-listpack-entries",
        "2",
        "--set-max-intset-entries",
        "2",
        "--list-max-listpack-size",
        "2",
    ];
    let Some(mut both) = Both::start(&small, &small) else {
        return;
    };
    both.script(DATA);
    both.script(SCRIPT);
    both.script(STORE_SCRIPT);
}

#[test]
fn sort_in_a_transaction_answers_as_redis_does() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    both.script(DATA);
    // Patterns lock every shard: inside EXEC they come from the transaction's hold.
    both.script(
        "
        MULTI
        SORT words BY w_* GET # GET h_*->name
        SORT words BY w_* STORE dst
        LRANGE dst 0 -1
        SORT nums LIMIT 0 3
        SORT str
        EXEC
        ",
    );
}

#[test]
fn sort_keys_are_redis_s() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    both.script(
        "
        COMMAND GETKEYS SORT k
        COMMAND GETKEYS SORT k STORE d
        COMMAND GETKEYS SORT k BY w_* GET g_* STORE d
        COMMAND GETKEYS SORT k STORE d1 LIMIT 0 1 STORE d2
        COMMAND GETKEYS SORT k BY store GET store LIMIT store store
        COMMAND GETKEYS SORT k GET x
        COMMAND GETKEYSANDFLAGS SORT k BY w_* STORE d
        COMMAND GETKEYS SORT_RO k BY w_* GET g_*
        COMMAND GETKEYSANDFLAGS SORT_RO k STORE d
        ",
    );
}

#[test]
fn sort_patterns_are_refused_in_cluster_mode_as_redis_7_0_refuses_them() {
    use common::versus::{RedisServer, Resp, show};
    let Some(redis) = RedisServer::start(&["--cluster-enabled", "yes"]) else {
        return;
    };
    let mut r = Resp::connect(redis.addr);
    r.cmd("CLUSTER ADDSLOTSRANGE 0 16383");
    common::wait_until(30, "redis serves every slot", || {
        matches!(r.cmd("CLUSTER INFO"), cairn_protocol::Frame::Bulk(b)
            if String::from_utf8_lossy(&b).contains("cluster_state:ok"))
    });
    // A lone Cairn node serves no slot: three primaries, and the one owning {t}.
    let c = common::cluster::LocalCluster::start(3, &[]);
    c.create(3);
    let slot: i64 = q(
        &mut common::cluster::conn(c.port(0)),
        &["CLUSTER", "KEYSLOT", "{t}"],
    );
    let owner = c.owner_of(0, slot as u16);
    let mut k = Resp::connect(c.addr(owner));
    for line in [
        "RPUSH {t}l 3 1 2",
        "SET {t}w_1 3",
        "SORT {t}l",
        "SORT {t}l BY nosort",
        "SORT {t}l BY {t}w_*",
        "SORT {t}l BY w_*",
        "SORT {t}l GET #",
        "SORT {t}l GET {t}w_*",
        "SORT_RO {t}l BY {t}w_* GET #",
        "SORT {t}l LIMIT x 1 BY w_*",
        "SORT {t}l BY w_* LIMIT x 1",
        "SORT {t}l FOO GET #",
        "SORT {t}l STORE {t}d",
        "LRANGE {t}d 0 -1",
        "SORT {t}l STORE other",
    ] {
        let (a, b) = (k.cmd(line), r.cmd(line));
        assert_eq!(
            a,
            b,
            "{line}: Cairn answered {}, Redis {}",
            show(&a),
            show(&b)
        );
    }
}

#[test]
fn sort_events_are_redis_s() {
    let Some(redis) = common::versus::RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let commands: &[&[&str]] = &[
        &["RPUSH", "l", "3", "1", "2"],
        &["SORT", "l", "STORE", "d"],
        &["SORT", "l", "LIMIT", "0", "1", "STORE", "d"],
        &["SORT", "nokey", "STORE", "d"],
        &["SORT", "nokey", "STORE", "d"],
        &["SORT", "l"],
        &["SORT", "l", "BY", "w_*", "GET", "#", "STORE", "e"],
    ];
    let from_redis = keyevents(|| redis.client(), commands);
    let from_cairn = keyevents(|| cairn.client(), commands);
    assert!(from_redis.len() >= 5, "{from_redis:?}");
    assert_eq!(from_cairn, from_redis);
}

#[test]
fn a_stored_sort_replays_from_the_aof_to_the_same_list() {
    let dir = std::env::temp_dir().join(format!("cairn-sort-aof-{}", std::process::id()));
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
    let (before, gone): (Vec<String>, i64);
    {
        let srv = CairnProcess::start(&args);
        let mut c = srv.client();
        let _: i64 = q(&mut c, &["RPUSH", "l", "b", "c", "a"]);
        let _: () = q(&mut c, &["MSET", "w_a", "3", "w_b", "1", "w_c", "2"]);
        let _: i64 = q(&mut c, &["HSET", "h_a", "n", "A"]);
        let _: () = q(&mut c, &["SET", "dst", "old"]);
        let n: i64 = q(
            &mut c,
            &[
                "SORT", "l", "BY", "w_*", "GET", "#", "GET", "h_*->n", "STORE", "dst",
            ],
        );
        assert_eq!(n, 6);
        // The weights change after the sort: a replay of the command itself would now
        // give another list; the journal holds the list.
        let _: () = q(&mut c, &["MSET", "w_a", "0", "w_b", "9"]);
        let _: i64 = q(&mut c, &["RPUSH", "gone", "x"]);
        let _: i64 = q(&mut c, &["SORT", "nokey", "STORE", "gone"]);
        before = q(&mut c, &["LRANGE", "dst", "0", "-1"]);
        assert_eq!(before, ["b", "", "c", "", "a", "A"]);
        gone = q(&mut c, &["EXISTS", "gone"]);
        assert_eq!(gone, 0);
    }
    let srv = CairnProcess::start(&args);
    let mut c = srv.client();
    let after: Vec<String> = q(&mut c, &["LRANGE", "dst", "0", "-1"]);
    assert_eq!(after, before);
    let exists: i64 = q(&mut c, &["EXISTS", "gone"]);
    assert_eq!(exists, gone);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
