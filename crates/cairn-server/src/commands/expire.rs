//! Expiry commands: EXPIRE and its relatives, TTL and its relatives, PERSIST.

use cairn_protocol::Args;

use crate::commands::args::{int_arg, is};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::GENERIC;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub const COMMANDS: &[Command] = &[
    Spec::new("expire", -3, "generic")
        .flags(WRITE | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
        .doc("1.0.0", "Sets the expiration time of a key in seconds.")
        .complexity("O(1)")
        .run(expire),
    Spec::new("pexpire", -3, "generic")
        .flags(WRITE | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
        .doc(
            "2.6.0",
            "Sets the expiration time of a key in milliseconds.",
        )
        .complexity("O(1)")
        .run(pexpire),
    Spec::new("expireat", -3, "generic")
        .flags(WRITE | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
        .doc(
            "1.2.0",
            "Sets the expiration time of a key to a Unix timestamp.",
        )
        .complexity("O(1)")
        .run(expireat),
    Spec::new("pexpireat", -3, "generic")
        .flags(WRITE | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
        .doc(
            "2.6.0",
            "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        )
        .complexity("O(1)")
        .run(pexpireat),
    Spec::new("ttl", 2, "generic")
        .flags(READONLY | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .tips(&["nondeterministic_output"])
        .doc("1.0.0", "Returns the expiration time in seconds of a key.")
        .complexity("O(1)")
        .run(ttl),
    Spec::new("pttl", 2, "generic")
        .flags(READONLY | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .tips(&["nondeterministic_output"])
        .doc(
            "2.6.0",
            "Returns the expiration time in milliseconds of a key.",
        )
        .complexity("O(1)")
        .run(pttl),
    Spec::new("expiretime", 2, "generic")
        .flags(READONLY | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .doc(
            "7.0.0",
            "Returns the expiration time of a key as a Unix timestamp.",
        )
        .complexity("O(1)")
        .run(expiretime),
    Spec::new("pexpiretime", 2, "generic")
        .flags(READONLY | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .doc(
            "7.0.0",
            "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        )
        .complexity("O(1)")
        .run(pexpiretime),
    Spec::new("persist", 2, "generic")
        .flags(WRITE | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
        .doc("2.2.0", "Removes the expiration time of a key.")
        .complexity("O(1)")
        .run(persist),
];

/// ```text
/// EXPIRE key seconds [NX | XX | GT | LT]   (and PEXPIRE, EXPIREAT, PEXPIREAT)
/// ```
fn expire_generic(ctx: &mut Ctx, args: Args, unit_ms: i64, absolute: bool) -> CmdResult {
    let key = args.get(1);
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for a in args.tail(3).iter() {
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if is(a, "gt") {
            gt = true;
        } else if is(a, "lt") {
            lt = true;
        } else {
            return Err(CmdError::new(format!(
                "ERR Unsupported option {}",
                crate::error::truncate_for_error(a)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::new(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::new(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    // As in Redis, the time is read only once the options are known to be right.
    let n = int_arg(args.get(2))?;
    let invalid = || CmdError::invalid_expire(ctx.spec.name);
    let mut when = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    if !absolute {
        when = when.checked_add(ctx.now.ms as i64).ok_or_else(invalid)?;
    }
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(e) = db.peek(slot, key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current = e.expire_at().map(|t| t as i64);
    let refused = match current {
        Some(cur) => nx || (gt && when <= cur) || (lt && when >= cur),
        // No TTL counts as an infinite one: GT never beats it, LT always does.
        None => xx || gt,
    };
    if refused {
        ctx.out.int(0);
        return Ok(());
    }
    if when <= ctx.now.ms as i64 {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    } else {
        db.set_expire(slot, key, Some(when as u64), ctx.now);
        ctx.notify(GENERIC, "expire", key);
    }
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx, args: Args) -> CmdResult {
    expire_generic(ctx, args, 1000, false)
}

fn pexpire(ctx: &mut Ctx, args: Args) -> CmdResult {
    expire_generic(ctx, args, 1, false)
}

fn expireat(ctx: &mut Ctx, args: Args) -> CmdResult {
    expire_generic(ctx, args, 1000, true)
}

fn pexpireat(ctx: &mut Ctx, args: Args) -> CmdResult {
    expire_generic(ctx, args, 1, true)
}

/// How TTL-like commands report a key's expiry.
enum TtlForm {
    RemainingSeconds,
    RemainingMillis,
    AtSeconds,
    AtMillis,
}

fn ttl_generic(ctx: &mut Ctx, args: Args, form: TtlForm) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let reply = match shard.db(ctx.db()).peek(slot, key, ctx.now) {
        None => -2,
        Some(e) => match e.expire_at() {
            None => -1,
            Some(at) => {
                let left = at.saturating_sub(ctx.now.ms) as i64;
                match form {
                    TtlForm::RemainingSeconds => (left + 500) / 1000,
                    TtlForm::RemainingMillis => left,
                    // Rounded to the nearest second, as Redis does for TTL too.
                    TtlForm::AtSeconds => ((at + 500) / 1000) as i64,
                    TtlForm::AtMillis => at as i64,
                }
            }
        },
    };
    ctx.out.int(reply);
    Ok(())
}

fn ttl(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, TtlForm::RemainingSeconds)
}

fn pttl(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, TtlForm::RemainingMillis)
}

fn expiretime(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, TtlForm::AtSeconds)
}

fn pexpiretime(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, TtlForm::AtMillis)
}

fn persist(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let had_ttl = db
        .peek(slot, key, ctx.now)
        .is_some_and(|e| e.expire_at().is_some());
    if had_ttl {
        db.set_expire(slot, key, None, ctx.now);
        ctx.notify(GENERIC, "persist", key);
    }
    ctx.out.int(had_ttl as i64);
    Ok(())
}
