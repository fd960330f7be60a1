//! Hash fields that expire one by one, as Redis 7.4 and 8.0 have them: HEXPIRE and its
//! relatives, HTTL and its relatives, HPERSIST; HGETDEL, HGETEX and HSETEX. The times
//! live in the hash (`cairn_store::types::hash`); the database takes due fields out
//! before any command sees the hash and in its active sweep, journaling an HDEL, so the
//! AOF and the replicas hear of deletions, never of clocks. These commands journal what
//! they did in absolute terms: HPEXPIREAT with the unix-ms time, HDEL for fields a past
//! time deleted, HPERSIST for the fields it made persistent.

use cairn_protocol::Args;

use crate::commands::args::{int_arg, is};
use crate::commands::typed::{hash, hash_mut};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::{GENERIC, HASH};
use crate::spec::{KeySpec, Spec, acl, flags::*, key};
use cairn_store::Object;
use cairn_store::types::hash::Hash;

pub static COMMANDS: &[Command] = &[
    Spec::new("hexpire", -6, "hash")
    .flags(WRITE | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("7.4.0", "Set expiry for hash field using relative time to expire (seconds)")
    .complexity("O(N) where N is the number of specified fields")
    .run(hexpire),
    Spec::new("hpexpire", -6, "hash")
    .flags(WRITE | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("7.4.0", "Set expiry for hash field using relative time to expire (milliseconds)")
    .complexity("O(N) where N is the number of specified fields")
    .run(hpexpire),
    Spec::new("hexpireat", -6, "hash")
    .flags(WRITE | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("7.4.0", "Set expiry for hash field using an absolute Unix timestamp (seconds)")
    .complexity("O(N) where N is the number of specified fields")
    .run(hexpireat),
    Spec::new("hpexpireat", -6, "hash")
    .flags(WRITE | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("7.4.0", "Set expiry for hash field using an absolute Unix timestamp (milliseconds)")
    .complexity("O(N) where N is the number of specified fields")
    .run(hpexpireat),
    Spec::new("httl", -5, "hash")
    .flags(READONLY | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output"])
    .doc("7.4.0", "Returns the TTL in seconds of a hash field.")
    .complexity("O(N) where N is the number of specified fields")
    .run(httl),
    Spec::new("hpttl", -5, "hash")
    .flags(READONLY | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .tips(&["nondeterministic_output"])
    .doc("7.4.0", "Returns the TTL in milliseconds of a hash field.")
    .complexity("O(N) where N is the number of specified fields")
    .run(hpttl),
    Spec::new("hexpiretime", -5, "hash")
    .flags(READONLY | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("7.4.0", "Returns the expiration time of a hash field as a Unix timestamp, in seconds.")
    .complexity("O(N) where N is the number of specified fields")
    .run(hexpiretime),
    Spec::new("hpexpiretime", -5, "hash")
    .flags(READONLY | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("7.4.0", "Returns the expiration time of a hash field as a Unix timestamp, in msec.")
    .complexity("O(N) where N is the number of specified fields")
    .run(hpexpiretime),
    Spec::new("hpersist", -5, "hash")
    .flags(WRITE | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("7.4.0", "Removes the expiration time for each specified field")
    .complexity("O(N) where N is the number of specified fields")
    .run(hpersist),
    Spec::new("hgetdel", -5, "hash")
    .flags(WRITE | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE)])
    .doc("8.0.0", "Returns the value of a field and deletes it from the hash.")
    .complexity("O(N) where N is the number of specified fields")
    .run(hgetdel),
    Spec::new("hgetex", -5, "hash")
    .flags(WRITE | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE).notes("RW and UPDATE because it changes the TTL")])
    .doc("8.0.0", "Get the value of one or more fields of a given hash key, and optionally set their expiration.")
    .complexity("O(N) where N is the number of specified fields")
    .run(hgetex),
    Spec::new("hsetex", -6, "hash")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::HASH)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("8.0.0", "Set the value of one or more fields of a given hash key, and optionally set their expiration.")
    .complexity("O(N) where N is the number of fields being set.")
    .run(hsetex),
];

/// The latest unix-ms time a field may be given (Redis's `HFE_MAX_ABS_TIME_MSEC`: the
/// 48-bit time its buckets hold, over 4).
const MAX_TIME_MS: i64 = ((1 << 48) - 1) >> 2;

/// Reply codes of HEXPIRE and HPERSIST, per field.
const NO_FIELD: i64 = -2;
const NO_TTL: i64 = -1;
const CONDITION_NOT_MET: i64 = 0;
const SET: i64 = 1;
const DELETED: i64 = 2;

/// An expiry time argument, made absolute (unix ms) as Redis's `parseExpireTime` does.
fn expire_time(
    ctx: &Ctx,
    arg: &[u8],
    unit_ms: i64,
    relative: bool,
    name: &str,
) -> Result<i64, CmdError> {
    let v = int_arg(arg)?;
    let invalid = || CmdError::new(format!("ERR invalid expire time in '{name}' command"));
    if v < 0 {
        return Err(CmdError::new("ERR invalid expire time, must be >= 0"));
    }
    if unit_ms == 1000 && v > MAX_TIME_MS / 1000 {
        return Err(invalid());
    }
    let v = v * unit_ms;
    let base = if relative { ctx.now.ms as i64 } else { 0 };
    if v > MAX_TIME_MS - base {
        return Err(invalid());
    }
    Ok(v + base)
}

/// `FIELDS numfields field...` from argument `at` to the end (the count must be the
/// rest): the fields' range. `count_error` is the text each command gives a bad count.
fn fields_block(
    args: Args,
    at: usize,
    count_error: &'static str,
) -> Result<std::ops::Range<usize>, CmdError> {
    if at >= args.len() || !is(args.get(at), "fields") {
        return Err(CmdError::new(
            "ERR Mandatory argument FIELDS is missing or not at the right position",
        ));
    }
    let n = cairn_protocol::resp::parse_i64(args.get(at + 1))
        .filter(|&n| n >= 1)
        .ok_or_else(|| CmdError::new(count_error))?;
    let first = at + 2;
    if n as u64 != (args.len() - first) as u64 {
        return Err(CmdError::new(
            "ERR The `numfields` parameter must match the number of arguments",
        ));
    }
    Ok(first..args.len())
}

/// Redis checks a key's type before a command's other arguments, so a bad argument is
/// answered only when the key holds no other type. The arguments are parsed first (which
/// changes nothing) and the key is looked at for its type only when that failed: a
/// well-formed command looks its key up once, for the write.
fn type_first<T>(
    db: &mut cairn_store::Db,
    slot: u16,
    key: &[u8],
    now: cairn_store::db::Now,
    parsed: Result<T, CmdError>,
) -> Result<T, CmdError> {
    if parsed.is_err()
        && let Some(e) = db.peek(slot, key, now)
    {
        hash(e)?;
    }
    parsed
}

const COUNT_POSITIVE: &str = "ERR Number of fields must be a positive integer";
const COUNT_GREATER: &str = "ERR Parameter `numFields` should be greater than 0";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cond {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// Whether a field whose time is `prev` may be given `at` under `cond` (Redis's rule: a
/// persistent field counts as infinitely late, so LT holds and GT and XX do not).
fn allowed(cond: Cond, prev: Option<u64>, at: u64) -> bool {
    match (cond, prev) {
        (Cond::Always, _) => true,
        (Cond::Nx, p) => p.is_none(),
        (Cond::Xx, p) => p.is_some(),
        (Cond::Gt, None) => false,
        (Cond::Gt, Some(p)) => at > p,
        (Cond::Lt, None) => true,
        (Cond::Lt, Some(p)) => at < p,
    }
}

fn ms_text(ms: i64) -> String {
    itoa::Buffer::new().format(ms).to_owned()
}

/// ```text
/// HEXPIRE key seconds [NX | XX | GT | LT] FIELDS numfields field [field ...]
/// ```
fn hexpire_generic(
    ctx: &mut Ctx,
    args: Args,
    unit_ms: i64,
    relative: bool,
    name: &str,
) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    // As Redis: the type first, then the time, then the options.
    let parsed = expire_time(ctx, args.get(2), unit_ms, relative, name).and_then(|at| {
        let opt = args.get(3);
        let cond = [
            ("nx", Cond::Nx),
            ("xx", Cond::Xx),
            ("gt", Cond::Gt),
            ("lt", Cond::Lt),
        ]
        .into_iter()
        .find(|(w, _)| is(opt, w))
        .map_or(Cond::Always, |(_, c)| c);
        let fields_at = if cond == Cond::Always { 3 } else { 4 };
        Ok((at, cond, fields_block(args, fields_at, COUNT_GREATER)?))
    });
    let (at, cond, fields) = type_first(db, slot, key, ctx.now, parsed)?;
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        ctx.out.array(fields.len());
        for _ in fields {
            ctx.out.int(NO_FIELD);
        }
        return Ok(());
    };
    let past = at <= ctx.now.ms as i64;
    let at = at as u64;
    let h = hash(&e)?;
    let codes: Vec<i64> = fields
        .clone()
        .map(|i| {
            let f = args.get(i);
            if !h.contains(f) {
                NO_FIELD
            } else if !allowed(cond, h.expire_at(f), at) {
                CONDITION_NOT_MET
            } else if past {
                DELETED
            } else {
                SET
            }
        })
        .collect();
    let touched: Vec<&[u8]> = fields
        .clone()
        .zip(&codes)
        .filter(|(_, c)| **c == SET || **c == DELETED)
        .map(|(i, _)| args.get(i))
        .collect();
    let mut emptied = false;
    if touched.is_empty() {
        e.unchanged();
    } else {
        let h = hash_mut(&mut e)?;
        let mut op: Vec<&[u8]>;
        let (n, ms);
        if past {
            for f in &touched {
                h.remove(f);
            }
            emptied = h.is_empty();
            op = vec![b"HDEL", key];
        } else {
            for f in &touched {
                h.set_expire(f, at);
            }
            ms = ms_text(at as i64);
            n = ms_text(touched.len() as i64);
            op = vec![b"HPEXPIREAT", key, ms.as_bytes(), b"FIELDS", n.as_bytes()];
        }
        op.extend(touched.iter().copied());
        e.journal_op(&op);
    }
    drop(e);
    if !touched.is_empty() {
        ctx.notify(HASH, if past { "hdel" } else { "hexpire" }, key);
    }
    if emptied {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.out.array(codes.len());
    for c in codes {
        ctx.out.int(c);
    }
    Ok(())
}

fn hexpire(ctx: &mut Ctx, args: Args) -> CmdResult {
    hexpire_generic(ctx, args, 1000, true, "hexpire")
}

fn hpexpire(ctx: &mut Ctx, args: Args) -> CmdResult {
    hexpire_generic(ctx, args, 1, true, "hpexpire")
}

fn hexpireat(ctx: &mut Ctx, args: Args) -> CmdResult {
    hexpire_generic(ctx, args, 1000, false, "hexpireat")
}

fn hpexpireat(ctx: &mut Ctx, args: Args) -> CmdResult {
    hexpire_generic(ctx, args, 1, false, "hpexpireat")
}

#[derive(Clone, Copy)]
enum TtlForm {
    Ttl,
    Pttl,
    ExpireTime,
    PexpireTime,
}

/// ```text
/// HTTL key FIELDS numfields field [field ...]
/// ```
fn ttl_generic(ctx: &mut Ctx, args: Args, form: TtlForm) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let found = db.read(slot, key, ctx.now);
    let h = found.map(hash).transpose()?;
    let fields = fields_block(args, 2, COUNT_POSITIVE)?;
    let now = ctx.now.ms;
    let codes: Vec<i64> = fields
        .map(|i| {
            let f = args.get(i);
            let Some(h) = h.filter(|h| h.contains(f)) else {
                return NO_FIELD;
            };
            match h.expire_at(f) {
                None => NO_TTL,
                // Due but not yet taken out (a replica waits for its primary's HDEL).
                Some(at) if at <= now => NO_FIELD,
                Some(at) => match form {
                    TtlForm::Ttl => (at - now).div_ceil(1000) as i64,
                    TtlForm::Pttl => (at - now) as i64,
                    TtlForm::ExpireTime => at.div_ceil(1000) as i64,
                    TtlForm::PexpireTime => at as i64,
                },
            }
        })
        .collect();
    drop(shard);
    ctx.out.array(codes.len());
    for c in codes {
        ctx.out.int(c);
    }
    Ok(())
}

fn httl(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, TtlForm::Ttl)
}

fn hpttl(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, TtlForm::Pttl)
}

fn hexpiretime(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, TtlForm::ExpireTime)
}

fn hpexpiretime(ctx: &mut Ctx, args: Args) -> CmdResult {
    ttl_generic(ctx, args, TtlForm::PexpireTime)
}

/// ```text
/// HPERSIST key FIELDS numfields field [field ...]
/// ```
fn hpersist(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let fields = type_first(
        db,
        slot,
        key,
        ctx.now,
        fields_block(args, 2, COUNT_POSITIVE),
    )?;
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        ctx.out.array(fields.len());
        for _ in fields {
            ctx.out.int(NO_FIELD);
        }
        return Ok(());
    };
    let h = hash(&e)?;
    let codes: Vec<i64> = fields
        .clone()
        .map(|i| {
            let f = args.get(i);
            match (h.contains(f), h.expire_at(f)) {
                (false, _) => NO_FIELD,
                (true, None) => NO_TTL,
                (true, Some(_)) => SET,
            }
        })
        .collect();
    let changed: Vec<&[u8]> = fields
        .zip(&codes)
        .filter(|(_, c)| **c == SET)
        .map(|(i, _)| args.get(i))
        .collect();
    if changed.is_empty() {
        e.unchanged();
    } else {
        let h = hash_mut(&mut e)?;
        for f in &changed {
            h.persist(f);
        }
        let n = ms_text(changed.len() as i64);
        let mut op: Vec<&[u8]> = vec![b"HPERSIST", key, b"FIELDS", n.as_bytes()];
        op.extend(changed.iter().copied());
        e.journal_op(&op);
    }
    drop(e);
    if !changed.is_empty() {
        ctx.notify(HASH, "hpersist", key);
    }
    ctx.out.array(codes.len());
    for c in codes {
        ctx.out.int(c);
    }
    Ok(())
}

/// Answers the values of `fields` of `h` (a null for a field not there).
fn values(h: Option<&Hash>, args: Args, fields: std::ops::Range<usize>) -> Vec<Option<Vec<u8>>> {
    fields
        .map(|i| h.and_then(|h| h.get(args.get(i))).map(<[u8]>::to_vec))
        .collect()
}

fn reply_values(ctx: &mut Ctx, vals: Vec<Option<Vec<u8>>>) {
    ctx.out.array(vals.len());
    for v in vals {
        match v {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    }
}

/// ```text
/// HGETDEL key FIELDS numfields field [field ...]
/// ```
fn hgetdel(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let fields = type_first(
        db,
        slot,
        key,
        ctx.now,
        fields_block(args, 2, COUNT_POSITIVE),
    )?;
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        reply_values(ctx, values(None, args, fields));
        return Ok(());
    };
    let vals = values(Some(hash(&e)?), args, fields.clone());
    // Each field once, in the order asked (a field named twice answers twice).
    let mut gone: Vec<&[u8]> = Vec::new();
    for (i, v) in fields.zip(&vals) {
        if v.is_some() && !gone.contains(&args.get(i)) {
            gone.push(args.get(i));
        }
    }
    let mut emptied = false;
    if gone.is_empty() {
        e.unchanged();
    } else {
        let h = hash_mut(&mut e)?;
        for f in &gone {
            h.remove(f);
        }
        emptied = h.is_empty();
        let mut op: Vec<&[u8]> = vec![b"HDEL", key];
        op.extend(gone.iter().copied());
        e.journal_op(&op);
    }
    drop(e);
    if !gone.is_empty() {
        ctx.notify(HASH, "hdel", key);
    }
    if emptied {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    }
    reply_values(ctx, vals);
    Ok(())
}

/// What HGETEX or HSETEX does to the times of the fields it names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TimeChange {
    /// HGETEX without an option: nothing; HSETEX without one: the times go (as HSET).
    Default,
    At(i64),
    Persist,
    KeepTtl,
}

/// Parses `EX s | PX ms | EXAT s | PXAT ms` at `i` (its value at `i + 1`).
fn time_option(ctx: &Ctx, args: Args, i: usize, name: &str) -> Result<Option<i64>, CmdError> {
    let opt = args.get(i);
    let (unit_ms, relative) = if is(opt, "ex") {
        (1000, true)
    } else if is(opt, "px") {
        (1, true)
    } else if is(opt, "exat") {
        (1000, false)
    } else if is(opt, "pxat") {
        (1, false)
    } else {
        return Ok(None);
    };
    if i + 1 >= args.len() {
        return Err(CmdError::new("ERR missing expire time"));
    }
    expire_time(ctx, args.get(i + 1), unit_ms, relative, name).map(Some)
}

/// ```text
/// HGETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
///     PXAT unix-time-milliseconds | PERSIST] FIELDS numfields field [field ...]
/// ```
fn hgetex(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let parsed = if is(args.get(2), "persist") {
        Ok((TimeChange::Persist, 3))
    } else {
        time_option(ctx, args, 2, "hgetex").map(|t| match t {
            Some(ms) => (TimeChange::At(ms), 4),
            None => (TimeChange::Default, 2),
        })
    }
    .and_then(|(change, at)| Ok((change, fields_block(args, at, COUNT_POSITIVE)?)));
    let (change, fields) = type_first(db, slot, key, ctx.now, parsed)?;
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        reply_values(ctx, values(None, args, fields));
        return Ok(());
    };
    let h = hash(&e)?;
    let vals = values(Some(h), args, fields.clone());
    let mut touched: Vec<&[u8]> = Vec::new();
    for (i, v) in fields.zip(&vals) {
        let f = args.get(i);
        let applies = match change {
            TimeChange::Persist => h.expire_at(f).is_some(),
            TimeChange::At(_) => v.is_some(),
            _ => false,
        };
        if applies && !touched.contains(&f) {
            touched.push(f);
        }
    }
    let mut event = None;
    let mut emptied = false;
    if touched.is_empty() {
        e.unchanged();
    } else {
        let h = hash_mut(&mut e)?;
        let n = ms_text(touched.len() as i64);
        let ms;
        let mut op: Vec<&[u8]> = match change {
            TimeChange::At(t) if t <= ctx.now.ms as i64 => {
                for f in &touched {
                    h.remove(f);
                }
                emptied = h.is_empty();
                event = Some("hdel");
                vec![b"HDEL", key]
            }
            TimeChange::At(t) => {
                for f in &touched {
                    h.set_expire(f, t as u64);
                }
                event = Some("hexpire");
                ms = ms_text(t);
                vec![b"HPEXPIREAT", key, ms.as_bytes(), b"FIELDS", n.as_bytes()]
            }
            _ => {
                for f in &touched {
                    h.persist(f);
                }
                event = Some("hpersist");
                vec![b"HPERSIST", key, b"FIELDS", n.as_bytes()]
            }
        };
        op.extend(touched.iter().copied());
        e.journal_op(&op);
    }
    drop(e);
    if let Some(event) = event {
        ctx.notify(HASH, event, key);
    }
    if emptied {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    }
    reply_values(ctx, vals);
    Ok(())
}

/// ```text
/// HSETEX key [FNX | FXX] [EX seconds | PX milliseconds | EXAT unix-time-seconds |
///     PXAT unix-time-milliseconds | KEEPTTL] FIELDS numfields field value [field value ...]
/// ```
fn hsetex(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    // Options in any order before FIELDS, each kind once (Redis's hsetexParseArgs).
    let (mut fnx, mut fxx) = (false, false);
    let mut change = TimeChange::Default;
    let mut i = 2;
    let first = loop {
        if i >= args.len() {
            // Redis asserts this cannot happen (its arity leaves room for FIELDS).
            return Err(CmdError::arity("hsetex"));
        }
        let a = args.get(i);
        if is(a, "fields") {
            if i + 3 >= args.len() {
                return Err(CmdError::arity("hsetex"));
            }
            let n = cairn_protocol::resp::parse_i64(args.get(i + 1))
                .filter(|n| (1..=i64::from(i32::MAX)).contains(n))
                .ok_or_else(|| CmdError::new("ERR invalid number of fields"))?;
            let rest = args.len() - i - 2;
            if !rest.is_multiple_of(2) || n as usize != rest / 2 {
                return Err(CmdError::arity("hsetex"));
            }
            break i + 2;
        }
        let time_kind = ["ex", "px", "exat", "pxat", "keepttl"]
            .iter()
            .any(|w| is(a, w));
        if time_kind && change != TimeChange::Default {
            return Err(CmdError::new(
                "ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified",
            ));
        }
        if is(a, "keepttl") {
            change = TimeChange::KeepTtl;
            i += 1;
        } else if let Some(ms) = time_option(ctx, args, i, "hsetex")? {
            change = TimeChange::At(ms);
            i += 2;
        } else if is(a, "fnx") || is(a, "fxx") {
            if fnx || fxx {
                return Err(CmdError::new(
                    "ERR Only one of FXX or FNX arguments can be specified",
                ));
            }
            fnx = is(a, "fnx");
            fxx = !fnx;
            i += 1;
        } else {
            return Err(CmdError::new(format!(
                "ERR unknown argument: {}",
                String::from_utf8_lossy(a)
            )));
        }
    };
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    if fxx && !db.contains(slot, key, ctx.now) {
        // FXX on no key creates nothing.
        ctx.out.int(0);
        return Ok(());
    }
    let pairs: Vec<(&[u8], &[u8])> = (first..args.len())
        .step_by(2)
        .map(|i| (args.get(i), args.get(i + 1)))
        .collect();
    let (mut e, _) = db.write_or_create(slot, key, ctx.now, || Object::Hash(Hash::default()));
    let h = hash(&e)?;
    let present = pairs.iter().filter(|(f, _)| h.contains(f)).count();
    if (fnx && present > 0) || (fxx && present < pairs.len()) {
        e.unchanged();
        ctx.out.int(0);
        return Ok(());
    }
    let h = hash_mut(&mut e)?;
    for (f, v) in &pairs {
        match change {
            TimeChange::Default => h.set(f, v, &lim),
            _ => h.set_keep_ttl(f, v, &lim),
        };
    }
    // HSET drops the fields' times; KEEPTTL's replay must keep them, as this did.
    let n = ms_text(pairs.len() as i64);
    let mut op: Vec<&[u8]> = if change == TimeChange::KeepTtl {
        vec![b"HSETEX", key, b"KEEPTTL", b"FIELDS", n.as_bytes()]
    } else {
        vec![b"HSET", key]
    };
    op.extend(pairs.iter().flat_map(|(f, v)| [*f, *v]));
    e.journal_op(&op);
    let mut event = None;
    let mut emptied = false;
    if let TimeChange::At(t) = change {
        let fields: Vec<&[u8]> = pairs.iter().map(|(f, _)| *f).collect();
        let n = ms_text(fields.len() as i64);
        let ms = ms_text(t);
        let h = hash_mut(&mut e)?;
        let mut op: Vec<&[u8]> = if t <= ctx.now.ms as i64 {
            for f in &fields {
                h.remove(f);
            }
            emptied = h.is_empty();
            event = Some("hdel");
            vec![b"HDEL", key]
        } else {
            for f in &fields {
                h.set_expire(f, t as u64);
            }
            event = Some("hexpire");
            vec![b"HPEXPIREAT", key, ms.as_bytes(), b"FIELDS", n.as_bytes()]
        };
        op.extend(fields.iter().copied());
        e.journal_op(&op);
    }
    drop(e);
    ctx.notify(HASH, "hset", key);
    if let Some(event) = event {
        ctx.notify(HASH, event, key);
    }
    if emptied {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.out.int(1);
    Ok(())
}
