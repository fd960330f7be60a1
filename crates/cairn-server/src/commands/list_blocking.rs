//! The blocking list pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP. Each first tries
//! what its non-blocking form does; with nothing to take, it parks its client as a
//! `crate::blocking::Waiter` whose try is the same pop, run when a key it waits on is
//! written. Inside MULTI (and, later, scripts) nothing parks: the command answers as if
//! its time had run out, as Redis's do. What a served command journals is the
//! non-blocking pop or move it made, so replicas and the AOF never block.

use std::sync::Weak;
use std::time::{Duration, Instant};

use cairn_protocol::{Args, Reply};
use cairn_store::db::Now;

use crate::blocking::{ServeFn, Served, Waiter};
use crate::commands::lists::{
    End, MoveError, end_arg, move_element, mpop_args, mpop_reply, pop_list,
};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::park::Park;
use crate::server::Server;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("blpop", -3, "list")
    .flags(WRITE | NOSCRIPT | BLOCKING)
    .acl(acl::LIST | acl::BLOCKING)
    .keys(&[KeySpec::range(1, -2, 1, key::RW | key::ACCESS | key::DELETE)])
    .doc("2.0.0", "Remove and get the first element in a list, or block until one is available")
    .complexity("O(N) where N is the number of provided keys.")
    .run(blpop),
    Spec::new("brpop", -3, "list")
    .flags(WRITE | NOSCRIPT | BLOCKING)
    .acl(acl::LIST | acl::BLOCKING)
    .keys(&[KeySpec::range(1, -2, 1, key::RW | key::ACCESS | key::DELETE)])
    .doc("2.0.0", "Remove and get the last element in a list, or block until one is available")
    .complexity("O(N) where N is the number of provided keys.")
    .run(brpop),
    Spec::new("blmove", 6, "list")
    .flags(WRITE | DENYOOM | NOSCRIPT | BLOCKING)
    .acl(acl::LIST | acl::BLOCKING)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE), KeySpec::one(2, key::RW | key::INSERT)])
    .doc("6.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available")
    .complexity("O(1)")
    .run(blmove),
    Spec::new("brpoplpush", 4, "list")
    .flags(WRITE | DENYOOM | NOSCRIPT | BLOCKING)
    .acl(acl::LIST | acl::BLOCKING)
    .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE), KeySpec::one(2, key::RW | key::INSERT)])
    .doc("2.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available")
    .complexity("O(1)")
    .deprecated("6.2.0", "`BLMOVE` with the `RIGHT` and `LEFT` arguments")
    .run(brpoplpush),
    Spec::new("blmpop", -5, "list")
    .flags(WRITE | BLOCKING)
    .acl(acl::LIST | acl::BLOCKING)
    .keys(&[KeySpec::counted(2, key::RW | key::ACCESS | key::DELETE)])
    .doc("7.0.0", "Pop elements from a list, or block until one is available")
    .complexity("O(N+M) where N is the number of provided keys and M is the number of elements returned.")
    .run(blmpop),
];

/// A blocking command's timeout in seconds (fractions allowed; 0 = for ever) as Redis's
/// `getTimeoutFromObjectOrReply` reads it: how long to wait, `None` for ever.
pub fn timeout_arg(b: &[u8]) -> Result<Option<Duration>, CmdError> {
    let not_float = || CmdError::new("ERR timeout is not a float or out of range");
    let text = std::str::from_utf8(b).map_err(|_| not_float())?;
    if text.is_empty() || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(not_float());
    }
    let secs: f64 = text.parse().map_err(|_| not_float())?;
    if secs.is_nan() {
        return Err(not_float());
    }
    let ms = (secs * 1000.0).ceil();
    if ms > i64::MAX as f64 {
        return Err(CmdError::new("ERR timeout is out of range"));
    }
    if ms < 0.0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    if ms == 0.0 {
        return Ok(None);
    }
    // A deadline past any clock reading is out of range too, as in Redis.
    let wall_ms = cairn_store::db::Now::wall().ms as f64;
    if ms > i64::MAX as f64 - wall_ms {
        return Err(CmdError::new("ERR timeout is out of range"));
    }
    Ok(Some(Duration::from_millis(ms as u64)))
}

/// Parks the client on `keys` with `serve` as its try (see `crate::blocking`).
pub fn block(ctx: &mut Ctx, keys: &[&[u8]], timeout: Option<Duration>, serve: ServeFn) {
    let server = ctx.server;
    let db = ctx.db();
    let w = Waiter::new(
        ctx.session.info.id,
        db,
        keys.iter().map(|k| k.to_vec()).collect(),
        serve,
        ctx.out.protocol(),
    );
    let deadline = timeout.map(|t| Instant::now() + t);
    let parked = server.blocking.block(w, deadline);
    ctx.session
        .info
        .blocked
        .store(true, std::sync::atomic::Ordering::Relaxed);
    server.refresh_observing();
    // A key written between the first look and the registration is served now.
    for &k in keys {
        let slot = cairn_store::key_slot(k);
        let now = server.clock.at(Instant::now());
        if server.keyspace.lock(slot).db(db).contains(slot, k, now) {
            server.blocking.mark_ready(db, k);
        }
    }
    ctx.park = Some(Park::Blocked(parked));
}

/// Runs `f` with the server, if it is still up, at the time of the try.
pub fn with_server(
    weak: &Weak<Server>,
    f: impl FnOnce(&Server, cairn_store::db::Now) -> Served,
) -> Served {
    match weak.upgrade() {
        Some(server) => {
            let now = server.clock.at(Instant::now());
            f(&server, now)
        }
        None => Served::Nothing,
    }
}

/// The blocking pops' one shape (BLPOP, BRPOP, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP): `pop`
/// tried on each key in order and the first that gives something answered with `reply`;
/// with nothing, a null array inside MULTI, else the client parks with `pop` as its try.
pub fn pop_or_block<T: 'static>(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    timeout: Option<Duration>,
    pop: impl Fn(&Server, usize, &[u8], Now) -> Result<Option<T>, CmdError> + Send + Sync + 'static,
    reply: impl Fn(&mut Reply, &[u8], &T) + Send + Sync + 'static,
) -> CmdResult {
    for &key in keys {
        if let Some(v) = pop(ctx.server, ctx.db(), key, ctx.now)? {
            reply(ctx.out, key, &v);
            return Ok(());
        }
    }
    if !ctx.may_park() {
        ctx.out.null_array();
        return Ok(());
    }
    let weak = ctx.server.weak();
    let serve: ServeFn = Box::new(move |w, key| {
        with_server(&weak, |server, now| match pop(server, w.db, key, now) {
            Ok(Some(v)) => Served::Reply(w.reply(|out| reply(out, key, &v))),
            Ok(None) => Served::Nothing,
            Err(_) => Served::NotYet,
        })
    });
    block(ctx, keys, timeout, serve);
    Ok(())
}

/// BLPOP and BRPOP: `[key, element]` from the first key that has one.
fn bpop(ctx: &mut Ctx, args: Args, end: End) -> CmdResult {
    let timeout = timeout_arg(args.get(args.len() - 1))?;
    let keys: Vec<&[u8]> = (1..args.len() - 1).map(|i| args.get(i)).collect();
    pop_or_block(
        ctx,
        &keys,
        timeout,
        move |server, db, key, now| pop_list(server, db, key, end, 1, now),
        |out, key, vals| {
            out.array(2);
            out.bulk(key);
            out.bulk(&vals[0]);
        },
    )
}

fn blpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    bpop(ctx, args, End::Left)
}

fn brpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    bpop(ctx, args, End::Right)
}

/// BLMOVE and BRPOPLPUSH.
fn bmove(ctx: &mut Ctx, args: &Args, from: End, to: End, timeout: Option<Duration>) -> CmdResult {
    let (src, dst) = (args.get(1), args.get(2));
    if let Some(v) = move_element(ctx.server, ctx.db(), src, dst, from, to, ctx.now)? {
        ctx.out.bulk(&v);
        return Ok(());
    }
    if !ctx.may_park() {
        ctx.out.null();
        return Ok(());
    }
    let weak = ctx.server.weak();
    let dst_key = dst.to_vec();
    let serve: ServeFn = Box::new(move |w, key| {
        with_server(&weak, |server, now| {
            match move_element(server, w.db, key, &dst_key, from, to, now) {
                Ok(Some(v)) => Served::Reply(w.reply(|out| out.bulk(&v))),
                Ok(None) => Served::Nothing,
                Err(MoveError::Source(_)) => Served::NotYet,
                Err(MoveError::Destination(e)) => Served::Error(e.0.into_owned()),
            }
        })
    });
    block(ctx, &[src], timeout, serve);
    Ok(())
}

fn blmove(ctx: &mut Ctx, args: Args) -> CmdResult {
    let from = end_arg(args.get(3))?;
    let to = end_arg(args.get(4))?;
    let timeout = timeout_arg(args.get(5))?;
    bmove(ctx, &args, from, to, timeout)
}

fn brpoplpush(ctx: &mut Ctx, args: Args) -> CmdResult {
    let timeout = timeout_arg(args.get(3))?;
    bmove(ctx, &args, End::Right, End::Left, timeout)
}

/// ```text
/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
/// ```
fn blmpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    let m = mpop_args(&args, 2)?;
    let timeout = timeout_arg(args.get(1))?;
    let (end, count) = (m.side, m.count);
    pop_or_block(
        ctx,
        &m.keys,
        timeout,
        move |server, db, key, now| pop_list(server, db, key, end, count, now),
        |out, key, vals| mpop_reply(out, key, vals),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_redis_reads_them() {
        assert_eq!(timeout_arg(b"0").unwrap(), None);
        assert_eq!(
            timeout_arg(b"0.0001").unwrap(),
            Some(Duration::from_millis(1))
        );
        assert_eq!(
            timeout_arg(b"1.5").unwrap(),
            Some(Duration::from_millis(1500))
        );
        let err = |b: &[u8]| timeout_arg(b).unwrap_err().0.into_owned();
        assert_eq!(err(b"-1"), "ERR timeout is negative");
        assert_eq!(err(b"abc"), "ERR timeout is not a float or out of range");
        assert_eq!(err(b" 1"), "ERR timeout is not a float or out of range");
        assert_eq!(err(b"nan"), "ERR timeout is not a float or out of range");
        assert_eq!(err(b"inf"), "ERR timeout is out of range");
        assert_eq!(err(b"9223372036854775807"), "ERR timeout is out of range");
    }
}
