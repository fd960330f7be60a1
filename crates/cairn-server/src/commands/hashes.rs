//! Hashes: HSET and friends, over `cairn_store::types::hash` (a listpack of pairs while
//! small, a table after). Writes journal their operation (HSET k f v, HDEL k f,
//! HINCRBY k f n; HINCRBYFLOAT its result as an HSET, as Redis does), so a field changed
//! in a million-field hash costs its own bytes in the AOF and on the wire. A hash whose
//! last field goes is deleted.

use cairn_protocol::Args;
use cairn_store::Object;
use cairn_store::types::hash::Hash;

use crate::commands::args::{int_arg, is};
use crate::commands::scan::{ScanOpts, reply_scan};
use crate::commands::typed::{hash, hash_mut, read};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::ld80;
use crate::notify::class::{GENERIC, HASH};
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("hset", -4, "hash")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("2.0.0", "Set the string value of a hash field")
    .complexity("O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.")
    .run(hset),
    Spec::new("hsetnx", 4, "hash")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::INSERT)])
    .doc("2.0.0", "Set the value of a hash field, only if the field does not exist")
    .complexity("O(1)")
    .run(hsetnx),
    Spec::new("hmset", -4, "hash")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("2.0.0", "Set multiple hash fields to multiple values")
    .complexity("O(N) where N is the number of fields being set.")
    .deprecated("4.0.0", "`HSET` with multiple field-value pairs")
    .run(hmset),
    Spec::new("hget", 3, "hash")
    .flags(READONLY | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("2.0.0", "Get the value of a hash field")
    .complexity("O(1)")
    .run(hget),
    Spec::new("hmget", -3, "hash")
    .flags(READONLY | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("2.0.0", "Get the values of all the given hash fields")
    .complexity("O(N) where N is the number of fields being requested.")
    .run(hmget),
    Spec::new("hgetall", 2, "hash")
    .flags(READONLY)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output_order"])
    .doc("2.0.0", "Get all the fields and values in a hash")
    .complexity("O(N) where N is the size of the hash.")
    .run(hgetall),
    Spec::new("hdel", -3, "hash")
    .flags(WRITE | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::DELETE)])
    .doc("2.0.0", "Delete one or more hash fields")
    .complexity("O(N) where N is the number of fields to be removed.")
    .run(hdel),
    Spec::new("hexists", 3, "hash")
    .flags(READONLY | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO)])
    .doc("2.0.0", "Determine if a hash field exists")
    .complexity("O(1)")
    .run(hexists),
    Spec::new("hlen", 2, "hash")
    .flags(READONLY | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO)])
    .doc("2.0.0", "Returns the number of fields in a hash.")
    .complexity("O(1)")
    .run(hlen),
    Spec::new("hstrlen", 3, "hash")
    .flags(READONLY | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO)])
    .doc("3.2.0", "Get the length of the value of a hash field")
    .complexity("O(1)")
    .run(hstrlen),
    Spec::new("hkeys", 2, "hash")
    .flags(READONLY)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output_order"])
    .doc("2.0.0", "Get all the fields in a hash")
    .complexity("O(N) where N is the size of the hash.")
    .run(hkeys),
    Spec::new("hvals", 2, "hash")
    .flags(READONLY)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output_order"])
    .doc("2.0.0", "Get all the values in a hash")
    .complexity("O(N) where N is the size of the hash.")
    .run(hvals),
    Spec::new("hincrby", 4, "hash")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE)])
    .doc("2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.")
    .complexity("O(1)")
    .run(hincrby),
    Spec::new("hincrbyfloat", 4, "hash")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE)])
    .doc("2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.")
    .complexity("O(1)")
    .run(hincrbyfloat),
    Spec::new("hrandfield", -2, "hash")
    .flags(READONLY)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output"])
    .doc("6.2.0", "Get one or multiple random fields from a hash")
    .complexity("O(N) where N is the number of fields returned")
    .run(hrandfield),
    Spec::new("hscan", -3, "hash")
    .flags(READONLY)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output"])
    .doc("2.8.0", "Incrementally iterate hash fields and associated values")
    .complexity("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.")
    .run(hscan),
];

fn new_hash() -> Object {
    Object::Hash(Hash::default())
}

/// Sets the field/value pairs `args[2..]` (HSET, HMSET); returns how many fields are new.
fn set_pairs(ctx: &mut Ctx, args: Args, name: &str) -> Result<i64, CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::arity(name));
    }
    let key = args.get(1);
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let (mut e, _) = shard
        .db(ctx.db())
        .write_or_create(slot, key, ctx.now, new_hash);
    let h = hash_mut(&mut e)?;
    let mut added = 0;
    for i in (2..args.len()).step_by(2) {
        added += i64::from(h.set(args.get(i), args.get(i + 1), &lim));
    }
    let mut op: Vec<&[u8]> = args.iter().collect();
    op[0] = b"HSET";
    e.journal_op(&op);
    drop(e);
    ctx.notify(HASH, "hset", key);
    Ok(added)
}

fn hset(ctx: &mut Ctx, args: Args) -> CmdResult {
    let added = set_pairs(ctx, args, "hset")?;
    ctx.out.int(added);
    Ok(())
}

fn hmset(ctx: &mut Ctx, args: Args) -> CmdResult {
    set_pairs(ctx, args, "hmset")?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, field, value) = (args.get(1), args.get(2), args.get(3));
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let (mut e, _) = shard
        .db(ctx.db())
        .write_or_create(slot, key, ctx.now, new_hash);
    if hash(&e)?.contains(field) {
        e.unchanged();
        ctx.out.int(0);
        return Ok(());
    }
    hash_mut(&mut e)?.set(field, value, &lim);
    e.journal_op(&[b"HSET", key, field, value]);
    drop(e);
    ctx.notify(HASH, "hset", key);
    ctx.out.int(1);
    Ok(())
}

fn hget(ctx: &mut Ctx, args: Args) -> CmdResult {
    let field = args.get(2);
    read(
        ctx,
        args.get(1),
        hash,
        |out| out.null(),
        |h, out| match h.get(field) {
            Some(v) => out.bulk(v),
            None => out.null(),
        },
    )
}

fn hmget(ctx: &mut Ctx, args: Args) -> CmdResult {
    let fields = args.tail(2);
    read(
        ctx,
        args.get(1),
        hash,
        |out| {
            out.array(fields.len());
            for _ in fields.iter() {
                out.null();
            }
        },
        |h, out| {
            out.array(fields.len());
            for f in fields.iter() {
                match h.get(f) {
                    Some(v) => out.bulk(v),
                    None => out.null(),
                }
            }
        },
    )
}

fn hgetall(ctx: &mut Ctx, args: Args) -> CmdResult {
    read(
        ctx,
        args.get(1),
        hash,
        |out| out.map(0),
        |h, out| {
            out.map(h.len());
            h.for_each(|f, v| {
                out.bulk(f);
                out.bulk(v);
            });
        },
    )
}

fn hkeys(ctx: &mut Ctx, args: Args) -> CmdResult {
    read(
        ctx,
        args.get(1),
        hash,
        |out| out.array(0),
        |h, out| {
            out.array(h.len());
            h.for_each(|f, _| out.bulk(f));
        },
    )
}

fn hvals(ctx: &mut Ctx, args: Args) -> CmdResult {
    read(
        ctx,
        args.get(1),
        hash,
        |out| out.array(0),
        |h, out| {
            out.array(h.len());
            h.for_each(|_, v| out.bulk(v));
        },
    )
}

fn hlen(ctx: &mut Ctx, args: Args) -> CmdResult {
    read(
        ctx,
        args.get(1),
        hash,
        |out| out.int(0),
        |h, out| out.int(h.len() as i64),
    )
}

fn hexists(ctx: &mut Ctx, args: Args) -> CmdResult {
    let field = args.get(2);
    read(
        ctx,
        args.get(1),
        hash,
        |out| out.int(0),
        |h, out| out.int(i64::from(h.contains(field))),
    )
}

fn hstrlen(ctx: &mut Ctx, args: Args) -> CmdResult {
    let field = args.get(2);
    read(
        ctx,
        args.get(1),
        hash,
        |out| out.int(0),
        |h, out| out.int(h.get(field).map_or(0, <[u8]>::len) as i64),
    )
}

fn hdel(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let h = hash(&e)?;
    let present = args.tail(2).iter().filter(|f| h.contains(f)).count();
    if present == 0 {
        e.unchanged();
        ctx.out.int(0);
        return Ok(());
    }
    let h = hash_mut(&mut e)?;
    let mut removed = 0;
    for f in args.tail(2).iter() {
        removed += i64::from(h.remove(f));
    }
    let empty = h.is_empty();
    let op: Vec<&[u8]> = args.iter().collect();
    e.journal_op(&op);
    drop(e);
    ctx.notify(HASH, "hdel", key);
    if empty {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.out.int(removed);
    Ok(())
}

fn hincrby(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, field) = (args.get(1), args.get(2));
    let by = int_arg(args.get(3))?;
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let (mut e, _) = shard
        .db(ctx.db())
        .write_or_create(slot, key, ctx.now, new_hash);
    let cur = match hash(&e)?.get(field) {
        Some(v) => cairn_protocol::resp::parse_i64(v)
            .ok_or_else(|| CmdError::new("ERR hash value is not an integer"))?,
        None => 0,
    };
    let new = cur
        .checked_add(by)
        .ok_or_else(|| CmdError::new("ERR increment or decrement would overflow"))?;
    let text = itoa::Buffer::new().format(new).to_owned();
    // An increment keeps the field's expiry time (HSET drops it), as in Redis.
    hash_mut(&mut e)?.set_keep_ttl(field, text.as_bytes(), &lim);
    e.journal_op(&[
        b"HINCRBY",
        key,
        field,
        itoa::Buffer::new().format(by).as_bytes(),
    ]);
    drop(e);
    ctx.notify(HASH, "hincrby", key);
    ctx.out.int(new);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, field) = (args.get(1), args.get(2));
    let by = match ld80::parse(args.get(3)) {
        Some(ld80::Parsed::Num(n)) => n,
        Some(_) => return Err(CmdError::new("ERR value is NaN or Infinity")),
        None => return Err(CmdError::not_float()),
    };
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let (mut e, _) = shard
        .db(ctx.db())
        .write_or_create(slot, key, ctx.now, new_hash);
    let cur = match hash(&e)?.get(field) {
        Some(v) => match ld80::parse(v) {
            Some(ld80::Parsed::Num(n)) => n,
            _ => return Err(CmdError::new("ERR hash value is not a float")),
        },
        None => ld80::Ld::ZERO,
    };
    let sum = ld80::add(cur, by)
        .ok_or_else(|| CmdError::new("ERR increment would produce NaN or Infinity"))?;
    let text = ld80::human(sum);
    let h = hash_mut(&mut e)?;
    h.set_keep_ttl(field, text.as_bytes(), &lim);
    // The result, not the increment: replaying a float sum must not depend on rounding.
    // A volatile field's as HSETEX KEEPTTL, since an HSET would drop its time.
    if h.expire_at(field).is_some() {
        e.journal_op(&[
            b"HSETEX",
            key,
            b"KEEPTTL",
            b"FIELDS",
            b"1",
            field,
            text.as_bytes(),
        ]);
    } else {
        e.journal_op(&[b"HSET", key, field, text.as_bytes()]);
    }
    drop(e);
    ctx.notify(HASH, "hincrbyfloat", key);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// ```text
/// HRANDFIELD key [count [WITHVALUES]]
/// ```
fn hrandfield(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let count = if args.len() >= 3 {
        let n = int_arg(args.get(2))?;
        if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
            return Err(CmdError::new("ERR value is out of range"));
        }
        Some(n)
    } else {
        None
    };
    let with_values = match args.len() {
        4 if is(args.get(3), "withvalues") => true,
        2 | 3 => false,
        _ => return Err(CmdError::syntax()),
    };
    let resp3 = ctx.out.is_resp3();
    read(
        ctx,
        key,
        hash,
        |out| match count {
            None => out.null(),
            Some(_) => out.array(0),
        },
        |h, out| {
            let mut rng = fastrand::Rng::new();
            let pair = |out: &mut cairn_protocol::Reply, f: &[u8], v: &[u8]| {
                if with_values && resp3 {
                    out.array(2);
                }
                out.bulk(f);
                if with_values {
                    out.bulk(v);
                }
            };
            let per = if with_values && !resp3 { 2 } else { 1 };
            match count {
                None => match h.random(&mut rng) {
                    Some((f, _)) => out.bulk(f),
                    None => out.null(),
                },
                Some(n) if n < 0 => {
                    let n = n.unsigned_abs() as usize;
                    out.array(n * per);
                    for _ in 0..n {
                        let (f, v) = h.random(&mut rng).expect("a hash is never empty");
                        pair(out, f, v);
                    }
                }
                Some(n) => {
                    let n = (n as usize).min(h.len());
                    out.array(n * per);
                    for (f, v) in distinct(h, n, &mut rng) {
                        pair(out, f, v);
                    }
                }
            }
        },
    )
}

/// `n` distinct fields of `h` (n at most its length), in random order.
fn distinct<'h>(h: &'h Hash, n: usize, rng: &mut fastrand::Rng) -> Vec<(&'h [u8], &'h [u8])> {
    let mut all = Vec::with_capacity(h.len());
    if n * 3 > h.len() || h.is_packed() {
        h.for_each(|f, v| all.push((f, v)));
        rng.shuffle(&mut all);
        all.truncate(n);
        return all;
    }
    // A few of many: random picks until enough distinct ones came up.
    let mut seen = std::collections::HashSet::with_capacity(n);
    while all.len() < n {
        let (f, v) = h.random(rng).expect("a hash is never empty");
        if seen.insert(f) {
            all.push((f, v));
        }
    }
    all
}

/// ```text
/// HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]
/// ```
fn hscan(ctx: &mut Ctx, args: Args) -> CmdResult {
    let opts = ScanOpts::parse(args, 2, true)?;
    let key = args.get(1);
    let mut found: Vec<Vec<u8>> = Vec::new();
    let (mut shard, slot) = ctx.lock(key);
    let next = match shard.db(ctx.db()).read(slot, key, ctx.now) {
        Some(e) => hash(e)?.scan(opts.cursor, opts.count, |f, v| {
            if opts.matches(f) {
                found.push(f.to_vec());
                if !opts.no_values {
                    found.push(v.to_vec());
                }
            }
        }),
        None => 0,
    };
    drop(shard);
    reply_scan(ctx, next, &found);
    Ok(())
}
