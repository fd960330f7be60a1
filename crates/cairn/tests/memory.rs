//! The memory limit against the real binary: `maxmemory` and its policies, the OOM error,
//! the eviction counters of INFO, and the MEMORY and OBJECT FREQ/IDLETIME commands.
//!
//! Every limit is set at run time relative to what the server already uses (INFO
//! `used_memory`), so the tests do not depend on how much a fresh process allocates.
//! No assertion is about time: eviction is checked through counters that must add up
//! exactly (every key written is either still there or was counted as evicted) and through
//! which keys survive.

mod common;

use std::collections::HashMap;

use common::{CairnProcess, cmd, err, q, start};
use redis::{Connection, Value};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const KB: u64 = 1024;
const MB: u64 = 1024 * 1024;

/// Keys written per pipeline. Small enough that the query buffer of one batch (~100 KB)
/// does not itself push the server far past a limit of a few MB.
const BATCH: usize = 100;

/// One INFO section as field => value.
fn info(con: &mut Connection, section: &str) -> HashMap<String, String> {
    let text: String = q(con, &["INFO", section]);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// A numeric INFO field that must be present.
fn info_u64(con: &mut Connection, section: &str, field: &str) -> u64 {
    let all = info(con, section);
    let v = all
        .get(field)
        .unwrap_or_else(|| panic!("INFO {section} has no {field}: {all:?}"));
    v.parse()
        .unwrap_or_else(|_| panic!("INFO {section} {field} is not a number: {v}"))
}

/// A numeric INFO stats field that may be absent (Redis prints `evicted_keys_<policy>`
/// only once that policy evicted something); absent counts as 0.
fn stat_or_zero(con: &mut Connection, field: &str) -> u64 {
    info(con, "stats")
        .get(field)
        .map_or(0, |v| v.parse().expect("a number"))
}

/// DBSIZE and evicted_keys as one consistent pair. The cron keeps evicting in the
/// background while memory is over the limit (a write may leave it slightly over), so
/// both are read between two equal readings of the counter: no eviction finished in
/// between, and eviction only ever increases it.
fn dbsize_and_evicted(con: &mut Connection) -> (u64, u64) {
    for _ in 0..100 {
        let before = info_u64(con, "stats", "evicted_keys");
        let keys = dbsize(con);
        let after = info_u64(con, "stats", "evicted_keys");
        if before == after {
            return (keys, after);
        }
    }
    panic!("evicted_keys never held still across a DBSIZE");
}

fn used_memory(con: &mut Connection) -> u64 {
    info_u64(con, "memory", "used_memory")
}

/// Sets `maxmemory` to what the server uses now plus `headroom` and returns the limit.
fn limit_above_usage(con: &mut Connection, headroom: u64) -> u64 {
    let limit = used_memory(con) + headroom;
    let _: () = q(con, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    limit
}

fn set_policy(con: &mut Connection, policy: &str) {
    let _: () = q(con, &["CONFIG", "SET", "maxmemory-policy", policy]);
}

fn dbsize(con: &mut Connection) -> u64 {
    q(con, &["DBSIZE"])
}

fn exists(con: &mut Connection, key: &str) -> bool {
    q::<i64>(con, &["EXISTS", key]) == 1
}

/// A 1 KB value.
fn kb_value() -> String {
    "v".repeat(KB as usize)
}

/// `SET {prefix}{i} value [extra...]` for every i in `range`, pipelined; every reply must
/// be OK (an OOM or any other error fails the test).
fn write_keys(
    con: &mut Connection,
    prefix: &str,
    range: std::ops::Range<usize>,
    value: &str,
    extra: &[&str],
) {
    let keys: Vec<usize> = range.collect();
    for chunk in keys.chunks(BATCH) {
        let mut p = redis::pipe();
        for i in chunk {
            p.cmd("SET")
                .arg(format!("{prefix}{i}"))
                .arg(value)
                .arg(extra);
        }
        let replies: Vec<Value> = p
            .query(con)
            .unwrap_or_else(|e| panic!("writing {prefix}{}..: {e}", chunk[0]));
        for (i, r) in chunk.iter().zip(replies) {
            assert_eq!(r, Value::Okay, "SET {prefix}{i}");
        }
    }
}

/// Writes `{prefix}0`, `{prefix}1`, ... one at a time until a SET fails; returns how many
/// succeeded and the error. Fails the test if `cap` writes all succeed.
fn write_until_error(
    con: &mut Connection,
    prefix: &str,
    value: &str,
    cap: usize,
) -> (usize, String) {
    for i in 0..cap {
        let key = format!("{prefix}{i}");
        if let Err(e) = cmd(&["SET", key.as_str(), value]).query::<()>(con) {
            let line = match (e.code(), e.detail()) {
                (Some(code), Some(detail)) => format!("{code} {detail}"),
                _ => panic!("SET {key}: not an error reply: {e}"),
            };
            return (i, line);
        }
    }
    panic!(
        "{cap} SETs of {} bytes never hit the memory limit",
        value.len()
    );
}

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Text of a bulk, simple or verbatim string reply.
fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Okay => "OK".into(),
        other => panic!("not a string: {other:?}"),
    }
}

/// A map reply as (key, value) pairs: a RESP3 map, or RESP2's flat array of pairs.
fn pairs(v: Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(m) => m.into_iter().map(|(k, v)| (text(&k), v)).collect(),
        Value::Array(a) => {
            assert!(a.len() % 2 == 0, "odd-length map array: {a:?}");
            let mut it = a.into_iter();
            let mut out = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((text(&k), v));
            }
            out
        }
        other => panic!("not a map: {other:?}"),
    }
}

fn field<'a>(m: &'a [(String, Value)], name: &str) -> &'a Value {
    let found: Vec<&Value> = m
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{name} appears {} times in {m:?}",
        found.len()
    );
    found[0]
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Eviction under a limit
// ---------------------------------------------------------------------------------------

/// allkeys-lru keeps the process within the limit while ~25 MB are written through a 2 MB
/// budget, and its counters account for every key: present now or counted as evicted.
#[test]
fn allkeys_lru_stays_under_the_limit_and_counts_every_eviction() {
    let (_srv, mut con) = start();
    set_policy(&mut con, "allkeys-lru");
    let limit = limit_above_usage(&mut con, 2 * MB);

    let written = 25_000;
    write_keys(&mut con, "k:", 0..written, &kb_value(), &[]);

    // After the last write the server evicted down to the limit before that write, so at
    // most one value (plus allocator slack) can be over it.
    let slack = (limit / 10).max(MB);
    let used = used_memory(&mut con);
    assert!(
        used <= limit + slack,
        "used_memory {used} > maxmemory {limit} + {slack}"
    );

    let (present, evicted) = dbsize_and_evicted(&mut con);
    assert!(evicted > 0, "25 MB through a 2 MB limit evicted nothing");
    // Exact: no key expires and no key is written twice, so a key missing now was evicted
    // and every eviction removed one distinct written key.
    assert_eq!(
        present + evicted,
        written as u64,
        "DBSIZE {present} + evicted_keys {evicted} != keys written"
    );
    assert_eq!(
        stat_or_zero(&mut con, "evicted_keys_allkeys_lru"),
        evicted,
        "the per-policy counter must match under a single policy"
    );
    // Nothing was turned away: only TinyLFU rejects newcomers.
    assert_eq!(info_u64(&mut con, "stats", "evicted_rejected"), 0);
    // LRU keeps the most recent writes: the very last key is certainly there.
    assert!(exists(&mut con, &format!("k:{}", written - 1)));
}

/// noeviction: once full, denyoom writes get Redis's -OOM error and change nothing, while
/// reads, DEL and other non-denyoom commands still run; FLUSHALL makes room again.
#[test]
fn noeviction_refuses_writes_but_not_reads_or_deletes() {
    let (_srv, mut con) = start();
    set_policy(&mut con, "noeviction");
    limit_above_usage(&mut con, 512 * KB);

    let value = kb_value();
    let (ok, e) = write_until_error(&mut con, "k:", &value, 100_000);
    assert_eq!(e, OOM);
    assert!(ok > 0, "the first write already failed");
    assert_eq!(
        dbsize(&mut con),
        ok as u64,
        "the refused SET must not create its key"
    );

    // Other denyoom commands are refused too, even on existing keys.
    for args in [
        vec!["SET", "k:0", "x"],
        vec!["APPEND", "k:0", "x"],
        vec!["SETRANGE", "k:0", "0", "x"],
        vec!["INCR", "counter"],
        vec!["MSET", "a", "1", "b", "2"],
        vec!["SETNX", "fresh", "1"],
    ] {
        assert_eq!(err(&mut con, &args), OOM, "{args:?}");
    }
    assert_eq!(
        q::<Option<String>>(&mut con, &["GET", "k:0"]),
        Some(value.clone())
    );
    assert!(!exists(&mut con, "counter"));
    assert!(!exists(&mut con, "fresh"));

    // Reads and non-denyoom writes still work.
    assert_eq!(
        q::<Option<String>>(&mut con, &["GET", "k:1"]),
        Some(value.clone())
    );
    assert_eq!(q::<i64>(&mut con, &["STRLEN", "k:2"]), KB as i64);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k:3", "1000"]), 1);
    assert_eq!(q::<i64>(&mut con, &["DEL", "k:0", "k:1"]), 2);
    assert_eq!(dbsize(&mut con), ok as u64 - 2);

    // Nothing may be evicted under noeviction.
    assert_eq!(info_u64(&mut con, "stats", "evicted_keys"), 0);

    // An empty keyspace is well under the limit: writes work again at once.
    let _: () = q(&mut con, &["FLUSHALL"]);
    let _: () = q(&mut con, &["SET", "k:0", &value]);
    assert_eq!(q::<i64>(&mut con, &["INCR", "counter"]), 1);
}

/// volatile-* policies may evict only keys with a TTL: with none, a full server answers
/// OOM rather than evicting a persistent key.
#[test]
fn volatile_policies_without_ttl_keys_answer_oom() {
    for policy in [
        "volatile-lru",
        "volatile-ttl",
        "volatile-lfu",
        "volatile-random",
    ] {
        let (_srv, mut con) = start();
        set_policy(&mut con, policy);
        limit_above_usage(&mut con, 512 * KB);
        let (ok, e) = write_until_error(&mut con, "k:", &kb_value(), 100_000);
        assert_eq!(e, OOM, "{policy}");
        assert_eq!(
            dbsize(&mut con),
            ok as u64,
            "{policy}: a persistent key went"
        );
        assert_eq!(info_u64(&mut con, "stats", "evicted_keys"), 0, "{policy}");
    }
}

/// With some keys carrying a TTL, volatile-lru and volatile-ttl evict only those: every
/// persistent key survives a flood of keys with TTLs, and the counters add up.
#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for policy in ["volatile-lru", "volatile-ttl"] {
        let (_srv, mut con) = start();
        set_policy(&mut con, policy);
        let value = kb_value();
        // 1 MB of persistent keys first, then a limit 2 MB above that.
        let persistent = 1_000;
        write_keys(&mut con, "keep:", 0..persistent, &value, &[]);
        limit_above_usage(&mut con, 2 * MB);

        // 20 MB of keys with a (long) TTL: none expires during the test.
        let volatile = 20_000;
        write_keys(&mut con, "tmp:", 0..volatile, &value, &["EX", "100000"]);

        let missing: Vec<usize> = (0..persistent)
            .filter(|i| !exists(&mut con, &format!("keep:{i}")))
            .collect();
        assert!(
            missing.is_empty(),
            "{policy} evicted persistent keys {missing:?}"
        );
        let (present, evicted) = dbsize_and_evicted(&mut con);
        assert!(evicted > 0, "{policy}: nothing evicted");
        assert_eq!(
            present + evicted,
            (persistent + volatile) as u64,
            "{policy}: DBSIZE + evicted_keys != keys written"
        );
        let per_policy = format!("evicted_keys_{}", policy.replace('-', "_"));
        assert_eq!(stat_or_zero(&mut con, &per_policy), evicted, "{per_policy}");
    }
}

/// volatile-ttl evicts the sampled key closest to expiring. Half the keys get a short TTL
/// and half a long one, interleaved; sampling 5 keys, a long-TTL key goes only when all 5
/// samples are long, so at equilibrium about 87% of the survivors have the long TTL. The
/// assertion (more than twice as many long as short) leaves a wide margin.
#[test]
fn volatile_ttl_prefers_keys_that_expire_sooner() {
    let (_srv, mut con) = start();
    set_policy(&mut con, "volatile-ttl");
    limit_above_usage(&mut con, 2 * MB);
    let value = kb_value();
    let n = 10_000;
    for start in (0..n).step_by(BATCH) {
        let mut p = redis::pipe();
        for i in start..start + BATCH {
            let ttl = if i % 2 == 0 { "1000" } else { "1000000" };
            p.cmd("SET")
                .arg(format!("k:{i}"))
                .arg(&value)
                .arg("EX")
                .arg(ttl)
                .ignore();
        }
        let _: () = p.query(&mut con).unwrap();
    }
    let (mut short, mut long) = (0, 0);
    for i in 0..n {
        if exists(&mut con, &format!("k:{i}")) {
            if i % 2 == 0 { short += 1 } else { long += 1 }
        }
    }
    assert!(short + long > 0 && short + long < n, "{short} + {long}");
    assert!(
        long > 2 * short,
        "volatile-ttl kept {short} short-TTL and {long} long-TTL keys"
    );
}

/// allkeys-tinylfu (the default) keeps keys that are asked for often through a flood of
/// keys written once: the newcomers lose the admission test against the hot keys'
/// frequency.
///
/// The cache is brought to a steady state first, so that what the test sees is admission
/// and not two effects of a cache still settling:
/// - TinyLFU's sketch is sized by the keys held and, as in Caffeine, starts afresh each
///   time it grows, so only accesses made once the cache is full are remembered;
/// - each of the 16384 slots gets its own hash table (at least 64 bytes, kept once
///   allocated), so the first writes to reach every slot add ~1 MB of table memory that
///   pushes data out. 40k distinct keys reach ~91% of the slots.
///
/// The hot keys then arrive as a cache-aside client stores them: asked for (misses, which
/// the sketch counts) before being SET, so they win the admission test that a key nobody
/// asked for loses.
#[test]
fn tinylfu_keeps_hot_keys_through_a_flood_of_one_hit_keys() {
    let (_srv, mut con) = start();
    // The default: no CONFIG SET needed, and the test checks that it is the default.
    assert_eq!(
        info(&mut con, "memory")["maxmemory_policy"],
        "allkeys-tinylfu"
    );
    limit_above_usage(&mut con, 3 * MB);
    let value = kb_value();
    let fill = 40_000;
    write_keys(&mut con, "fill:", 0..fill, &value, &[]);
    assert!(
        info_u64(&mut con, "stats", "evicted_keys") > 0,
        "40 MB of writes did not fill a 3 MB limit"
    );

    let hot = 200;
    let reads = 20;
    for i in 0..hot {
        let key = format!("hot:{i}");
        let mut p = redis::pipe();
        for _ in 0..reads {
            p.cmd("GET").arg(&key).ignore();
        }
        p.cmd("SET").arg(&key).arg(&value).ignore();
        let _: () = p.query(&mut con).unwrap();
    }
    let admitted = (0..hot)
        .filter(|i| exists(&mut con, &format!("hot:{i}")))
        .count();
    assert!(
        admitted * 10 > hot * 9,
        "only {admitted} of {hot} keys asked for {reads} times were admitted"
    );

    let cold = 20_000;
    write_keys(&mut con, "cold:", 0..cold, &value, &[]);

    let survivors = (0..hot)
        .filter(|i| exists(&mut con, &format!("hot:{i}")))
        .count();
    assert!(
        survivors * 10 > hot * 9,
        "only {survivors} of {hot} hot keys survived 20 MB of one-hit keys"
    );

    let (present, evicted) = dbsize_and_evicted(&mut con);
    let rejected = info_u64(&mut con, "stats", "evicted_rejected");
    assert!(rejected > 0, "no newcomer was ever turned away");
    // A rejected newcomer is written, then dropped, and counts as evicted too: so the
    // exact accounting is the same as for the other policies.
    assert!(
        rejected <= evicted,
        "rejected {rejected} > evicted {evicted}"
    );
    assert_eq!(
        present + evicted,
        (fill + hot + cold) as u64,
        "DBSIZE + evicted_keys != keys written"
    );
    assert_eq!(
        stat_or_zero(&mut con, "evicted_keys_allkeys_tinylfu"),
        evicted
    );
    // The hot keys' misses were counted as such.
    assert!(info_u64(&mut con, "stats", "keyspace_misses") >= (reads * hot) as u64);
}

/// One cache-aside pass over `{prefix}0..n`: GET every key, SET the ones that missed.
/// Returns the hits.
fn cache_aside_pass(con: &mut Connection, prefix: &str, n: usize, value: &str) -> usize {
    let mut hits = 0;
    let keys: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    for chunk in keys.chunks(BATCH) {
        let mut p = redis::pipe();
        for key in chunk {
            p.cmd("GET").arg(key);
        }
        let got: Vec<Option<Vec<u8>>> = p.query(con).unwrap();
        let mut p = redis::pipe();
        for (key, v) in chunk.iter().zip(got) {
            match v {
                Some(_) => hits += 1,
                None => {
                    p.cmd("SET").arg(key).arg(value).ignore();
                }
            }
        }
        if p.cmd_iter().next().is_some() {
            let _: () = p.query(con).unwrap();
        }
    }
    hits
}

/// When popularity moves to other keys, TinyLFU must follow within a few passes, although
/// the old keys' counts are saturated and the newcomers lose every admission test at
/// first: the hit ratio falls, the sketch tuner sees it (between two windows of requests)
/// and halves the sketch at once. With a fixed period the old keys' counts would only
/// halve after ~10 reads per key the limit may hold, more than twice the passes allowed
/// here, so the test fails if the drop is not acted on.
///
/// Two sets of 8,000 keys with 150-byte values; either fits in the limit, both do not.
/// Set A is read until every counter saturates; then set B is read pass after pass. Once
/// the tuner halves the sketch, B's hit ratio jumps from ~0.01 to 0.6-0.9 in one pass and
/// then creeps up as the rest of A ages out: some runs pass 0.9 within a few passes, others
/// level off near 0.87 (which 0.9 made a coin toss), so B must pass 0.8, which a tuner
/// that does not act keeps it far from for twice the passes allowed.
#[test]
fn tinylfu_follows_popularity_when_it_moves() {
    let (_srv, mut con) = start();
    limit_above_usage(&mut con, 3 * MB);
    let value = "v".repeat(150);
    let n = 8_000;
    for _ in 0..16 {
        cache_aside_pass(&mut con, "a:", n, &value);
    }
    let a_hits = cache_aside_pass(&mut con, "a:", n, &value);
    assert!(
        a_hits * 10 > n * 9,
        "set A does not fit: {a_hits} hits of {n}"
    );

    let max_passes = 12;
    let mut ratios = Vec::new();
    for _ in 0..max_passes {
        let hits = cache_aside_pass(&mut con, "b:", n, &value);
        ratios.push(hits as f64 / n as f64);
        if hits * 10 > n * 8 {
            break;
        }
        // The tuner runs on the cron's tick (hz 10): let it see the window that closed.
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(
        ratios.last().is_some_and(|r| *r > 0.8),
        "set B never took over the cache; hit ratio per pass: {ratios:?}"
    );
    assert!(info_u64(&mut con, "stats", "evicted_keys") > 0);
}

/// Lowering `maxmemory` below what the server holds must evict by the policy across the
/// whole keyspace: the keys the policy ranks worst go, whichever shard they live in.
///
/// 3000 cold keys are written once and 200 hot keys are read 20 times each; then the
/// limit drops ~1.5 MB under current usage, so about 45% of the keys must go. Each
/// eviction takes the worst of `maxmemory-samples` sampled keys, so a hot key goes only
/// when every sample is hot (hot keys are 6% of the keys): practically all of them must
/// survive. With `lfu-log-factor 0` the LFU counter counts every read, so hot keys rank
/// strictly above cold ones under both LFU policies; under LRU the hot keys are written
/// two seconds after the cold ones (the LRU clock counts whole seconds, as Redis's does).
#[test]
fn lowering_maxmemory_evicts_the_coldest_keys_everywhere() {
    let mut failures = Vec::new();
    for policy in ["allkeys-lfu", "allkeys-tinylfu", "allkeys-lru"] {
        let (_srv, mut con) = start();
        set_policy(&mut con, policy);
        let _: () = q(&mut con, &["CONFIG", "SET", "lfu-log-factor", "0"]);
        let value = kb_value();
        let cold = 3_000;
        write_keys(&mut con, "cold:", 0..cold, &value, &[]);
        if policy == "allkeys-lru" {
            std::thread::sleep(std::time::Duration::from_millis(2_100));
        }
        let hot = 200;
        write_keys(&mut con, "hot:", 0..hot, &value, &[]);
        for _ in 0..20 {
            let mut p = redis::pipe();
            for i in 0..hot {
                p.cmd("GET").arg(format!("hot:{i}")).ignore();
            }
            let _: () = p.query(&mut con).unwrap();
        }

        let limit = used_memory(&mut con) - 3 * MB / 2;
        let _: () = q(
            &mut con,
            &["CONFIG", "SET", "maxmemory", &limit.to_string()],
        );
        // Eviction happens on the next denyoom command and in the cron; wait (bounded)
        // until it has brought usage under the new limit.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while used_memory(&mut con) > limit {
            assert!(
                std::time::Instant::now() < deadline,
                "{policy}: usage never came down to the lowered limit"
            );
            let _: Value = q(&mut con, &["SET", "tick", "x"]);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }

        let (present, evicted) = dbsize_and_evicted(&mut con);
        assert!(evicted > 1_000, "{policy}: only {evicted} evicted");
        let survivors = (0..hot)
            .filter(|i| exists(&mut con, &format!("hot:{i}")))
            .count();
        if survivors * 10 <= hot * 9 {
            failures.push(format!(
                "{policy}: only {survivors} of {hot} hot keys survived while {} of {cold} cold keys stayed",
                present as usize - survivors - usize::from(exists(&mut con, "tick")),
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A limit of 0 turns the check off; a limit lowered below current usage refuses the
/// next write at once (noeviction), and setting 0 again lifts it.
#[test]
fn maxmemory_zero_means_no_limit() {
    let (_srv, mut con) = start();
    set_policy(&mut con, "noeviction");
    let _: () = q(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
    // 5 MB of writes with no limit and noeviction: all accepted.
    write_keys(&mut con, "k:", 0..5_000, &kb_value(), &[]);
    assert_eq!(dbsize(&mut con), 5_000);
    // A limit below current usage: the next write is refused.
    let used = used_memory(&mut con);
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "maxmemory", &(used / 2).to_string()],
    );
    assert_eq!(err(&mut con, &["SET", "more", "x"]), OOM);
    // Back to 0: writes work again.
    let _: () = q(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
    let _: () = q(&mut con, &["SET", "more", "x"]);
}

// ---------------------------------------------------------------------------------------
// CONFIG
// ---------------------------------------------------------------------------------------

fn config_get(con: &mut Connection, name: &str) -> String {
    let (k, v): (String, String) = q(con, &["CONFIG", "GET", name]);
    assert_eq!(k, name);
    v
}

/// Invalid values are refused with Redis's CONFIG SET error and leave the old value.
#[test]
fn config_set_rejects_bad_memory_settings() {
    let (_srv, mut con) = start();
    let _: () = q(&mut con, &["CONFIG", "SET", "maxmemory", "100mb"]);
    set_policy(&mut con, "allkeys-lru");
    let _: () = q(&mut con, &["CONFIG", "SET", "maxmemory-samples", "7"]);

    let policy_err = "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction, allkeys-tinylfu";
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "maxmemory-policy", "lru"]),
        policy_err
    );
    assert_eq!(
        err(&mut con, &["CONFIG", "SET", "maxmemory-policy", ""]),
        policy_err
    );
    assert_eq!(config_get(&mut con, "maxmemory-policy"), "allkeys-lru");

    // (Redis itself takes "" and "mb" as 0, an accident of its parser; those are left out.)
    let mem_err = "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value";
    for bad in ["-1", "abc", "10xb", "1.5gb", "1 gb"] {
        assert_eq!(
            err(&mut con, &["CONFIG", "SET", "maxmemory", bad]),
            mem_err,
            "maxmemory {bad:?}"
        );
    }
    assert_eq!(config_get(&mut con, "maxmemory"), (100 * MB).to_string());

    let samples_err = "ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must be between 1 and 64 inclusive";
    for bad in ["0", "65", "-3"] {
        assert_eq!(
            err(&mut con, &["CONFIG", "SET", "maxmemory-samples", bad]),
            samples_err,
            "maxmemory-samples {bad}"
        );
    }
    assert_eq!(config_get(&mut con, "maxmemory-samples"), "7");

    for name in ["lfu-log-factor", "lfu-decay-time"] {
        let before = config_get(&mut con, name);
        assert_eq!(
            err(&mut con, &["CONFIG", "SET", name, "-1"]),
            format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - argument must be between 0 and 2147483647 inclusive"
            )
        );
        assert_eq!(config_get(&mut con, name), before);
    }
}

/// Memory values take Redis's units (k = 1000, kb = 1024, ...), case-insensitively, and
/// INFO memory shows the configured limit and policy.
#[test]
fn config_memory_units_and_info() {
    let (_srv, mut con) = start();
    for (set, get) in [
        ("1gb", 1u64 << 30),
        ("1GB", 1 << 30),
        ("1g", 1_000_000_000),
        ("3mb", 3 << 20),
        ("3m", 3_000_000),
        ("5kb", 5 * 1024),
        ("5k", 5_000),
        ("12345", 12_345),
        ("0", 0),
    ] {
        let _: () = q(&mut con, &["CONFIG", "SET", "maxmemory", set]);
        assert_eq!(config_get(&mut con, "maxmemory"), get.to_string(), "{set}");
    }

    let _: () = q(&mut con, &["CONFIG", "SET", "maxmemory", "1gb"]);
    set_policy(&mut con, "VOLATILE-LFU");
    assert_eq!(config_get(&mut con, "maxmemory-policy"), "volatile-lfu");
    let mem = info(&mut con, "memory");
    assert_eq!(mem["maxmemory"], "1073741824");
    assert_eq!(mem["maxmemory_human"], "1.00G");
    assert_eq!(mem["maxmemory_policy"], "volatile-lfu");
    for f in [
        "used_memory",
        "used_memory_rss",
        "used_memory_peak",
        "used_memory_dataset",
        "used_memory_overhead",
        "used_memory_startup",
        "mem_fragmentation_ratio",
        "allocator_allocated",
        "allocator_active",
        "allocator_resident",
    ] {
        assert!(mem.contains_key(f), "INFO memory lacks {f}");
    }
    let used: u64 = mem["used_memory"].parse().unwrap();
    let peak: u64 = mem["used_memory_peak"].parse().unwrap();
    let startup: u64 = mem["used_memory_startup"].parse().unwrap();
    assert!(used > 0 && peak >= used && startup <= peak, "{mem:?}");

    let stats = info(&mut con, "stats");
    for f in [
        "evicted_keys",
        "evicted_rejected",
        "keyspace_hits",
        "keyspace_misses",
    ] {
        assert!(stats.contains_key(f), "INFO stats lacks {f}");
    }
}

// ---------------------------------------------------------------------------------------
// MEMORY
// ---------------------------------------------------------------------------------------

#[test]
fn memory_usage_of_keys() {
    let (_srv, mut con) = start();
    let _: () = q(&mut con, &["SET", "0123456789abcdef", &"x".repeat(32)]);
    let small: i64 = q(&mut con, &["MEMORY", "USAGE", "0123456789abcdef"]);
    assert!(
        (64..=128).contains(&small),
        "16-byte key, 32-byte value: {small}"
    );

    let _: () = q(&mut con, &["SET", "big", &"x".repeat(10 * 1024)]);
    let big: i64 = q(&mut con, &["MEMORY", "USAGE", "big"]);
    // The value alone is 10240 bytes; jemalloc rounds a 10 KB buffer up to its 12 KB size
    // class (Redis reports ~12.3 KB here too), so anything up to 16 KB is fair.
    assert!(big > 10 * 1024, "10 KB value: {big}");
    assert!(big < 16 * 1024, "10 KB value: {big}");

    assert_eq!(
        q::<Value>(&mut con, &["MEMORY", "USAGE", "missing"]),
        Value::Nil
    );
    assert_eq!(
        q::<i64>(&mut con, &["MEMORY", "USAGE", "big", "SAMPLES", "5"]),
        big
    );
    assert_eq!(
        q::<i64>(&mut con, &["MEMORY", "USAGE", "big", "samples", "0"]),
        big
    );
    assert_eq!(
        err(&mut con, &["MEMORY", "USAGE", "big", "FOO"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["MEMORY", "USAGE", "big", "SAMPLES"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["MEMORY", "USAGE", "big", "SAMPLES", "-1"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut con, &["MEMORY", "USAGE", "big", "SAMPLES", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut con, &["MEMORY", "USAGE"]),
        "ERR wrong number of arguments for 'memory|usage' command"
    );
    // MEMORY USAGE does not count as an access.
    assert_eq!(info_u64(&mut con, "stats", "keyspace_hits"), 0);
    assert_eq!(info_u64(&mut con, "stats", "keyspace_misses"), 0);
}

/// Loads 2000 keys in db 0 and checks MEMORY STATS against DBSIZE, in RESP2 (flat array)
/// and RESP3 (map, nested map for db.0, doubles for the ratios).
#[test]
fn memory_stats_counts_the_keyspace() {
    let (srv, mut con) = start();
    write_keys(&mut con, "k:", 0..2_000, &kb_value(), &["EX", "1000"]);
    write_keys(&mut con, "p:", 0..500, "x", &[]);
    let keys = dbsize(&mut con) as i64;
    assert_eq!(keys, 2_500);

    let mut con3 = redis::Client::open(srv.url_resp3())
        .unwrap()
        .get_connection()
        .unwrap();
    for (resp, con) in [("RESP2", &mut con), ("RESP3", &mut con3)] {
        let stats = pairs(q(con, &["MEMORY", "STATS"]));
        assert_eq!(int(field(&stats, "keys.count")), keys, "{resp}");
        assert!(int(field(&stats, "dataset.bytes")) > 2_000 * 1024, "{resp}");
        let total = int(field(&stats, "total.allocated"));
        let peak = int(field(&stats, "peak.allocated"));
        let startup = int(field(&stats, "startup.allocated"));
        assert!(startup < total && total <= peak, "{resp}: {stats:?}");
        assert!(int(field(&stats, "overhead.total")) > 0, "{resp}");
        assert!(int(field(&stats, "keys.bytes-per-key")) > 1024, "{resp}");
        // Ratios: doubles in RESP3, bulk strings that parse as numbers in RESP2.
        for f in ["dataset.percentage", "peak.percentage", "fragmentation"] {
            let ratio = match field(&stats, f) {
                Value::Double(d) => *d,
                v => text(v)
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("{resp} {f}: {v:?}")),
            };
            assert!(ratio > 0.0, "{resp} {f}: {ratio}");
        }
        let db0 = pairs(field(&stats, "db.0").clone());
        assert_eq!(int(field(&db0, "keys")), keys, "{resp} db.0");
        assert_eq!(int(field(&db0, "expires")), 2_000, "{resp} db.0");
        assert!(
            int(field(&db0, "overhead.hashtable.main")) > 0,
            "{resp} db.0"
        );
        if resp == "RESP3" {
            assert!(
                matches!(field(&stats, "db.0"), Value::Map(_)),
                "{resp} db.0"
            );
        }
        // Only databases holding keys are listed.
        assert!(stats.iter().all(|(k, _)| k != "db.1"), "{resp}");
    }
}

#[test]
fn memory_doctor_purge_help_and_malloc_stats() {
    let (srv, mut con) = start();
    let doctor = text(&q(&mut con, &["MEMORY", "DOCTOR"]));
    assert!(doctor.starts_with("Hi Sam"), "an empty instance: {doctor}");

    // With 6 MB of data and no limit, the doctor has something to say.
    write_keys(&mut con, "k:", 0..6_000, &kb_value(), &[]);
    let doctor = text(&q(&mut con, &["MEMORY", "DOCTOR"]));
    assert!(!doctor.trim().is_empty());

    let malloc = text(&q(&mut con, &["MEMORY", "MALLOC-STATS"]));
    assert!(!malloc.trim().is_empty());
    let _: () = q(&mut con, &["MEMORY", "PURGE"]);
    assert_eq!(q::<Value>(&mut con, &["MEMORY", "PURGE"]), Value::Okay);

    let help: Vec<String> = q(&mut con, &["MEMORY", "HELP"]);
    assert!(help[0].starts_with("MEMORY <subcommand>"), "{help:?}");
    for sub in ["DOCTOR", "MALLOC-STATS", "PURGE", "STATS", "USAGE", "HELP"] {
        assert!(
            help.iter().any(|l| l.starts_with(sub)),
            "MEMORY HELP lacks {sub}"
        );
    }
    assert_eq!(
        err(&mut con, &["MEMORY", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try MEMORY HELP."
    );

    // In RESP3 the doctor's report is a verbatim string.
    let mut con3 = redis::Client::open(srv.url_resp3())
        .unwrap()
        .get_connection()
        .unwrap();
    match q::<Value>(&mut con3, &["MEMORY", "DOCTOR"]) {
        Value::VerbatimString { text, .. } => assert!(!text.trim().is_empty()),
        other => panic!("MEMORY DOCTOR in RESP3: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// OBJECT FREQ / IDLETIME
// ---------------------------------------------------------------------------------------

const FREQ_ERR: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const IDLE_ERR: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// OBJECT FREQ needs an LFU policy (TinyLFU counts as one) and OBJECT IDLETIME is refused
/// under Redis's two LFU policies, exactly as Redis does; a missing key is nil either way.
#[test]
fn object_freq_and_idletime_follow_the_policy() {
    let (_srv, mut con) = start();
    let _: () = q(&mut con, &["SET", "k", "v"]);
    for policy in [
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "allkeys-tinylfu",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        set_policy(&mut con, policy);
        let lfu = matches!(policy, "allkeys-lfu" | "volatile-lfu" | "allkeys-tinylfu");
        let redis_lfu = matches!(policy, "allkeys-lfu" | "volatile-lfu");
        if lfu {
            let f: i64 = q(&mut con, &["OBJECT", "FREQ", "k"]);
            assert!(f >= 0, "{policy}: {f}");
        } else {
            assert_eq!(
                err(&mut con, &["OBJECT", "FREQ", "k"]),
                FREQ_ERR,
                "{policy}"
            );
        }
        if redis_lfu {
            assert_eq!(
                err(&mut con, &["OBJECT", "IDLETIME", "k"]),
                IDLE_ERR,
                "{policy}"
            );
        } else {
            let idle: i64 = q(&mut con, &["OBJECT", "IDLETIME", "k"]);
            assert!(idle >= 0, "{policy}: {idle}");
        }
        // The key lookup comes first: a missing key is nil under every policy.
        for sub in ["FREQ", "IDLETIME"] {
            assert_eq!(
                q::<Value>(&mut con, &["OBJECT", sub, "missing"]),
                Value::Nil,
                "{policy} OBJECT {sub} missing"
            );
        }
    }
}

/// Under allkeys-lfu with lfu-log-factor 0 every access increments the counter, and with
/// lfu-decay-time 0 it never decays, so Redis's counter is exact: LFU_INIT_VAL (5) for a
/// new key plus one per read. OBJECT FREQ itself does not count as an access.
#[test]
fn object_freq_counts_reads_under_allkeys_lfu() {
    let (_srv, mut con) = start();
    set_policy(&mut con, "allkeys-lfu");
    let _: () = q(&mut con, &["CONFIG", "SET", "lfu-log-factor", "0"]);
    let _: () = q(&mut con, &["CONFIG", "SET", "lfu-decay-time", "0"]);
    let _: () = q(&mut con, &["SET", "hot", "v"]);
    let _: () = q(&mut con, &["SET", "cold", "v"]);
    for _ in 0..20 {
        let _: String = q(&mut con, &["GET", "hot"]);
    }
    assert_eq!(q::<i64>(&mut con, &["OBJECT", "FREQ", "cold"]), 5);
    assert_eq!(q::<i64>(&mut con, &["OBJECT", "FREQ", "hot"]), 25);
    assert_eq!(q::<i64>(&mut con, &["OBJECT", "FREQ", "hot"]), 25);
}

/// Under TinyLFU OBJECT FREQ reports the sketch's estimate: a key read often estimates
/// higher than one written once.
#[test]
fn object_freq_under_tinylfu_reflects_reads() {
    let (_srv, mut con) = start();
    set_policy(&mut con, "allkeys-tinylfu");
    let _: () = q(&mut con, &["SET", "hot", "v"]);
    let _: () = q(&mut con, &["SET", "cold", "v"]);
    for _ in 0..20 {
        let _: String = q(&mut con, &["GET", "hot"]);
    }
    let hot: i64 = q(&mut con, &["OBJECT", "FREQ", "hot"]);
    let cold: i64 = q(&mut con, &["OBJECT", "FREQ", "cold"]);
    assert!(hot > cold, "hot {hot} cold {cold}");
}

/// Starting with the limit on the command line behaves like CONFIG SET.
#[test]
fn maxmemory_from_the_command_line() {
    let srv = CairnProcess::start(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut con = srv.client();
    assert_eq!(config_get(&mut con, "maxmemory"), (64 * MB).to_string());
    assert_eq!(config_get(&mut con, "maxmemory-policy"), "allkeys-lru");
}

/// A big collection that goes without a command asking for it (evicted, or found expired
/// by a lookup) is freed on the lazy-free thread, as UNLINK frees it, not on the request
/// path: INFO's lazyfreed_objects counts it (unless `lazyfree-lazy-expire no` says so).
#[test]
fn big_collections_evicted_or_expired_are_freed_off_the_request_path() {
    let (_srv, mut con) = start();
    let mut hset = redis::cmd("HSET");
    hset.arg("big");
    for i in 0..5_000 {
        hset.arg(format!("field:{i}")).arg("v".repeat(32));
    }
    let _: i64 = hset.query(&mut con).unwrap();
    let usage: i64 = q(&mut con, &["MEMORY", "USAGE", "big"]);
    assert!(usage > 64 * 1024, "{usage} bytes");
    let freed = |con: &mut Connection| info_u64(con, "memory", "lazyfreed_objects");
    let before = freed(&mut con);
    // The only key with a TTL, so volatile-ttl must evict it once memory runs short.
    let _: i64 = q(&mut con, &["EXPIRE", "big", "100000"]);
    set_policy(&mut con, "volatile-ttl");
    let _: () = q(&mut con, &["CONFIG", "SET", "maxmemory", "1"]);
    let _ = redis::cmd("SET")
        .arg("small")
        .arg("x")
        .query::<Value>(&mut con);
    let _: () = q(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
    assert!(!exists(&mut con, "big"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while freed(&mut con) < before + 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        freed(&mut con),
        before + 1,
        "the evicted hash went to the lazy-free thread"
    );

    // Found expired by a lookup (the sweep is off): freed the same way.
    let _: () = q(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let _: i64 = hset.query(&mut con).unwrap();
    let _: i64 = q(&mut con, &["PEXPIRE", "big", "20"]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(!exists(&mut con, "big"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while freed(&mut con) < before + 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        freed(&mut con),
        before + 2,
        "the expired hash went to the lazy-free thread"
    );

    // Redis's settings say which: all yes by default here; with lazyfree-lazy-expire no,
    // an expired hash is freed where it is found.
    for name in [
        "lazyfree-lazy-eviction",
        "lazyfree-lazy-expire",
        "lazyfree-lazy-server-del",
        "replica-lazy-flush",
    ] {
        assert_eq!(config_get(&mut con, name), "yes", "{name}");
    }
    let _: () = q(&mut con, &["CONFIG", "SET", "lazyfree-lazy-expire", "no"]);
    let _: i64 = hset.query(&mut con).unwrap();
    let _: i64 = q(&mut con, &["PEXPIRE", "big", "20"]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(!exists(&mut con, "big"));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(freed(&mut con), before + 2, "freed on the spot");
}
