//! LEASE: memcache leases for RESP clients (docs/leases.md). One reader of a missing or
//! invalidated key gets a token and refills it; the others are told to wait or are handed
//! the stale value; a refill whose token predates a write, an invalidation or a delete of
//! the key is refused. The state is the same as the memcached meta protocol's (`mg N`,
//! `md I`, flags W/Z/X): `cairn_store::lease`.
//!
//! ```text
//! LEASE GET key                 -> [status, value, token]
//!     hit    value  nil         the key holds a current value
//!     lease  nil    token       missing: you refill it (LEASE SET with the token)
//!     lease  stale  token       invalidated: you refill it; serve the stale value meanwhile
//!     stale  stale  nil         someone else refills; serve the stale value
//!     wait   nil    nil         someone else refills; retry shortly
//! LEASE SET key token value [EX seconds | PX milliseconds]  -> OK, or nil if refused
//! LEASE INVALIDATE key          -> 1 (marked stale), 0 (no such key)
//! ```

use cairn_protocol::Args;
use cairn_store::{ExpireChange, lease};

use crate::commands::args::{expire_arg, help_reply, is};
use crate::commands::typed::string;
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::{GENERIC, STRING};
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

const SUBCOMMANDS: &[Command] = &[
    Spec::new("lease|get", 3, "string")
        .flags(WRITE | DENYOOM | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(2, key::RW | key::ACCESS | key::UPDATE)])
        .doc("0.1.0", "Returns a key's value, or a lease token to refill it, or tells the caller to wait or take the stale value.")
        .run(get),
    Spec::new("lease|set", -5, "string")
        .flags(WRITE | DENYOOM)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(2, key::RW | key::ACCESS | key::UPDATE)])
        .doc("0.1.0", "Stores a refilled value if the lease token is still valid.")
        .run(set),
    Spec::new("lease|invalidate", 3, "string")
        .flags(WRITE | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(2, key::RW | key::ACCESS | key::UPDATE)])
        .doc("0.1.0", "Marks a key stale: readers get the old value while one of them refills it.")
        .run(invalidate),
    Spec::new("lease|help", 2, "string")
        .flags(LOADING | STALE)
        .acl(acl::STRING)
        .doc("0.1.0", "Returns helpful text about the different subcommands.")
        .run(help),
];

pub const COMMANDS: &[Command] = &[Spec::new("lease", -2, "string")
    .acl(acl::STRING)
    .doc("0.1.0", "A container for lease commands (stampede protection and refills that lose no invalidation).")
    .container(SUBCOMMANDS)];

fn reply(ctx: &mut Ctx, status: &str, value: Option<&[u8]>, token: Option<u64>) {
    ctx.out.array(3);
    ctx.out.bulk(status.as_bytes());
    match value {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    match token {
        Some(t) => ctx.out.int(t as i64),
        None => ctx.out.null(),
    }
}

fn get(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(2);
    let server = ctx.server;
    let now = ctx.now;
    let db_index = ctx.session.db;
    let timeout_ms = server.with_config(|c| c.lease_timeout).saturating_mul(1000);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(db_index);
    // (status, value, token), decided under the shard lock.
    if let Some(e) = db.peek(slot, key, now) {
        string(e)?;
    }
    let found = db.fetch(slot, key, now, true).map(|mut e| {
        let verdict = lease::decide(&mut e, false, None);
        let value = e.value().as_bytes().into_owned();
        if verdict.won {
            let token = lease::cas(&mut e, || server.keyspace.next_cas());
            ("lease", verdict.stale.then_some(value), Some(token))
        } else if verdict.stale {
            ("stale", Some(value), None)
        } else if verdict.already_sent {
            ("wait", None, None)
        } else {
            e.mark_fetched();
            ("hit", Some(value), None)
        }
    });
    let answer: (&str, Option<Vec<u8>>, Option<u64>) = match found {
        Some(a) => a,
        None if !server.leases.take(db_index, key, now.ms, timeout_ms) => ("wait", None, None),
        None => {
            // The placeholder: an empty value that lives as long as the lease, whose win
            // token goes to this caller (memcached's `mg key N<ttl>`).
            let deadline = (timeout_ms > 0).then(|| now.ms + timeout_ms);
            let expire = deadline.map_or(ExpireChange::Clear, ExpireChange::At);
            db.set_bytes(slot, key, b"", expire, now);
            let mut e = db.peek_mut(slot, key, now).expect("just stored");
            lease::decide(&mut e, true, None);
            let token = lease::cas(&mut e, || server.keyspace.next_cas());
            drop(e);
            ctx.notify(STRING, "set", key);
            ("lease", None, Some(token))
        }
    };
    drop(shard);
    reply(ctx, answer.0, answer.1.as_deref(), answer.2);
    Ok(())
}

fn set(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(2);
    let token = std::str::from_utf8(args.get(3))
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or_else(|| CmdError::new("ERR invalid lease token"))?;
    let value = args.get(4);
    let expire = match args.len() {
        5 => ExpireChange::Clear,
        7 if is(args.get(5), "ex") => {
            ExpireChange::At(expire_arg(ctx, args.get(6), 1000, false, "lease|set")?)
        }
        7 if is(args.get(5), "px") => {
            ExpireChange::At(expire_arg(ctx, args.get(6), 1, false, "lease|set")?)
        }
        _ => return Err(CmdError::syntax()),
    };
    if value.len() > ctx.max_string() {
        return Err(CmdError::too_big());
    }
    let now = ctx.now;
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.session.db);
    let valid = token != 0 && db.peek(slot, key, now).is_some_and(|e| e.mc().cas == token);
    if !valid {
        drop(shard);
        ctx.out.null();
        return Ok(());
    }
    match expire {
        ExpireChange::At(t) if t <= now.ms => {
            db.remove(slot, key, now);
            ctx.notify(GENERIC, "del", key);
        }
        _ => {
            db.set_bytes(slot, key, value, expire, now);
            ctx.notify(STRING, "set", key);
        }
    }
    drop(shard);
    ctx.out.ok();
    Ok(())
}

fn invalidate(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(2);
    let server = ctx.server;
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.session.db);
    let found = match db.peek_mut(slot, key, ctx.now) {
        Some(mut e) => {
            lease::invalidate(&mut e, server.keyspace.next_cas());
            true
        }
        None => false,
    };
    drop(shard);
    ctx.out.int(found as i64);
    Ok(())
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "LEASE",
        &[
            "GET <key>",
            "    Return [status, value, token]. status is 'hit' (value is current), 'lease'",
            "    (refill the key and store it with LEASE SET and the token; value is the",
            "    stale one, if any), 'stale' (someone else refills; value is the stale one)",
            "    or 'wait' (someone else refills; retry shortly).",
            "SET <key> <token> <value> [EX <seconds>|PX <milliseconds>]",
            "    Store a refilled value. Returns nil when the token is no longer valid: the",
            "    key was written, deleted or invalidated since the token was issued.",
            "INVALIDATE <key>",
            "    Mark the key stale instead of deleting it: readers get the old value while",
            "    one of them refills it.",
        ],
    );
    Ok(())
}
