//! Sorted-set ranges: ZRANGE in every form (by rank, BYSCORE, BYLEX, REV, LIMIT,
//! WITHSCORES), ZRANGESTORE, the older ZREVRANGE / Z[REV]RANGEBYSCORE / Z[REV]RANGEBYLEX,
//! and ZREMRANGEBYRANK / BYSCORE / BYLEX. One parser serves them all, as Redis's
//! `zrangeGenericCommand` does, so their options and errors agree.
//!
//! A range is found as a span of ranks (the tree counts in O(log n)), then walked from
//! its first member leaf by leaf, in either direction.

use cairn_protocol::Args;
use cairn_store::types::zset::ZSet;

use crate::commands::args::{int_arg, is};
use crate::commands::typed::{zset, zset_mut};
use crate::commands::zset_args::{lex_range, rank_span, score_range};
use crate::commands::zsets::{after_removal, build, reply_pairs, store_zset};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::GENERIC;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("zrange", -4, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("1.2.0", "Return a range of members in a sorted set")
    .complexity("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.")
    .run(zrange),
    Spec::new("zrangestore", -5, "sorted_set")
    .flags(WRITE | DENYOOM)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::OW | key::UPDATE), KeySpec::one(2, key::RO | key::ACCESS)])
    .doc("6.2.0", "Store a range of members from sorted set into another key")
    .complexity("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.")
    .run(zrangestore),
    Spec::new("zrevrange", -4, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("1.2.0", "Return a range of members in a sorted set, by index, with scores ordered from high to low")
    .complexity("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.")
    .deprecated("6.2.0", "`ZRANGE` with the `REV` argument")
    .run(zrevrange),
    Spec::new("zrangebyscore", -4, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("1.0.5", "Return a range of members in a sorted set, by score")
    .complexity("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).")
    .deprecated("6.2.0", "`ZRANGE` with the `BYSCORE` argument")
    .run(zrangebyscore),
    Spec::new("zrevrangebyscore", -4, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("2.2.0", "Return a range of members in a sorted set, by score, with scores ordered from high to low")
    .complexity("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).")
    .deprecated("6.2.0", "`ZRANGE` with the `REV` and `BYSCORE` arguments")
    .run(zrevrangebyscore),
    Spec::new("zrangebylex", -4, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("2.8.9", "Return a range of members in a sorted set, by lexicographical range")
    .complexity("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).")
    .deprecated("6.2.0", "`ZRANGE` with the `BYLEX` argument")
    .run(zrangebylex),
    Spec::new("zrevrangebylex", -4, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("2.8.9", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.")
    .complexity("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).")
    .deprecated("6.2.0", "`ZRANGE` with the `REV` and `BYLEX` arguments")
    .run(zrevrangebylex),
    Spec::new("zremrangebyrank", 4, "sorted_set")
    .flags(WRITE)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RW | key::DELETE)])
    .doc("2.0.0", "Remove all members in a sorted set within the given indexes")
    .complexity("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.")
    .run(zremrangebyrank),
    Spec::new("zremrangebyscore", 4, "sorted_set")
    .flags(WRITE)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RW | key::DELETE)])
    .doc("1.2.0", "Remove all members in a sorted set within the given scores")
    .complexity("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.")
    .run(zremrangebyscore),
    Spec::new("zremrangebylex", 4, "sorted_set")
    .flags(WRITE)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::RW | key::DELETE)])
    .doc("2.8.9", "Remove all members in a sorted set between the given lexicographical range")
    .complexity("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.")
    .run(zremrangebylex),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// A parsed range request.
struct Request {
    by: By,
    rev: bool,
    with_scores: bool,
    offset: i64,
    /// -1: no limit.
    limit: i64,
    /// Its `min max` (or `start stop`) arguments, as given (`max min` under REV).
    lo: usize,
    hi: usize,
}

/// Parses the options from `at` on, as Redis's `zrangeGenericCommand`: `by` and `rev`
/// are fixed by the older commands (`None` leaves them to BYSCORE / BYLEX / REV).
fn parse(
    args: &Args,
    at: usize,
    by: Option<By>,
    rev: Option<bool>,
    store: bool,
) -> Result<Request, CmdError> {
    let (mut chosen_by, mut chosen_rev) = (by, rev);
    let (mut with_scores, mut offset, mut limit) = (false, 0, -1);
    let mut j = at;
    while j < args.len() {
        let a = args.get(j);
        let left = args.len() - j - 1;
        if !store && is(a, "withscores") {
            with_scores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = int_arg(args.get(j + 1))?;
            limit = int_arg(args.get(j + 2))?;
            j += 2;
        } else if chosen_rev.is_none() && is(a, "rev") {
            chosen_rev = Some(true);
        } else if chosen_by.is_none() && is(a, "bylex") {
            chosen_by = Some(By::Lex);
        } else if chosen_by.is_none() && is(a, "byscore") {
            chosen_by = Some(By::Score);
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    let by = chosen_by.unwrap_or(By::Rank);
    let rev = chosen_rev.unwrap_or(false);
    if limit != -1 && by == By::Rank {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by == By::Lex {
        return Err(CmdError::new(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut lo, mut hi) = (at - 2, at - 1);
    if rev && by != By::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    Ok(Request {
        by,
        rev,
        with_scores,
        offset,
        limit,
        lo,
        hi,
    })
}

/// The checked range of a request, before the key is looked at.
enum Span {
    Rank(i64, i64),
    Score(cairn_store::types::zset::ScoreRange),
    Lex(cairn_store::types::zset::LexRange),
}

fn span_of(args: &Args, r: &Request) -> Result<Span, CmdError> {
    let (lo, hi) = (args.get(r.lo), args.get(r.hi));
    Ok(match r.by {
        By::Rank => Span::Rank(int_arg(lo)?, int_arg(hi)?),
        By::Score => Span::Score(score_range(lo, hi)?),
        By::Lex => Span::Lex(lex_range(lo, hi)?),
    })
}

/// The members a request selects from `z`, in reply order, with their scores.
fn select(z: &ZSet, r: &Request, span: &Span) -> Vec<(Vec<u8>, f64)> {
    let len = z.len();
    let (start, end, offset, limit) = match span {
        Span::Rank(a, b) => {
            let (s, e) = rank_span(*a, *b, len);
            (s, e, 0, -1)
        }
        Span::Score(range) => {
            let (s, e) = z.score_span(range);
            (s, e, r.offset, r.limit)
        }
        Span::Lex(range) => {
            let (s, e) = z.lex_span(range);
            (s, e, r.offset, r.limit)
        }
    };
    // A negative offset selects nothing (Redis's skipping loop never ends in time).
    if offset < 0 || start >= end {
        return Vec::new();
    }
    let n = end - start;
    let offset = offset as usize;
    if offset >= n {
        return Vec::new();
    }
    let take = if limit < 0 {
        n - offset
    } else {
        (limit as usize).min(n - offset)
    };
    let skip = match (span, r.rev) {
        // By rank under REV the ranks count from the top already.
        (Span::Rank(..), true) => start,
        (_, true) => len - end + offset,
        (_, false) => start + offset,
    };
    let mut out = Vec::with_capacity(take.min(1024));
    if take > 0 {
        z.walk(skip, r.rev, |m, s| {
            out.push((m.to_vec(), s));
            out.len() < take
        });
    }
    out
}

/// ZRANGE and the older forms: `by`/`rev` fixed by the older commands.
fn range_command(ctx: &mut Ctx, args: Args, by: Option<By>, rev: Option<bool>) -> CmdResult {
    let r = parse(&args, 4, by, rev, false)?;
    let span = span_of(&args, &r)?;
    let nested = ctx.out.is_resp3();
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let Some(e) = shard.db(ctx.db()).read(slot, key, ctx.now) else {
        ctx.out.array(0);
        return Ok(());
    };
    let picked = select(zset(e)?, &r, &span);
    drop(shard);
    if r.with_scores {
        reply_pairs(ctx.out, &picked, nested);
    } else {
        ctx.out.array(picked.len());
        for (m, _) in &picked {
            ctx.out.bulk(m);
        }
    }
    Ok(())
}

fn zrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    range_command(ctx, args, None, None)
}

fn zrevrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    range_command(ctx, args, Some(By::Rank), Some(true))
}

fn zrangebyscore(ctx: &mut Ctx, args: Args) -> CmdResult {
    range_command(ctx, args, Some(By::Score), Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, args: Args) -> CmdResult {
    range_command(ctx, args, Some(By::Score), Some(true))
}

fn zrangebylex(ctx: &mut Ctx, args: Args) -> CmdResult {
    range_command(ctx, args, Some(By::Lex), Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, args: Args) -> CmdResult {
    range_command(ctx, args, Some(By::Lex), Some(true))
}

/// ```text
/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
/// ```
fn zrangestore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let r = parse(&args, 5, None, None, true)?;
    let span = span_of(&args, &r)?;
    let (dest, src) = (args.get(1), args.get(2));
    let lim = ctx.server.object_limits();
    let db = ctx.db();
    let server = ctx.server;
    let mut locked = server.keyspace.lock_keys([dest, src]);
    let (sslot, dslot) = (cairn_store::key_slot(src), cairn_store::key_slot(dest));
    let picked = match locked.db(sslot, db).read(sslot, src, ctx.now) {
        Some(e) => select(zset(e)?, &r, &span),
        None => Vec::new(),
    };
    let z = build(&picked, &lim);
    let n = store_zset(ctx, locked.db(dslot, db), dslot, dest, z, "zrangestore");
    ctx.out.int(n as i64);
    Ok(())
}

/// ZREMRANGEBY*: removes the members `span` selects.
fn remove_span(ctx: &mut Ctx, args: Args, span: Span, event: &str) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let z = zset(&e)?;
    let (start, end) = match &span {
        Span::Rank(a, b) => rank_span(*a, *b, z.len()),
        Span::Score(range) => z.score_span(range),
        Span::Lex(range) => z.lex_span(range),
    };
    if start >= end {
        e.unchanged();
        ctx.out.int(0);
        return Ok(());
    }
    let mut gone: Vec<Vec<u8>> = Vec::with_capacity(end - start);
    zset_mut(&mut e)?.remove_ranks(start, end, |m, _| gone.push(m.to_vec()));
    let names: Vec<&[u8]> = gone.iter().map(Vec::as_slice).collect();
    if after_removal(ctx.server, ctx.db(), key, e, &names, event) {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.out.int(gone.len() as i64);
    Ok(())
}

fn zremrangebyrank(ctx: &mut Ctx, args: Args) -> CmdResult {
    let span = Span::Rank(int_arg(args.get(2))?, int_arg(args.get(3))?);
    remove_span(ctx, args, span, "zremrangebyrank")
}

fn zremrangebyscore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let span = Span::Score(score_range(args.get(2), args.get(3))?);
    remove_span(ctx, args, span, "zremrangebyscore")
}

fn zremrangebylex(ctx: &mut Ctx, args: Args) -> CmdResult {
    let span = Span::Lex(lex_range(args.get(2), args.get(3))?);
    remove_span(ctx, args, span, "zremrangebylex")
}
