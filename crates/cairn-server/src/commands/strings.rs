//! String commands: GET, SET and its relatives, counters, ranges, LCS.

use cairn_protocol::Args;
use cairn_store::{ExpireChange, Value};

use crate::commands::args::{expire_arg, int_arg, is};
use crate::commands::typed::string;
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::ld80;
use crate::notify::class::{GENERIC, STRING};
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub const COMMANDS: &[Command] = &[
    Spec::new("get", 2, "string")
        .flags(READONLY | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .doc("1.0.0", "Returns the string value of a key.")
        .complexity("O(1)")
        .run(get),
    Spec::new("set", -3, "string")
        .flags(WRITE | DENYOOM)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE | key::VARIABLE_FLAGS).notes("RW and ACCESS due to the optional `GET` argument")])
        .doc("1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.")
        .complexity("O(1)")
        .run(set),
    Spec::new("setnx", 3, "string")
        .flags(WRITE | DENYOOM | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::OW | key::INSERT)])
        .doc("1.0.0", "Set the string value of a key only when the key doesn't exist.")
        .complexity("O(1)")
        .deprecated("2.6.12", "`SET` with the `NX` argument")
        .run(setnx),
    Spec::new("setex", 4, "string")
        .flags(WRITE | DENYOOM)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::OW | key::UPDATE)])
        .doc("2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.")
        .complexity("O(1)")
        .run(setex),
    Spec::new("psetex", 4, "string")
        .flags(WRITE | DENYOOM)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::OW | key::UPDATE)])
        .doc("2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.")
        .complexity("O(1)")
        .deprecated("2.6.12", "`SET` with the `PX` argument")
        .run(psetex),
    Spec::new("mget", -2, "string")
        .flags(READONLY | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::range(1, -1, 1, key::RO | key::ACCESS)])
        .tips(&["request_policy:multi_shard"])
        .doc("1.0.0", "Atomically returns the string values of one or more keys.")
        .complexity("O(N) where N is the number of keys to retrieve.")
        .run(mget),
    Spec::new("mset", -3, "string")
        .flags(WRITE | DENYOOM)
        .acl(acl::STRING)
        .keys(&[KeySpec::range(1, -1, 2, key::OW | key::UPDATE)])
        .tips(&["request_policy:multi_shard", "response_policy:all_succeeded"])
        .doc("1.0.1", "Atomically creates or modifies the string values of one or more keys.")
        .complexity("O(N) where N is the number of keys to set.")
        .run(mset),
    Spec::new("msetnx", -3, "string")
        .flags(WRITE | DENYOOM)
        .acl(acl::STRING)
        .keys(&[KeySpec::range(1, -1, 2, key::OW | key::INSERT)])
        .tips(&["request_policy:multi_shard", "response_policy:agg_min"])
        .doc("1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.")
        .complexity("O(N) where N is the number of keys to set.")
        .run(msetnx),
    Spec::new("getset", 3, "string")
        .flags(WRITE | DENYOOM | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE)])
        .doc("1.0.0", "Returns the previous string value of a key after setting it to a new value.")
        .complexity("O(1)")
        .deprecated("6.2.0", "`SET` with the `!GET` argument")
        .run(getset),
    Spec::new("getdel", 2, "string")
        .flags(WRITE | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE)])
        .doc("6.2.0", "Returns the string value of a key after deleting the key.")
        .complexity("O(1)")
        .run(getdel),
    Spec::new("getex", -2, "string")
        .flags(WRITE | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE).notes("RW and UPDATE because it changes the TTL")])
        .doc("6.2.0", "Returns the string value of a key after setting its expiration time.")
        .complexity("O(1)")
        .run(getex),
    Spec::new("append", 3, "string")
        .flags(WRITE | DENYOOM | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RW | key::INSERT)])
        .doc("2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.")
        .complexity("O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.")
        .run(append),
    Spec::new("strlen", 2, "string")
        .flags(READONLY | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RO)])
        .doc("2.2.0", "Returns the length of a string value.")
        .complexity("O(1)")
        .run(strlen),
    Spec::new("incr", 2, "string")
        .flags(WRITE | DENYOOM | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE)])
        .doc("1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.")
        .complexity("O(1)")
        .run(incr),
    Spec::new("decr", 2, "string")
        .flags(WRITE | DENYOOM | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE)])
        .doc("1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.")
        .complexity("O(1)")
        .run(decr),
    Spec::new("incrby", 3, "string")
        .flags(WRITE | DENYOOM | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE)])
        .doc("1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.")
        .complexity("O(1)")
        .run(incrby),
    Spec::new("decrby", 3, "string")
        .flags(WRITE | DENYOOM | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE)])
        .doc("1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.")
        .complexity("O(1)")
        .run(decrby),
    Spec::new("incrbyfloat", 3, "string")
        .flags(WRITE | DENYOOM | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE)])
        .doc("2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.")
        .complexity("O(1)")
        .run(incrbyfloat),
    Spec::new("getrange", 4, "string")
        .flags(READONLY)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .doc("2.4.0", "Returns a substring of the string stored at a key.")
        .complexity("O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.")
        .run(getrange),
    Spec::new("substr", 4, "string")
        .flags(READONLY)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .doc("1.0.0", "Returns a substring from a string value.")
        .complexity("O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.")
        .deprecated("2.0.0", "`GETRANGE`")
        .run(getrange),
    Spec::new("setrange", 4, "string")
        .flags(WRITE | DENYOOM)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
        .doc("2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.")
        .complexity("O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.")
        .run(setrange),
    Spec::new("lcs", -3, "string")
        .flags(READONLY)
        .acl(acl::STRING)
        .keys(&[KeySpec::range(1, 1, 1, key::RO | key::ACCESS)])
        .doc("7.0.0", "Finds the longest common substring.")
        .complexity("O(N*M) where N and M are the lengths of s1 and s2, respectively")
        .run(lcs),
];

/// ```text
/// GET key
/// ```
fn get(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    match shard.db(ctx.db()).read(slot, key, ctx.now) {
        Some(e) => string(e)?.with_bytes(|b| ctx.out.bulk(b)),
        None => ctx.out.null(),
    }
    Ok(())
}

/// ```text
/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds |
///     EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]
/// ```
fn set(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, value) = (args.get(1), args.get(2));
    let opts = ExtOpts::parse(args, 3, true)?;
    let (nx, xx, get) = (opts.nx, opts.xx, opts.get);
    let expire = match opts.expire {
        Some((ms, abs, n)) => ExpireChange::At(expire_arg(ctx, n, ms, abs, "set")?),
        None if opts.keepttl => ExpireChange::Keep,
        None => ExpireChange::Clear,
    };
    if !(nx || xx || get) && ctx.drop_new_key {
        // Written and evicted at once is the same as not written (the key did not exist).
        ctx.drop_new_key = false;
        ctx.out.ok();
        return Ok(());
    }
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    if !(nx || xx || get) {
        set_or_expire(db, slot, key, value, expire, ctx.now);
        notify_set(ctx, key, expire);
        ctx.out.ok();
        return Ok(());
    }
    let old = match db.peek(slot, key, ctx.now) {
        // SET ... GET answers WRONGTYPE for a collection, and sets nothing.
        Some(e) if get => Some(string(e)?.as_bytes().into_owned()),
        Some(_) => Some(Vec::new()),
        None => None,
    };
    let write = !(nx && old.is_some() || xx && old.is_none());
    if write {
        set_or_expire(db, slot, key, value, expire, ctx.now);
        notify_set(ctx, key, expire);
    }
    match (get, old) {
        (true, Some(old)) => ctx.out.bulk(&old),
        (true, None) => ctx.out.null(),
        (false, _) if write => ctx.out.ok(),
        (false, _) => ctx.out.null(),
    }
    Ok(())
}

/// The options SET and GETEX share, read as Redis's `parseExtendedStringArgumentsOrReply`
/// reads them: every option first (the expiry value is checked only afterwards), a
/// conflicting pair is a syntax error, and repeating an option is not (the last expiry
/// wins).
#[derive(Default)]
struct ExtOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// EX / PX / EXAT / PXAT: (milliseconds per unit, absolute, the unchecked argument).
    expire: Option<(i64, bool, &'a [u8])>,
}

impl<'a> ExtOpts<'a> {
    /// Reads the options from argument `from` on; `for_set` allows SET's NX, XX, GET and
    /// KEEPTTL, otherwise GETEX's PERSIST.
    fn parse(args: Args<'a>, from: usize, for_set: bool) -> Result<ExtOpts<'a>, CmdError> {
        let mut o = ExtOpts::default();
        let mut i = from;
        while i < args.len() {
            let a = args.get(i);
            let unit = if is(a, "ex") {
                Some((1000, false))
            } else if is(a, "px") {
                Some((1, false))
            } else if is(a, "exat") {
                Some((1000, true))
            } else if is(a, "pxat") {
                Some((1, true))
            } else {
                None
            };
            // Another kind of expiry than one already given conflicts; the same kind again
            // does not.
            let expire_ok = |ms: i64, abs: bool| {
                !o.keepttl && !o.persist && o.expire.is_none_or(|(m, ab, _)| (m, ab) == (ms, abs))
            };
            if for_set && is(a, "nx") && !o.xx {
                o.nx = true;
            } else if for_set && is(a, "xx") && !o.nx {
                o.xx = true;
            } else if for_set && is(a, "get") {
                o.get = true;
            } else if for_set && is(a, "keepttl") && !o.persist && o.expire.is_none() {
                o.keepttl = true;
            } else if !for_set && is(a, "persist") && o.expire.is_none() && !o.keepttl {
                o.persist = true;
            } else {
                match unit {
                    Some((ms, abs)) if i + 1 < args.len() && expire_ok(ms, abs) => {
                        o.expire = Some((ms, abs, args.get(i + 1)));
                        i += 1;
                    }
                    _ => return Err(CmdError::syntax()),
                }
            }
            i += 1;
        }
        Ok(o)
    }
}

/// Stores a value; a deadline already in the past deletes the key instead, as Redis does.
/// The keyspace events of a SET-like write (the key's shard still locked).
fn notify_set(ctx: &Ctx, key: &[u8], expire: ExpireChange) {
    match expire {
        ExpireChange::At(t) if t <= ctx.now.ms => ctx.notify(GENERIC, "del", key),
        ExpireChange::At(_) => {
            ctx.notify(STRING, "set", key);
            ctx.notify(GENERIC, "expire", key);
        }
        _ => ctx.notify(STRING, "set", key),
    }
}

fn set_or_expire(
    db: &mut cairn_store::Db,
    slot: u16,
    key: &[u8],
    value: &[u8],
    expire: ExpireChange,
    now: cairn_store::db::Now,
) {
    match expire {
        ExpireChange::At(t) if t <= now.ms => {
            db.remove(slot, key, now);
        }
        _ => {
            db.set_bytes(slot, key, value, expire, now);
        }
    }
}

fn setnx(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    if db.contains(slot, key, ctx.now) {
        ctx.out.int(0);
    } else {
        db.set_bytes(slot, key, args.get(2), ExpireChange::Clear, ctx.now);
        ctx.notify(STRING, "set", key);
        ctx.out.int(1);
    }
    Ok(())
}

fn setex_generic(ctx: &mut Ctx, args: Args, unit_ms: i64, cmd: &str) -> CmdResult {
    let key = args.get(1);
    let at = expire_arg(ctx, args.get(2), unit_ms, false, cmd)?;
    let (mut shard, slot) = ctx.lock(key);
    shard
        .db(ctx.db())
        .set_bytes(slot, key, args.get(3), ExpireChange::At(at), ctx.now);
    notify_set(ctx, key, ExpireChange::At(at));
    ctx.out.ok();
    Ok(())
}

fn setex(ctx: &mut Ctx, args: Args) -> CmdResult {
    setex_generic(ctx, args, 1000, "setex")
}

fn psetex(ctx: &mut Ctx, args: Args) -> CmdResult {
    setex_generic(ctx, args, 1, "psetex")
}

/// ```text
/// MGET key [key ...]
/// ```
/// Atomic across shards: every shard involved is locked before the first read.
fn mget(ctx: &mut Ctx, args: Args) -> CmdResult {
    let keys = args.tail(1);
    let mut locked = ctx.server.keyspace.lock_keys(keys.iter());
    ctx.out.array(keys.len());
    for key in keys.iter() {
        let slot = cairn_store::key_slot(key);
        match locked.db(slot, ctx.session.db).read(slot, key, ctx.now) {
            Some(e) if e.is_string() => e.value().with_bytes(|b| ctx.out.bulk(b)),
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx, args: Args, nx: bool) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::arity(ctx.spec.name));
    }
    let pairs = args.tail(1);
    let keys = (0..pairs.len()).step_by(2).map(|i| pairs.get(i));
    let mut locked = ctx.server.keyspace.lock_keys(keys.clone());
    let db = ctx.session.db;
    if nx {
        for key in keys.clone() {
            let slot = cairn_store::key_slot(key);
            if locked.db(slot, db).contains(slot, key, ctx.now) {
                ctx.out.int(0);
                return Ok(());
            }
        }
    }
    for i in (0..pairs.len()).step_by(2) {
        let key = pairs.get(i);
        let slot = cairn_store::key_slot(key);
        locked
            .db(slot, db)
            .set_bytes(slot, key, pairs.get(i + 1), ExpireChange::Clear, ctx.now);
        ctx.notify(STRING, "set", key);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn mset(ctx: &mut Ctx, args: Args) -> CmdResult {
    mset_generic(ctx, args, false)
}

fn msetnx(ctx: &mut Ctx, args: Args) -> CmdResult {
    mset_generic(ctx, args, true)
}

fn getset(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    if let Some(e) = shard.db(ctx.db()).peek(slot, key, ctx.now) {
        string(e)?;
    }
    let old = shard.db(ctx.db()).replace(
        slot,
        key,
        Value::from_bytes(args.get(2)),
        ExpireChange::Clear,
        ctx.now,
    );
    ctx.notify(STRING, "set", key);
    match old {
        Some(v) => v.with_bytes(|b| ctx.out.bulk(b)),
        None => ctx.out.null(),
    }
    Ok(())
}

fn getdel(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    // Count the read as Redis does (GETDEL is a lookup first).
    match db.read(slot, key, ctx.now) {
        None => {
            ctx.out.null();
            return Ok(());
        }
        Some(e) => string(e)?,
    };
    match db.remove(slot, key, ctx.now) {
        Some(e) => {
            ctx.notify(GENERIC, "del", key);
            e.value().with_bytes(|b| ctx.out.bulk(b))
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// ```text
/// GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
///     PXAT unix-time-milliseconds | PERSIST]
/// ```
fn getex(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let opts = ExtOpts::parse(args, 2, false)?;
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    // As in Redis, the key is looked up before the expiry is checked: a missing key is nil
    // whatever the expiry says.
    match db.read(slot, key, ctx.now) {
        None => {
            ctx.out.null();
            return Ok(());
        }
        Some(e) => string(e)?,
    };
    let at = match opts.expire {
        Some((ms, abs, n)) => Some(expire_arg(ctx, n, ms, abs, "getex")?),
        None => None,
    };
    if let Some(e) = db.peek(slot, key, ctx.now) {
        e.value().with_bytes(|b| ctx.out.bulk(b));
    }
    match at {
        Some(at) if at <= ctx.now.ms => {
            db.remove(slot, key, ctx.now);
            ctx.notify(GENERIC, "del", key);
        }
        Some(at) => {
            db.set_expire(slot, key, Some(at), ctx.now);
            ctx.notify(GENERIC, "expire", key);
        }
        None if opts.persist && db.peek(slot, key, ctx.now).is_some_and(|e| e.has_ttl()) => {
            db.set_expire(slot, key, None, ctx.now);
            ctx.notify(GENERIC, "persist", key);
        }
        None => {}
    }
    Ok(())
}

fn append(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, tail) = (args.get(1), args.get(2));
    let max = ctx.max_string();
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let len = if let Some(mut e) = db.write(slot, key, ctx.now) {
        let cur = string(&e)?.len();
        if cur + tail.len() > max {
            return Err(CmdError::too_big());
        }
        let bytes = e.bytes_mut();
        bytes.extend_from_slice(tail);
        let len = bytes.len();
        // The tail, not the whole value, goes to the AOF and the replicas.
        e.journal_op(&[b"APPEND", key, tail]);
        len
    } else {
        db.set_bytes(slot, key, tail, ExpireChange::Clear, ctx.now);
        tail.len()
    };
    ctx.notify(STRING, "append", key);
    ctx.out.int(len as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let len = shard
        .db(ctx.db())
        .read(slot, key, ctx.now)
        .map_or(Ok(0), |e| string(e).map(|v| v.len()))?;
    ctx.out.int(len as i64);
    Ok(())
}

/// Adds `by` to the integer at `key` (0 when absent), keeping its TTL.
fn incr_generic(ctx: &mut Ctx, key: &[u8], by: i64) -> CmdResult {
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let new = if let Some(mut e) = db.write(slot, key, ctx.now) {
        let cur = string(&e)?.as_i64().ok_or_else(CmdError::not_integer)?;
        let new = cur
            .checked_add(by)
            .ok_or_else(|| CmdError::new("ERR increment or decrement would overflow"))?;
        e.set_value(Value::Int(new));
        e.journal_op(&[b"INCRBY", key, itoa::Buffer::new().format(by).as_bytes()]);
        new
    } else {
        db.set(slot, key, Value::Int(by), ExpireChange::Clear, ctx.now);
        by
    };
    ctx.notify(STRING, "incrby", key);
    ctx.out.int(new);
    Ok(())
}

fn incr(ctx: &mut Ctx, args: Args) -> CmdResult {
    incr_generic(ctx, args.get(1), 1)
}

fn decr(ctx: &mut Ctx, args: Args) -> CmdResult {
    incr_generic(ctx, args.get(1), -1)
}

fn incrby(ctx: &mut Ctx, args: Args) -> CmdResult {
    let by = int_arg(args.get(2))?;
    incr_generic(ctx, args.get(1), by)
}

fn decrby(ctx: &mut Ctx, args: Args) -> CmdResult {
    let by = int_arg(args.get(2))?;
    let by = by
        .checked_neg()
        .ok_or_else(|| CmdError::new("ERR decrement would overflow"))?;
    incr_generic(ctx, args.get(1), by)
}

/// ```text
/// INCRBYFLOAT key increment
/// ```
/// Computed as Redis computes it, in x86-64 `long double` (see [`ld80`]), and stored as
/// its decimal spelling (never with an exponent).
fn incrbyfloat(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let by = ld80::parse(args.get(2)).ok_or_else(CmdError::not_float)?;
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let cur = match db.write(slot, key, ctx.now) {
        Some(e) => string(&e)?
            .with_bytes(ld80::parse)
            .ok_or_else(CmdError::not_float)?,
        None => ld80::Parsed::Num(ld80::Ld::ZERO),
    };
    let sum = match (cur, by) {
        (ld80::Parsed::Num(a), ld80::Parsed::Num(b)) => ld80::add(a, b),
        _ => None,
    }
    .ok_or_else(|| CmdError::new("ERR increment would produce NaN or Infinity"))?;
    let text = ld80::human(sum);
    ctx.out.bulk(text.as_bytes());
    // Redis stores the text as a plain string (OBJECT ENCODING embstr), never as an int.
    db.set(
        slot,
        key,
        Value::Str(text.into_bytes()),
        ExpireChange::Keep,
        ctx.now,
    );
    ctx.notify(STRING, "incrbyfloat", key);
    Ok(())
}

/// Resolves Redis's inclusive, possibly negative [start, end] range over `len` bytes.
pub fn byte_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    if (start < 0 && end < 0 && start > end) || len == 0 {
        return None;
    }
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { (len + end).max(0) } else { end }.min(len - 1);
    (start <= end).then_some((start as usize, end as usize))
}

fn getrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (start, end) = (int_arg(args.get(2))?, int_arg(args.get(3))?);
    let (mut shard, slot) = ctx.lock(key);
    match shard.db(ctx.db()).read(slot, key, ctx.now) {
        Some(e) => string(e)?.with_bytes(|b| match byte_range(start, end, b.len()) {
            Some((s, e)) => ctx.out.bulk(&b[s..=e]),
            None => ctx.out.bulk(b""),
        }),
        None => ctx.out.bulk(b""),
    }
    Ok(())
}

/// ```text
/// SETRANGE key offset value
/// ```
fn setrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (key, patch) = (args.get(1), args.get(3));
    let offset = int_arg(args.get(2))?;
    if offset < 0 {
        return Err(CmdError::new("ERR offset is out of range"));
    }
    let offset = offset as usize;
    let max = ctx.max_string();
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    if let Some(mut e) = db.write(slot, key, ctx.now) {
        let cur = string(&e)?.len();
        if patch.is_empty() {
            ctx.out.int(cur as i64);
            return Ok(());
        }
        if offset + patch.len() > max {
            return Err(CmdError::too_big());
        }
        let bytes = e.bytes_mut();
        if bytes.len() < offset + patch.len() {
            bytes.resize(offset + patch.len(), 0);
        }
        bytes[offset..offset + patch.len()].copy_from_slice(patch);
        let len = bytes.len();
        e.journal_op(&[
            b"SETRANGE",
            key,
            itoa::Buffer::new().format(offset).as_bytes(),
            patch,
        ]);
        drop(e);
        ctx.notify(STRING, "setrange", key);
        ctx.out.int(len as i64);
    } else {
        if patch.is_empty() {
            ctx.out.int(0);
            return Ok(());
        }
        if offset + patch.len() > max {
            return Err(CmdError::too_big());
        }
        let mut bytes = vec![0u8; offset + patch.len()];
        bytes[offset..].copy_from_slice(patch);
        let len = bytes.len();
        db.set(slot, key, Value::Raw(bytes), ExpireChange::Clear, ctx.now);
        ctx.notify(STRING, "setrange", key);
        ctx.out.int(len as i64);
    }
    Ok(())
}

/// One run of consecutive matching bytes: inclusive ranges in each string.
struct LcsMatch {
    a: (usize, usize),
    b: (usize, usize),
}

impl LcsMatch {
    fn len(&self) -> usize {
        self.a.1 - self.a.0 + 1
    }
}

/// ```text
/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]
/// ```
fn lcs(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (k1, k2) = (args.get(1), args.get(2));
    let (mut len_only, mut idx, mut with_len, mut min_len) = (false, false, false, 0i64);
    let mut i = 3;
    while i < args.len() {
        let a = args.get(i);
        if is(a, "len") {
            len_only = true;
        } else if is(a, "idx") {
            idx = true;
        } else if is(a, "withmatchlen") {
            with_len = true;
        } else if is(a, "minmatchlen") && i + 1 < args.len() {
            min_len = int_arg(args.get(i + 1))?.max(0);
            i += 1;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    if len_only && idx {
        return Err(CmdError::new(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    let (a, b) = {
        let mut locked = ctx.server.keyspace.lock_keys([k1, k2]);
        let mut fetch = |k: &[u8]| match locked.db(cairn_store::key_slot(k), ctx.session.db).read(
            cairn_store::key_slot(k),
            k,
            ctx.now,
        ) {
            Some(e) if !e.is_string() => Err(CmdError::new(
                "ERR The specified keys must contain string values",
            )),
            Some(e) => Ok(e.value().as_bytes().into_owned()),
            None => Ok(Vec::new()),
        };
        (fetch(k1)?, fetch(k2)?)
    };
    let cells = (a.len() as u128 + 1) * (b.len() as u128 + 1);
    if cells * 4 > ctx.max_string() as u128 {
        return Err(CmdError::new(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    // dp[i][j] = LCS length of a[..i] and b[..j].
    let w = b.len() + 1;
    let mut dp = vec![0u32; (a.len() + 1) * w];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            dp[i * w + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * w + j - 1] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let total = dp[a.len() * w + b.len()] as usize;
    if len_only {
        ctx.out.int(total as i64);
        return Ok(());
    }
    // Walk back from the end as Redis does, collecting the common string and the runs of
    // consecutive matches (each run is reported once it stops extending backwards).
    let mut common = vec![0u8; total];
    let mut ranges: Vec<LcsMatch> = Vec::new();
    let mut run: Option<LcsMatch> = None;
    let (mut i, mut j, mut k) = (a.len(), b.len(), total);
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            k -= 1;
            common[k] = a[i - 1];
            let m = run.get_or_insert(LcsMatch {
                a: (i - 1, i - 1),
                b: (j - 1, j - 1),
            });
            (m.a.0, m.b.0) = (i - 1, j - 1);
            i -= 1;
            j -= 1;
            let continues = i > 0 && j > 0 && a[i - 1] == b[j - 1];
            if !continues
                && let Some(m) = run.take()
                && m.len() as i64 >= min_len
            {
                ranges.push(m);
            }
        } else if dp[(i - 1) * w + j] > dp[i * w + j - 1] {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    if !idx {
        ctx.out.bulk(&common);
        return Ok(());
    }
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"matches");
    out.array(ranges.len());
    for m in &ranges {
        out.array(if with_len { 3 } else { 2 });
        for (start, end) in [m.a, m.b] {
            out.array(2);
            out.int(start as i64);
            out.int(end as i64);
        }
        if with_len {
            out.int(m.len() as i64);
        }
    }
    out.bulk(b"len");
    out.int(total as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges_follow_getrange() {
        assert_eq!(byte_range(0, 3, 10), Some((0, 3)));
        assert_eq!(byte_range(-3, -1, 10), Some((7, 9)));
        assert_eq!(byte_range(0, -1, 10), Some((0, 9)));
        assert_eq!(byte_range(10, 100, 10), None);
        assert_eq!(byte_range(-1, -5, 10), None);
        assert_eq!(byte_range(-100, 2, 10), Some((0, 2)));
        assert_eq!(byte_range(0, 0, 0), None);
    }
}
