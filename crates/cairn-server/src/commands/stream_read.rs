//! XREAD and XREADGROUP, blocking or not, as Redis 7.0's `xreadCommand` reads its
//! arguments and serves them.
//!
//! Both first look at every key (WRONGTYPE, NOGROUP, `$` and XREAD's `+` resolved) and then serve each
//! key that has something, answering `[[key, entries], ...]` (a map in RESP3). With
//! nothing to serve and BLOCK, the client parks (`crate::blocking`) with a try per key
//! that serves it once the key holds an entry past the id it waits after: for XREAD the
//! id it named (`$`: the last id when it blocked); for XREADGROUP `>`, the group's
//! last-delivered id at the time of the try, so two consumers of one group blocked on a
//! key are served different entries, first blocked first. A blocked XREADGROUP whose
//! group is destroyed, or whose key is deleted or changes type, is woken with Redis's
//! error; a blocked XREAD keeps waiting.
//!
//! What XREADGROUP changes is journaled as Redis propagates it, with the final values:
//! `XGROUP CREATECONSUMER` for a consumer it made, `XCLAIM ... TIME t RETRYCOUNT n FORCE
//! JUSTID LASTID id` for each entry it put in the pending list, and `XGROUP SETID ...
//! ENTRIESREAD n` for the group's new position.

use std::collections::HashMap;
use std::time::Duration;

use cairn_protocol::{Args, Reply};
use cairn_store::db::Now;
use cairn_store::types::stream::StreamId;

use crate::blocking::{ServeFn, Served};
use crate::commands::args::{int_arg, is};
use crate::commands::list_blocking::{block, with_server};
use crate::commands::stream_args::{count_arg, strict_id};
use crate::commands::streams::{reply_entry, write_entries};
use crate::commands::typed::{stream, stream_mut};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::STREAM;
use crate::server::Server;
use crate::spec::{Find, KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("xread", -4, "stream")
    .flags(READONLY | BLOCKING)
    .acl(acl::STREAM | acl::BLOCKING)
    .keys(&[KeySpec::after("STREAMS", 1, Find::Range { last: -1, step: 1, limit: 2 }, key::RO | key::ACCESS)])
    .doc("5.0.0", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.")
    .complexity("For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.")
    .run(xread),
    Spec::new("xreadgroup", -7, "stream")
    .flags(WRITE | BLOCKING)
    .acl(acl::STREAM | acl::BLOCKING)
    .keys(&[KeySpec::after("STREAMS", 4, Find::Range { last: -1, step: 1, limit: 2 }, key::RW | key::ACCESS)])
    .doc("5.0.0", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.")
    .complexity("For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.")
    .run(xreadgroup),
];

/// Where a read starts on one key.
#[derive(Clone, Copy, Debug)]
enum From {
    /// Entries after this id.
    After(StreamId),
    /// XREADGROUP's `>`: entries the group has not been given yet.
    New,
}

/// What XREAD or XREADGROUP asked for.
struct ReadArgs<'a> {
    count: usize,
    /// BLOCK's timeout: `None` without BLOCK, `Some(None)` for ever.
    block: Option<Option<Duration>>,
    noack: bool,
    group: Option<(&'a [u8], &'a [u8])>,
    keys: Vec<&'a [u8]>,
    ids: Vec<&'a [u8]>,
}

/// BLOCK's milliseconds (Redis's `getTimeoutFromObjectOrReply` in milliseconds).
fn block_ms(b: &[u8]) -> Result<Option<Duration>, CmdError> {
    let ms =
        int_arg(b).map_err(|_| CmdError::new("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    if ms == 0 {
        return Ok(None);
    }
    if ms > i64::MAX - Now::wall().ms as i64 {
        return Err(CmdError::new("ERR timeout is out of range"));
    }
    Ok(Some(Duration::from_millis(ms as u64)))
}

fn parse<'a>(args: &'a Args, group_cmd: bool) -> Result<ReadArgs<'a>, CmdError> {
    let mut r = ReadArgs {
        count: 0,
        block: None,
        noack: false,
        group: None,
        keys: Vec::new(),
        ids: Vec::new(),
    };
    let mut streams_at = 0;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = args.get(i);
        if is(o, "block") && more > 0 {
            r.block = Some(block_ms(args.get(i + 1))?);
            i += 2;
        } else if is(o, "count") && more > 0 {
            r.count = count_arg(args.get(i + 1))? as usize;
            i += 2;
        } else if is(o, "streams") && more > 0 {
            streams_at = i + 1;
            let n = args.len() - streams_at;
            if !n.is_multiple_of(2) {
                // Redis 7.0 names XREAD and '$' for XREADGROUP too.
                return Err(CmdError::new(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            break;
        } else if is(o, "group") && more >= 2 {
            if !group_cmd {
                return Err(CmdError::new(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((args.get(i + 1), args.get(i + 2)));
            i += 3;
        } else if is(o, "noack") {
            if !group_cmd {
                return Err(CmdError::new(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
            i += 1;
        } else {
            return Err(CmdError::syntax());
        }
    }
    if streams_at == 0 {
        return Err(CmdError::syntax());
    }
    if group_cmd && r.group.is_none() {
        return Err(CmdError::new("ERR Missing GROUP option for XREADGROUP"));
    }
    let n = (args.len() - streams_at) / 2;
    r.keys = (streams_at..streams_at + n).map(|i| args.get(i)).collect();
    r.ids = (streams_at + n..args.len()).map(|i| args.get(i)).collect();
    Ok(r)
}

/// Looks at every key as Redis does before serving any: its type, the group, and what
/// its id means.
fn resolve(ctx: &mut Ctx, r: &ReadArgs) -> Result<Vec<From>, CmdError> {
    let mut from = Vec::with_capacity(r.keys.len());
    for (&key, &id) in r.keys.iter().zip(&r.ids) {
        let (mut shard, slot) = ctx.lock(key);
        let e = shard.db(ctx.db()).peek(slot, key, ctx.now);
        let s = match e {
            Some(e) => Some(stream(e)?),
            None => None,
        };
        if let Some((group, _)) = r.group
            && s.and_then(|s| s.group(group)).is_none()
        {
            return Err(CmdError::new(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(group)
            )));
        }
        from.push(match id {
            b"$" if r.group.is_some() => {
                return Err(CmdError::new(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            b"$" => From::After(s.map_or(StreamId::MIN, |s| s.last_id())),
            // Redis 7.4's `+`: from just before the last id, so the last entry comes back.
            b"+" if r.group.is_none() => From::After(
                s.and_then(|s| s.last_id().prev())
                    .unwrap_or(StreamId::MIN),
            ),
            b">" if r.group.is_none() => {
                return Err(CmdError::new(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            b">" => From::New,
            id => From::After(strict_id(id)?),
        });
    }
    Ok(from)
}

/// A consumer-group read's parameters, owned (a parked read keeps them).
#[derive(Clone)]
struct GroupRead {
    group: Vec<u8>,
    consumer: Vec<u8>,
    noack: bool,
}

/// Why a key gave nothing to a parked read.
enum Miss {
    /// Nothing past its id yet.
    Nothing,
    /// The key is gone or no stream (XREADGROUP's error, XREAD keeps waiting).
    Gone,
    /// The group is gone.
    NoGroup,
}

/// Writes `key` and its entries (one pair of the reply's array or map) to `out`, or
/// says why not. `sync`: the client's own command (a history read always answers, even
/// with no entries); otherwise a parked read's try.
#[allow(clippy::too_many_arguments)]
fn serve_key(
    server: &Server,
    db: usize,
    key: &[u8],
    from: From,
    count: usize,
    group: Option<&GroupRead>,
    now: Now,
    out: &mut Reply,
) -> Result<Result<(), Miss>, CmdError> {
    let slot = cairn_store::key_slot(key);
    let mut shard = server.keyspace.lock(slot);
    let d = shard.db(db);
    let Some(g) = group else {
        // XREAD's ids are all `After` (its `>` was refused).
        let From::After(after) = from else {
            return Ok(Err(Miss::Nothing));
        };
        let Some(e) = d.read(slot, key, now) else {
            return Ok(Err(Miss::Gone));
        };
        let Ok(s) = stream(e) else {
            return Ok(Err(Miss::Gone));
        };
        let Some(start) = after.next() else {
            return Ok(Err(Miss::Nothing));
        };
        let mut body = Reply::new(out.protocol());
        let n = write_entries(&mut body, s, start, StreamId::MAX, false, count, |_| {});
        if n == 0 {
            return Ok(Err(Miss::Nothing));
        }
        if !out.is_resp3() {
            out.array(2);
        }
        out.bulk(key);
        out.array(n);
        out.raw(body.bytes());
        return Ok(Ok(()));
    };
    // Looked at first without writing: a write lookup reports the key written (WATCH,
    // tracking, and every other waiter on it tried again), which a read that finds
    // nothing new must not do.
    let last = {
        let Some(e) = d.peek(slot, key, now) else {
            return Ok(Err(Miss::Gone));
        };
        let Ok(s) = stream(e) else {
            return Ok(Err(Miss::Gone));
        };
        let Some(last) = s.group(&g.group).map(|grp| grp.last_id) else {
            return Ok(Err(Miss::NoGroup));
        };
        if let From::New = from
            && !s.has_after(last)
        {
            return Ok(Err(Miss::Nothing));
        }
        last
    };
    let mut e = d.write(slot, key, now).expect("looked up above");
    let s = stream_mut(&mut e)?;
    let mut ops: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut body = Reply::new(out.protocol());
    let consumer = g.consumer.as_slice();
    let made;
    match from {
        From::New => {
            let Some(start) = last.next() else {
                e.unchanged();
                return Ok(Err(Miss::Nothing));
            };
            let mut entries: Vec<StreamId> = Vec::new();
            let mut written = Reply::new(out.protocol());
            write_entries(&mut written, s, start, StreamId::MAX, false, count, |id| {
                entries.push(id)
            });
            if entries.is_empty() {
                e.unchanged();
                return Ok(Err(Miss::Nothing));
            }
            made = s
                .group_mut(&g.group)
                .expect("checked")
                .ensure_consumer(consumer, now.ms);
            for id in &entries {
                if !g.noack {
                    s.group_mut(&g.group)
                        .expect("checked")
                        .assign(*id, consumer, now.ms, 1);
                }
                s.advance_group(&g.group, *id);
            }
            let grp = s.group_mut(&g.group).expect("checked");
            grp.touch(consumer, now.ms, true);
            if !g.noack {
                for id in &entries {
                    ops.push(claim_op(key, &g.group, consumer, *id, grp));
                }
            }
            ops.push(setid_op(key, &g.group, grp));
            body.array(entries.len());
            body.raw(written.bytes());
        }
        From::After(after) => {
            // The consumer's own pending entries past `after`: a deleted one answers
            // its id and a null.
            let grp = s.group_mut(&g.group).expect("checked");
            made = grp.ensure_consumer(consumer, now.ms);
            let ids: Vec<StreamId> = match after.next() {
                Some(start) => grp
                    .consumer(consumer)
                    .map(|c| {
                        c.pending
                            .range(start..)
                            .take(if count == 0 { usize::MAX } else { count })
                            .copied()
                            .collect()
                    })
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            body.array(ids.len());
            let mut any = false;
            for id in ids {
                match s.get(id) {
                    Some(f) => {
                        let grp = s.group_mut(&g.group).expect("checked");
                        grp.redeliver(id, now.ms);
                        ops.push(claim_op(key, &g.group, consumer, id, grp));
                        let flat: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
                        reply_entry(&mut body, id, &flat);
                        any = true;
                    }
                    None => {
                        body.array(2);
                        body.bulk(id.to_string().as_bytes());
                        body.null_array();
                    }
                }
            }
            s.group_mut(&g.group)
                .expect("checked")
                .touch(consumer, now.ms, any);
        }
    }
    if made {
        ops.insert(
            0,
            vec![
                b"XGROUP".to_vec(),
                b"CREATECONSUMER".to_vec(),
                key.to_vec(),
                g.group.clone(),
                consumer.to_vec(),
            ],
        );
    }
    if ops.is_empty() {
        e.unchanged();
    }
    for op in &ops {
        let op: Vec<&[u8]> = op.iter().map(Vec::as_slice).collect();
        e.journal_op(&op);
    }
    drop(e);
    if made {
        server
            .notifier
            .notify(STREAM, "xgroup-createconsumer", key, db);
    }
    drop(shard);
    if !out.is_resp3() {
        out.array(2);
    }
    out.bulk(key);
    out.raw(body.bytes());
    Ok(Ok(()))
}

/// The journal's form of a pending entry as it is now.
fn claim_op(
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    id: StreamId,
    g: &cairn_store::types::stream_group::Group,
) -> Vec<Vec<u8>> {
    let p = g.pending(id).expect("just delivered");
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        group.to_vec(),
        consumer.to_vec(),
        b"0".to_vec(),
        id.to_bytes(),
        b"TIME".to_vec(),
        p.delivery_time.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        p.delivery_count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        g.last_id.to_bytes(),
    ]
}

/// The journal's form of a group's position.
fn setid_op(key: &[u8], group: &[u8], g: &cairn_store::types::stream_group::Group) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        group.to_vec(),
        g.last_id.to_bytes(),
        b"ENTRIESREAD".to_vec(),
        g.entries_read
            .map_or_else(|| "-1".to_string(), |n| n.to_string())
            .into_bytes(),
    ]
}

fn read_command(ctx: &mut Ctx, args: Args, group_cmd: bool) -> CmdResult {
    let r = parse(&args, group_cmd)?;
    let from = resolve(ctx, &r)?;
    let group = r.group.map(|(g, c)| GroupRead {
        group: g.to_vec(),
        consumer: c.to_vec(),
        noack: r.noack,
    });
    let mut body = Reply::new(ctx.out.protocol());
    let mut served = 0;
    for (&key, &f) in r.keys.iter().zip(&from) {
        // (A history read answers even when it has nothing.)
        if serve_key(
            ctx.server,
            ctx.db(),
            key,
            f,
            r.count,
            group.as_ref(),
            ctx.now,
            &mut body,
        )?
        .is_ok()
        {
            served += 1;
        }
    }
    if served > 0 {
        if ctx.out.is_resp3() {
            ctx.out.map(served);
        } else {
            ctx.out.array(served);
        }
        ctx.out.raw(body.bytes());
        return Ok(());
    }
    let Some(timeout) = r.block else {
        ctx.out.null_array();
        return Ok(());
    };
    if !ctx.may_park() {
        ctx.out.null_array();
        return Ok(());
    }
    let waits: HashMap<Vec<u8>, From> = r
        .keys
        .iter()
        .zip(&from)
        .map(|(k, f)| (k.to_vec(), *f))
        .collect();
    let count = r.count;
    let weak = ctx.server.weak();
    let serve: ServeFn = Box::new(move |w, key| {
        let Some(&from) = waits.get(key) else {
            return Served::NotYet;
        };
        with_server(&weak, |server, now| {
            let mut out = Reply::new(w.protocol);
            let mut pair = Reply::new(w.protocol);
            match serve_key(
                server,
                w.db,
                key,
                from,
                count,
                group.as_ref(),
                now,
                &mut pair,
            ) {
                Ok(Ok(())) => {
                    if out.is_resp3() {
                        out.map(1);
                    } else {
                        out.array(1);
                    }
                    out.raw(pair.bytes());
                    Served::Reply(out.into_bytes())
                }
                Ok(Err(Miss::Nothing)) => Served::NotYet,
                Ok(Err(Miss::Gone)) if group.is_some() => {
                    Served::Error("UNBLOCKED the stream key no longer exists".into())
                }
                Ok(Err(Miss::Gone)) => Served::NotYet,
                Ok(Err(Miss::NoGroup)) => Served::Error(
                    "NOGROUP the consumer group this client was blocked on no longer exists".into(),
                ),
                Err(_) => Served::NotYet,
            }
        })
    });
    block(ctx, &r.keys, timeout, serve);
    Ok(())
}

/// ```text
/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
/// ```
fn xread(ctx: &mut Ctx, args: Args) -> CmdResult {
    read_command(ctx, args, false)
}

/// ```text
/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK]
///     STREAMS key [key ...] id [id ...]
/// ```
fn xreadgroup(ctx: &mut Ctx, args: Args) -> CmdResult {
    read_command(ctx, args, true)
}
