//! HyperLogLog: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST, over `cairn_store::hll`.
//! An HLL is a plain string holding Redis's own bytes, so GET/SET, DUMP/RESTORE, APPEND
//! and SETRANGE see it as Redis shows it, and a value made by either server counts the
//! same on the other.
//!
//! What reaches the write stream (the AOF and the replicas):
//! - PFADD that changed a register: its own operation (`PFADD key element...`). It is
//!   deterministic: the registers, the opcode splits and the promotion point depend only
//!   on the value before it (which the replica holds identically, but for the cached
//!   count, which PFADD ignores) and on `hll-sparse-max-bytes`. Replayed, it produces the
//!   same bytes wherever that setting is the same (elsewhere, the same registers in the
//!   other encoding, as a Redis replica would have). A key PFADD creates is journaled as
//!   the SET of an empty HLL, then that PFADD. A PFADD that changed nothing is not
//!   journaled; one that changed registers and then hit corrupt data journals the
//!   value's state (its operation would fail on replay).
//! - PFMERGE: the destination's resulting value, whole, because it reads other keys,
//!   which may live in other shards (the stream is cut shard by shard, so an operation
//!   that reads another shard would not replay from a snapshot identically).
//! - PFDEBUG GETREG / TODENSE that converted a sparse value: the dense value.
//! - PFCOUNT that wrote its cached cardinality back (bytes 8..16 of the value, in place,
//!   as Redis does): the `PFCOUNT key` itself, as Redis propagates it, so a replica's and
//!   a restarted node's bytes (GET, DEBUG DIGEST) stay the primary's. Like Redis, the
//!   update counts as a change of the key for WATCH and client-side caching.

use cairn_protocol::Args;
use cairn_store::hll::{self, Encoding, REGISTERS};
use cairn_store::{Db, Entry, ExpireChange, Value, ValueRef};

use crate::commands::typed::string;
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::STRING;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("pfadd", -2, "hyperloglog")
        .flags(WRITE | DENYOOM | FAST)
        .acl(acl::HYPERLOGLOG)
        .keys(&[KeySpec::one(1, key::RW | key::INSERT)])
        .doc("2.8.9", "Adds the specified elements to the specified HyperLogLog.")
        .complexity("O(1) to add every element.")
        .run(pfadd),
    Spec::new("pfcount", -2, "hyperloglog")
        .flags(READONLY | MAY_REPLICATE)
        .acl(acl::HYPERLOGLOG)
        .keys(&[KeySpec::range(1, -1, 1, key::RW | key::ACCESS).notes(
            "RW because it may change the internal representation of the key, and propagate to replicas",
        )])
        .doc("2.8.9", "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).")
        .complexity("O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.")
        .run(pfcount),
    Spec::new("pfmerge", -2, "hyperloglog")
        .flags(WRITE | DENYOOM)
        .acl(acl::HYPERLOGLOG)
        .keys(&[
            KeySpec::one(1, key::RW | key::ACCESS | key::INSERT),
            KeySpec::range(2, -1, 1, key::RO | key::ACCESS),
        ])
        .doc("2.8.9", "Merge N different HyperLogLogs into a single one.")
        .complexity("O(N) to merge N HyperLogLogs, but with high constant times.")
        .run(pfmerge),
    Spec::new("pfdebug", 3, "hyperloglog")
        .flags(WRITE | DENYOOM | ADMIN)
        .acl(acl::HYPERLOGLOG)
        .keys(&[KeySpec::one(2, key::RW | key::ACCESS)])
        .doc("2.8.9", "Internal commands for debugging HyperLogLog values")
        .complexity("N/A")
        .run(pfdebug),
    Spec::new("pfselftest", 1, "hyperloglog")
        .flags(ADMIN)
        .acl(acl::HYPERLOGLOG)
        .doc("2.8.9", "An internal command for testing HyperLogLog values")
        .complexity("N/A")
        .run(pfselftest),
];

/// A string that is not an HLL.
fn not_hll() -> CmdError {
    CmdError::new("WRONGTYPE Key is not a valid HyperLogLog string value.")
}

/// Sparse data that does not walk to 16384 registers.
fn corrupt() -> CmdError {
    CmdError::new("INVALIDOBJ Corrupted HLL object detected")
}

/// The HLL `e` holds, checked as Redis's `isHLLObjectOrReply`: a collection is the usual
/// WRONGTYPE, a string that is not an HLL the HyperLogLog one.
fn check(e: &Entry) -> Result<Encoding, CmdError> {
    string(e)?
        .with_bytes(hll::encoding_of)
        .map_err(|_| not_hll())
}

/// `hll-sparse-max-bytes`.
fn sparse_max(ctx: &Ctx) -> usize {
    let n = ctx.server.with_config(|c| c.hll_sparse_max_bytes);
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Gives the live string at `key` its own growable buffer (Redis's `raw` encoding) if it
/// does not have one yet, as Redis's `dbUnshareStringValue`: the bytes stay as they are,
/// so nothing is journaled or reported. Callers that looked the key up already skip it
/// for a value that is `Raw` (it would look the key up again to find that out).
fn unshare(db: &mut Db, slot: u16, key: &[u8], ctx: &Ctx) {
    if let Some(mut e) = db.peek_mut(slot, key, ctx.now)
        && !matches!(e.value(), ValueRef::Raw(_))
    {
        e.bytes_mut();
    }
}

/// ```text
/// PFADD key [element [element ...]]
/// ```
/// 1 when a register changed (or the key was created), else 0.
fn pfadd(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let elements = args.tail(2);
    let max = sparse_max(ctx);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let (created, start) = match db.peek(slot, key, ctx.now) {
        Some(e) => {
            check(e)?;
            // Most PFADDs of a busy HLL change nothing: found so without writing, the
            // key is neither journaled nor reported as changed (WATCH), as in Redis. The
            // first element that would change a register, or whose register cannot be
            // found (corrupt sparse data), decides. The elements before it change
            // nothing now or later (registers only grow), so the writes start there.
            let first = e.value().with_bytes(|b| {
                elements.iter().enumerate().find_map(|(i, el)| {
                    let (index, value) = hll::pattern(el);
                    match hll::register(b, index) {
                        Ok(r) if r >= value => None,
                        Ok(_) => Some(Ok(i)),
                        Err(c) => Some(Err(c)),
                    }
                })
            });
            match first {
                Some(Ok(i)) => (false, i),
                unchanged_or_corrupt => {
                    let raw = matches!(e.value(), ValueRef::Raw(_));
                    db.bump(slot, key, ctx.now);
                    if !raw {
                        unshare(db, slot, key, ctx);
                    }
                    if unchanged_or_corrupt.is_some() {
                        return Err(corrupt());
                    }
                    ctx.out.int(0);
                    return Ok(());
                }
            }
        }
        None if elements.is_empty() => {
            let mut bytes = hll::empty();
            hll::invalidate_cache(&mut bytes);
            db.set(slot, key, Value::Raw(bytes), ExpireChange::Clear, ctx.now);
            ctx.notify(STRING, "pfadd", key);
            ctx.out.int(1);
            return Ok(());
        }
        None => {
            // An empty HLL first (journaled as its SET), then this PFADD on it.
            db.set(
                slot,
                key,
                Value::Raw(hll::empty()),
                ExpireChange::Clear,
                ctx.now,
            );
            (true, 0)
        }
    };
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        unreachable!("the key is live: just looked up or created under the lock");
    };
    let bytes = e.bytes_mut();
    let mut changed = false;
    let mut failed = false;
    for el in elements.iter().skip(start) {
        match hll::add(bytes, el, max) {
            Ok(c) => changed |= c,
            Err(hll::Corrupt) => {
                failed = true;
                break;
            }
        }
    }
    if failed {
        // Registers set before the corrupt spot stay set and nothing is reported, as in
        // Redis; the value leaves as its state (the guard journals it), since the
        // operation would fail on replay.
        if !changed {
            e.unchanged();
        }
        return Err(corrupt());
    }
    if changed {
        hll::invalidate_cache(bytes);
        let op: Vec<&[u8]> = args.iter().collect();
        e.journal_op(&op);
    } else {
        e.unchanged();
    }
    drop(e);
    let updated = changed || created;
    if updated {
        ctx.notify(STRING, "pfadd", key);
    }
    ctx.out.int(i64::from(updated));
    Ok(())
}

/// ```text
/// PFCOUNT key [key ...]
/// ```
/// One key: its cached cardinality, or the estimate, then stored back as the cache.
/// Several: the estimate for their union, nothing written.
fn pfcount(ctx: &mut Ctx, args: Args) -> CmdResult {
    if args.len() > 2 {
        return pfcount_union(ctx, args);
    }
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(e) = db.read(slot, key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    check(e)?;
    let raw = matches!(e.value(), ValueRef::Raw(_));
    let counted = e.value().with_bytes(|b| match hll::cached_count(b) {
        Some(n) => Ok((n, true)),
        None => hll::count(b).map(|n| (n, false)),
    });
    let card = match counted.map_err(|_| corrupt())? {
        (n, true) => {
            if !raw {
                unshare(db, slot, key, ctx);
            }
            n
        }
        (n, false) => {
            // Written back, journaled as the PFCOUNT that did it (see the module's doc)
            // and reported as a change (WATCH, client-side caching), as Redis does.
            if let Some(mut e) = db.write(slot, key, ctx.now) {
                hll::set_cached_count(e.bytes_mut(), n);
                e.journal_op(&[b"PFCOUNT", key]);
            }
            n
        }
    };
    // Redis replies with the unsigned count read as a signed one.
    ctx.out.int(card as i64);
    Ok(())
}

/// PFCOUNT of several keys: the union's estimate (missing keys are empty HLLs).
fn pfcount_union(ctx: &mut Ctx, args: Args) -> CmdResult {
    let keys = args.tail(1);
    let mut max = Box::new([0u8; REGISTERS]);
    let mut locked = ctx.server.keyspace.lock_keys(keys.iter());
    for key in keys.iter() {
        let slot = cairn_store::key_slot(key);
        let Some(e) = locked.db(slot, ctx.session.db).read(slot, key, ctx.now) else {
            continue;
        };
        check(e)?;
        e.value()
            .with_bytes(|b| hll::merge_into(&mut max, b))
            .map_err(|_| corrupt())?;
    }
    drop(locked);
    ctx.out.int(hll::count_registers(&max) as i64);
    Ok(())
}

/// ```text
/// PFMERGE destkey [sourcekey [sourcekey ...]]
/// ```
/// The destination (itself one of the inputs) takes the largest of every register. It is
/// dense if any input was dense; otherwise the registers are set into it one by one in
/// its sparse form, which may still promote it (as Redis 7.0 does).
fn pfmerge(ctx: &mut Ctx, args: Args) -> CmdResult {
    let keys = args.tail(1);
    let dest = args.get(1);
    let limit = sparse_max(ctx);
    let mut max = Box::new([0u8; REGISTERS]);
    let mut dense = false;
    let mut locked = ctx.server.keyspace.lock_keys(keys.iter());
    let db_index = ctx.session.db;
    for key in keys.iter() {
        let slot = cairn_store::key_slot(key);
        let Some(e) = locked.db(slot, db_index).read(slot, key, ctx.now) else {
            continue;
        };
        dense |= check(e)? == Encoding::Dense;
        e.value()
            .with_bytes(|b| hll::merge_into(&mut max, b))
            .map_err(|_| corrupt())?;
    }
    let fill = |bytes: &mut Vec<u8>| -> Result<(), hll::Corrupt> {
        if dense {
            hll::to_dense(bytes)?;
        }
        for (i, &v) in max.iter().enumerate() {
            if v != 0 {
                // The destination was walked whole above: nothing here can be corrupt.
                let _ = hll::set_register(bytes, i, v, limit);
            }
        }
        hll::invalidate_cache(bytes);
        Ok(())
    };
    let slot = cairn_store::key_slot(dest);
    let db = locked.db(slot, db_index);
    if let Some(mut e) = db.write(slot, dest, ctx.now) {
        // The destination's new state is journaled whole when the guard drops.
        if fill(e.bytes_mut()).is_err() {
            e.unchanged();
            return Err(corrupt());
        }
    } else {
        let mut bytes = hll::empty();
        fill(&mut bytes).map_err(|_| corrupt())?;
        db.set(slot, dest, Value::Raw(bytes), ExpireChange::Clear, ctx.now);
    }
    // Redis reports a merge as the mass PFADD it is.
    ctx.notify(STRING, "pfadd", dest);
    drop(locked);
    ctx.out.ok();
    Ok(())
}

/// ```text
/// PFDEBUG GETREG | DECODE | ENCODING | TODENSE key
/// ```
/// The key is looked up (and checked) before the subcommand, as Redis does.
fn pfdebug(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (sub, key) = (args.get(1), args.get(2));
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(e) = db.peek(slot, key, ctx.now) else {
        return Err(CmdError::new("ERR The specified key does not exist"));
    };
    let encoding = check(e)?;
    if !matches!(e.value(), ValueRef::Raw(_)) {
        unshare(db, slot, key, ctx);
    }
    let is = |name: &str| sub.eq_ignore_ascii_case(name.as_bytes());
    if is("getreg") || is("todense") {
        let mut converted = false;
        if encoding == Encoding::Sparse {
            let Some(mut e) = db.write(slot, key, ctx.now) else {
                unreachable!("looked up above under the lock");
            };
            // The dense value is journaled when the guard drops.
            if hll::to_dense(e.bytes_mut()).is_err() {
                e.unchanged();
                return Err(corrupt());
            }
            converted = true;
        }
        if is("todense") {
            ctx.out.int(i64::from(converted));
            return Ok(());
        }
        let regs = db
            .peek(slot, key, ctx.now)
            .and_then(|e| e.value().with_bytes(hll::dense_registers))
            .ok_or_else(corrupt)?;
        ctx.out.array(regs.len());
        for r in regs {
            ctx.out.int(i64::from(r));
        }
    } else if is("decode") {
        let text = db
            .peek(slot, key, ctx.now)
            .and_then(|e| e.value().with_bytes(hll::decode))
            .ok_or_else(|| CmdError::new("ERR HLL encoding is not sparse"))?;
        ctx.out.bulk(text.as_bytes());
    } else if is("encoding") {
        ctx.out.simple(encoding.name());
    } else {
        let shown = String::from_utf8_lossy(sub).replace(['\r', '\n'], " ");
        return Err(CmdError::new(format!(
            "ERR Unknown PFDEBUG subcommand '{shown}'"
        )));
    }
    Ok(())
}

/// ```text
/// PFSELFTEST
/// ```
/// Redis's self-test of the register array and of the estimator (ten million elements
/// into a sparse and a dense HLL side by side). Touches no key.
fn pfselftest(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let max = sparse_max(ctx);
    match hll::self_test(10_000_000, max, fastrand::u64(..)) {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(msg) => Err(CmdError::new(msg)),
    }
}
