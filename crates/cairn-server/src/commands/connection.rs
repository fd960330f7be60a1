//! Connection commands: PING, ECHO, SELECT, HELLO, QUIT, RESET, AUTH.

use std::sync::atomic::Ordering;

use cairn_protocol::Args;
use cairn_protocol::resp::reply::Protocol;

use crate::commands::args::{int_arg, is};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::spec::{Spec, acl, flags::*};

pub const COMMANDS: &[Command] = &[
    Spec::new("ping", -1, "connection")
        .flags(FAST | SUBSCRIBED_OK)
        .acl(acl::CONNECTION)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .doc("1.0.0", "Returns the server's liveliness response.")
        .complexity("O(1)")
        .run(ping),
    Spec::new("echo", 2, "connection")
        .flags(LOADING | STALE | FAST)
        .acl(acl::CONNECTION)
        .doc("1.0.0", "Returns the given string.")
        .complexity("O(1)")
        .run(echo),
    Spec::new("select", 2, "connection")
        .flags(LOADING | STALE | FAST)
        .acl(acl::CONNECTION)
        .doc("1.0.0", "Changes the selected database.")
        .complexity("O(1)")
        .run(select),
    Spec::new("hello", -1, "connection")
        .flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY)
        .acl(acl::CONNECTION)
        .doc("6.0.0", "Handshakes with the Redis server.")
        .complexity("O(1)")
        .run(hello),
    Spec::new("quit", -1, "connection")
        .flags(
            NOSCRIPT
                | LOADING
                | STALE
                | FAST
                | NO_AUTH
                | ALLOW_BUSY
                | PAUSE_EXEMPT
                | TX_CONTROL
                | SUBSCRIBED_OK,
        )
        .acl(acl::CONNECTION)
        .doc("1.0.0", "Closes the connection.")
        .complexity("O(1)")
        .deprecated("7.2.0", "just closing the connection")
        .run(quit),
    Spec::new("reset", 1, "connection")
        .flags(
            NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | TX_CONTROL | SUBSCRIBED_OK,
        )
        .acl(acl::CONNECTION)
        .doc("6.2.0", "Resets the connection.")
        .complexity("O(1)")
        .run(reset),
    Spec::new("auth", -2, "connection")
        .flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY)
        .acl(acl::CONNECTION)
        .doc("1.0.0", "Authenticates the connection.")
        .complexity("O(N) where N is the number of passwords defined for the user")
        .run(auth),
];

/// ```text
/// PING [message]
/// ```
fn ping(ctx: &mut Ctx, args: Args) -> CmdResult {
    if ctx.session.subscriptions.any() && !ctx.out.is_resp3() {
        // RESP2's subscribed mode answers in the shape of a message.
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out
            .bulk(if args.len() == 2 { args.get(1) } else { b"" });
        return Ok(());
    }
    match args.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(args.get(1)),
        _ => return Err(CmdError::arity("ping")),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx, args: Args) -> CmdResult {
    ctx.out.bulk(args.get(1));
    Ok(())
}

/// ```text
/// SELECT index
/// ```
fn select(ctx: &mut Ctx, args: Args) -> CmdResult {
    let db = int_arg(args.get(1))?;
    let dbs = ctx.server.with_config(|c| c.databases) as i64;
    if db < 0 || db >= dbs {
        return Err(CmdError::db_out_of_range());
    }
    if db != 0 && ctx.server.cluster.get().is_some() {
        return Err(CmdError::new("ERR SELECT is not allowed in cluster mode"));
    }
    ctx.session.db = db as usize;
    ctx.session.info.db.store(db as usize, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// ```text
/// HELLO [protover [AUTH username password] [SETNAME clientname]]
/// ```
fn hello(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut proto = ctx.out.protocol();
    let mut i = 1;
    if args.len() > 1 {
        let v = cairn_protocol::resp::parse_i64(args.get(1)).ok_or_else(|| {
            CmdError::new("ERR Protocol version is not an integer or out of range")
        })?;
        proto = match v {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err(CmdError::new("NOPROTO unsupported protocol version")),
        };
        i = 2;
    }
    let mut name = None;
    while i < args.len() {
        let rest = args.len() - i - 1;
        if is(args.get(i), "auth") && rest >= 2 {
            check_auth(ctx, args.get(i + 1), args.get(i + 2))?;
            i += 3;
        } else if is(args.get(i), "setname") && rest >= 1 {
            let n = args.get(i + 1);
            super::client::validate_name(n)?;
            name = Some(n.to_vec());
            i += 2;
        } else {
            return Err(CmdError::new(format!(
                "ERR Syntax error in HELLO option '{}'",
                crate::error::truncate_for_error(args.get(i))
            )));
        }
    }
    if let Some(n) = name {
        *ctx.session.info.name.lock() = (!n.is_empty()).then_some(n);
    }
    ctx.out.set_protocol(proto);
    ctx.session.info.resp.store(
        if proto == Protocol::Resp3 { 3 } else { 2 },
        Ordering::Relaxed,
    );
    let out = &mut *ctx.out;
    out.map(8);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if proto == Protocol::Resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(ctx.session.info.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    out.bulk(b"cairn_version");
    out.bulk(crate::CAIRN_VERSION.as_bytes());
    Ok(())
}

/// Cairn has no users or passwords yet: the default user accepts any password, as Redis's
/// does when `requirepass` is unset; anything else fails as a wrong password would.
fn check_auth(_ctx: &mut Ctx, user: &[u8], _pass: &[u8]) -> CmdResult {
    if user == b"default" {
        Ok(())
    } else {
        Err(CmdError::new(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ))
    }
}

/// ```text
/// AUTH [username] password
/// ```
fn auth(ctx: &mut Ctx, args: Args) -> CmdResult {
    match args.len() {
        2 => Err(CmdError::new(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        )),
        3 => {
            check_auth(ctx, args.get(1), args.get(2))?;
            ctx.out.ok();
            Ok(())
        }
        _ => Err(CmdError::syntax()),
    }
}

fn quit(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.out.ok();
    ctx.session.close_after_reply = true;
    Ok(())
}

/// Returns the connection to the state of a new one: database 0, RESP2, no client name,
/// CLIENT NO-EVICT off. LIB-NAME and LIB-VER stay, as in Redis.
fn reset(ctx: &mut Ctx, _args: Args) -> CmdResult {
    release(ctx.server, ctx.session);
    *ctx.session.info.name.lock() = None;
    ctx.session.db = 0;
    ctx.session.info.db.store(0, Ordering::Relaxed);
    ctx.session.info.resp.store(2, Ordering::Relaxed);
    ctx.session.info.no_evict.store(false, Ordering::Relaxed);
    ctx.session.info.no_touch.store(false, Ordering::Relaxed);
    ctx.session.reply = crate::session::ReplyMode::On;
    ctx.out.set_protocol(Protocol::Resp2);
    ctx.out.simple("RESET");
    Ok(())
}

/// Gives up everything the connection holds elsewhere in the server: subscriptions, an
/// open transaction and its watched keys, client tracking, MONITOR (RESET, disconnect).
pub fn release(server: &crate::server::Server, session: &mut crate::session::Session) {
    server.monitors.remove(session.info.id);
    crate::commands::pubsub::unsubscribe_all(server, session);
    crate::commands::multi::end_transaction(server, session);
    crate::commands::tracking::stop(server, session);
}
