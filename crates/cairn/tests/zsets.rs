//! Sorted sets against the real binary: every command's replies and errors held against a
//! real redis-server's, byte for byte, in RESP2 and RESP3, in both encodings (a listpack
//! while small, the tree after; the tests run the same script with the thresholds
//! lowered so every command meets the big form too).

mod common;

use common::events::{blocked_clients, in_thread, keyevents, wait_blocked};
use common::versus::Both;
use common::{CairnProcess, err, q};
use redis::Value;

const SCRIPT: &str = "
    ZADD z 1 a 2 b 3 c
    ZADD z 0.1 d 1e300 e -inf f +inf g 1.5e-7 h 0x10 i
    ZADD z -0 j
    ZSCORE z j
    ZRANGE z 0 -1 WITHSCORES
    ZADD z NX 5 a 6 new
    ZADD z XX 5 a 7 newer
    ZADD z XX CH 5 a 9 b
    ZADD z GT CH 1 a 10 b
    ZADD z LT CH 1 a 100 b
    ZADD z NX XX 1 a
    ZADD z GT LT 1 a
    ZADD z NX GT 1 a
    ZADD z INCR 1 a 2 b
    ZADD z INCR 2.5 a
    ZADD z NX INCR 1 a
    ZADD z XX INCR 1 nope
    ZADD z GT INCR -1 a
    ZADD z 1
    ZADD z 1 a 2
    ZADD z x a
    ZADD z nan a
    ZADD z 1e400 a
    ZADD z ' 1' a
    ZADD z '' a
    ZADD z INCR inf g
    ZADD z INCR -inf g
    ZINCRBY z 1 a
    ZINCRBY z -inf g
    ZINCRBY z 1 fresh
    ZINCRBY z x a
    ZINCRBY newkey 2.5 m
    ZADD nokey XX 1 a
    EXISTS nokey
    ZADD nokey NX GT 1 a
    ZCARD z
    ZCARD nokey
    ZSCORE z a
    ZSCORE z nope
    ZSCORE nokey a
    ZMSCORE z a nope b
    ZMSCORE nokey a b
    ZRANK z a
    ZRANK z nope
    ZREVRANK z a
    ZRANK nokey a
    ZCOUNT z -inf +inf
    ZCOUNT z (1 3
    ZCOUNT z 1 (3
    ZCOUNT z (1 (1
    ZCOUNT z 5 1
    ZCOUNT z x 1
    ZCOUNT nokey 0 1
    ZRANGE z 0 -1
    ZRANGE z 0 -1 WITHSCORES
    ZRANGE z -3 -1 WITHSCORES
    ZRANGE z 2 1
    ZRANGE z 100 200
    ZRANGE z -100 2
    ZRANGE z 0 -1 REV WITHSCORES
    ZRANGE z 1 2 REV
    ZRANGE z (1 +inf BYSCORE WITHSCORES
    ZRANGE z +inf (1 BYSCORE REV WITHSCORES
    ZRANGE z -inf +inf BYSCORE LIMIT 1 2
    ZRANGE z -inf +inf BYSCORE LIMIT 1 -1
    ZRANGE z -inf +inf BYSCORE LIMIT -1 2
    ZRANGE z -inf +inf BYSCORE LIMIT 100 2
    ZRANGE z -inf +inf BYSCORE LIMIT 0 0
    ZRANGE z +inf -inf BYSCORE REV LIMIT 2 3 WITHSCORES
    ZRANGE z 0 -1 LIMIT 0 1
    ZRANGE z 0 -1 LIMIT 0 -1
    ZRANGE z - + BYLEX WITHSCORES
    ZRANGE z 0 -1 BYSCORE BYLEX
    ZRANGE z 0 -1 REV REV
    ZRANGE z 0 -1 FOO
    ZRANGE z x 1
    ZRANGE z x 1 BYSCORE
    ZRANGE z a b BYLEX
    ZRANGE nokey 0 -1
    ZRANGE z 0 -1 LIMIT 1
    ZREVRANGE z 0 2 WITHSCORES
    ZREVRANGE z 0 2 BYSCORE
    ZRANGEBYSCORE z 1 3 WITHSCORES
    ZRANGEBYSCORE z (1 3 LIMIT 0 1
    ZRANGEBYSCORE z 1 3 REV
    ZRANGEBYSCORE z 1 x
    ZREVRANGEBYSCORE z 3 1 WITHSCORES
    ZREVRANGEBYSCORE z +inf -inf LIMIT 1 1
    DEL lex
    ZADD lex 0 a 0 b 0 c 0 d 0 e 0 f
    ZRANGEBYLEX lex - +
    ZRANGEBYLEX lex [b (e
    ZRANGEBYLEX lex (b [e LIMIT 1 2
    ZRANGEBYLEX lex + -
    ZRANGEBYLEX lex b e
    ZRANGEBYLEX lex [b [e WITHSCORES
    ZREVRANGEBYLEX lex + -
    ZREVRANGEBYLEX lex [e (b
    ZRANGE lex [e [b BYLEX REV LIMIT 0 2
    ZLEXCOUNT lex - +
    ZLEXCOUNT lex [b [d
    ZLEXCOUNT lex (b (b
    ZLEXCOUNT lex x y
    ZREMRANGEBYLEX lex [b (d
    ZRANGE lex 0 -1
    ZREMRANGEBYLEX lex x y
    ZREMRANGEBYRANK lex 0 0
    ZREMRANGEBYRANK lex 5 10
    ZREMRANGEBYRANK lex x 1
    ZRANGE lex 0 -1
    ZREMRANGEBYSCORE lex -inf +inf
    EXISTS lex
    ZREMRANGEBYSCORE z 1 2
    ZREMRANGEBYSCORE z x 2
    ZRANGE z 0 -1 WITHSCORES
    ZREM z a nope a
    ZREM z nope
    ZREM nokey a
    ZPOPMIN z
    ZPOPMAX z
    ZPOPMIN z 2
    ZPOPMAX z 2
    ZPOPMIN z 0
    ZPOPMIN z -1
    ZPOPMIN z x
    ZPOPMIN nokey
    ZPOPMIN nokey 2
    ZADD m1 1 a 2 b
    ZADD m2 3 c
    ZMPOP 2 nokey m1 MIN
    ZMPOP 2 nokey m1 MAX COUNT 5
    ZMPOP 2 m1 m2 MIN COUNT 10
    ZMPOP 1 nokey MIN
    ZMPOP 0 m1 MIN
    ZMPOP 1 m1 FOO
    ZMPOP 1 m1 MIN COUNT 0
    ZMPOP 5 m1 MIN
    ZADD u1 1 a 2 b 3 c
    ZADD u2 4 b 5 c 6 d
    SADD s1 a d x
    ZUNION 2 u1 u2 WITHSCORES
    ZUNION 2 u1 u2 WEIGHTS 2 3 WITHSCORES
    ZUNION 2 u1 u2 AGGREGATE MIN WITHSCORES
    ZUNION 2 u1 u2 AGGREGATE MAX WITHSCORES
    ZUNION 3 u1 u2 s1 WITHSCORES
    ZINTER 2 u1 u2 WITHSCORES
    ZINTER 2 u1 u2 AGGREGATE MAX
    ZINTER 3 u1 u2 s1
    ZINTER 2 u1 nokey
    ZDIFF 2 u1 u2 WITHSCORES
    ZDIFF 2 u2 s1
    ZDIFF 2 u1 u2 WEIGHTS 1 2
    ZUNION 0 u1
    ZUNION 3 u1 u2
    ZUNION 2 u1 u2 WEIGHTS 1
    ZUNION 2 u1 u2 WEIGHTS 1 x
    ZUNION 2 u1 u2 AGGREGATE AVG
    ZUNIONSTORE dst 2 u1 u2 WEIGHTS 1 -1
    ZRANGE dst 0 -1 WITHSCORES
    ZUNIONSTORE dst 2 u1 u2 WITHSCORES
    ZINTERSTORE dst 2 u1 u2
    ZRANGE dst 0 -1 WITHSCORES
    ZINTERSTORE dst 2 u1 nokey
    EXISTS dst
    ZDIFFSTORE dst 2 u1 u2
    ZRANGE dst 0 -1 WITHSCORES
    ZUNIONSTORE dst 0 u1
    ZADD inf1 inf a
    ZADD inf2 -inf a
    ZUNION 2 inf1 inf2 WITHSCORES
    ZUNION 2 u1 u2 WEIGHTS inf 0 WITHSCORES
    ZINTERCARD 2 u1 u2
    ZINTERCARD 2 u1 u2 LIMIT 1
    ZINTERCARD 2 u1 u2 LIMIT -1
    ZINTERCARD 0 u1
    ZINTERCARD 3 u1 u2
    ZINTERCARD 2 u1 u2 LIMIT x
    ZINTERCARD 2 u1 u2 WEIGHTS 1 2
    ZINTERCARD x u1
    ZRANGESTORE dst u1 0 1
    ZRANGE dst 0 -1 WITHSCORES
    ZRANGESTORE dst u1 (1 +inf BYSCORE LIMIT 0 1
    ZRANGE dst 0 -1 WITHSCORES
    ZRANGESTORE dst u1 [z [y BYLEX REV
    EXISTS dst
    ZRANGESTORE dst u1 0 -1 WITHSCORES
    ZRANGESTORE dst nokey 0 -1
    SET str x
    ZADD str 1 a
    ZSCORE str a
    ZRANGE str 0 -1
    ZUNION 1 str
    ZRANGESTORE dst str 0 -1
    ZPOPMIN str
    ZMPOP 1 str MIN
    ZCARD str
    ZRANDMEMBER str
    ZRANDMEMBER nokey
    ZRANDMEMBER nokey 5
    ZRANDMEMBER u1 0
    ~ZRANDMEMBER u1 3
    ~ZRANDMEMBER u1 10
    ?ZRANDMEMBER u1
    ?ZRANDMEMBER u1 -5
    ?ZRANDMEMBER u1 -5 WITHSCORES
    ~ZRANDMEMBER u1 3 WITHSCORES
    ZRANDMEMBER u1 1 FOO
    ZRANDMEMBER u1 -9223372036854775807 WITHSCORES
    ZRANDMEMBER u1 x
    ~ZSCAN u1 0
    ZSCAN u1 0 MATCH a*
    ZSCAN nokey 0
    ZSCAN u1 x
    TYPE u1
    OBJECT ENCODING u1
    COPY u1 ucopy
    ZADD ucopy 9 z
    ZREM ucopy a
    ZRANGE ucopy 0 -1 WITHSCORES
    ZRANGE u1 0 -1 WITHSCORES
    RENAME ucopy urenamed
    ZRANGE urenamed 0 -1 WITHSCORES
    ~SCAN 0 TYPE zset COUNT 1000
    ZADD big 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    OBJECT ENCODING big
    ZADD z 1 a
    ZADD z
    ZRANGEBYSCORE z
    ZRANK z a WITHSCORE extra
    BZPOPMIN nokey 0.01
    BZPOPMIN u1 0
    BZPOPMAX u1 nokey 0
    BZMPOP 0.01 1 u1 MAX COUNT 2
    BZMPOP 0.01 1 nokey MIN
    BZPOPMIN u1 x
    BZPOPMIN u1 -1
    BZPOPMIN str 0
";

/// Members past the default thresholds, so the same commands meet the tree form.
fn long_script() -> String {
    let mut s = String::from("DEL L\n");
    for i in 0..300 {
        s.push_str(&format!("ZADD L {} m{i:03}\n", (i * 7919) % 1000));
    }
    s.push_str("ZADD L 5 tie1 5 tie0 5 tie2\n");
    for cmd in [
        "OBJECT ENCODING L",
        "ZCARD L",
        "ZRANGE L 0 -1 WITHSCORES",
        "ZRANGE L 0 -1 REV",
        "ZRANGE L 100 120 WITHSCORES",
        "ZRANGE L -10 -1",
        "ZRANGEBYSCORE L (100 200 WITHSCORES",
        "ZRANGEBYSCORE L 100 200 LIMIT 5 7",
        "ZREVRANGEBYSCORE L 900 (100 LIMIT 3 10 WITHSCORES",
        "ZCOUNT L 0 500",
        "ZRANK L m150",
        "ZREVRANK L m150",
        "ZRANK L tie1",
        "ZSCORE L m299",
        "ZINCRBY L 2.5 m010",
        "ZRANK L m010",
        "ZREM L m000 m001 m002",
        "ZREMRANGEBYRANK L 10 20",
        "ZREMRANGEBYSCORE L (500 600",
        "ZPOPMIN L 3",
        "ZPOPMAX L 3",
        "ZCARD L",
        "ZRANGE L 0 -1 WITHSCORES",
        "ZUNIONSTORE L2 1 L WEIGHTS 2",
        "ZRANGE L2 0 -1 WITHSCORES",
        "OBJECT ENCODING L2",
        "ZINTERSTORE L3 2 L L2",
        "ZRANGE L3 0 -1 WITHSCORES",
        "ZRANGESTORE L4 L 0 9",
        "OBJECT ENCODING L4",
        "ZLEXCOUNT L - +",
        "ZMPOP 1 L MAX COUNT 4",
    ] {
        s.push_str(cmd);
        s.push('\n');
    }
    s
}

#[test]
fn sorted_set_commands_answer_as_redis_does() {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    both.script(SCRIPT);
    both.script(&long_script());
    both.resp3();
    both.script("FLUSHALL");
    both.script(SCRIPT);
}

#[test]
fn the_tree_form_answers_as_redis_does() {
    let small = ["--zset-max-listpack-entries", "2"];
    let Some(mut both) = Both::start(&small, &small) else {
        return;
    };
    both.script(SCRIPT);
    both.script(&long_script());
    both.resp3();
    both.script("FLUSHALL");
    both.script(SCRIPT);
    both.script(&long_script());
}

#[test]
fn blocked_pops_are_served_by_writes_and_replay_from_the_aof() {
    let dir = std::env::temp_dir().join(format!("cairn-zsets-aof-{}", std::process::id()));
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
    let before: Vec<(String, f64)>;
    {
        let srv = CairnProcess::start(&args);
        let mut c = srv.client();
        let min = in_thread(&srv, &["BZPOPMIN", "nokey", "jobs", "0"]);
        wait_blocked(&mut c, 1);
        let mpop = in_thread(&srv, &["BZMPOP", "0", "1", "jobs", "MAX", "COUNT", "2"]);
        wait_blocked(&mut c, 2);
        // One write serves both, first blocked first served.
        let _: i64 = q(
            &mut c,
            &["ZADD", "jobs", "5", "e", "1", "a", "3", "c", "4", "d"],
        );
        let got: (String, String, f64) =
            redis::from_redis_value(min.join().unwrap().unwrap()).unwrap();
        assert_eq!(got, ("jobs".into(), "a".into(), 1.0));
        let got: (String, Vec<(String, f64)>) =
            redis::from_redis_value(mpop.join().unwrap().unwrap()).unwrap();
        assert_eq!(
            got,
            ("jobs".into(), vec![("e".into(), 5.0), ("d".into(), 4.0)])
        );
        assert_eq!(blocked_clients(&mut c), 0);
        // Inside MULTI nothing blocks: a nil answer, as Redis gives.
        let _: () = q(&mut c, &["MULTI"]);
        let _: () = q(&mut c, &["BZPOPMIN", "empty", "0"]);
        let r: Value = q(&mut c, &["EXEC"]);
        assert_eq!(r, Value::Array(vec![Value::Nil]));
        let _: i64 = q(
            &mut c,
            &["ZADD", "jobs", "0.1", "x", "1e300", "y", "-inf", "z"],
        );
        let _: f64 = q(&mut c, &["ZINCRBY", "jobs", "0.2", "x"]);
        let _: i64 = q(&mut c, &["ZUNIONSTORE", "u", "1", "jobs", "WEIGHTS", "3"]);
        let _: i64 = q(&mut c, &["ZREMRANGEBYSCORE", "jobs", "-inf", "(0"]);
        before = q(&mut c, &["ZRANGE", "jobs", "0", "-1", "WITHSCORES"]);
        assert_eq!(before.len(), 3, "{before:?}");
    }
    let srv = CairnProcess::start(&args);
    let mut c = srv.client();
    let after: Vec<(String, f64)> = q(&mut c, &["ZRANGE", "jobs", "0", "-1", "WITHSCORES"]);
    assert_eq!(after, before);
    let u: Vec<(String, f64)> = q(&mut c, &["ZRANGE", "u", "0", "-1", "WITHSCORES"]);
    assert_eq!(u.len(), 4, "{u:?}");
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_digest_does_not_depend_on_the_encoding() {
    let srv = CairnProcess::start(&["--zset-max-listpack-entries", "4"]);
    let mut c = srv.client();
    let _: i64 = q(&mut c, &["ZADD", "small", "1", "a", "2", "b", "2.5", "c"]);
    let _: i64 = q(
        &mut c,
        &[
            "ZADD", "big", "1", "a", "2", "b", "2.5", "c", "9", "d", "10", "e",
        ],
    );
    let _: i64 = q(&mut c, &["ZREM", "big", "d", "e"]);
    let enc: String = q(&mut c, &["OBJECT", "ENCODING", "big"]);
    assert_eq!(enc, "skiplist");
    let d1: Vec<String> = q(&mut c, &["DEBUG", "DIGEST-VALUE", "small"]);
    let d2: Vec<String> = q(&mut c, &["DEBUG", "DIGEST-VALUE", "big"]);
    assert_eq!(d1, d2);
    let t: String = q(&mut c, &["TYPE", "big"]);
    assert_eq!(t, "zset");
    let n: i64 = q(&mut c, &["MEMORY", "USAGE", "big"]);
    assert!(n > 0);
    let err = err(&mut c, &["LPUSH", "big", "x"]);
    assert!(err.starts_with("WRONGTYPE"), "{err}");
}

#[test]
fn sorted_set_events_are_redis_s() {
    let Some(redis) = common::versus::RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let commands: &[&[&str]] = &[
        &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
        &["ZADD", "z", "1", "a"],
        &["ZADD", "z", "NX", "5", "a"],
        &["ZADD", "z", "INCR", "5", "a"],
        &["ZINCRBY", "z", "1", "b"],
        &["ZREM", "z", "nope"],
        &["ZREM", "z", "b"],
        &["ZPOPMIN", "z"],
        &["ZPOPMAX", "z", "1"],
        &["ZADD", "w", "1", "a", "2", "b", "3", "c"],
        &["ZREMRANGEBYRANK", "w", "0", "0"],
        &["ZREMRANGEBYSCORE", "w", "100", "200"],
        &["ZREMRANGEBYSCORE", "w", "2", "2"],
        &["ZREMRANGEBYLEX", "w", "-", "+"],
        &["ZADD", "x", "1", "a", "2", "b"],
        &["ZUNIONSTORE", "u", "2", "x", "z"],
        &["ZINTERSTORE", "i", "2", "x", "z"],
        &["ZINTERSTORE", "i", "2", "x", "nokey"],
        &["ZDIFFSTORE", "d", "1", "x"],
        &["ZRANGESTORE", "r", "x", "0", "0"],
        &["ZMPOP", "1", "x", "MIN", "COUNT", "5"],
        &["BZPOPMIN", "z", "0"],
    ];
    let from_redis = keyevents(|| redis.client(), commands);
    let from_cairn = keyevents(|| cairn.client(), commands);
    assert!(from_redis.len() >= 15, "{from_redis:?}");
    assert_eq!(from_cairn, from_redis);
}

#[test]
fn a_snapshot_brings_sorted_sets_back_bit_for_bit() {
    let dir = std::env::temp_dir().join(format!("cairn-zsets-rdb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display().to_string();
    let args = ["--dir", d.as_str()];
    let (digest, range): (String, Vec<(String, f64)>);
    {
        let srv = CairnProcess::start(&args);
        let mut c = srv.client();
        for i in 0..1000 {
            let score = format!("{}", f64::from(i) / 7.0 - 50.0);
            let _: i64 = q(&mut c, &["ZADD", "big", &score, &format!("m{i}")]);
        }
        let _: i64 = q(
            &mut c,
            &["ZADD", "small", "-0", "z", "inf", "i", "0.1", "t"],
        );
        let _: i64 = q(&mut c, &["ZADD", "big", "-0", "negzero", "-inf", "low"]);
        digest = q(&mut c, &["DEBUG", "DIGEST"]);
        range = q(&mut c, &["ZRANGE", "big", "0", "-1", "WITHSCORES"]);
        let _: () = q(&mut c, &["SAVE"]);
    }
    let srv = CairnProcess::start(&args);
    let mut c = srv.client();
    let after: String = q(&mut c, &["DEBUG", "DIGEST"]);
    assert_eq!(after, digest);
    let r: Vec<(String, f64)> = q(&mut c, &["ZRANGE", "big", "0", "-1", "WITHSCORES"]);
    assert_eq!(r, range);
    let s: String = q(&mut c, &["ZSCORE", "big", "negzero"]);
    assert_eq!(s, "-0");
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
