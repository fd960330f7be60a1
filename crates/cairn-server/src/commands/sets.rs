//! Sets: SADD and friends, over `cairn_store::types::set` (an intset while every member
//! is an integer, a listpack while small, a table after). Writes journal their operation
//! (SADD k m, SREM k m; SPOP the SREM of what it popped, SMOVE an SREM and an SADD);
//! the *STORE forms journal the set they made. A set whose last member goes is deleted.

use cairn_protocol::{Args, Reply};
use cairn_store::types::set::Set;
use cairn_store::{Elem, ExpireChange, Limits, Object, Value};

use crate::commands::args::int_arg;
use crate::commands::args::is;
use crate::commands::scan::{ScanOpts, reply_scan};
use crate::commands::typed::{read, set, set_mut};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::{GENERIC, SET};
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("sadd", -3, "set")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::RW | key::INSERT)])
    .doc("1.0.0", "Add one or more members to a set")
    .complexity("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
    .run(sadd),
    Spec::new("srem", -3, "set")
    .flags(WRITE | FAST)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::RW | key::DELETE)])
    .doc("1.0.0", "Remove one or more members from a set")
    .complexity("O(N) where N is the number of members to be removed.")
    .run(srem),
    Spec::new("smembers", 2, "set")
    .flags(READONLY)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output_order"])
    .doc("1.0.0", "Get all the members in a set")
    .complexity("O(N) where N is the set cardinality.")
    .run(smembers),
    Spec::new("sismember", 3, "set")
    .flags(READONLY | FAST)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::RO)])
    .doc("1.0.0", "Determine if a given value is a member of a set")
    .complexity("O(1)")
    .run(sismember),
    Spec::new("smismember", -3, "set")
    .flags(READONLY | FAST)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("6.2.0", "Returns the membership associated with the given elements for a set")
    .complexity("O(N) where N is the number of elements being checked for membership")
    .run(smismember),
    Spec::new("scard", 2, "set")
    .flags(READONLY | FAST)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::RO)])
    .doc("1.0.0", "Returns the number of members in a set.")
    .complexity("O(1)")
    .run(scard),
    Spec::new("spop", -2, "set")
    .flags(WRITE | FAST)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE)])
    .tips(&["nondeterministic_output"])
    .doc("1.0.0", "Remove and return one or multiple random members from a set")
    .complexity("Without the count argument O(1), otherwise O(N) where N is the value of the passed count.")
    .run(spop),
    Spec::new("srandmember", -2, "set")
    .flags(READONLY)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output"])
    .doc("1.0.0", "Get one or multiple random members from a set")
    .complexity("Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.")
    .run(srandmember),
    Spec::new("smove", 4, "set")
    .flags(WRITE | FAST)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE), KeySpec::one(2, key::RW | key::INSERT)])
    .doc("1.0.0", "Move a member from one set to another")
    .complexity("O(1)")
    .run(smove),
    Spec::new("sinter", -2, "set")
    .flags(READONLY)
    .acl(acl::SET)
    .keys(&[KeySpec::range(1, -1, 1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output_order"])
    .doc("1.0.0", "Intersect multiple sets")
    .complexity("O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.")
    .run(sinter),
    Spec::new("sintercard", -3, "set")
    .flags(READONLY)
    .acl(acl::SET)
    .keys(&[KeySpec::counted(1, key::RO | key::ACCESS)])
    .doc("7.0.0", "Returns the number of members of the intersect of multiple sets.")
    .complexity("O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.")
    .run(sintercard),
    Spec::new("sinterstore", -3, "set")
    .flags(WRITE | DENYOOM)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::OW | key::UPDATE), KeySpec::range(2, -1, 1, key::RO | key::ACCESS)])
    .doc("1.0.0", "Stores the intersect of multiple sets in a key.")
    .complexity("O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.")
    .run(sinterstore),
    Spec::new("sunion", -2, "set")
    .flags(READONLY)
    .acl(acl::SET)
    .keys(&[KeySpec::range(1, -1, 1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output_order"])
    .doc("1.0.0", "Add multiple sets")
    .complexity("O(N) where N is the total number of elements in all given sets.")
    .run(sunion),
    Spec::new("sunionstore", -3, "set")
    .flags(WRITE | DENYOOM)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::OW | key::UPDATE), KeySpec::range(2, -1, 1, key::RO | key::ACCESS)])
    .doc("1.0.0", "Add multiple sets and store the resulting set in a key")
    .complexity("O(N) where N is the total number of elements in all given sets.")
    .run(sunionstore),
    Spec::new("sdiff", -2, "set")
    .flags(READONLY)
    .acl(acl::SET)
    .keys(&[KeySpec::range(1, -1, 1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output_order"])
    .doc("1.0.0", "Subtract multiple sets")
    .complexity("O(N) where N is the total number of elements in all given sets.")
    .run(sdiff),
    Spec::new("sdiffstore", -3, "set")
    .flags(WRITE | DENYOOM)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::OW | key::UPDATE), KeySpec::range(2, -1, 1, key::RO | key::ACCESS)])
    .doc("1.0.0", "Stores the difference of multiple sets in a key.")
    .complexity("O(N) where N is the total number of elements in all given sets.")
    .run(sdiffstore),
    Spec::new("sscan", -3, "set")
    .flags(READONLY)
    .acl(acl::SET)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output"])
    .doc("2.8.0", "Incrementally iterate Set elements")
    .complexity("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.")
    .run(sscan),
];

fn bulk_elem(out: &mut Reply, m: Elem<'_>) {
    m.with_bytes(|b| out.bulk(b));
}

fn sadd(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let lim = ctx.server.object_limits();
    let first = args.get(2);
    let (mut shard, slot) = ctx.lock(key);
    let (mut e, _) = shard.db(ctx.db()).write_or_create(slot, key, ctx.now, || {
        Object::Set(Set::for_member(first, &lim))
    });
    let s = set(&e)?;
    if args.tail(2).iter().all(|m| s.contains(m)) {
        e.unchanged();
        ctx.out.int(0);
        return Ok(());
    }
    let s = set_mut(&mut e)?;
    let mut added = 0;
    for m in args.tail(2).iter() {
        added += i64::from(s.add(m, &lim));
    }
    let op: Vec<&[u8]> = args.iter().collect();
    e.journal_op(&op);
    drop(e);
    ctx.notify(SET, "sadd", key);
    ctx.out.int(added);
    Ok(())
}

fn srem(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let s = set(&e)?;
    if !args.tail(2).iter().any(|m| s.contains(m)) {
        e.unchanged();
        ctx.out.int(0);
        return Ok(());
    }
    let s = set_mut(&mut e)?;
    let mut removed = 0;
    for m in args.tail(2).iter() {
        removed += i64::from(s.remove(m));
    }
    let empty = s.is_empty();
    let op: Vec<&[u8]> = args.iter().collect();
    e.journal_op(&op);
    drop(e);
    ctx.notify(SET, "srem", key);
    if empty {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.out.int(removed);
    Ok(())
}

fn smembers(ctx: &mut Ctx, args: Args) -> CmdResult {
    read(
        ctx,
        args.get(1),
        set,
        |out| out.set(0),
        |s, out| {
            out.set(s.len());
            s.for_each(|m| bulk_elem(out, m));
        },
    )
}

fn sismember(ctx: &mut Ctx, args: Args) -> CmdResult {
    let m = args.get(2);
    read(
        ctx,
        args.get(1),
        set,
        |out| out.int(0),
        |s, out| out.int(i64::from(s.contains(m))),
    )
}

fn smismember(ctx: &mut Ctx, args: Args) -> CmdResult {
    let members = args.tail(2);
    read(
        ctx,
        args.get(1),
        set,
        |out| {
            out.array(members.len());
            for _ in members.iter() {
                out.int(0);
            }
        },
        |s, out| {
            out.array(members.len());
            for m in members.iter() {
                out.int(i64::from(s.contains(m)));
            }
        },
    )
}

fn scard(ctx: &mut Ctx, args: Args) -> CmdResult {
    read(
        ctx,
        args.get(1),
        set,
        |out| out.int(0),
        |s, out| out.int(s.len() as i64),
    )
}

/// SPOP's and SRANDMEMBER's count: (count, whether it was given).
fn count_arg(args: Args, positive_only: bool) -> Result<Option<i64>, CmdError> {
    match args.len() {
        2 => Ok(None),
        3 => {
            let n = int_arg(args.get(2))
                .map_err(|_| CmdError::new("ERR value is out of range, must be positive"))?;
            if positive_only && n < 0 {
                return Err(CmdError::new("ERR value is out of range, must be positive"));
            }
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
                return Err(CmdError::new("ERR value is out of range"));
            }
            Ok(Some(n))
        }
        _ => Err(CmdError::syntax()),
    }
}

/// `n` distinct members of `s` (n at most its size), in random order, owned.
fn distinct(s: &Set, n: usize, rng: &mut fastrand::Rng) -> Vec<Vec<u8>> {
    if n * 3 > s.len() || !matches!(s, Set::Table(_)) {
        let mut all = s.members();
        rng.shuffle(&mut all);
        all.truncate(n);
        return all;
    }
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let m = s.random(rng).expect("a set is never empty").to_vec();
        if seen.insert(m.clone()) {
            out.push(m);
        }
    }
    out
}

/// ```text
/// SPOP key [count]
/// ```
fn spop(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let count = count_arg(args, true)?;
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        match count {
            None => ctx.out.null(),
            Some(_) => ctx.out.set(0),
        }
        return Ok(());
    };
    let s = set(&e)?;
    let n = count.map_or(1, |c| (c as usize).min(s.len()));
    if n == 0 {
        e.unchanged();
        ctx.out.set(0);
        return Ok(());
    }
    let mut rng = fastrand::Rng::new();
    let popped = distinct(s, n, &mut rng);
    let s = set_mut(&mut e)?;
    for m in &popped {
        s.remove(m);
    }
    let empty = s.is_empty();
    // What was popped, not the pop: replaying a random choice must make the same one.
    let mut op: Vec<&[u8]> = vec![b"SREM", key];
    op.extend(popped.iter().map(Vec::as_slice));
    e.journal_op(&op);
    drop(e);
    ctx.notify(SET, "spop", key);
    if empty {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    }
    match count {
        None => ctx.out.bulk(&popped[0]),
        Some(_) => {
            ctx.out.set(popped.len());
            for m in &popped {
                ctx.out.bulk(m);
            }
        }
    }
    Ok(())
}

/// ```text
/// SRANDMEMBER key [count]
/// ```
fn srandmember(ctx: &mut Ctx, args: Args) -> CmdResult {
    let count = count_arg(args, false)?;
    read(
        ctx,
        args.get(1),
        set,
        |out| match count {
            None => out.null(),
            Some(_) => out.array(0),
        },
        |s, out| {
            let mut rng = fastrand::Rng::new();
            match count {
                None => bulk_elem(out, s.random(&mut rng).expect("a set is never empty")),
                Some(n) if n < 0 => {
                    let n = n.unsigned_abs() as usize;
                    out.array(n);
                    for _ in 0..n {
                        bulk_elem(out, s.random(&mut rng).expect("a set is never empty"));
                    }
                }
                Some(n) => {
                    let picked = distinct(s, (n as usize).min(s.len()), &mut rng);
                    out.array(picked.len());
                    for m in &picked {
                        out.bulk(m);
                    }
                }
            }
        },
    )
}

/// ```text
/// SMOVE source destination member
/// ```
fn smove(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (src, dst, m) = (args.get(1), args.get(2), args.get(3));
    let db = ctx.db();
    let lim = ctx.server.object_limits();
    let mut locked = ctx.server.keyspace.lock_keys([src, dst]);
    let (sslot, dslot) = (cairn_store::key_slot(src), cairn_store::key_slot(dst));
    // Both types are checked before anything moves.
    let Some(e) = locked.db(sslot, db).read(sslot, src, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let present = set(e)?.contains(m);
    if let Some(d) = locked.db(dslot, db).peek(dslot, dst, ctx.now) {
        set(d)?;
    }
    if !present {
        ctx.out.int(0);
        return Ok(());
    }
    if src == dst {
        ctx.out.int(1);
        return Ok(());
    }
    let sdb = locked.db(sslot, db);
    let mut e = sdb.write(sslot, src, ctx.now).expect("read above");
    let s = set_mut(&mut e)?;
    s.remove(m);
    let empty = s.is_empty();
    e.journal_op(&[b"SREM", src, m]);
    drop(e);
    ctx.notify(SET, "srem", src);
    if empty {
        sdb.remove(sslot, src, ctx.now);
        ctx.notify(GENERIC, "del", src);
    }
    let (mut d, _) = locked
        .db(dslot, db)
        .write_or_create(dslot, dst, ctx.now, || {
            Object::Set(Set::for_member(m, &lim))
        });
    set_mut(&mut d)?.add(m, &lim);
    d.journal_op(&[b"SADD", dst, m]);
    drop(d);
    ctx.notify(SET, "sadd", dst);
    ctx.out.int(1);
    Ok(())
}

/// What SINTER, SUNION and SDIFF compute.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Algebra {
    Inter,
    Union,
    Diff,
}

/// The members `op` makes of the sets at `keys` (a missing key is an empty set), and
/// the locks, still held, for a *STORE to write its destination under. WRONGTYPE if any
/// key holds something else. `limit`: stop after this many (SINTERCARD).
fn combine<'a>(
    ctx: &mut Ctx<'a>,
    keys: &[&[u8]],
    extra: Option<&[u8]>,
    op: Algebra,
    limit: usize,
) -> Result<(cairn_store::Locked<'a>, Vec<Vec<u8>>), CmdError> {
    let db = ctx.db();
    let now = ctx.now;
    let server: &'a crate::server::Server = ctx.server;
    let mut locked = server.keyspace.lock_keys(keys.iter().copied().chain(extra));
    // Looked up as reads (hits, misses, expiry), and typed, before anything is computed.
    for &k in keys {
        let slot = cairn_store::key_slot(k);
        if let Some(e) = locked.db(slot, db).read(slot, k, now) {
            set(e)?;
        }
    }
    let sets: Vec<Option<&Set>> = keys
        .iter()
        .map(|&k| {
            let slot = cairn_store::key_slot(k);
            locked
                .db_ref(slot, db)
                .get(slot, k, now)
                .and_then(|e| e.object())
                .and_then(Object::as_set)
        })
        .collect();
    let mut out = Vec::new();
    match op {
        Algebra::Inter => {
            if sets.iter().all(Option::is_some) {
                let mut sets: Vec<&Set> = sets.into_iter().flatten().collect();
                sets.sort_by_key(|s| s.len());
                let (first, rest) = sets.split_first().expect("at least one key");
                first.for_each(|m| {
                    if out.len() < limit && m.with_bytes(|b| rest.iter().all(|s| s.contains(b))) {
                        out.push(m.to_vec());
                    }
                });
            }
        }
        Algebra::Union => {
            let mut seen = std::collections::HashSet::new();
            for s in sets.into_iter().flatten() {
                s.for_each(|m| {
                    let m = m.to_vec();
                    if !seen.contains(&m) {
                        seen.insert(m.clone());
                        out.push(m);
                    }
                });
            }
        }
        Algebra::Diff => {
            if let Some(Some(first)) = sets.first() {
                let rest: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
                first.for_each(|m| {
                    if m.with_bytes(|b| !rest.iter().any(|s| s.contains(b))) {
                        out.push(m.to_vec());
                    }
                });
            }
        }
    }
    Ok((locked, out))
}

fn reply_members(out: &mut Reply, members: &[Vec<u8>]) {
    out.set(members.len());
    for m in members {
        out.bulk(m);
    }
}

fn sinter(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (_, members) = combine(
        ctx,
        &args.tail(1).iter().collect::<Vec<_>>(),
        None,
        Algebra::Inter,
        usize::MAX,
    )?;
    reply_members(ctx.out, &members);
    Ok(())
}

fn sunion(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (_, members) = combine(
        ctx,
        &args.tail(1).iter().collect::<Vec<_>>(),
        None,
        Algebra::Union,
        usize::MAX,
    )?;
    reply_members(ctx.out, &members);
    Ok(())
}

fn sdiff(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (_, members) = combine(
        ctx,
        &args.tail(1).iter().collect::<Vec<_>>(),
        None,
        Algebra::Diff,
        usize::MAX,
    )?;
    reply_members(ctx.out, &members);
    Ok(())
}

/// ```text
/// SINTERCARD numkeys key [key ...] [LIMIT limit]
/// ```
fn sintercard(ctx: &mut Ctx, args: Args) -> CmdResult {
    let numkeys_error = || CmdError::new("ERR numkeys should be greater than 0");
    let n = int_arg(args.get(1)).map_err(|_| numkeys_error())?;
    if n <= 0 {
        return Err(numkeys_error());
    }
    let n = n as usize;
    if n > args.len() - 2 {
        return Err(CmdError::new(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = usize::MAX;
    let mut i = 2 + n;
    while i < args.len() {
        if is(args.get(i), "limit") && i + 1 < args.len() {
            let l = int_arg(args.get(i + 1))?;
            if l < 0 {
                return Err(CmdError::new("ERR LIMIT can't be negative"));
            }
            if l > 0 {
                limit = l as usize;
            }
            i += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let keys: Vec<&[u8]> = (2..2 + n).map(|i| args.get(i)).collect();
    let (_, members) = combine(ctx, &keys, None, Algebra::Inter, limit)?;
    ctx.out.int(members.len() as i64);
    Ok(())
}

/// SINTERSTORE, SUNIONSTORE, SDIFFSTORE: the result replaces `destination` (whatever it
/// held; an empty result deletes it) and is journaled as the set it is.
fn store(ctx: &mut Ctx, args: Args, op: Algebra, event: &str) -> CmdResult {
    let dest = args.get(1);
    let lim: Limits = ctx.server.object_limits();
    let (mut locked, members) = combine(
        ctx,
        &args.tail(2).iter().collect::<Vec<_>>(),
        Some(dest),
        op,
        usize::MAX,
    )?;
    let slot = cairn_store::key_slot(dest);
    let db = locked.db(slot, ctx.db());
    if members.is_empty() {
        if db.remove(slot, dest, ctx.now).is_some() {
            ctx.notify(GENERIC, "del", dest);
        }
        ctx.out.int(0);
        return Ok(());
    }
    let mut s = Set::for_member(&members[0], &lim);
    for m in &members {
        s.add(m, &lim);
    }
    let n = s.len();
    db.set(
        slot,
        dest,
        Value::Obj(Box::new(Object::Set(s))),
        ExpireChange::Clear,
        ctx.now,
    );
    ctx.notify(SET, event, dest);
    ctx.out.int(n as i64);
    Ok(())
}

fn sinterstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    store(ctx, args, Algebra::Inter, "sinterstore")
}

fn sunionstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    store(ctx, args, Algebra::Union, "sunionstore")
}

fn sdiffstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    store(ctx, args, Algebra::Diff, "sdiffstore")
}

/// ```text
/// SSCAN key cursor [MATCH pattern] [COUNT count]
/// ```
fn sscan(ctx: &mut Ctx, args: Args) -> CmdResult {
    let opts = ScanOpts::parse(args, 2, false)?;
    let key = args.get(1);
    let mut found: Vec<Vec<u8>> = Vec::new();
    let (mut shard, slot) = ctx.lock(key);
    let next = match shard.db(ctx.db()).read(slot, key, ctx.now) {
        Some(e) => set(e)?.scan(opts.cursor, opts.count, |m| {
            m.with_bytes(|b| {
                if opts.matches(b) {
                    found.push(b.to_vec());
                }
            })
        }),
        None => 0,
    };
    drop(shard);
    reply_scan(ctx, next, &found);
    Ok(())
}
