//! CLIENT: who is connected, names, kills, pauses.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cairn_protocol::Args;

use crate::clients::ClientInfo;
use crate::commands::args::{help_reply, int_arg, is};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::server::PauseMode;
use crate::spec::{Spec, acl, flags::*};

const CLIENT_SUBCOMMANDS: &[Command] = &[
    Spec::new("client|id", 2, "connection")
        .flags(NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("5.0.0", "Returns the unique client ID of the connection.")
        .complexity("O(1)")
        .run(id),
    Spec::new("client|setname", 3, "connection")
        .flags(NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("2.6.9", "Sets the connection name.")
        .complexity("O(1)")
        .run(setname),
    Spec::new("client|getname", 2, "connection")
        .flags(NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("2.6.9", "Returns the name of the connection.")
        .complexity("O(1)")
        .run(getname),
    Spec::new("client|setinfo", 4, "connection")
        .flags(NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("7.2.0", "Sets information specific to the client or connection.")
        .complexity("O(1)")
        .run(setinfo),
    Spec::new("client|list", -2, "connection")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .tips(&["nondeterministic_output"])
        .doc("2.4.0", "Lists open connections.")
        .complexity("O(N) where N is the number of client connections")
        .run(list),
    Spec::new("client|info", 2, "connection")
        .flags(NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .tips(&["nondeterministic_output"])
        .doc("6.2.0", "Returns information about the connection.")
        .complexity("O(1)")
        .run(info),
    Spec::new("client|kill", -3, "connection")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("2.4.0", "Terminates open connections.")
        .complexity("O(N) where N is the number of client connections")
        .run(kill),
    Spec::new("client|no-evict", 3, "connection")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("7.0.0", "Sets the client eviction mode of the connection.")
        .complexity("O(1)")
        .run(no_evict),
    Spec::new("client|reply", 3, "connection")
        .flags(NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("3.2.0", "Instructs the server whether to reply to commands.")
        .complexity("O(1)")
        .run(reply),
    Spec::new("client|no-touch", 3, "connection")
        .flags(NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("7.2.0", "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.")
        .complexity("O(1)")
        .run(no_touch),
    Spec::new("client|pause", -3, "connection")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE | PAUSE_EXEMPT)
        .acl(acl::CONNECTION)
        .doc("3.0.0", "Suspends commands processing.")
        .complexity("O(1)")
        .run(pause),
    Spec::new("client|unpause", 2, "connection")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE | PAUSE_EXEMPT)
        .acl(acl::CONNECTION)
        .doc("6.2.0", "Resumes processing commands from paused clients.")
        .complexity("O(N) Where N is the number of paused clients")
        .run(unpause),
    Spec::new("client|tracking", -3, "connection")
        .flags(NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("6.0.0", "Controls server-assisted client-side caching for the connection.")
        .complexity("O(1). Some options may introduce additional complexity.")
        .run(super::tracking::tracking),
    Spec::new("client|caching", 3, "connection")
        .flags(NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("6.0.0", "Instructs the server whether to track the keys in the next request.")
        .complexity("O(1)")
        .run(super::tracking::caching),
    Spec::new("client|getredir", 2, "connection")
        .flags(NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("6.0.0", "Returns the client ID to which the connection's tracking notifications are redirected.")
        .complexity("O(1)")
        .run(super::tracking::getredir),
    Spec::new("client|trackinginfo", 2, "connection")
        .flags(NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("6.2.0", "Returns information about server-assisted client-side caching for the connection.")
        .complexity("O(1)")
        .run(super::tracking::trackinginfo),
    Spec::new("client|unblock", -3, "connection")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("5.0.0", "Unblocks a client blocked by a blocking command from a different connection.")
        .complexity("O(log N) where N is the number of client connections")
        .run(unblock),
    Spec::new("client|help", 2, "connection")
        .flags(LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("5.0.0", "Returns helpful text about the different subcommands.")
        .complexity("O(1)")
        .run(help),
];

pub const COMMANDS: &[Command] = &[Spec::new("client", -2, "connection")
    .doc("2.4.0", "A container for client connection commands.")
    .complexity("Depends on subcommand.")
    .container(CLIENT_SUBCOMMANDS)];

/// ```text
/// CLIENT UNBLOCK client-id [TIMEOUT | ERROR]
/// ```
fn unblock(ctx: &mut Ctx, args: Args) -> CmdResult {
    let id = crate::commands::args::int_arg(args.get(2))?;
    let error = match args.len() {
        3 => false,
        4 if is(args.get(3), "timeout") => false,
        4 if is(args.get(3), "error") => true,
        4 => {
            return Err(CmdError::new(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
        _ => return Err(CmdError::syntax()),
    };
    let done = u64::try_from(id).is_ok_and(|id| ctx.server.blocking.unblock(id, error));
    ctx.out.int(i64::from(done));
    Ok(())
}

fn id(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.out.int(ctx.session.info.id as i64);
    Ok(())
}

/// Client names are printable ASCII without spaces, so CLIENT LIST stays parseable.
pub fn validate_name(name: &[u8]) -> CmdResult {
    if name.iter().all(|&c| (b'!'..=b'~').contains(&c)) {
        Ok(())
    } else {
        Err(CmdError::new(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

fn setname(ctx: &mut Ctx, args: Args) -> CmdResult {
    let name = args.get(2);
    validate_name(name)?;
    *ctx.session.info.name.lock() = (!name.is_empty()).then(|| name.to_vec());
    ctx.out.ok();
    Ok(())
}

fn getname(ctx: &mut Ctx, _args: Args) -> CmdResult {
    match &*ctx.session.info.name.lock() {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    Ok(())
}

/// ```text
/// CLIENT SETINFO LIB-NAME libname | LIB-VER libver
/// ```
fn setinfo(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (attr, value) = (args.get(2), args.get(3));
    let slot = if is(attr, "lib-name") {
        &ctx.session.info.lib_name
    } else if is(attr, "lib-ver") {
        &ctx.session.info.lib_ver
    } else {
        return Err(CmdError::new(format!(
            "ERR Unrecognized option '{}'",
            crate::error::truncate_for_error(attr)
        )));
    };
    if !value.iter().all(|&c| (b'!'..=b'~').contains(&c)) {
        return Err(CmdError::new(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr).to_ascii_lowercase()
        )));
    }
    *slot.lock() = (!value.is_empty()).then(|| value.to_vec());
    ctx.out.ok();
    Ok(())
}

/// CLIENT LIST's flags: P for a subscriber, e for NO-EVICT, b for blocked, N for none.
fn flags(c: &ClientInfo) -> String {
    let mut f = String::new();
    match c.kind() {
        crate::clients::Kind::Replica => f.push('S'),
        crate::clients::Kind::Master => f.push('M'),
        crate::clients::Kind::Normal => {}
    }
    if c.class() == "pubsub" {
        f.push('P');
    }
    if c.tracking_redirect.load(Ordering::Relaxed) >= 0 {
        f.push('t');
    }
    if c.no_evict.load(Ordering::Relaxed) {
        f.push('e');
    }
    if c.blocked.load(Ordering::Relaxed) {
        f.push('b');
    }
    if c.monitor.load(Ordering::Relaxed) {
        f.push('O');
    }
    if c.no_touch.load(Ordering::Relaxed) {
        f.push('T');
    }
    if f.is_empty() {
        f.push('N');
    }
    f
}

/// One CLIENT LIST line, with Redis 7.4's fields.
pub fn describe(c: &ClientInfo, current_cmd: Option<&str>) -> String {
    let table = crate::table::Table::get();
    let cmd = current_cmd.map(str::to_owned).unwrap_or_else(|| {
        match c.last_cmd.load(Ordering::Relaxed) {
            0 => "NULL".into(),
            n => table
                .spec(crate::spec::CommandId((n - 1) as u16))
                .name
                .to_string(),
        }
    });
    let text = |v: &Option<Vec<u8>>| {
        v.as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
            .into_owned()
    };
    let qbuf = c.qbuf.load(Ordering::Relaxed);
    let argv = c.argv_mem.load(Ordering::Relaxed);
    let subs = c
        .subscriptions
        .each_ref()
        .map(|n| n.load(Ordering::Relaxed));
    let omem = c.outbox.queued();
    let mut s = String::new();
    let _ = write!(
        s,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} watch={} qbuf={} qbuf-free={} argv-mem={} multi-mem=0 rbs={} rbp=0 obl=0 oll={} omem={} tot-mem={} events=r cmd={} user=default redir={} resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        text(&c.name.lock()),
        c.created.elapsed().as_secs(),
        c.idle_secs(),
        flags(c),
        c.db.load(Ordering::Relaxed),
        subs[0],
        subs[1],
        subs[2],
        c.multi.load(Ordering::Relaxed),
        c.watch.load(Ordering::Relaxed),
        qbuf,
        16384usize.saturating_sub(qbuf),
        argv,
        16384,
        usize::from(omem > 0),
        omem,
        16384 + qbuf + argv + omem,
        cmd,
        c.tracking_redirect.load(Ordering::Relaxed),
        c.resp.load(Ordering::Relaxed),
        text(&c.lib_name.lock()),
        text(&c.lib_ver.lock()),
    );
    s
}

/// ```text
/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID client-id [client-id ...]]
/// ```
fn list(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut type_filter: Option<String> = None;
    let mut i = 2;
    while i < args.len() {
        if is(args.get(i), "type") && i + 1 < args.len() {
            let t = String::from_utf8_lossy(args.get(i + 1)).to_ascii_lowercase();
            if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                return Err(CmdError::new(format!("ERR Unknown client type '{t}'")));
            }
            type_filter = Some(t);
            i += 2;
        } else if is(args.get(i), "id") && i + 1 < args.len() {
            let mut v = Vec::new();
            for a in args.tail(i + 1).iter() {
                match cairn_protocol::resp::parse_i64(a) {
                    Some(n) if n > 0 => v.push(n as u64),
                    _ => return Err(CmdError::new("ERR Invalid client ID")),
                }
            }
            ids = Some(v);
            i = args.len();
        } else {
            return Err(CmdError::syntax());
        }
    }
    let me = ctx.session.info.id;
    let mut text = String::new();
    for c in live_clients(ctx) {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
            continue;
        }
        if type_filter.as_deref().is_some_and(|t| t != c.class()) {
            continue;
        }
        let current = (c.id == me).then_some(ctx.spec.name);
        text.push_str(&describe(&c, current));
        text.push('\n');
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn info(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let mut line = describe(&ctx.session.info, Some(ctx.spec.name));
    line.push('\n');
    ctx.out.verbatim(line.as_bytes());
    Ok(())
}

/// One CLIENT KILL condition.
type ClientFilter = Box<dyn Fn(&ClientInfo) -> bool>;

/// ```text
/// CLIENT KILL ip:port
/// CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port] [TYPE type] [USER name]
///             [SKIPME yes|no] [MAXAGE seconds] ...
/// ```
fn kill(ctx: &mut Ctx, args: Args) -> CmdResult {
    let me = ctx.session.info.id;
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(args.get(2)).into_owned();
        let Some(c) = live_clients(ctx)
            .into_iter()
            .find(|c| c.addr.to_string() == addr)
        else {
            return Err(CmdError::new("ERR No such client"));
        };
        kill_one(ctx, &c, me);
        ctx.out.ok();
        return Ok(());
    }
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::syntax());
    }
    let mut filters: Vec<ClientFilter> = Vec::new();
    let mut skipme = true;
    for pair in (2..args.len()).step_by(2) {
        let (k, v) = (args.get(pair), args.get(pair + 1));
        let text = String::from_utf8_lossy(v).into_owned();
        if is(k, "id") {
            let id = cairn_protocol::resp::parse_i64(v)
                .filter(|n| *n > 0)
                .ok_or_else(|| CmdError::new("ERR client-id should be greater than 0"))?
                as u64;
            filters.push(Box::new(move |c| c.id == id));
        } else if is(k, "addr") {
            filters.push(Box::new(move |c| c.addr.to_string() == text));
        } else if is(k, "laddr") {
            filters.push(Box::new(move |c| c.laddr.to_string() == text));
        } else if is(k, "type") {
            let t = text.to_ascii_lowercase();
            if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                return Err(CmdError::new(format!("ERR Unknown client type '{text}'")));
            }
            filters.push(Box::new(move |c| t == c.class()));
        } else if is(k, "user") {
            filters.push(Box::new(move |_| text == "default"));
        } else if is(k, "skipme") {
            skipme = match text.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err(CmdError::syntax()),
            };
        } else if is(k, "maxage") {
            let age = int_arg(v)?;
            filters.push(Box::new(move |c| {
                c.created.elapsed().as_secs() as i64 >= age
            }));
        } else {
            return Err(CmdError::syntax());
        }
    }
    let mut killed = 0;
    for c in live_clients(ctx) {
        if (skipme && c.id == me) || !filters.iter().all(|f| f(&c)) {
            continue;
        }
        kill_one(ctx, &c, me);
        killed += 1;
    }
    ctx.out.int(killed);
    Ok(())
}

/// Every client not already killed. A killed connection leaves the client table only when
/// its task ends; Redis frees it at once, so it is no longer listed, killed or counted.
pub fn live_clients(ctx: &Ctx) -> Vec<std::sync::Arc<ClientInfo>> {
    let mut all = ctx.server.clients.all();
    all.retain(|c| !c.is_killed());
    all
}

/// Kills another client at once; the caller itself is closed after its reply is written.
fn kill_one(ctx: &mut Ctx, c: &ClientInfo, me: u64) {
    if c.id == me {
        ctx.session.close_after_reply = true;
    } else {
        c.kill();
    }
}

fn no_evict(ctx: &mut Ctx, args: Args) -> CmdResult {
    let on = match args.get(2) {
        a if is(a, "on") => true,
        a if is(a, "off") => false,
        _ => return Err(CmdError::syntax()),
    };
    ctx.session.info.no_evict.store(on, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// ```text
/// CLIENT NO-TOUCH ON|OFF
/// ```
/// With ON, this client's commands leave the keys they read or write as recently and as
/// frequently used as they were (TOUCH still touches): dispatch tells the store
/// (`cairn_store::db::no_touch`).
fn no_touch(ctx: &mut Ctx, args: Args) -> CmdResult {
    let on = match args.get(2) {
        a if is(a, "on") => true,
        a if is(a, "off") => false,
        _ => return Err(CmdError::syntax()),
    };
    ctx.session.info.no_touch.store(on, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// ```text
/// CLIENT REPLY ON|OFF|SKIP
/// ```
/// OFF and SKIP answer nothing themselves; SKIP while OFF changes nothing. The connection
/// drops the replies (`Session::answered`); pushes (pub/sub messages, invalidations)
/// still go out, as in Redis.
fn reply(ctx: &mut Ctx, args: Args) -> CmdResult {
    use crate::session::ReplyMode;
    match args.get(2) {
        a if is(a, "on") => {
            ctx.session.reply = ReplyMode::On;
            ctx.out.ok();
        }
        a if is(a, "off") => ctx.session.reply = ReplyMode::Off,
        a if is(a, "skip") => {
            if ctx.session.reply != ReplyMode::Off {
                ctx.session.reply = ReplyMode::SkipNext;
            }
        }
        _ => return Err(CmdError::syntax()),
    }
    Ok(())
}

/// ```text
/// CLIENT PAUSE timeout [WRITE | ALL]
/// ```
fn pause(ctx: &mut Ctx, args: Args) -> CmdResult {
    let ms = cairn_protocol::resp::parse_i64(args.get(2))
        .ok_or_else(|| CmdError::new("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    let mode = match args.len() {
        3 => PauseMode::All,
        4 if is(args.get(3), "all") => PauseMode::All,
        4 if is(args.get(3), "write") => PauseMode::Write,
        _ => return Err(CmdError::syntax()),
    };
    ctx.server
        .pause(Instant::now() + Duration::from_millis(ms as u64), mode);
    ctx.out.ok();
    Ok(())
}

fn unpause(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.server.unpause();
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "CLIENT",
        &[
            "ID",
            "    Return the ID of the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "GETNAME",
            "    Return the name of the current connection.",
            "SETINFO <LIB-NAME|LIB-VER> <value>",
            "    Set client library name or version.",
            "LIST [TYPE <type>] [ID <id> [<id> ...]]",
            "    Return information about client connections.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options: ID, ADDR, LADDR, TYPE, USER, SKIPME, MAXAGE.",
            "NO-EVICT (ON|OFF)",
            "    Protect the current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend commands from clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
        ],
    );
    Ok(())
}
