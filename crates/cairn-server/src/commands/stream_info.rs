//! XINFO: STREAM (with FULL [COUNT n]), GROUPS, CONSUMERS and HELP, with the fields Redis
//! 7.2 reports, in its order: maps in RESP3, flat field-value arrays in RESP2.
//!
//! Two figures have no exact counterpart here. `radix-tree-keys` is the number of packed
//! nodes (Redis's listpacks, one key each in its radix tree), and `radix-tree-nodes` an
//! estimate of the nodes Redis's radix tree would hold for that many keys (see
//! [`radix_tree_nodes`]). A group's lag is computed as Redis computes it, signed: a group
//! created with ENTRIESREAD past the entries ever added lags by a negative number there.

use cairn_protocol::{Args, Reply};
use cairn_store::types::stream::{Stream, StreamId};

use crate::commands::args::{help_reply, int_arg, is};
use crate::commands::streams::{reply_entry, reply_range};
use crate::commands::typed::stream;
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

const SUBCOMMANDS: &[Command] = &[
    Spec::new("xinfo|consumers", 4, "stream")
        .flags(READONLY)
        .acl(acl::STREAM)
        .keys(&[KeySpec::one(2, key::RO | key::ACCESS)])
        .tips(&["nondeterministic_output"])
        .doc("5.0.0", "List the consumers in a consumer group")
        .complexity("O(1)")
        .run(consumers),
    Spec::new("xinfo|groups", 3, "stream")
        .flags(READONLY)
        .acl(acl::STREAM)
        .keys(&[KeySpec::one(2, key::RO | key::ACCESS)])
        .doc("5.0.0", "List the consumer groups of a stream")
        .complexity("O(1)")
        .run(groups),
    Spec::new("xinfo|stream", -3, "stream")
        .flags(READONLY)
        .acl(acl::STREAM)
        .keys(&[KeySpec::one(2, key::RO | key::ACCESS)])
        .doc("5.0.0", "Get information about a stream")
        .complexity("O(1)")
        .run(stream_info),
    Spec::new("xinfo|help", 2, "stream")
        .flags(LOADING | STALE)
        .acl(acl::STREAM)
        .doc("5.0.0", "Show helpful text about the different subcommands")
        .complexity("O(1)")
        .run(help),
];

pub static COMMANDS: &[Command] = &[Spec::new("xinfo", -2, "stream")
    .doc("5.0.0", "A container for stream introspection commands")
    .complexity("Depends on subcommand.")
    .container(SUBCOMMANDS)];

/// Client input inside an error line, as Redis's `addReplyErrorFormat` shows it.
fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace(['\r', '\n'], " ")
}

/// XINFO STREAM's answer to options it does not take (`addReplySubcommandSyntaxError`:
/// the subcommand as typed, at most 128 bytes of it).
fn subcommand_syntax(args: &Args) -> CmdError {
    let sub = args.get(1);
    CmdError::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
        shown(&sub[..sub.len().min(128)])
    ))
}

/// Runs `f` on the stream at `args[2]`: `ERR no such key` when there is none, WRONGTYPE
/// when it is no stream (both before any other argument is looked at, as in Redis).
fn with_stream(
    ctx: &mut Ctx,
    args: &Args,
    f: impl FnOnce(&Stream, &mut Reply, u64) -> CmdResult,
) -> CmdResult {
    let key = args.get(2);
    let now = ctx.now.ms;
    let (mut shard, slot) = ctx.lock(key);
    let Some(e) = shard.db(ctx.db()).read(slot, key, ctx.now) else {
        return Err(CmdError::no_such_key());
    };
    f(stream(e)?, ctx.out, now)
}

/// Redis's radix tree keys a stream's listpacks by their master ids, 128-bit big-endian:
/// it holds its head alone when empty, two nodes for one key, and for more about two and
/// a half nodes per key (the keys of ids XADD made share their high bytes, so each key
/// adds its leaf and about one and a half inner nodes where it parts from its neighbours;
/// Redis reports 6 for 2 keys, 26 for 10, 241 for 100). Nothing here depends on it: it
/// is reported so that tools reading the field find a figure of the right size.
pub fn radix_tree_nodes(keys: usize) -> usize {
    match keys {
        0 => 1,
        1 => 2,
        n => 1 + n + (3 * n).div_ceil(2),
    }
}

fn int_or_null(out: &mut Reply, v: Option<i64>) {
    match v {
        Some(n) => out.int(n),
        None => out.null(),
    }
}

/// Milliseconds from `since` to `now` (negative when `since` is later).
fn elapsed(now: u64, since: u64) -> i64 {
    (i128::from(now) - i128::from(since)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// ```text
/// XINFO STREAM key [FULL [COUNT count]]
/// ```
fn stream_info(ctx: &mut Ctx, args: Args) -> CmdResult {
    with_stream(ctx, &args, |s, out, _| {
        // Redis reads the options once it has the stream: nothing, FULL, or FULL COUNT n.
        let full = match args.len() - 3 {
            0 => None,
            1 | 3 if !is(args.get(3), "full") => return Err(subcommand_syntax(&args)),
            1 => Some(10),
            3 if !is(args.get(4), "count") => return Err(subcommand_syntax(&args)),
            // A negative COUNT is the default; 0 is everything.
            3 => Some(match int_arg(args.get(5))? {
                n if n < 0 => 10,
                n => n as u64,
            }),
            _ => return Err(subcommand_syntax(&args)),
        };
        out.map(if full.is_some() { 9 } else { 10 });
        out.bulk(b"length");
        out.int(s.len() as i64);
        out.bulk(b"radix-tree-keys");
        out.int(s.node_count() as i64);
        out.bulk(b"radix-tree-nodes");
        out.int(radix_tree_nodes(s.node_count()) as i64);
        out.bulk(b"last-generated-id");
        out.bulk(&s.last_id().to_bytes());
        out.bulk(b"max-deleted-entry-id");
        out.bulk(&s.max_deleted().to_bytes());
        out.bulk(b"entries-added");
        out.int(s.entries_added() as i64);
        out.bulk(b"recorded-first-entry-id");
        out.bulk(&s.first_id().to_bytes());
        match full {
            None => {
                out.bulk(b"groups");
                out.int(s.groups().count() as i64);
                for (name, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
                    out.bulk(name);
                    match s.edge(rev) {
                        Some((id, fields)) => {
                            let flat: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
                            reply_entry(out, id, &flat);
                        }
                        None => out.null(),
                    }
                }
            }
            Some(count) => full_info(out, s, count),
        }
        Ok(())
    })
}

/// XINFO STREAM FULL's entries and groups, each list at most `count` long (0: all).
fn full_info(out: &mut Reply, s: &Stream, count: u64) {
    let limit = match count {
        0 => usize::MAX,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    out.bulk(b"entries");
    reply_range(
        out,
        s,
        StreamId::MIN,
        StreamId::MAX,
        false,
        count.min(usize::MAX as u64) as usize,
    );
    out.bulk(b"groups");
    out.array(s.groups().count());
    for (name, g) in s.groups() {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        out.bulk(&g.last_id.to_bytes());
        out.bulk(b"entries-read");
        int_or_null(out, g.entries_read.map(|n| n as i64));
        out.bulk(b"lag");
        int_or_null(out, s.lag(g));
        out.bulk(b"pel-count");
        out.int(g.pel().len() as i64);
        out.bulk(b"pending");
        let shown = g.pel().len().min(limit);
        out.array(shown);
        for (id, p) in g.pel().iter().take(shown) {
            out.array(4);
            out.bulk(&id.to_bytes());
            out.bulk(&p.consumer);
            out.int(p.delivery_time as i64);
            out.int(p.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers().len());
        for (cname, c) in g.consumers() {
            out.map(5);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time as i64);
            // Redis 7.2: -1 for a consumer that never read or claimed anything.
            out.bulk(b"active-time");
            out.int(c.active_time.map_or(-1, |t| t as i64));
            out.bulk(b"pel-count");
            out.int(c.pending.len() as i64);
            out.bulk(b"pending");
            let shown = c.pending.len().min(limit);
            out.array(shown);
            for id in c.pending.iter().take(shown) {
                let (time, deliveries) = g
                    .pending(*id)
                    .map_or((0, 0), |p| (p.delivery_time, p.delivery_count));
                out.array(3);
                out.bulk(&id.to_bytes());
                out.int(time as i64);
                out.int(deliveries as i64);
            }
        }
    }
}

/// ```text
/// XINFO GROUPS key
/// ```
fn groups(ctx: &mut Ctx, args: Args) -> CmdResult {
    with_stream(ctx, &args, |s, out, _| {
        out.array(s.groups().count());
        for (name, g) in s.groups() {
            out.map(6);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"consumers");
            out.int(g.consumers().len() as i64);
            out.bulk(b"pending");
            out.int(g.pel().len() as i64);
            out.bulk(b"last-delivered-id");
            out.bulk(&g.last_id.to_bytes());
            out.bulk(b"entries-read");
            int_or_null(out, g.entries_read.map(|n| n as i64));
            out.bulk(b"lag");
            int_or_null(out, s.lag(g));
        }
        Ok(())
    })
}

/// ```text
/// XINFO CONSUMERS key group
/// ```
///
/// `idle`: since the consumer's last attempt (a read or claim, even one that got
/// nothing); `inactive`: since its last read or claim that got something, -1 if none
/// ever did (Redis 7.2).
fn consumers(ctx: &mut Ctx, args: Args) -> CmdResult {
    let name = args.get(3);
    with_stream(ctx, &args, |s, out, now| {
        let Some(g) = s.group(name) else {
            return Err(CmdError::new(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                shown(name),
                shown(args.get(2))
            )));
        };
        out.array(g.consumers().len());
        for (cname, c) in g.consumers() {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"pending");
            out.int(c.pending.len() as i64);
            out.bulk(b"idle");
            out.int(elapsed(now, c.seen_time).max(0));
            out.bulk(b"inactive");
            out.int(c.active_time.map_or(-1, |t| elapsed(now, t)));
        }
        Ok(())
    })
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}
