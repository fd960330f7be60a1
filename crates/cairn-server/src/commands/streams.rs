//! Streams: XADD and the commands that read or cut a stream's entries (XLEN, XRANGE,
//! XREVRANGE, XDEL, XTRIM, XSETID), over `cairn_store::types::stream` (entries in packed
//! nodes under a B-tree). Reading with XREAD and consumer groups are in
//! `stream_read.rs` and `stream_groups.rs`, XINFO in `stream_info.rs`.
//!
//! Writes journal their effect: XADD journals the id it made (never `*`), and a trim
//! (XADD's or XTRIM's) journals where it ended (`MINID = <first id left>`, or
//! `MAXLEN = 0` when nothing is left), so replicas and the AOF cut exactly what the
//! primary cut whatever their node boundaries. Unlike the other collections, a stream
//! that loses its last entry stays: its last id and groups still mean something.

use cairn_protocol::{Args, Reply};
use cairn_store::types::stream::{Stream, StreamId, Trim};
use cairn_store::{Limits, Object};

use crate::commands::stream_args::{
    NewId, TrimArgs, count_arg, interval_id, parse_id, strict_id, trim_args,
};
use crate::commands::typed::{read, stream, stream_mut};
use crate::ctx::{Command, Ctx, Mode};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::STREAM;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("xadd", -5, "stream")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::STREAM)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .tips(&["nondeterministic_output"])
    .doc("5.0.0", "Appends a new entry to a stream")
    .complexity("O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.")
    .run(xadd),
    Spec::new("xlen", 2, "stream")
    .flags(READONLY | FAST)
    .acl(acl::STREAM)
    .keys(&[KeySpec::one(1, key::RO)])
    .doc("5.0.0", "Return the number of entries in a stream")
    .complexity("O(1)")
    .run(xlen),
    Spec::new("xrange", -4, "stream")
    .flags(READONLY)
    .acl(acl::STREAM)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval")
    .complexity("O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).")
    .run(xrange),
    Spec::new("xrevrange", -4, "stream")
    .flags(READONLY)
    .acl(acl::STREAM)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE")
    .complexity("O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).")
    .run(xrevrange),
    Spec::new("xdel", -3, "stream")
    .flags(WRITE | FAST)
    .acl(acl::STREAM)
    .keys(&[KeySpec::one(1, key::RW | key::DELETE)])
    .doc("5.0.0", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.")
    .complexity("O(1) for each single item to delete in the stream, regardless of the stream size.")
    .run(xdel),
    Spec::new("xtrim", -4, "stream")
    .flags(WRITE)
    .acl(acl::STREAM)
    .keys(&[KeySpec::one(1, key::RW | key::DELETE)])
    .tips(&["nondeterministic_output"])
    .doc("5.0.0", "Trims the stream to (approximately if '~' is passed) a certain size")
    .complexity("O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.")
    .run(xtrim),
    Spec::new("xsetid", -3, "stream")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::STREAM)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("5.0.0", "An internal command for replicating stream values")
    .complexity("O(1)")
    .run(xsetid),
];

/// The most bytes one entry may hold (Redis's `STREAM_LISTPACK_MAX_SIZE`): a DUMP node
/// must hold it.
const STREAM_ENTRY_MAX: usize = 1 << 30;

/// A stream new to a key.
pub fn new_stream() -> Object {
    Object::Stream(Box::default())
}

/// One entry as replies carry it: `[id, [field, value, ...]]`.
pub fn reply_entry(out: &mut Reply, id: StreamId, fields: &[&[u8]]) {
    out.array(2);
    out.bulk(id.to_string().as_bytes());
    out.array(fields.len());
    for f in fields {
        out.bulk(f);
    }
}

/// Entries from `start` to `end` (backwards when `rev`), at most `count` (0: all), as an
/// array of entries.
pub fn reply_range(
    out: &mut Reply,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    rev: bool,
    count: usize,
) {
    let mut body = Reply::new(out.protocol());
    let n = write_entries(&mut body, s, start, end, rev, count, |_| {});
    out.array(n);
    out.raw(body.bytes());
}

/// Writes the entries of a range straight from the stream's nodes into `body` (their
/// array header is the caller's: the count is known after), handing `each` every id.
/// Returns how many.
pub fn write_entries(
    body: &mut Reply,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    rev: bool,
    count: usize,
    mut each: impl FnMut(StreamId),
) -> usize {
    s.range(start, end, rev, count, |id, f| {
        reply_entry(body, id, f);
        each(id);
        true
    })
}

/// The journal's form of a trim that left `s` as it is: where it ended.
fn trim_effect(s: &Stream) -> [Vec<u8>; 3] {
    match s.is_empty() {
        true => [b"MAXLEN".to_vec(), b"=".to_vec(), b"0".to_vec()],
        false => [b"MINID".to_vec(), b"=".to_vec(), s.first_id().to_bytes()],
    }
}

/// ```text
/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]
/// ```
fn xadd(ctx: &mut Ctx, args: Args) -> CmdResult {
    let lim: Limits = ctx.server.object_limits();
    let t: TrimArgs = trim_args(
        &args,
        true,
        lim.stream_node.max_entries,
        ctx.mode == Mode::Apply,
    )?;
    let fields_at = t.fields_at;
    if fields_at > args.len()
        || args.len() - fields_at < 2
        || !(args.len() - fields_at).is_multiple_of(2)
    {
        return Err(CmdError::arity("xadd"));
    }
    if let NewId::Explicit(id) = t.id
        && id.is_zero()
    {
        return Err(CmdError::new(
            "ERR The ID specified in XADD must be greater than 0-0",
        ));
    }
    let key = args.get(1);
    let fields: Vec<&[u8]> = (fields_at..args.len()).map(|i| args.get(i)).collect();
    if fields.iter().map(|f| f.len()).sum::<usize>() >= STREAM_ENTRY_MAX {
        return Err(CmdError::new("ERR Elements are too large to be stored"));
    }
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    if t.nomkstream && db.peek(slot, key, ctx.now).is_none() {
        drop(shard);
        ctx.out.null();
        return Ok(());
    }
    let (mut e, _created) = db.write_or_create(slot, key, ctx.now, new_stream);
    let s = stream_mut(&mut e)?;
    if s.last_id() == StreamId::MAX {
        e.unchanged();
        return Err(CmdError::new(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    if let NewId::AutoSeq(ms) = t.id
        && ms == s.last_id().ms
        && s.last_id().seq == u64::MAX
    {
        // No sequence is left at that millisecond (Redis's answer for it).
        e.unchanged();
        return Err(CmdError::new("ERR Elements are too large to be stored"));
    }
    let id = match t.id {
        NewId::Auto => s.auto_id(ctx.now.ms),
        NewId::AutoSeq(ms) => s.auto_seq(ms),
        NewId::Explicit(id) => Some(id).filter(|&id| id > s.last_id()),
    };
    let Some(id) = id else {
        // Nothing was added (a new key is not made for nothing: it was there or it is
        // a stream whose first id is past 0-0, which `Explicit` checked).
        e.unchanged();
        return Err(CmdError::new(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        ));
    };
    s.append(id, &fields, lim.stream_node);
    let trimmed = match t.trim {
        Some(how) => s.trim(how, t.approx, t.limit),
        None => 0,
    };
    let idb = id.to_bytes();
    let mut op: Vec<&[u8]> = vec![b"XADD", key];
    let trim_op;
    if t.trim.is_some() {
        // The trim as it ended, exact: a replica cuts the same entries.
        trim_op = trim_effect(s);
        op.extend(trim_op.iter().map(Vec::as_slice));
    }
    op.push(&idb);
    op.extend_from_slice(&fields);
    e.journal_op(&op);
    drop(e);
    ctx.notify(STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(STREAM, "xtrim", key);
    }
    drop(shard);
    ctx.out.bulk(&idb);
    Ok(())
}

/// ```text
/// XLEN key
/// ```
fn xlen(ctx: &mut Ctx, args: Args) -> CmdResult {
    read(
        ctx,
        args.get(1),
        stream,
        |out| out.int(0),
        |s, out| out.int(s.len() as i64),
    )
}

fn range_command(ctx: &mut Ctx, args: &Args, rev: bool) -> CmdResult {
    // XREVRANGE names the end first.
    let (start_at, end_at) = if rev { (3, 2) } else { (2, 3) };
    let start = interval_id(args.get(start_at), 0, true)?;
    let end = interval_id(args.get(end_at), u64::MAX, false)?;
    let mut count: Option<u64> = None;
    let mut i = 4;
    while i < args.len() {
        if crate::commands::args::is(args.get(i), "count") && i + 1 < args.len() {
            count = Some(count_arg(args.get(i + 1))?);
            i += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    read(
        ctx,
        args.get(1),
        stream,
        |out| out.array(0),
        |s, out| match count {
            Some(0) => out.null_array(),
            c => reply_range(out, s, start, end, rev, c.unwrap_or(0) as usize),
        },
    )
}

/// ```text
/// XRANGE key start end [COUNT count]
/// ```
fn xrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    range_command(ctx, &args, false)
}

/// ```text
/// XREVRANGE key end start [COUNT count]
/// ```
fn xrevrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    range_command(ctx, &args, true)
}

/// ```text
/// XDEL key id [id ...]
/// ```
fn xdel(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    // Looked at first: an XDEL that deletes nothing writes nothing (no WATCH, tracking or
    // blocked-reader news). Redis reads the ids only of a stream it found.
    let ids = {
        let Some(s) = db.peek(slot, key, ctx.now).map(stream).transpose()? else {
            ctx.out.int(0);
            return Ok(());
        };
        let ids = (2..args.len())
            .map(|i| strict_id(args.get(i)))
            .collect::<Result<Vec<_>, _>>()?;
        if !ids.iter().any(|&id| s.contains(id)) {
            ctx.out.int(0);
            return Ok(());
        }
        ids
    };
    let mut e = db.write(slot, key, ctx.now).expect("looked up above");
    let s = stream_mut(&mut e)?;
    let deleted = ids.iter().filter(|&&id| s.delete(id)).count();
    let ids: Vec<Vec<u8>> = ids.iter().map(|id| id.to_bytes()).collect();
    let mut op: Vec<&[u8]> = vec![b"XDEL", key];
    op.extend(ids.iter().map(Vec::as_slice));
    e.journal_op(&op);
    drop(e);
    ctx.notify(STREAM, "xdel", key);
    drop(shard);
    ctx.out.int(deleted as i64);
    Ok(())
}

/// ```text
/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
/// ```
fn xtrim(ctx: &mut Ctx, args: Args) -> CmdResult {
    let lim = ctx.server.object_limits();
    let t = trim_args(
        &args,
        false,
        lim.stream_node.max_entries,
        ctx.mode == Mode::Apply,
    )?;
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let s = stream_mut(&mut e)?;
    let how: Trim = t.trim.expect("XTRIM has a strategy");
    let removed = s.trim(how, t.approx, t.limit);
    if removed == 0 {
        e.unchanged();
        drop(e);
    } else {
        let effect = trim_effect(s);
        let mut op: Vec<&[u8]> = vec![b"XTRIM", key];
        op.extend(effect.iter().map(Vec::as_slice));
        e.journal_op(&op);
        drop(e);
        ctx.notify(STREAM, "xtrim", key);
    }
    drop(shard);
    ctx.out.int(removed as i64);
    Ok(())
}

/// ```text
/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
/// ```
fn xsetid(ctx: &mut Ctx, args: Args) -> CmdResult {
    let id = strict_id(args.get(2))?;
    let mut added: Option<u64> = None;
    let mut max_deleted: Option<StreamId> = None;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        if crate::commands::args::is(opt, "entriesadded") && more > 0 {
            let n = crate::commands::args::int_arg(args.get(i + 1))?;
            if n < 0 {
                return Err(CmdError::new("ERR entries_added must be positive"));
            }
            added = Some(n as u64);
        } else if crate::commands::args::is(opt, "maxdeletedid") && more > 0 {
            let m = strict_id(args.get(i + 1))?;
            if id < m {
                return Err(CmdError::new(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(m);
        } else {
            return Err(CmdError::syntax());
        }
        i += 2;
    }
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        return Err(CmdError::no_such_key());
    };
    let s = stream_mut(&mut e)?;
    let refuse = |e: &mut cairn_store::EntryMut<'_>, msg: &'static str| {
        e.unchanged();
        Err(CmdError::new(msg))
    };
    // An empty stream takes any id (Redis checks only a stream with entries).
    if !s.is_empty() {
        let top = s.edge(true).map(|(id, _)| id).unwrap_or_default();
        if id < top {
            return refuse(
                &mut e,
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if added.is_some_and(|n| n < s.len()) {
            return refuse(
                &mut e,
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
        if id < s.max_deleted() {
            return refuse(
                &mut e,
                "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id",
            );
        }
    }
    s.set_id(id, added, max_deleted.filter(|m| !m.is_zero()));
    let (last, n, md) = (
        s.last_id().to_bytes(),
        s.entries_added().to_string(),
        s.max_deleted().to_bytes(),
    );
    e.journal_op(&[
        b"XSETID",
        key,
        &last,
        b"ENTRIESADDED",
        n.as_bytes(),
        b"MAXDELETEDID",
        &md,
    ]);
    drop(e);
    ctx.notify(STREAM, "xsetid", key);
    drop(shard);
    ctx.out.ok();
    Ok(())
}

/// Reads `ms-seq` for callers outside this family (migration, tests).
pub fn id_arg(b: &[u8]) -> Result<StreamId, CmdError> {
    parse_id(b, 0, true, false).map(|(id, _)| id)
}
