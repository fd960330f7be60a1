//! SORT and SORT_RO, as Redis's `sortCommandGeneric` (sort.c) answers them: the elements
//! of a list, set or sorted set, numerically (every element, or what BY names for it,
//! read by `strtod`) or by bytes with ALPHA, ASC or DESC, cut by LIMIT, each replaced by
//! what its GET patterns name, and either answered or stored as a list (STORE).
//!
//! A BY or GET pattern names other keys: `*` stands for the element, `->field` for a
//! field of the hash that key holds, and GET `#` for the element itself. Those keys may
//! live in any shard, and which ones only the sorted key's content says, so they cannot
//! be locked before the command knows them; a SORT that looks keys up by a pattern
//! therefore locks every shard (`Keyspace::lock_all`: ascending order, like every
//! multi-shard lock, so it cannot deadlock with them; inside EXEC the shards are lent
//! from the transaction's hold). It then sees the keyspace as of one instant, as Redis
//! does. A SORT without patterns locks only its key and its destination.
//!
//! STORE replaces the destination whatever it held (its TTL goes too) with the result,
//! journaled as the list it is (its state, which replicas and the append-only file
//! replay to the same list whatever the patterns read), or deletes it when the result
//! is empty.

use std::cmp::Ordering;

use cairn_protocol::Args;
use cairn_store::types::list::List;
use cairn_store::{ExpireChange, Locked, Object, Value, key_slot};

use crate::commands::args::{int_arg, is};
use crate::commands::typed;
use crate::commands::zset_args::score_arg;
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::{GENERIC, LIST};
use crate::spec::{Begin, Find, KeySpec, Spec, acl, flags::*, key};

const COMPLEXITY: &str = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).";

/// The keys a BY or GET pattern names derive from the sorted key's content, and STORE
/// may come anywhere: Redis's specs for them have an "unknown" beginning, which the spec
/// type cannot say. Each is written as its keyword, INCOMPLETE, so that whenever one is
/// present the keys are found by [`sort_keys`] (Redis's `sortGetKeys`) instead.
const fn incomplete(word: &'static str, flags: u32, notes: &'static str) -> KeySpec {
    KeySpec {
        flags: flags | key::INCOMPLETE,
        begin: Begin::Keyword { word, start: 2 },
        find: Find::Range {
            last: 0,
            step: 1,
            limit: 0,
        },
        notes,
    }
}

const BY_GET_NOTES: &str = "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort";
const STORE_NOTES: &str = "For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array";

static SORT_KEYS: [KeySpec; 3] = [
    KeySpec::one(1, key::RO | key::ACCESS),
    incomplete("BY", key::RO | key::ACCESS, BY_GET_NOTES),
    incomplete("STORE", key::OW | key::UPDATE, STORE_NOTES),
];

static SORT_RO_KEYS: [KeySpec; 2] = [
    KeySpec::one(1, key::RO | key::ACCESS),
    incomplete("BY", key::RO | key::ACCESS, BY_GET_NOTES),
];

pub static COMMANDS: &[Command] = &[
    Spec::new("sort", -2, "generic")
        .flags(WRITE | DENYOOM)
        .acl(acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS)
        .keys(&SORT_KEYS)
        .doc("1.0.0", "Sort the elements in a list, set or sorted set")
        .complexity(COMPLEXITY)
        .getkeys(sort_keys)
        .run(sort),
    Spec::new("sort_ro", -2, "generic")
        .flags(READONLY)
        .acl(acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS)
        .keys(&SORT_RO_KEYS)
        .doc(
            "7.0.0",
            "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
        )
        .complexity(COMPLEXITY)
        .getkeys(sort_ro_keys)
        .run(sort_ro),
];

/// SORT's keys as Redis's `sortGetKeys` finds them: the sorted key, and the destination
/// of the last STORE, skipping the arguments of LIMIT, GET and BY (keys named by
/// patterns are never reported, as in Redis).
fn sort_keys<'a>(argc: usize, arg: &dyn Fn(usize) -> &'a [u8], out: &mut Vec<(usize, u32)>) {
    out.push((1, key::RO | key::ACCESS));
    let mut store = None;
    let mut i = 2;
    while i < argc {
        let a = arg(i);
        if is(a, "limit") {
            i += 2;
        } else if is(a, "get") || is(a, "by") {
            i += 1;
        } else if is(a, "store") && i + 1 < argc {
            // The last STORE wins, as in SORT itself; its argument is looked at next.
            store = Some(i + 1);
        }
        i += 1;
    }
    if let Some(at) = store {
        out.push((at, key::OW | key::UPDATE));
    }
}

/// SORT_RO's only key is the one it sorts (Redis's `sortROGetKeys`).
fn sort_ro_keys<'a>(_argc: usize, _arg: &dyn Fn(usize) -> &'a [u8], out: &mut Vec<(usize, u32)>) {
    out.push((1, key::RO | key::ACCESS));
}

/// The options, parsed in Redis's order (an error stops at the option that has it).
struct Opts<'a> {
    desc: bool,
    alpha: bool,
    /// LIMIT's offset and count, unclamped (no LIMIT: 0 and -1).
    limit: (i64, i64),
    /// The last BY pattern.
    by: Option<&'a [u8]>,
    /// A BY pattern without `*` was given (even before another BY): nothing is sorted.
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
    store: Option<&'a [u8]>,
}

fn parse<'a>(ctx: &Ctx, args: &Args<'a>, readonly: bool) -> Result<Opts<'a>, CmdError> {
    let cluster = ctx.server.cluster.get().is_some();
    let mut o = Opts {
        desc: false,
        alpha: false,
        limit: (0, -1),
        by: None,
        dont_sort: false,
        gets: Vec::new(),
        store: None,
    };
    let mut j = 2;
    while j < args.len() {
        let a = args.get(j);
        let left = args.len() - j - 1;
        if is(a, "asc") {
            o.desc = false;
        } else if is(a, "desc") {
            o.desc = true;
        } else if is(a, "alpha") {
            o.alpha = true;
        } else if is(a, "limit") && left >= 2 {
            o.limit = (int_arg(args.get(j + 1))?, int_arg(args.get(j + 2))?);
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            o.store = Some(args.get(j + 1));
            j += 1;
        } else if is(a, "by") && left >= 1 {
            let p = args.get(j + 1);
            o.by = Some(p);
            if !p.contains(&b'*') {
                o.dont_sort = true;
            } else if cluster {
                // Redis 7.0 refuses any real pattern in cluster mode: its keys may be
                // in any slot.
                return Err(CmdError::new(
                    "ERR BY option of SORT denied in Cluster mode.",
                ));
            }
            j += 1;
        } else if is(a, "get") && left >= 1 {
            // Even `GET #` (7.0 does not tell it apart).
            if cluster {
                return Err(CmdError::new(
                    "ERR GET option of SORT denied in Cluster mode.",
                ));
            }
            o.gets.push(args.get(j + 1));
            j += 1;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    Ok(o)
}

/// What the sorted key holds, for the two cases Redis tells apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A list or a sorted set: already in an order that a SORT without sorting keeps.
    Ordered,
    Set,
}

/// One element to sort, with what it sorts by.
struct Item {
    elem: Vec<u8>,
    score: f64,
    /// ALPHA with BY: the value BY names (`None`: no such key or field, sorted first).
    by: Option<Vec<u8>>,
}

/// The value `pattern` names for `elem` (Redis's `lookupKeyByPattern`): `#` is the
/// element; otherwise the first `*` is replaced by it, and what follows the first `->`
/// after the `*` (if anything does) names a field of the hash at that key. `None`: the
/// pattern has no `*`, there is no such key or field, or the key holds another type.
fn lookup(
    locked: &mut Locked,
    db: usize,
    now: cairn_store::db::Now,
    pattern: &[u8],
    elem: &[u8],
) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let rest = &pattern[star + 1..];
    let (post, field) = match rest.windows(2).position(|w| w == b"->") {
        Some(i) if i + 2 < rest.len() => (&rest[..i], Some(&rest[i + 2..])),
        _ => (rest, None),
    };
    let mut name = Vec::with_capacity(star + elem.len() + post.len());
    name.extend_from_slice(&pattern[..star]);
    name.extend_from_slice(elem);
    name.extend_from_slice(post);
    let slot = key_slot(&name);
    let e = locked.db(slot, db).read(slot, &name, now)?;
    match field {
        Some(f) => typed::hash(e).ok()?.get(f).map(<[u8]>::to_vec),
        None => typed::string(e).ok().map(|v| v.as_bytes().into_owned()),
    }
}

/// A value read as SORT reads it: C's `strtod`, which skips leading white space, stops
/// at a NUL byte and reads an empty string as 0; what it cannot read whole, NaN and what
/// overflows or underflows are refused.
fn sort_score(b: &[u8]) -> Option<f64> {
    let b = b.split(|&c| c == 0).next().unwrap_or(b);
    if b.is_empty() {
        return Some(0.0);
    }
    let t = b.trim_ascii_start();
    if t.is_empty() {
        return None;
    }
    score_arg(t).ok()
}

/// LIMIT's offset and count clamped to a collection of `len`, as Redis clamps them: the
/// first and last positions to answer (`end < start`: nothing).
fn clamp((offset, count): (i64, i64), len: usize) -> (i64, i64) {
    let len = len as i64;
    let mut start = offset.clamp(0, len);
    let count = count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    (start, end.min(len - 1))
}

fn sort(ctx: &mut Ctx, args: Args) -> CmdResult {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Ctx, args: Args) -> CmdResult {
    sort_generic(ctx, args, true)
}

/// ```text
/// SORT key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]]
///     [ASC | DESC] [ALPHA] [STORE destination]
/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC | DESC] [ALPHA]
/// ```
fn sort_generic(ctx: &mut Ctx, args: Args, readonly: bool) -> CmdResult {
    let mut o = parse(ctx, &args, readonly)?;
    let key = args.get(1);
    let (db, now) = (ctx.db(), ctx.now);
    let server = ctx.server;
    // Which patterns will look keys up: BY when it sorts, GET unless `#` or constant.
    let by_looks = !o.dont_sort && o.by.is_some();
    let get_looks = o.gets.iter().any(|g| *g != b"#" && g.contains(&b'*'));
    let mut locked = if by_looks || get_looks {
        server.keyspace.lock_all()
    } else {
        server
            .keyspace
            .lock_keys(std::iter::once(key).chain(o.store))
    };

    // Load the elements (only the range asked for, when nothing is sorted and the
    // collection keeps an order).
    let slot = key_slot(key);
    let (mut vector, start, end) = {
        let found = locked.db(slot, db).read(slot, key, now);
        let (kind, len) = match found.map(|e| e.object()) {
            None => (Kind::Ordered, 0),
            Some(Some(Object::List(l))) => (Kind::Ordered, l.len()),
            Some(Some(Object::ZSet(z))) => (Kind::Ordered, z.len()),
            Some(Some(Object::Set(s))) => (Kind::Set, s.len()),
            Some(_) => return Err(CmdError::wrong_type()),
        };
        // A set is in no order of its own: stored unsorted it would differ between
        // servers, so Redis sorts it by its members then.
        if o.dont_sort && kind == Kind::Set && o.store.is_some() {
            o.dont_sort = false;
            o.alpha = true;
            o.by = None;
        }
        let (mut start, mut end) = clamp(o.limit, len);
        let mut vector: Vec<Vec<u8>> = Vec::new();
        match found.and_then(|e| e.object()) {
            None => {}
            // Nothing to sort: only the range asked for, in the collection's order or
            // backwards for DESC.
            Some(Object::List(l)) if o.dont_sort && end >= start => {
                let n = (end - start + 1) as usize;
                let s = start as usize;
                if o.desc {
                    vector.extend(l.iter().rev().skip(s).take(n).map(|v| v.into_owned()));
                } else {
                    vector.extend(l.iter_from(s).take(n).map(|v| v.into_owned()));
                }
                end -= start;
                start = 0;
            }
            Some(Object::ZSet(z)) if o.dont_sort && end >= start => {
                let mut n = (end - start + 1) as usize;
                vector.reserve(n);
                z.walk(start as usize, o.desc, |m, _| {
                    vector.push(m.to_vec());
                    n -= 1;
                    n > 0
                });
                end -= start;
                start = 0;
            }
            Some(Object::List(_) | Object::ZSet(_)) if o.dont_sort => {}
            Some(Object::List(l)) => vector.extend(l.iter().map(|v| v.into_owned())),
            Some(Object::ZSet(z)) => {
                vector.reserve(z.len());
                z.for_each(|m, _| vector.push(m.to_vec()));
            }
            Some(Object::Set(s)) => vector = s.members(),
            Some(_) => unreachable!("typed above"),
        }
        (vector, start, end)
    };

    if !o.dont_sort {
        let mut items: Vec<Item> = Vec::with_capacity(vector.len());
        let mut not_a_number = false;
        for elem in vector.drain(..) {
            let mut item = Item {
                elem,
                score: 0.0,
                by: None,
            };
            let by = match o.by {
                Some(p) => lookup(&mut locked, db, now, p, &item.elem),
                None => Some(item.elem.clone()),
            };
            if let Some(v) = by {
                if o.alpha {
                    if o.by.is_some() {
                        item.by = Some(v);
                    }
                } else {
                    match sort_score(&v) {
                        Some(s) => item.score = s,
                        None => not_a_number = true,
                    }
                }
            }
            items.push(item);
        }
        if not_a_number {
            return Err(CmdError::new(
                "ERR One or more scores can't be converted into double",
            ));
        }
        let (alpha, by, desc) = (o.alpha, o.by.is_some(), o.desc);
        items.sort_by(|a, b| {
            let c = if !alpha {
                // Equal scores fall back to the elements' bytes, so the order is the
                // same on every server.
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if by {
                match (&a.by, &b.by) {
                    (Some(x), Some(y)) => x.cmp(y),
                    (x, y) => x.is_some().cmp(&y.is_some()),
                }
            } else {
                a.elem.cmp(&b.elem)
            };
            if desc { c.reverse() } else { c }
        });
        vector = items.into_iter().map(|i| i.elem).collect();
    }

    let picked: &[Vec<u8>] = if end >= start {
        &vector[start as usize..=end as usize]
    } else {
        &[]
    };
    match o.store {
        None => {
            let n = picked.len() * o.gets.len().max(1);
            ctx.out.array(n);
            for elem in picked {
                if o.gets.is_empty() {
                    ctx.out.bulk(elem);
                }
                for g in &o.gets {
                    match lookup(&mut locked, db, now, g, elem) {
                        Some(v) => ctx.out.bulk(&v),
                        None => ctx.out.null(),
                    }
                }
            }
        }
        Some(dest) => {
            let mut result: Vec<Vec<u8>> = Vec::new();
            if o.gets.is_empty() {
                result.extend(picked.iter().cloned());
            } else {
                for elem in picked {
                    for g in &o.gets {
                        // A missing value is stored as an empty string.
                        result.push(lookup(&mut locked, db, now, g, elem).unwrap_or_default());
                    }
                }
            }
            let dslot = key_slot(dest);
            let d = locked.db(dslot, db);
            if result.is_empty() {
                if d.remove(dslot, dest, now).is_some() {
                    ctx.notify(GENERIC, "del", dest);
                }
            } else {
                let lim = server.object_limits();
                let list = List::from_items(&result, &lim);
                d.set(
                    dslot,
                    dest,
                    Value::Obj(Box::new(Object::List(list))),
                    ExpireChange::Clear,
                    now,
                );
                ctx.notify(LIST, "sortstore", dest);
            }
            ctx.out.int(result.len() as i64);
        }
    }
    drop(locked);
    Ok(())
}
