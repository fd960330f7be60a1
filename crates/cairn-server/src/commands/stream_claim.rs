//! The pending entries lists of consumer groups: XPENDING reads them, XCLAIM and
//! XAUTOCLAIM hand entries to another consumer, as Redis 7.0's `t_stream.c` does (its
//! parsing order, error texts, and the quirks clients rely on: FORCE makes a pending entry
//! that then counts a delivery, JUSTID counts none, a consumer is made only when it gets
//! something, a pending entry whose stream entry was deleted leaves the list).
//!
//! Claims journal their final state, as Redis propagates them, so that replicas and the
//! AOF replay the primary's times and counts rather than their own clock: each claimed
//! id as `XCLAIM key group consumer 0 id TIME <delivery ms> RETRYCOUNT <count> FORCE
//! JUSTID LASTID <group's last id>`, the pending entries of deleted entries as `XACK key
//! group id...`, a consumer they made as `XGROUP CREATECONSUMER key group consumer`
//! (first), and XCLAIM's LASTID, when nothing else carries it, as `XGROUP SETID key group
//! id ENTRIESREAD n` (-1: unknown), Redis's own form. Replayed (`Mode::Apply`), XCLAIM's
//! TIME is taken as written, even past the replica's clock.
//!
//! The consumer's seen time is refreshed by every claim attempt that reaches the group,
//! its active time when something was claimed (Redis 7.2's rule; XINFO reports both).
//! Neither command fires a keyspace event but `xgroup-createconsumer`, as in Redis.

use std::ops::Bound;

use cairn_protocol::{Args, Reply};
use cairn_store::Db;
use cairn_store::db::Now;
use cairn_store::types::stream::{Stream, StreamId};
use cairn_store::types::stream_group::Group;

use crate::commands::args::{int_arg, is};
use crate::commands::stream_args::{consumer_clock, interval_id, strict_id};
use crate::commands::streams::reply_entry;
use crate::commands::typed::{stream, stream_mut};
use crate::ctx::{Command, Ctx, Mode};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::STREAM;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("xpending", -3, "stream")
    .flags(READONLY)
    .acl(acl::STREAM)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output"])
    .doc("5.0.0", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.")
    .complexity("O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.")
    .run(xpending),
    Spec::new("xclaim", -6, "stream")
    .flags(WRITE | FAST)
    .acl(acl::STREAM)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .tips(&["nondeterministic_output"])
    .doc("5.0.0", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.")
    .complexity("O(log N) with N being the number of messages in the PEL of the consumer group.")
    .run(xclaim),
    Spec::new("xautoclaim", -6, "stream")
    .flags(WRITE | FAST)
    .acl(acl::STREAM)
    .keys(&[KeySpec::one(1, key::RW | key::DELETE)])
    .tips(&["nondeterministic_output"])
    .doc("6.2.0", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.")
    .complexity("O(1) if COUNT is small.")
    .run(xautoclaim),
];

/// Client input inside an error line, as Redis's `addReplyErrorFormat` shows it (line
/// breaks turned to spaces).
fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace(['\r', '\n'], " ")
}

/// XPENDING's, XCLAIM's and XAUTOCLAIM's answer for a missing key or group.
fn no_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::new(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        shown(key),
        shown(group)
    ))
}

/// Milliseconds from `since` to `now`, negative when `since` is later (a time set by
/// XCLAIM TIME or loaded from elsewhere).
fn elapsed(now: u64, since: u64) -> i64 {
    (i128::from(now) - i128::from(since)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Checks that `key` holds a stream with group `group`, as Redis's `lookupKeyRead` finds
/// it (a keyspace hit or miss counted): Redis answers NOGROUP (or WRONGTYPE) before it
/// changes anything, so a write guard is taken only then (the caller holds the shard's
/// lock throughout).
fn check_group(db: &mut Db, slot: u16, key: &[u8], group: &[u8], now: Now) -> CmdResult {
    let e = db
        .read(slot, key, now)
        .ok_or_else(|| no_group(key, group))?;
    match stream(e)?.group(group) {
        Some(_) => Ok(()),
        None => Err(no_group(key, group)),
    }
}

// ---------------------------------------------------------------------------------------
// XPENDING
// ---------------------------------------------------------------------------------------

/// XPENDING's extended form: `[IDLE min-idle-time] start end count [consumer]`.
struct Extended<'a> {
    min_idle: i64,
    start: StreamId,
    end: StreamId,
    count: u64,
    consumer: Option<&'a [u8]>,
}

/// Reads the extended form in Redis's order: IDLE, the count, then the ends. Up to
/// Redis's nine arguments, what follows the consumer is ignored, as Redis ignores it.
fn extended_args<'a>(args: &Args<'a>) -> Result<Extended<'a>, CmdError> {
    let mut at = 3;
    let mut min_idle = 0;
    if is(args.get(3), "idle") {
        min_idle = int_arg(args.get(4))?;
        if args.len() < 8 {
            return Err(CmdError::syntax());
        }
        at = 5;
    }
    let count = int_arg(args.get(at + 2))?.max(0) as u64;
    let start = interval_id(args.get(at), 0, true)?;
    let end = interval_id(args.get(at + 1), u64::MAX, false)?;
    let consumer = (at + 3 < args.len()).then(|| args.get(at + 3));
    Ok(Extended {
        min_idle,
        start,
        end,
        count,
        consumer,
    })
}

/// ```text
/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
/// ```
fn xpending(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = args.len();
    if n != 3 && !(6..=9).contains(&n) {
        return Err(CmdError::syntax());
    }
    let ext = if n >= 6 {
        Some(extended_args(&args)?)
    } else {
        None
    };
    let (key, name) = (args.get(1), args.get(2));
    let now = consumer_clock(ctx);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(e) = db.read(slot, key, ctx.now) else {
        return Err(no_group(key, name));
    };
    let g = stream(e)?.group(name).ok_or_else(|| no_group(key, name))?;
    let out = &mut *ctx.out;
    match ext {
        None => pending_summary(out, g),
        Some(x) => pending_entries(out, g, &x, now),
    }
    Ok(())
}

/// The count, the lowest and highest pending ids, and each consumer's count (a bulk
/// string, as Redis sends it) for the consumers that have some.
fn pending_summary(out: &mut Reply, g: &Group) {
    out.array(4);
    out.int(g.pel().len() as i64);
    let (Some((first, _)), Some((last, _))) = (g.pel().first_key_value(), g.pel().last_key_value())
    else {
        out.null();
        out.null();
        out.null_array();
        return;
    };
    out.bulk(&first.to_bytes());
    out.bulk(&last.to_bytes());
    let owners: Vec<(&Vec<u8>, usize)> = g
        .consumers()
        .iter()
        .filter(|(_, c)| !c.pending.is_empty())
        .map(|(name, c)| (name, c.pending.len()))
        .collect();
    out.array(owners.len());
    for (name, count) in owners {
        out.array(2);
        out.bulk(name);
        out.bulk_int(count as i64);
    }
}

/// `[id, consumer, idle ms, deliveries]` for the pending entries (of one consumer, when
/// named: none when it does not exist) from `start` to `end`, idle at least IDLE's.
fn pending_entries(out: &mut Reply, g: &Group, x: &Extended, now: u64) {
    let ids: Box<dyn Iterator<Item = StreamId> + '_> = match x.consumer {
        Some(name) => match g.consumer(name) {
            Some(c) if x.start <= x.end => Box::new(c.pending.range(x.start..=x.end).copied()),
            _ => Box::new(std::iter::empty()),
        },
        None if x.start <= x.end => Box::new(g.pel().range(x.start..=x.end).map(|(id, _)| *id)),
        None => Box::new(std::iter::empty()),
    };
    let rows: Vec<(StreamId, &[u8], i64, u64)> = ids
        .filter_map(|id| {
            let p = g.pending(id)?;
            let idle = elapsed(now, p.delivery_time);
            // Redis filters only when IDLE is not 0.
            (x.min_idle == 0 || idle >= x.min_idle).then_some((
                id,
                p.consumer.as_slice(),
                idle,
                p.delivery_count,
            ))
        })
        .take(x.count.min(usize::MAX as u64) as usize)
        .collect();
    out.array(rows.len());
    for (id, consumer, idle, deliveries) in rows {
        out.array(4);
        out.bulk(&id.to_bytes());
        out.bulk(consumer);
        out.int(idle.max(0));
        out.int(deliveries as i64);
    }
}

// ---------------------------------------------------------------------------------------
// XCLAIM and XAUTOCLAIM
// ---------------------------------------------------------------------------------------

/// What a claim did, for its journal and its reply.
#[derive(Default)]
struct Claimed {
    /// Ids handed over, each with its delivery time and count.
    ids: Vec<(StreamId, u64, u64)>,
    /// Pending ids whose entries were deleted, now out of the list.
    dropped: Vec<StreamId>,
    /// The consumer was made.
    created: bool,
    /// XCLAIM's LASTID moved the group's last id.
    moved_last: bool,
}

/// Hands `id` (live in the stream) to `consumer`, made first when new, as delivered at
/// `time` and `count` times in all.
fn hand_over(
    g: &mut Group,
    c: &mut Claimed,
    id: StreamId,
    consumer: &[u8],
    now: u64,
    time: u64,
    count: u64,
) {
    c.created |= g.ensure_consumer(consumer, now);
    g.assign(id, consumer, time, count);
    c.ids.push((id, time, count));
}

/// Journals a claim (see the module doc), while the guard is held.
fn journal(
    e: &mut cairn_store::EntryMut<'_>,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    c: &Claimed,
    g: (StreamId, Option<u64>),
) {
    if c.created {
        e.journal_op(&[b"XGROUP", b"CREATECONSUMER", key, group, consumer]);
    }
    let last = g.0.to_bytes();
    for &(id, time, count) in &c.ids {
        let (id, time, count) = (id.to_bytes(), time.to_string(), count.to_string());
        e.journal_op(&[
            b"XCLAIM",
            key,
            group,
            consumer,
            b"0",
            &id,
            b"TIME",
            time.as_bytes(),
            b"RETRYCOUNT",
            count.as_bytes(),
            b"FORCE",
            b"JUSTID",
            b"LASTID",
            &last,
        ]);
    }
    if !c.dropped.is_empty() {
        let ids: Vec<Vec<u8>> = c.dropped.iter().map(|id| id.to_bytes()).collect();
        let mut op: Vec<&[u8]> = vec![b"XACK", key, group];
        op.extend(ids.iter().map(Vec::as_slice));
        e.journal_op(&op);
    }
    if c.moved_last && c.ids.is_empty() {
        let read = g.1.map_or_else(|| "-1".to_string(), |n| n.to_string());
        e.journal_op(&[
            b"XGROUP",
            b"SETID",
            key,
            group,
            &last,
            b"ENTRIESREAD",
            read.as_bytes(),
        ]);
    }
}

/// The claimed entries as the reply carries them: ids (JUSTID), or whole entries.
fn reply_claimed(out: &mut Reply, s: &Stream, ids: &[(StreamId, u64, u64)], just_id: bool) {
    out.array(ids.len());
    for &(id, _, _) in ids {
        if just_id {
            out.bulk(&id.to_bytes());
            continue;
        }
        // Claimed only if live, and nothing deleted it since.
        let fields = s.get(id).unwrap_or_default();
        let flat: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        reply_entry(out, id, &flat);
    }
}

/// Finishes a claim on the held guard: refreshes the consumer's times (seen now; active
/// now if it got something), then journals what changed, or marks the guard unchanged.
fn settle(
    e: &mut cairn_store::EntryMut<'_>,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    c: &Claimed,
    now: u64,
) -> Result<(), CmdError> {
    let s = stream_mut(e)?;
    let g = s.group_mut(group).expect("checked under the same lock");
    if g.consumer(consumer).is_some() {
        g.touch(consumer, now, !c.ids.is_empty());
    }
    let state = (g.last_id, g.entries_read);
    if c.ids.is_empty() && c.dropped.is_empty() && !c.moved_last && !c.created {
        // A seen time is no part of what replicas replay (Redis does not propagate it).
        e.unchanged();
    } else {
        journal(e, key, group, consumer, c, state);
    }
    Ok(())
}

/// XCLAIM's options after its ids.
struct ClaimOpts {
    min_idle: i64,
    ids: Vec<StreamId>,
    /// The delivery time to set (Unix ms).
    time: u64,
    retry: Option<u64>,
    force: bool,
    just_id: bool,
    last_id: StreamId,
}

/// Reads XCLAIM's arguments from min-idle-time on, as `xclaimCommand` does: the ids are
/// the arguments that read as ids, the options start at the first that does not.
fn claim_args(args: &Args, now: u64, replaying: bool) -> Result<ClaimOpts, CmdError> {
    let min_idle = int_arg(args.get(4))
        .map_err(|_| CmdError::new("ERR Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut j = 5;
    let mut ids = Vec::new();
    while j < args.len() {
        match strict_id(args.get(j)) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let mut o = ClaimOpts {
        min_idle,
        ids,
        time: now,
        retry: None,
        force: false,
        just_id: false,
        last_id: StreamId::MIN,
    };
    let mut time: Option<i64> = None;
    let number = |at: usize, what: &str| {
        int_arg(args.get(at))
            .map_err(|_| CmdError::new(format!("ERR Invalid {what} option argument for XCLAIM")))
    };
    while j < args.len() {
        let opt = args.get(j);
        let more = j + 1 < args.len();
        if is(opt, "force") {
            o.force = true;
        } else if is(opt, "justid") {
            o.just_id = true;
        } else if is(opt, "idle") && more {
            j += 1;
            time = Some((now as i64).wrapping_sub(number(j, "IDLE")?));
        } else if is(opt, "time") && more {
            j += 1;
            time = Some(number(j, "TIME")?);
        } else if is(opt, "retrycount") && more {
            j += 1;
            // A negative count is as good as none.
            o.retry = u64::try_from(number(j, "RETRYCOUNT")?).ok();
        } else if is(opt, "lastid") && more {
            j += 1;
            o.last_id = strict_id(args.get(j))?;
        } else {
            return Err(CmdError::new(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                shown(opt)
            )));
        }
        j += 1;
    }
    // Redis takes a time before the epoch or past now as now: a client's idea of the time
    // is no reason to fail. What the journal wrote is replayed as written.
    o.time = match time {
        Some(t) if t >= 0 && (replaying || t as u64 <= now) => t as u64,
        _ => now,
    };
    Ok(o)
}

/// ```text
/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds]
///     [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
/// ```
fn xclaim(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, group, consumer) = (args.get(1), args.get(2), args.get(3));
    let now = consumer_clock(ctx);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    // Redis finds the group before it reads any other argument.
    check_group(db, slot, key, group, ctx.now)?;
    let o = claim_args(&args, now, ctx.mode == Mode::Apply)?;
    let mut e = db
        .write(slot, key, ctx.now)
        .expect("checked under the same lock");
    let mut c = Claimed::default();
    let s = stream_mut(&mut e)?;
    {
        let g = s.group_mut(group).expect("checked under the same lock");
        if o.last_id > g.last_id {
            // Only the id: the read counter stays as it is, as Redis leaves it.
            g.last_id = o.last_id;
            c.moved_last = true;
        }
    }
    for &id in &o.ids {
        let live = s.contains(id);
        let g = s.group_mut(group).expect("checked under the same lock");
        let pending = g.pending(id).map(|p| (p.delivery_time, p.delivery_count));
        if !live {
            // Its entry is gone: so goes the pending entry.
            if pending.is_some() {
                g.ack(id);
                c.dropped.push(id);
            }
            continue;
        }
        let before = match pending {
            Some((time, count)) => {
                if o.min_idle != 0 && elapsed(now, time) < o.min_idle {
                    continue;
                }
                count
            }
            // FORCE makes the pending entry, delivered once, before the claim counts.
            None if o.force => 1,
            None => continue,
        };
        let count = match o.retry {
            Some(n) => n,
            None if o.just_id => before,
            None => before.wrapping_add(1),
        };
        hand_over(g, &mut c, id, consumer, now, o.time, count);
    }
    settle(&mut e, key, group, consumer, &c, now)?;
    let s = stream(&e)?;
    reply_claimed(ctx.out, s, &c.ids, o.just_id);
    drop(e);
    if c.created {
        ctx.notify(STREAM, "xgroup-createconsumer", key);
    }
    drop(shard);
    Ok(())
}

/// XAUTOCLAIM's COUNT bound: Redis's `LONG_MAX / max(sizeof(streamID), 10)`, so that its
/// attempts (ten per entry) and its buffer of deleted ids cannot overflow.
const AUTOCLAIM_MAX_COUNT: i64 = i64::MAX / 16;

/// ```text
/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
/// ```
fn xautoclaim(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, group, consumer) = (args.get(1), args.get(2), args.get(3));
    // Redis reads every argument before it looks the key up.
    let min_idle = int_arg(args.get(4))
        .map_err(|_| CmdError::new("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let start = interval_id(args.get(5), 0, true)?;
    let mut count: u64 = 100;
    let mut just_id = false;
    let mut j = 6;
    while j < args.len() {
        let opt = args.get(j);
        if is(opt, "count") && j + 1 < args.len() {
            j += 1;
            count = int_arg(args.get(j))
                .ok()
                .filter(|n| (1..=AUTOCLAIM_MAX_COUNT).contains(n))
                .ok_or_else(|| CmdError::new("ERR COUNT must be > 0"))? as u64;
        } else if is(opt, "justid") {
            just_id = true;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    let now = consumer_clock(ctx);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    check_group(db, slot, key, group, ctx.now)?;
    let mut e = db
        .write(slot, key, ctx.now)
        .expect("checked under the same lock");
    let mut c = Claimed::default();
    let s = stream_mut(&mut e)?;
    // Redis's loop: at most ten pending entries looked at per entry COUNT allows, and
    // COUNT bounds the entries claimed and dropped together (the reply's size).
    let mut attempts = count.saturating_mul(10);
    let mut from = Bound::Included(start);
    let mut exhausted = false;
    while attempts > 0 && count > 0 {
        attempts -= 1;
        let g = s.group(group).expect("checked under the same lock");
        let Some((id, time, before)) = g
            .pel()
            .range((from, Bound::Unbounded))
            .next()
            .map(|(id, p)| (*id, p.delivery_time, p.delivery_count))
        else {
            exhausted = true;
            break;
        };
        from = Bound::Excluded(id);
        let live = s.contains(id);
        let g = s.group_mut(group).expect("checked under the same lock");
        if !live {
            g.ack(id);
            c.dropped.push(id);
            count -= 1;
            continue;
        }
        if min_idle != 0 && elapsed(now, time) < min_idle {
            continue;
        }
        let deliveries = if just_id {
            before
        } else {
            before.wrapping_add(1)
        };
        hand_over(g, &mut c, id, consumer, now, now, deliveries);
        count -= 1;
    }
    // Where the next call starts: the pending id after the last one looked at.
    let next = match exhausted {
        true => None,
        false => s.group(group).and_then(|g| {
            g.pel()
                .range((from, Bound::Unbounded))
                .next()
                .map(|(id, _)| *id)
        }),
    };
    settle(&mut e, key, group, consumer, &c, now)?;
    let s = stream(&e)?;
    let out = &mut *ctx.out;
    out.array(3);
    out.bulk(&next.unwrap_or(StreamId::MIN).to_bytes());
    reply_claimed(out, s, &c.ids, just_id);
    out.array(c.dropped.len());
    for id in &c.dropped {
        out.bulk(&id.to_bytes());
    }
    drop(e);
    if c.created {
        ctx.notify(STREAM, "xgroup-createconsumer", key);
    }
    drop(shard);
    Ok(())
}
