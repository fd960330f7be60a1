//! Sorted sets: ZADD and the commands that read or change members one by one, over
//! `cairn_store::types::zset` (a listpack while small, then a dict beside an
//! order-statistic tree). Ranges are in `zset_ranges.rs`, unions and intersections in
//! `zset_algebra.rs`, the blocking pops in `zset_blocking.rs`.
//!
//! Writes journal their effect, so replay never depends on options or arithmetic: ZADD
//! and ZINCRBY journal `ZADD key score member` with the scores they set (spelled `%.17g`,
//! which reads back the same double), pops and range removals journal `ZREM` of the
//! members that went (ZREM journals itself: a member it did not find is a no-op on replay
//! too). A sorted set whose last member goes is deleted.

use cairn_protocol::resp::reply::format_score;
use cairn_protocol::{Args, Reply};
use cairn_store::db::Now;
use cairn_store::types::zset::ZSet;
use cairn_store::{Limits, Object};

use crate::commands::args::{Mpop, int_arg, is};
use crate::commands::scan::ScanOpts;
use crate::commands::typed::{read, zset, zset_mut};
use crate::commands::zset_args::{lex_range, score_arg, score_range};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::{GENERIC, ZSET};
use crate::server::Server;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("zadd", -4, "sorted_set")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("1.2.0", "Add one or more members to a sorted set, or update its score if it already exists")
    .complexity("O(log(N)) for each item added, where N is the number of elements in the sorted set.")
    .run(zadd),
    Spec::new("zincrby", 4, "sorted_set")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("1.2.0", "Increment the score of a member in a sorted set")
    .complexity("O(log(N)) where N is the number of elements in the sorted set.")
    .run(zincrby),
    Spec::new("zrem", -3, "sorted_set")
    .flags(WRITE | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RW | key::DELETE)])
    .doc("1.2.0", "Remove one or more members from a sorted set")
    .complexity("O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.")
    .run(zrem),
    Spec::new("zcard", 2, "sorted_set")
    .flags(READONLY | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO)])
    .doc("1.2.0", "Get the number of members in a sorted set")
    .complexity("O(1)")
    .run(zcard),
    Spec::new("zscore", 3, "sorted_set")
    .flags(READONLY | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("1.2.0", "Get the score associated with the given member in a sorted set")
    .complexity("O(1)")
    .run(zscore),
    Spec::new("zmscore", -3, "sorted_set")
    .flags(READONLY | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("6.2.0", "Get the score associated with the given members in a sorted set")
    .complexity("O(N) where N is the number of members being requested.")
    .run(zmscore),
    Spec::new("zrank", -3, "sorted_set")
    .flags(READONLY | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("2.0.0", "Determine the index of a member in a sorted set")
    .complexity("O(log(N))")
    .run(zrank),
    Spec::new("zrevrank", -3, "sorted_set")
    .flags(READONLY | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("2.0.0", "Determine the index of a member in a sorted set, with scores ordered from high to low")
    .complexity("O(log(N))")
    .run(zrevrank),
    Spec::new("zcount", 4, "sorted_set")
    .flags(READONLY | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("2.0.0", "Count the members in a sorted set with scores within the given values")
    .complexity("O(log(N)) with N being the number of elements in the sorted set.")
    .run(zcount),
    Spec::new("zlexcount", 4, "sorted_set")
    .flags(READONLY | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("2.8.9", "Count the number of members in a sorted set between a given lexicographical range")
    .complexity("O(log(N)) with N being the number of elements in the sorted set.")
    .run(zlexcount),
    Spec::new("zrandmember", -2, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output"])
    .doc("6.2.0", "Get one or multiple random elements from a sorted set")
    .complexity("O(N) where N is the number of elements returned")
    .run(zrandmember),
    Spec::new("zscan", -3, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output"])
    .doc("2.8.0", "Incrementally iterate sorted sets elements and associated scores")
    .complexity("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..")
    .run(zscan),
    Spec::new("zpopmin", -2, "sorted_set")
    .flags(WRITE | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE)])
    .doc("5.0.0", "Remove and return members with the lowest scores in a sorted set")
    .complexity("O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.")
    .run(zpopmin),
    Spec::new("zpopmax", -2, "sorted_set")
    .flags(WRITE | FAST)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE)])
    .doc("5.0.0", "Remove and return members with the highest scores in a sorted set")
    .complexity("O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.")
    .run(zpopmax),
    Spec::new("zmpop", -4, "sorted_set")
    .flags(WRITE)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::counted(1, key::RW | key::ACCESS | key::DELETE)])
    .doc("7.0.0", "Remove and return members with scores in a sorted set")
    .complexity("O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.")
    .run(zmpop),
];

/// Members with their scores, owned (what a pop or a range hands back).
pub type Scored = Vec<(Vec<u8>, f64)>;

/// A sorted set new to `key`, in the form Redis would start it in.
pub fn new_zset() -> Object {
    Object::ZSet(ZSet::new())
}

/// Writes `(member, score)` pairs: flat in RESP2, `[member, score]` pairs when `nested`.
pub fn reply_pairs(out: &mut Reply, pairs: &[(Vec<u8>, f64)], nested: bool) {
    if nested {
        out.array(pairs.len());
    } else {
        out.array(pairs.len() * 2);
    }
    for (m, s) in pairs {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        out.score(*s);
    }
}

/// Journals `ZADD key score member ...` for what was set.
fn journal_zadd(e: &mut cairn_store::EntryMut<'_>, key: &[u8], set: &[(&[u8], f64)]) {
    let scores: Vec<String> = set.iter().map(|(_, s)| format_score(*s)).collect();
    let mut op: Vec<&[u8]> = vec![b"ZADD", key];
    for ((m, _), s) in set.iter().zip(&scores) {
        op.push(s.as_bytes());
        op.push(m);
    }
    e.journal_op(&op);
}

/// ZADD's options (GEOADD's NX, XX and CH too).
#[derive(Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub ch: bool,
    pub incr: bool,
}

/// ```text
/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
/// ```
fn zadd(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut f = AddFlags::default();
    let mut at = 2;
    while at < args.len() {
        let a = args.get(at);
        let flag = match () {
            _ if is(a, "nx") => &mut f.nx,
            _ if is(a, "xx") => &mut f.xx,
            _ if is(a, "gt") => &mut f.gt,
            _ if is(a, "lt") => &mut f.lt,
            _ if is(a, "ch") => &mut f.ch,
            _ if is(a, "incr") => &mut f.incr,
            _ => break,
        };
        *flag = true;
        at += 1;
    }
    let elements = args.len() - at;
    if elements == 0 || !elements.is_multiple_of(2) {
        return Err(CmdError::syntax());
    }
    if f.nx && f.xx {
        return Err(CmdError::new(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::new(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && elements > 2 {
        return Err(CmdError::new(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(elements / 2);
    for i in (at..args.len()).step_by(2) {
        pairs.push((score_arg(args.get(i))?, args.get(i + 1)));
    }
    add_pairs(ctx, args.get(1), &f, &pairs)
}

/// ZADD's work once its arguments are read (GEOADD's too): sets the `(score, member)`
/// pairs as the flags allow, journals what it set, notifies, and replies.
pub fn add_pairs(ctx: &mut Ctx, key: &[u8], f: &AddFlags, pairs: &[(f64, &[u8])]) -> CmdResult {
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    if f.xx && db.peek(slot, key, ctx.now).is_none() {
        // Nothing to update, and nothing is created.
        drop(shard);
        match f.incr {
            true => ctx.out.null(),
            false => ctx.out.int(0),
        }
        return Ok(());
    }
    let (mut e, created) = db.write_or_create(slot, key, ctx.now, new_zset);
    let z = zset_mut(&mut e)?;
    let (mut added, mut updated) = (0, 0);
    let mut set: Vec<(&[u8], f64)> = Vec::with_capacity(pairs.len());
    // The score the last pair not turned away ended with (INCR's reply).
    let mut result = None;
    for &(score, m) in pairs {
        match z.score(m) {
            Some(old) => {
                if f.nx {
                    continue;
                }
                let new = if f.incr { old + score } else { score };
                if new.is_nan() {
                    drop(e);
                    if created {
                        shard.db(ctx.db()).remove(slot, key, ctx.now);
                    }
                    return Err(CmdError::new("ERR resulting score is not a number (NaN)"));
                }
                if (f.gt && new <= old) || (f.lt && new >= old) {
                    continue;
                }
                result = Some(new);
                if new != old {
                    z.insert(m, new, &lim);
                    set.push((m, new));
                    updated += 1;
                }
            }
            None => {
                if f.xx {
                    continue;
                }
                z.insert_new(m, score, &lim);
                set.push((m, score));
                added += 1;
                result = Some(score);
            }
        }
    }
    let empty = z.is_empty();
    if set.is_empty() {
        e.unchanged();
        drop(e);
        if empty {
            // Created for nothing (NX/GT/LT turned every pair away from a new key).
            shard.db(ctx.db()).remove(slot, key, ctx.now);
        }
    } else {
        journal_zadd(&mut e, key, &set);
        drop(e);
        drop(shard);
        ctx.notify(ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    if f.incr {
        match result {
            Some(s) => ctx.out.score(s),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if f.ch { added + updated } else { added });
    }
    Ok(())
}

/// ```text
/// ZINCRBY key increment member
/// ```
fn zincrby(ctx: &mut Ctx, args: Args) -> CmdResult {
    let by = score_arg(args.get(2))?;
    let (key, m) = (args.get(1), args.get(3));
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let (mut e, created) = db.write_or_create(slot, key, ctx.now, new_zset);
    let z = zset_mut(&mut e)?;
    let new = z.score(m).unwrap_or(0.0) + by;
    if new.is_nan() {
        drop(e);
        if created {
            db.remove(slot, key, ctx.now);
        }
        return Err(CmdError::new("ERR resulting score is not a number (NaN)"));
    }
    z.insert(m, new, &lim);
    journal_zadd(&mut e, key, &[(m, new)]);
    drop(e);
    drop(shard);
    ctx.notify(ZSET, "zincr", key);
    ctx.out.score(new);
    Ok(())
}

/// Journals `ZREM key member...` for what went, notifies `event`, and deletes the key
/// (with its `del` event) if nothing is left. The caller still holds the entry.
pub fn after_removal(
    server: &Server,
    db: usize,
    key: &[u8],
    mut e: cairn_store::EntryMut<'_>,
    gone: &[&[u8]],
    event: &str,
) -> bool {
    let empty = e
        .object()
        .and_then(Object::as_zset)
        .is_none_or(ZSet::is_empty);
    let mut op: Vec<&[u8]> = Vec::with_capacity(gone.len() + 2);
    op.push(b"ZREM");
    op.push(key);
    op.extend_from_slice(gone);
    e.journal_op(&op);
    drop(e);
    server.notifier.notify(ZSET, event, key, db);
    empty
}

fn zrem(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let z = zset(&e)?;
    if !args.tail(2).iter().any(|m| z.score(m).is_some()) {
        e.unchanged();
        ctx.out.int(0);
        return Ok(());
    }
    let z = zset_mut(&mut e)?;
    let mut removed = 0;
    for m in args.tail(2).iter() {
        removed += i64::from(z.remove(m).is_some());
    }
    // The ZREM itself: members it did not find are no-ops on replay too.
    let members: Vec<&[u8]> = args.tail(2).iter().collect();
    if after_removal(ctx.server, ctx.db(), key, e, &members, "zrem") {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.out.int(removed);
    Ok(())
}

fn zcard(ctx: &mut Ctx, args: Args) -> CmdResult {
    read(
        ctx,
        args.get(1),
        zset,
        |out| out.int(0),
        |z, out| {
            out.int(z.len() as i64);
        },
    )
}

fn zscore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let m = args.get(2);
    read(ctx, args.get(1), zset, Reply::null, |z, out| {
        match z.score(m) {
            Some(s) => out.score(s),
            None => out.null(),
        }
    })
}

fn zmscore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let members = args.tail(2);
    read(
        ctx,
        args.get(1),
        zset,
        |out| {
            out.array(members.len());
            for _ in members.iter() {
                out.null();
            }
        },
        |z, out| {
            out.array(members.len());
            for m in members.iter() {
                match z.score(m) {
                    Some(s) => out.score(s),
                    None => out.null(),
                }
            }
        },
    )
}

/// ZRANK and ZREVRANK `key member [WITHSCORE]` (WITHSCORE as Redis 7.2 has it).
fn rank(ctx: &mut Ctx, args: Args, rev: bool) -> CmdResult {
    let with_score = match args.len() {
        3 => false,
        4 if is(args.get(3), "withscore") => true,
        4 => return Err(CmdError::syntax()),
        _ => return Err(CmdError::arity(ctx.spec.name)),
    };
    let m = args.get(2);
    let missing = move |out: &mut Reply| match with_score {
        true => out.null_array(),
        false => out.null(),
    };
    read(ctx, args.get(1), zset, missing, |z, out| match z.rank(m) {
        Some(r) => {
            let r = if rev { z.len() - 1 - r } else { r };
            if with_score {
                out.array(2);
                out.int(r as i64);
                out.score(z.score(m).expect("ranked"));
            } else {
                out.int(r as i64);
            }
        }
        None => missing(out),
    })
}

fn zrank(ctx: &mut Ctx, args: Args) -> CmdResult {
    rank(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: Args) -> CmdResult {
    rank(ctx, args, true)
}

fn zcount(ctx: &mut Ctx, args: Args) -> CmdResult {
    let range = score_range(args.get(2), args.get(3))?;
    read(
        ctx,
        args.get(1),
        zset,
        |out| out.int(0),
        |z, out| {
            let (a, b) = z.score_span(&range);
            out.int((b - a) as i64);
        },
    )
}

fn zlexcount(ctx: &mut Ctx, args: Args) -> CmdResult {
    let range = lex_range(args.get(2), args.get(3))?;
    read(
        ctx,
        args.get(1),
        zset,
        |out| out.int(0),
        |z, out| {
            let (a, b) = z.lex_span(&range);
            out.int((b - a) as i64);
        },
    )
}

/// ```text
/// ZRANDMEMBER key [count [WITHSCORES]]
/// ```
fn zrandmember(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (count, with_scores) = match args.len() {
        2 => (None, false),
        3 => (Some(int_arg(args.get(2))?), false),
        4 if is(args.get(3), "withscores") => (Some(int_arg(args.get(2))?), true),
        _ => return Err(CmdError::syntax()),
    };
    if let Some(c) = count
        && ((with_scores && c < -(i64::MAX / 2)) || c < -i64::MAX)
    {
        return Err(CmdError::new("ERR value is out of range"));
    }
    let nested = ctx.out.is_resp3();
    read(
        ctx,
        args.get(1),
        zset,
        |out| match count {
            None => out.null(),
            Some(_) => out.array(0),
        },
        |z, out| {
            let mut rng = fastrand::Rng::new();
            let Some(c) = count else {
                let (m, _) = z.random(&mut rng).expect("a sorted set is never empty");
                out.bulk(m);
                return;
            };
            let picked: Vec<(Vec<u8>, f64)> = if c < 0 {
                (0..c.unsigned_abs())
                    .map(|_| {
                        let (m, s) = z.random(&mut rng).expect("never empty");
                        (m.to_vec(), s)
                    })
                    .collect()
            } else {
                let n = (c as usize).min(z.len());
                let mut ranks: Vec<usize> = if n * 3 > z.len() {
                    let mut all: Vec<usize> = (0..z.len()).collect();
                    rng.shuffle(&mut all);
                    all.truncate(n);
                    all
                } else {
                    let mut seen = std::collections::HashSet::with_capacity(n);
                    while seen.len() < n {
                        seen.insert(rng.usize(..z.len()));
                    }
                    seen.into_iter().collect()
                };
                rng.shuffle(&mut ranks);
                ranks
                    .into_iter()
                    .map(|r| {
                        let (m, s) = z.get(r).expect("a rank within the set");
                        (m.to_vec(), s)
                    })
                    .collect()
            };
            if with_scores {
                reply_pairs(out, &picked, nested);
            } else {
                out.array(picked.len());
                for (m, _) in &picked {
                    out.bulk(m);
                }
            }
        },
    )
}

/// ```text
/// ZSCAN key cursor [MATCH pattern] [COUNT count]
/// ```
fn zscan(ctx: &mut Ctx, args: Args) -> CmdResult {
    let opts = ScanOpts::parse(args, 2, false)?;
    let key = args.get(1);
    let mut found: Vec<Vec<u8>> = Vec::new();
    let (mut shard, slot) = ctx.lock(key);
    let next = match shard.db(ctx.db()).read(slot, key, ctx.now) {
        Some(e) => zset(e)?.scan(opts.cursor, opts.count, |m, s| {
            if opts.matches(m) {
                found.push(m.to_vec());
                found.push(format_score(s).into_bytes());
            }
        }),
        None => 0,
    };
    drop(shard);
    crate::commands::scan::reply_scan(ctx, next, &found);
    Ok(())
}

/// Which end a pop takes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Min,
    Max,
}

impl Which {
    fn event(self) -> &'static str {
        match self {
            Which::Min => "zpopmin",
            Which::Max => "zpopmax",
        }
    }
}

/// Pops up to `count` members from `which` end of the sorted set at `key`: None if there
/// is no such key, WRONGTYPE if it is no sorted set.
pub fn pop_zset(
    server: &Server,
    db: usize,
    key: &[u8],
    which: Which,
    count: usize,
    now: Now,
) -> Result<Option<Scored>, CmdError> {
    let slot = cairn_store::key_slot(key);
    let mut shard = server.keyspace.lock(slot);
    let d = shard.db(db);
    let Some(mut e) = d.write(slot, key, now) else {
        return Ok(None);
    };
    let z = zset_mut(&mut e)?;
    let n = count.min(z.len());
    let mut out = Vec::with_capacity(n);
    let (start, end) = match which {
        Which::Min => (0, n),
        Which::Max => (z.len() - n, z.len()),
    };
    z.remove_ranks(start, end, |m, s| out.push((m.to_vec(), s)));
    if which == Which::Max {
        out.reverse();
    }
    let gone: Vec<&[u8]> = out.iter().map(|(m, _)| m.as_slice()).collect();
    if after_removal(server, db, key, e, &gone, which.event()) {
        d.remove(slot, key, now);
        server.notifier.notify(GENERIC, "del", key, db);
    }
    Ok(Some(out))
}

/// ZPOPMIN / ZPOPMAX key [count].
fn zpop(ctx: &mut Ctx, args: Args, which: Which) -> CmdResult {
    let count = match args.len() {
        2 => None,
        3 => {
            let c = int_arg(args.get(2))
                .map_err(|_| CmdError::new("ERR value is out of range, must be positive"))?;
            if c < 0 {
                return Err(CmdError::new("ERR value is out of range, must be positive"));
            }
            Some(c as usize)
        }
        _ => return Err(CmdError::syntax()),
    };
    let key = args.get(1);
    let nested = ctx.out.is_resp3() && count.is_some();
    if count == Some(0) {
        let (mut shard, slot) = ctx.lock(key);
        if let Some(e) = shard.db(ctx.db()).read(slot, key, ctx.now) {
            zset(e)?;
        }
        ctx.out.array(0);
        return Ok(());
    }
    match pop_zset(
        ctx.server,
        ctx.db(),
        key,
        which,
        count.unwrap_or(1),
        ctx.now,
    )? {
        None => ctx.out.array(0),
        Some(pairs) => reply_pairs(ctx.out, &pairs, nested),
    }
    Ok(())
}

fn zpopmin(ctx: &mut Ctx, args: Args) -> CmdResult {
    zpop(ctx, args, Which::Min)
}

fn zpopmax(ctx: &mut Ctx, args: Args) -> CmdResult {
    zpop(ctx, args, Which::Max)
}

/// ZMPOP's and BZMPOP's `numkeys key... MIN|MAX [COUNT count]` from `at`.
pub fn mpop_args<'a>(args: &Args<'a>, at: usize) -> Result<Mpop<'a, Which>, CmdError> {
    crate::commands::args::mpop_args(args, at, |w| match w {
        w if is(w, "min") => Ok(Which::Min),
        w if is(w, "max") => Ok(Which::Max),
        _ => Err(CmdError::syntax()),
    })
}

/// ZMPOP's reply: `[key, [[member, score], ...]]`.
pub fn mpop_reply(out: &mut Reply, key: &[u8], pairs: &[(Vec<u8>, f64)]) {
    out.array(2);
    out.bulk(key);
    reply_pairs(out, pairs, true);
}

fn zmpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    let m = mpop_args(&args, 1)?;
    for key in &m.keys {
        if let Some(pairs) = pop_zset(ctx.server, ctx.db(), key, m.side, m.count, ctx.now)? {
            mpop_reply(ctx.out, key, &pairs);
            return Ok(());
        }
    }
    ctx.out.null_array();
    Ok(())
}

/// Replaces `dest` with `z` (an empty result deletes it), journaled as the sorted set it
/// is; returns its size. Used by the *STORE commands under their locks.
pub fn store_zset(
    ctx: &Ctx,
    db: &mut cairn_store::db::Db,
    slot: u16,
    dest: &[u8],
    z: ZSet,
    event: &str,
) -> usize {
    let n = z.len();
    if n == 0 {
        if db.remove(slot, dest, ctx.now).is_some() {
            ctx.notify(GENERIC, "del", dest);
        }
        return 0;
    }
    db.set(
        slot,
        dest,
        cairn_store::Value::Obj(Box::new(Object::ZSet(z))),
        cairn_store::ExpireChange::Clear,
        ctx.now,
    );
    ctx.notify(ZSET, event, dest);
    n
}

/// A sorted set of `pairs` (distinct members) in the encoding their size calls for.
pub fn build(pairs: &[(Vec<u8>, f64)], lim: &Limits) -> ZSet {
    ZSet::from_items(pairs.iter().map(|(m, s)| (m.as_slice(), *s)), lim)
}
