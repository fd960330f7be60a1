//! Lists: LPUSH and friends, over `cairn_store::types::list` (a chain of packed nodes, as
//! Redis's quicklist). Writes journal their effect in a form that replays without
//! blocking or choosing: pushes as themselves, pops as `LPOP key n` / `RPOP key n` of
//! what went, LMOVE as the pop of its source and the push of its destination (one
//! operation per key, so each shard's part of the stream stands alone), LSET, LINSERT,
//! LTRIM and LREM as themselves. A list whose last element goes is deleted.
//!
//! The blocking forms are in `list_blocking`; they share [`pop_list`] and
//! [`move_element`], which also serve clients that blocked (`crate::blocking`).

use cairn_protocol::{Args, Reply};
use cairn_store::db::Now;
use cairn_store::types::list::List;
use cairn_store::{Entry, Object};

use crate::commands::args::{Mpop, int_arg, is};
use crate::commands::typed::{list, list_mut, read};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::{GENERIC, LIST};
use crate::server::Server;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("lpush", -3, "list")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::INSERT)])
    .doc("1.0.0", "Prepend one or multiple elements to a list")
    .complexity("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
    .run(lpush),
    Spec::new("rpush", -3, "list")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::INSERT)])
    .doc("1.0.0", "Append one or multiple elements to a list")
    .complexity("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
    .run(rpush),
    Spec::new("lpushx", -3, "list")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::INSERT)])
    .doc("2.2.0", "Prepend an element to a list, only if the list exists")
    .complexity("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
    .run(lpushx),
    Spec::new("rpushx", -3, "list")
    .flags(WRITE | DENYOOM | FAST)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::INSERT)])
    .doc("2.2.0", "Append an element to a list, only if the list exists")
    .complexity("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
    .run(rpushx),
    Spec::new("lpop", -2, "list")
    .flags(WRITE | FAST)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE)])
    .doc("1.0.0", "Remove and get the first elements in a list")
    .complexity("O(N) where N is the number of elements returned")
    .run(lpop),
    Spec::new("rpop", -2, "list")
    .flags(WRITE | FAST)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE)])
    .doc("1.0.0", "Remove and get the last elements in a list")
    .complexity("O(N) where N is the number of elements returned")
    .run(rpop),
    Spec::new("llen", 2, "list")
    .flags(READONLY | FAST)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RO)])
    .doc("1.0.0", "Get the length of a list")
    .complexity("O(1)")
    .run(llen),
    Spec::new("lindex", 3, "list")
    .flags(READONLY)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("1.0.0", "Get an element from a list by its index")
    .complexity("O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).")
    .run(lindex),
    Spec::new("lset", 4, "list")
    .flags(WRITE | DENYOOM)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("1.0.0", "Set the value of an element in a list by its index")
    .complexity("O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).")
    .run(lset),
    Spec::new("lrange", 4, "list")
    .flags(READONLY)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("1.0.0", "Get a range of elements from a list")
    .complexity("O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.")
    .run(lrange),
    Spec::new("ltrim", 4, "list")
    .flags(WRITE)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::DELETE)])
    .doc("1.0.0", "Trim a list to the specified range")
    .complexity("O(N) where N is the number of elements to be removed by the operation.")
    .run(ltrim),
    Spec::new("lrem", 4, "list")
    .flags(WRITE)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::DELETE)])
    .doc("1.0.0", "Remove elements from a list")
    .complexity("O(N+M) where N is the length of the list and M is the number of elements removed.")
    .run(lrem),
    Spec::new("linsert", 5, "list")
    .flags(WRITE | DENYOOM)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::INSERT)])
    .doc("2.2.0", "Insert an element before or after another element in a list")
    .complexity("O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).")
    .run(linsert),
    Spec::new("lpos", -3, "list")
    .flags(READONLY)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("6.0.6", "Return the index of matching elements on a list")
    .complexity("O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.")
    .run(lpos),
    Spec::new("lmove", 5, "list")
    .flags(WRITE | DENYOOM)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE), KeySpec::one(2, key::RW | key::INSERT)])
    .doc("6.2.0", "Pop an element from a list, push it to another list and return it")
    .complexity("O(1)")
    .run(lmove),
    Spec::new("rpoplpush", 3, "list")
    .flags(WRITE | DENYOOM)
    .acl(acl::LIST)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE), KeySpec::one(2, key::RW | key::INSERT)])
    .doc("1.2.0", "Remove the last element in a list, prepend it to another list and return it")
    .complexity("O(1)")
    .deprecated("6.2.0", "`LMOVE` with the `RIGHT` and `LEFT` arguments")
    .run(rpoplpush),
    Spec::new("lmpop", -4, "list")
    .flags(WRITE)
    .acl(acl::LIST)
    .keys(&[KeySpec::counted(1, key::RW | key::ACCESS | key::DELETE)])
    .doc("7.0.0", "Pop elements from a list")
    .complexity("O(N+M) where N is the number of provided keys and M is the number of elements returned.")
    .run(lmpop),
];

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl End {
    fn pop_name(self) -> &'static [u8] {
        match self {
            End::Left => b"LPOP",
            End::Right => b"RPOP",
        }
    }

    fn push_name(self) -> &'static [u8] {
        match self {
            End::Left => b"LPUSH",
            End::Right => b"RPUSH",
        }
    }

    fn pop_event(self) -> &'static str {
        match self {
            End::Left => "lpop",
            End::Right => "rpop",
        }
    }

    fn push_event(self) -> &'static str {
        match self {
            End::Left => "lpush",
            End::Right => "rpush",
        }
    }
}

/// LEFT or RIGHT.
pub fn end_arg(b: &[u8]) -> Result<End, CmdError> {
    if is(b, "left") {
        Ok(End::Left)
    } else if is(b, "right") {
        Ok(End::Right)
    } else {
        Err(CmdError::syntax())
    }
}

fn new_list() -> Object {
    Object::List(List::new())
}

fn push(list: &mut List, end: End, v: &[u8], lim: &cairn_store::Limits) {
    match end {
        End::Left => list.push_front(v, lim),
        End::Right => list.push_back(v, lim),
    }
}

/// LPUSH, RPUSH, LPUSHX, RPUSHX.
fn push_command(ctx: &mut Ctx, args: Args, end: End, only_existing: bool) -> CmdResult {
    let key = args.get(1);
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let mut e = if only_existing {
        match db.write(slot, key, ctx.now) {
            Some(e) => e,
            None => {
                ctx.out.int(0);
                return Ok(());
            }
        }
    } else {
        db.write_or_create(slot, key, ctx.now, new_list).0
    };
    let l = list_mut(&mut e)?;
    for v in args.tail(2).iter() {
        push(l, end, v, &lim);
    }
    let len = l.len();
    let mut op: Vec<&[u8]> = args.iter().collect();
    op[0] = end.push_name();
    e.journal_op(&op);
    drop(e);
    ctx.notify(LIST, end.push_event(), key);
    ctx.out.int(len as i64);
    Ok(())
}

fn lpush(ctx: &mut Ctx, args: Args) -> CmdResult {
    push_command(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx, args: Args) -> CmdResult {
    push_command(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, args: Args) -> CmdResult {
    push_command(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, args: Args) -> CmdResult {
    push_command(ctx, args, End::Right, true)
}

/// Pops up to `count` elements from `end` of the list at `key` in database `db`: `None`
/// when there is no such key (an empty list is never stored). Journals `LPOP key n` (or
/// RPOP) and notifies `lpop` (and `del` when the list is gone). WRONGTYPE changes nothing.
pub fn pop_list(
    server: &Server,
    db: usize,
    key: &[u8],
    end: End,
    count: usize,
    now: Now,
) -> Result<Option<Vec<Vec<u8>>>, CmdError> {
    let lim = server.object_limits();
    let slot = cairn_store::key_slot(key);
    let mut shard = server.keyspace.lock(slot);
    let d = shard.db(db);
    let Some(mut e) = d.write(slot, key, now) else {
        return Ok(None);
    };
    let l = list_mut(&mut e)?;
    let n = count.min(l.len());
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let v = match end {
            End::Left => l.pop_front(&lim),
            End::Right => l.pop_back(&lim),
        };
        out.push(v.expect("n is at most the length"));
    }
    let empty = l.is_empty();
    let n_text = itoa::Buffer::new().format(n).to_owned();
    e.journal_op(&[end.pop_name(), key, n_text.as_bytes()]);
    drop(e);
    server.notifier.notify(LIST, end.pop_event(), key, db);
    if empty {
        d.remove(slot, key, now);
        server.notifier.notify(GENERIC, "del", key, db);
    }
    Ok(Some(out))
}

/// LPOP / RPOP key [count].
fn pop_command(ctx: &mut Ctx, args: Args, end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::arity(ctx.spec.name));
    }
    let count = match args.len() {
        3 => Some(positive_arg(args.get(2))?),
        _ => None,
    };
    let key = args.get(1);
    if count == Some(0) {
        // Redis answers before popping, but after looking the key up and typing it.
        let (mut shard, slot) = ctx.lock(key);
        match shard.db(ctx.db()).write(slot, key, ctx.now) {
            None => ctx.out.null_array(),
            Some(mut e) => {
                list(&e)?;
                e.unchanged();
                ctx.out.array(0);
            }
        }
        return Ok(());
    }
    match pop_list(ctx.server, ctx.db(), key, end, count.unwrap_or(1), ctx.now)? {
        None if count.is_some() => ctx.out.null_array(),
        None => ctx.out.null(),
        Some(vals) => match count {
            None => ctx.out.bulk(&vals[0]),
            Some(_) => {
                ctx.out.array(vals.len());
                for v in &vals {
                    ctx.out.bulk(v);
                }
            }
        },
    }
    Ok(())
}

/// A count that must be at least 0 (LPOP's): Redis's text for anything else.
fn positive_arg(b: &[u8]) -> Result<usize, CmdError> {
    match int_arg(b) {
        Ok(n) if n >= 0 => Ok(n as usize),
        _ => Err(CmdError::new("ERR value is out of range, must be positive")),
    }
}

fn lpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    pop_command(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    pop_command(ctx, args, End::Right)
}

fn llen(ctx: &mut Ctx, args: Args) -> CmdResult {
    read(
        ctx,
        args.get(1),
        list,
        |out| out.int(0),
        |l, out| out.int(l.len() as i64),
    )
}

/// `index` (negative: from the end) as a position in a list of `len`, if inside it.
fn position(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 {
        index.checked_add(len as i64)?
    } else {
        index
    };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let Some(e) = shard.db(ctx.db()).read(slot, key, ctx.now) else {
        ctx.out.null();
        return Ok(());
    };
    let l = list(e)?;
    let index = int_arg(args.get(2))?;
    match position(index, l.len()).and_then(|i| l.get(i)) {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let Some(mut e) = shard.db(ctx.db()).write(slot, key, ctx.now) else {
        return Err(CmdError::no_such_key());
    };
    let len = list(&e)?.len();
    let index = int_arg(args.get(2))?;
    let Some(i) = position(index, len) else {
        return Err(CmdError::new("ERR index out of range"));
    };
    list_mut(&mut e)?.set(i, args.get(3), &lim);
    let op: Vec<&[u8]> = args.iter().collect();
    e.journal_op(&op);
    drop(e);
    ctx.notify(LIST, "lset", key);
    ctx.out.ok();
    Ok(())
}

/// A start..=end range of a list of `len` as LRANGE and LTRIM read it (negative indexes
/// from the end, clamped); `None` when it holds nothing.
fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        start.saturating_add(len)
    } else {
        start
    }
    .max(0);
    let end = if end < 0 {
        end.saturating_add(len)
    } else {
        end
    };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

fn lrange(ctx: &mut Ctx, args: Args) -> CmdResult {
    let start = int_arg(args.get(2))?;
    let end = int_arg(args.get(3))?;
    read(
        ctx,
        args.get(1),
        list,
        |out| out.array(0),
        |l, out| match range(start, end, l.len()) {
            None => out.array(0),
            Some((a, b)) => {
                out.array(b - a + 1);
                l.for_each_from(a, b - a + 1, |v| out.bulk(v));
            }
        },
    )
}

fn ltrim(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let start = int_arg(args.get(2))?;
    let end = int_arg(args.get(3))?;
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        ctx.out.ok();
        return Ok(());
    };
    let l = list_mut(&mut e)?;
    let keep = range(start, end, l.len());
    match keep {
        Some((a, b)) if a == 0 && b + 1 == l.len() => {}
        Some((a, b)) => l.retain_range(a, b, &lim),
        None => l.clear(),
    }
    let empty = l.is_empty();
    let op: Vec<&[u8]> = args.iter().collect();
    e.journal_op(&op);
    drop(e);
    ctx.notify(LIST, "ltrim", key);
    if empty {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.out.ok();
    Ok(())
}

fn lrem(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let count = int_arg(args.get(2))?;
    if count == i64::MIN {
        return Err(CmdError::new(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(mut e) = db.write(slot, key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let l = list_mut(&mut e)?;
    let removed = l.remove_value(args.get(3), count, &lim);
    if removed == 0 {
        e.unchanged();
        ctx.out.int(0);
        return Ok(());
    }
    let empty = l.is_empty();
    let op: Vec<&[u8]> = args.iter().collect();
    e.journal_op(&op);
    drop(e);
    ctx.notify(LIST, "lrem", key);
    if empty {
        db.remove(slot, key, ctx.now);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn linsert(ctx: &mut Ctx, args: Args) -> CmdResult {
    let after = if is(args.get(2), "after") {
        true
    } else if is(args.get(2), "before") {
        false
    } else {
        return Err(CmdError::syntax());
    };
    let (key, pivot, v) = (args.get(1), args.get(3), args.get(4));
    let lim = ctx.server.object_limits();
    let (mut shard, slot) = ctx.lock(key);
    let Some(mut e) = shard.db(ctx.db()).write(slot, key, ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(at) = list(&e)?.iter().position(|x| x == pivot) else {
        e.unchanged();
        ctx.out.int(-1);
        return Ok(());
    };
    let l = list_mut(&mut e)?;
    l.insert(at + usize::from(after), v, &lim);
    let len = l.len();
    let op: Vec<&[u8]> = args.iter().collect();
    e.journal_op(&op);
    drop(e);
    ctx.notify(LIST, "linsert", key);
    ctx.out.int(len as i64);
    Ok(())
}

/// ```text
/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
/// ```
fn lpos(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<usize>, 0usize);
    let mut i = 3;
    while i < args.len() {
        let (opt, more) = (args.get(i), i + 1 < args.len());
        if is(opt, "rank") && more {
            let r = int_arg(args.get(i + 1))?;
            if r == i64::MIN {
                return Err(CmdError::new(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            if r == 0 {
                return Err(CmdError::new(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
            rank = r;
        } else if is(opt, "count") && more {
            count = Some(non_negative(
                args.get(i + 1),
                "ERR COUNT can't be negative",
            )?);
        } else if is(opt, "maxlen") && more {
            maxlen = non_negative(args.get(i + 1), "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::syntax());
        }
        i += 2;
    }
    let v = args.get(2);
    let (mut shard, slot) = ctx.lock(args.get(1));
    let Some(e) = shard.db(ctx.db()).read(slot, args.get(1), ctx.now) else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let l = list(e)?;
    let len = l.len();
    let scan = if maxlen == 0 { len } else { maxlen.min(len) };
    let skip = rank.unsigned_abs() as usize - 1;
    let want = match count {
        None => 1,
        Some(0) => usize::MAX,
        Some(c) => c,
    };
    let hits: Vec<usize> = if rank > 0 {
        l.iter()
            .take(scan)
            .enumerate()
            .filter(|(_, x)| *x == v)
            .map(|(i, _)| i)
            .skip(skip)
            .take(want)
            .collect()
    } else {
        l.iter()
            .rev()
            .take(scan)
            .enumerate()
            .filter(|(_, x)| *x == v)
            .map(|(i, _)| len - 1 - i)
            .skip(skip)
            .take(want)
            .collect()
    };
    match count {
        Some(_) => {
            ctx.out.array(hits.len());
            for h in hits {
                ctx.out.int(h as i64);
            }
        }
        None => match hits.first() {
            Some(&h) => ctx.out.int(h as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

/// A count at least 0, or `msg`.
fn non_negative(b: &[u8], msg: &'static str) -> Result<usize, CmdError> {
    let n = int_arg(b)?;
    if n < 0 {
        return Err(CmdError::new(msg));
    }
    Ok(n as usize)
}

/// What stopped a move.
pub enum MoveError {
    /// The source is no list.
    Source(CmdError),
    /// The destination is no list (a blocked BLMOVE is answered with it and unblocked).
    Destination(CmdError),
}

impl From<MoveError> for CmdError {
    fn from(e: MoveError) -> CmdError {
        match e {
            MoveError::Source(e) | MoveError::Destination(e) => e,
        }
    }
}

fn is_list_or_missing(e: Option<&Entry>) -> Result<(), CmdError> {
    match e {
        Some(e) => list(e).map(|_| ()),
        None => Ok(()),
    }
}

/// Pops an element from `from` of `src` and pushes it at `to` of `dst`, both in database
/// `db` (LMOVE): the element, or `None` when `src` does not exist. Both types are checked
/// before anything moves. Journals the pop of the source and the push of the destination,
/// and notifies the push, then the pop (and `del`), as Redis does.
pub fn move_element(
    server: &Server,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    now: Now,
) -> Result<Option<Vec<u8>>, MoveError> {
    let lim = server.object_limits();
    let (sslot, dslot) = (cairn_store::key_slot(src), cairn_store::key_slot(dst));
    let mut locked = server.keyspace.lock_keys([src, dst]);
    let Some(e) = locked.db(sslot, db).read(sslot, src, now) else {
        return Ok(None);
    };
    list(e).map_err(MoveError::Source)?;
    is_list_or_missing(locked.db(dslot, db).peek(dslot, dst, now))
        .map_err(MoveError::Destination)?;
    let sdb = locked.db(sslot, db);
    let mut e = sdb.write(sslot, src, now).expect("read above");
    let l = list_mut(&mut e).map_err(MoveError::Source)?;
    let v = match from {
        End::Left => l.pop_front(&lim),
        End::Right => l.pop_back(&lim),
    }
    .expect("stored lists are never empty");
    e.journal_op(&[from.pop_name(), src, b"1"]);
    if src == dst {
        let l = list_mut(&mut e).map_err(MoveError::Source)?;
        push(l, to, &v, &lim);
        e.journal_op(&[to.push_name(), dst, &v]);
        drop(e);
        server.notifier.notify(LIST, to.push_event(), dst, db);
        server.notifier.notify(LIST, from.pop_event(), src, db);
        return Ok(Some(v));
    }
    let empty = list(&e).map_err(MoveError::Source)?.is_empty();
    drop(e);
    let (mut d, _) = locked
        .db(dslot, db)
        .write_or_create(dslot, dst, now, new_list);
    push(
        list_mut(&mut d).map_err(MoveError::Destination)?,
        to,
        &v,
        &lim,
    );
    d.journal_op(&[to.push_name(), dst, &v]);
    drop(d);
    server.notifier.notify(LIST, to.push_event(), dst, db);
    server.notifier.notify(LIST, from.pop_event(), src, db);
    if empty {
        locked.db(sslot, db).remove(sslot, src, now);
        server.notifier.notify(GENERIC, "del", src, db);
    }
    Ok(Some(v))
}

fn move_command(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    match move_element(ctx.server, ctx.db(), src, dst, from, to, ctx.now)? {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lmove(ctx: &mut Ctx, args: Args) -> CmdResult {
    let from = end_arg(args.get(3))?;
    let to = end_arg(args.get(4))?;
    move_command(ctx, args.get(1), args.get(2), from, to)
}

fn rpoplpush(ctx: &mut Ctx, args: Args) -> CmdResult {
    move_command(ctx, args.get(1), args.get(2), End::Right, End::Left)
}

/// Parses `numkeys key... LEFT|RIGHT [COUNT count]` starting at `at`.
pub fn mpop_args<'a>(args: &Args<'a>, at: usize) -> Result<Mpop<'a, End>, CmdError> {
    crate::commands::args::mpop_args(args, at, end_arg)
}

/// LMPOP's reply: `[key, [elements]]`.
pub fn mpop_reply(out: &mut Reply, key: &[u8], vals: &[Vec<u8>]) {
    out.array(2);
    out.bulk(key);
    out.array(vals.len());
    for v in vals {
        out.bulk(v);
    }
}

fn lmpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    let m = mpop_args(&args, 1)?;
    for key in &m.keys {
        if let Some(vals) = pop_list(ctx.server, ctx.db(), key, m.side, m.count, ctx.now)? {
            mpop_reply(ctx.out, key, &vals);
            return Ok(());
        }
    }
    ctx.out.null_array();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_as_redis_reads_them() {
        assert_eq!(range(0, -1, 5), Some((0, 4)));
        assert_eq!(range(-100, 100, 5), Some((0, 4)));
        assert_eq!(range(3, 1, 5), None);
        assert_eq!(range(5, 10, 5), None);
        assert_eq!(range(-2, -1, 5), Some((3, 4)));
        assert_eq!(range(0, -6, 5), None);
        assert_eq!(range(i64::MIN, i64::MAX, 5), Some((0, 4)));
        assert_eq!(position(-1, 3), Some(2));
        assert_eq!(position(3, 3), None);
        assert_eq!(position(i64::MIN, 3), None);
    }
}
