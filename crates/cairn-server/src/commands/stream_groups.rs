//! Consumer groups: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP)
//! and XACK, as Redis 7.0's `xgroupCommand` and `xackCommand` parse and answer them.
//! Reading through a group is XREADGROUP (`stream_read.rs`); claiming is in
//! `stream_claim.rs`; XINFO in `stream_info.rs`.
//!
//! Each journals its effect with every id resolved: `$` becomes the id it named, and
//! CREATE and SETID carry the group's read counter (`ENTRIESREAD`, -1 when unknown), so
//! a replica's lag figures are the primary's.

use cairn_protocol::Args;
use cairn_store::EntryMut;
use cairn_store::db::{Db, Now};
use cairn_store::types::stream::StreamId;

use crate::commands::args::{help_reply, int_arg, is};
use crate::commands::stream_args::{consumer_clock, parse_id, strict_id};
use crate::commands::streams::new_stream;
use crate::commands::typed::{stream, stream_mut};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::STREAM;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

const SUBCOMMANDS: &[Command] = &[
    Spec::new("xgroup|create", -5, "stream")
        .flags(WRITE | DENYOOM)
        .acl(acl::STREAM)
        .keys(&[KeySpec::one(2, key::RW | key::INSERT)])
        .doc("5.0.0", "Create a consumer group.")
        .complexity("O(1)")
        .run(create),
    Spec::new("xgroup|setid", -5, "stream")
        .flags(WRITE)
        .acl(acl::STREAM)
        .keys(&[KeySpec::one(2, key::RW | key::UPDATE)])
        .doc(
            "5.0.0",
            "Set a consumer group to an arbitrary last delivered ID value.",
        )
        .complexity("O(1)")
        .run(setid),
    Spec::new("xgroup|destroy", 4, "stream")
        .flags(WRITE)
        .acl(acl::STREAM)
        .keys(&[KeySpec::one(2, key::RW | key::DELETE)])
        .doc("5.0.0", "Destroy a consumer group.")
        .complexity(
            "O(N) where N is the number of entries in the group's pending entries list (PEL).",
        )
        .run(destroy),
    Spec::new("xgroup|createconsumer", 5, "stream")
        .flags(WRITE | DENYOOM)
        .acl(acl::STREAM)
        .keys(&[KeySpec::one(2, key::RW | key::INSERT)])
        .doc("6.2.0", "Create a consumer in a consumer group.")
        .complexity("O(1)")
        .run(createconsumer),
    Spec::new("xgroup|delconsumer", 5, "stream")
        .flags(WRITE)
        .acl(acl::STREAM)
        .keys(&[KeySpec::one(2, key::RW | key::DELETE)])
        .doc("5.0.0", "Delete a consumer from a consumer group.")
        .complexity("O(1)")
        .run(delconsumer),
    Spec::new("xgroup|help", 2, "stream")
        .flags(LOADING | STALE)
        .acl(acl::STREAM)
        .doc("5.0.0", "Show helpful text about the different subcommands")
        .complexity("O(1)")
        .run(help),
];

pub static COMMANDS: &[Command] = &[
    Spec::new("xgroup", -2, "stream")
    .doc("5.0.0", "A container for consumer groups commands")
    .complexity("Depends on subcommand.")
    .container(SUBCOMMANDS),
    Spec::new("xack", -4, "stream")
    .flags(WRITE | FAST)
    .acl(acl::STREAM)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("5.0.0", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.")
    .complexity("O(1) for each message ID processed.")
    .run(xack),
];

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

/// Redis's answer to a subcommand whose options it cannot read.
fn subcommand_syntax(args: &Args) -> CmdError {
    CmdError::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
        String::from_utf8_lossy(args.get(1))
    ))
}

/// ENTRIESREAD's value: a count, or -1 for unknown.
fn entries_read_arg(b: &[u8]) -> Result<Option<u64>, CmdError> {
    let n = int_arg(b)?;
    if n < -1 {
        return Err(CmdError::new(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok((n >= 0).then_some(n as u64))
}

fn entries_read_text(n: Option<u64>) -> String {
    n.map_or_else(|| "-1".to_string(), |n| n.to_string())
}

fn no_key() -> CmdError {
    CmdError::new(
        "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
    )
}

/// `NOGROUP` for a group a command needs and the key does not have.
pub fn no_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::new(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// The write guard on `key`'s stream for a subcommand that needs `group` there: `ERR The
/// XGROUP subcommand requires the key to exist`, WRONGTYPE or NOGROUP otherwise.
fn with_group<'d>(
    db: &'d mut Db,
    slot: u16,
    key: &[u8],
    group: &[u8],
    now: Now,
) -> Result<EntryMut<'d>, CmdError> {
    let Some(mut e) = db.write(slot, key, now) else {
        return Err(no_key());
    };
    if stream_mut(&mut e)?.group(group).is_none() {
        e.unchanged();
        return Err(no_group(key, group));
    }
    Ok(e)
}

/// ```text
/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]
/// ```
fn create(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (mut mkstream, mut entries_read) = (false, None);
    let mut i = 5;
    while i < args.len() {
        if is(args.get(i), "mkstream") {
            mkstream = true;
            i += 1;
        } else if is(args.get(i), "entriesread") && i + 1 < args.len() {
            entries_read = entries_read_arg(args.get(i + 1))?;
            i += 2;
        } else {
            return Err(subcommand_syntax(&args));
        }
    }
    if args.len() > 8 {
        return Err(subcommand_syntax(&args));
    }
    let (key, group) = (args.get(2), args.get(3));
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let exists = match db.peek(slot, key, ctx.now) {
        Some(e) => {
            stream(e)?;
            true
        }
        None => false,
    };
    if !exists && !mkstream {
        return Err(no_key());
    }
    // The id is read before anything is made (a bad id makes no stream).
    let given = match args.get(4) {
        b"$" => None,
        b => Some(strict_id(b)?),
    };
    let (mut e, _) = db.write_or_create(slot, key, ctx.now, new_stream);
    let s = stream_mut(&mut e)?;
    let id = given.unwrap_or(s.last_id());
    if !s.create_group(group, id, entries_read) {
        e.unchanged();
        return Err(CmdError::new(
            "BUSYGROUP Consumer Group name already exists",
        ));
    }
    let (idb, n) = (id.to_bytes(), entries_read_text(entries_read));
    e.journal_op(&[
        b"XGROUP",
        b"CREATE",
        key,
        group,
        &idb,
        b"MKSTREAM",
        b"ENTRIESREAD",
        n.as_bytes(),
    ]);
    drop(e);
    ctx.notify(STREAM, "xgroup-create", key);
    drop(shard);
    ctx.out.ok();
    Ok(())
}

/// ```text
/// XGROUP SETID key group id|$ [ENTRIESREAD entries-read]
/// ```
fn setid(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut entries_read = None;
    if args.len() > 5 {
        if args.len() == 7 && is(args.get(5), "entriesread") {
            entries_read = entries_read_arg(args.get(6))?;
        } else {
            return Err(subcommand_syntax(&args));
        }
    }
    let (key, group) = (args.get(2), args.get(3));
    let (mut shard, slot) = ctx.lock(key);
    let mut e = with_group(shard.db(ctx.db()), slot, key, group, ctx.now)?;
    let s = stream_mut(&mut e)?;
    let id = match args.get(4) {
        b"$" => s.last_id(),
        b => match parse_id(b, 0, false, false) {
            Ok((id, _)) => id,
            Err(err) => {
                e.unchanged();
                return Err(err);
            }
        },
    };
    s.group_mut(group)
        .expect("checked above")
        .set_id(id, entries_read);
    let (idb, n) = (id.to_bytes(), entries_read_text(entries_read));
    e.journal_op(&[
        b"XGROUP",
        b"SETID",
        key,
        group,
        &idb,
        b"ENTRIESREAD",
        n.as_bytes(),
    ]);
    drop(e);
    ctx.notify(STREAM, "xgroup-setid", key);
    drop(shard);
    ctx.out.ok();
    Ok(())
}

/// ```text
/// XGROUP DESTROY key group
/// ```
/// Clients blocked reading through the group are woken with NOGROUP (the key counts as
/// written, so their tries run).
fn destroy(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, group) = (args.get(2), args.get(3));
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        return Err(no_key());
    };
    let s = stream_mut(&mut e)?;
    if !s.destroy_group(group) {
        e.unchanged();
        drop(e);
        drop(shard);
        ctx.out.int(0);
        return Ok(());
    }
    e.journal_op(&[b"XGROUP", b"DESTROY", key, group]);
    drop(e);
    ctx.notify(STREAM, "xgroup-destroy", key);
    drop(shard);
    ctx.out.int(1);
    Ok(())
}

/// ```text
/// XGROUP CREATECONSUMER key group consumer
/// ```
fn createconsumer(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, group, consumer) = (args.get(2), args.get(3), args.get(4));
    let now = consumer_clock(ctx);
    let (mut shard, slot) = ctx.lock(key);
    let mut e = with_group(shard.db(ctx.db()), slot, key, group, ctx.now)?;
    let g = stream_mut(&mut e)?
        .group_mut(group)
        .expect("with_group found it");
    let made = g.ensure_consumer(consumer, now);
    if made {
        e.journal_op(&[b"XGROUP", b"CREATECONSUMER", key, group, consumer]);
        drop(e);
        ctx.notify(STREAM, "xgroup-createconsumer", key);
    } else {
        e.unchanged();
        drop(e);
    }
    drop(shard);
    ctx.out.int(i64::from(made));
    Ok(())
}

/// ```text
/// XGROUP DELCONSUMER key group consumer
/// ```
/// Answers how many pending entries the consumer had (they leave the group's PEL).
fn delconsumer(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, group, consumer) = (args.get(2), args.get(3), args.get(4));
    let (mut shard, slot) = ctx.lock(key);
    let mut e = with_group(shard.db(ctx.db()), slot, key, group, ctx.now)?;
    let g = stream_mut(&mut e)?
        .group_mut(group)
        .expect("with_group found it");
    let pending = g.delete_consumer(consumer);
    if pending.is_some() {
        e.journal_op(&[b"XGROUP", b"DELCONSUMER", key, group, consumer]);
        drop(e);
        ctx.notify(STREAM, "xgroup-delconsumer", key);
    } else {
        e.unchanged();
        drop(e);
    }
    drop(shard);
    ctx.out.int(pending.unwrap_or(0) as i64);
    Ok(())
}

/// ```text
/// XACK key group id [id ...]
/// ```
fn xack(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, group) = (args.get(1), args.get(2));
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    // Looked at first: an XACK that acknowledges nothing writes nothing (a write lookup
    // would tell WATCH, tracking and blocked readers the key changed).
    let ids = {
        let Some(g) = db
            .read(slot, key, ctx.now)
            .map(stream)
            .transpose()?
            .and_then(|s| s.group(group))
        else {
            ctx.out.int(0);
            return Ok(());
        };
        // Every id is read first: an XACK acknowledges all or, on a bad id, nothing.
        let ids = (3..args.len())
            .map(|i| strict_id(args.get(i)))
            .collect::<Result<Vec<StreamId>, _>>()?;
        if !ids.iter().any(|&id| g.pending(id).is_some()) {
            ctx.out.int(0);
            return Ok(());
        }
        ids
    };
    let mut e = db.write(slot, key, ctx.now).expect("read above");
    let g = stream_mut(&mut e)?.group_mut(group).expect("found above");
    let acked: Vec<StreamId> = ids.into_iter().filter(|&id| g.ack(id)).collect();
    let texts: Vec<Vec<u8>> = acked.iter().map(|id| id.to_bytes()).collect();
    let mut op: Vec<&[u8]> = vec![b"XACK", key, group];
    op.extend(texts.iter().map(Vec::as_slice));
    e.journal_op(&op);
    drop(e);
    drop(shard);
    ctx.out.int(acked.len() as i64);
    Ok(())
}
