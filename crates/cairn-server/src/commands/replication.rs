//! Replication commands: REPLICAOF / SLAVEOF, ROLE, WAIT, and the ones replicas send
//! their primary (REPLCONF, PSYNC, SYNC). `crate::replication` does the work.

use std::time::{Duration, Instant};

use cairn_protocol::Args;

use crate::commands::args::{int_arg, is};
use crate::ctx::{Command, Ctx, Mode};
use crate::error::{CmdError, CmdResult};
use crate::park::Park;
use crate::replication::handshake::Request;
use crate::spec::{Spec, acl, flags::*};

pub const COMMANDS: &[Command] = &[
    Spec::new("replicaof", 3, "server")
        .flags(ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING)
        .doc("5.0.0", "Configures a server as replica of another, or promotes it to a master.")
        .complexity("O(1)")
        .run(replicaof),
    Spec::new("slaveof", 3, "server")
        .flags(ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING)
        .doc("1.0.0", "Sets a Redis server as a replica of another, or promotes it to being a master.")
        .complexity("O(1)")
        .deprecated("5.0.0", "`REPLICAOF`")
        .run(replicaof),
    Spec::new("role", 1, "server")
        .flags(NOSCRIPT | LOADING | STALE | FAST)
        .acl(acl::ADMIN | acl::DANGEROUS)
        .doc("2.8.12", "Returns the replication role.")
        .complexity("O(1)")
        .run(role),
    Spec::new("wait", 3, "generic")
        .flags(NOSCRIPT)
        .acl(acl::CONNECTION)
        .tips(&["request_policy:all_shards", "response_policy:agg_min"])
        .doc("3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.")
        .complexity("O(1)")
        .run(wait),
    Spec::new("replconf", -1, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY)
        .doc("3.0.0", "An internal command for configuring the replication stream.")
        .complexity("O(1)")
        .run(replconf),
    Spec::new("psync", -3, "server")
        .flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI)
        .doc("2.8.0", "An internal command used in replication.")
        .run(psync),
    Spec::new("sync", 1, "server")
        .flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI)
        .doc("1.0.0", "An internal command used in replication.")
        .run(sync),
];

/// ```text
/// REPLICAOF host port | REPLICAOF NO ONE
/// ```
fn replicaof(ctx: &mut Ctx, args: Args) -> CmdResult {
    if ctx.session.multi.is_some() {
        return Err(CmdError::new("ERR REPLICAOF not allowed in MULTI"));
    }
    let server = ctx.server.arc();
    if is(args.get(1), "no") && is(args.get(2), "one") {
        if server.replication.is_replica() {
            crate::replication::roles::promote(&server);
            server.set_replicaof(String::new());
            tracing::warn!(
                "MASTER MODE enabled (user request from id={})",
                ctx.session.info.id
            );
        }
        ctx.out.ok();
        return Ok(());
    }
    let host = String::from_utf8_lossy(args.get(1)).into_owned();
    let port = int_arg(args.get(2))?;
    if !(1..=65535).contains(&port) {
        return Err(CmdError::new("ERR Invalid master port"));
    }
    let port = port as u16;
    if crate::replication::roles::follow(&server, host.clone(), port) {
        server.set_replicaof(format!("{host} {port}"));
        tracing::warn!(
            "REPLICAOF {host}:{port} enabled (user request from id={})",
            ctx.session.info.id
        );
        ctx.out.ok();
    } else {
        ctx.out.simple("OK Already connected to specified master");
    }
    Ok(())
}

fn role(ctx: &mut Ctx, _args: Args) -> CmdResult {
    crate::replication::roles::role(ctx.server, ctx.out);
    Ok(())
}

/// ```text
/// WAIT numreplicas timeout
/// ```
/// Parks the connection until `numreplicas` replicas acknowledged everything it wrote,
/// or `timeout` milliseconds (0: for ever); answers how many did.
fn wait(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = int_arg(args.get(1))?;
    let timeout = int_arg(args.get(2))?;
    if timeout < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    let repl = &ctx.server.replication;
    if repl.is_replica() {
        return Err(CmdError::new(
            "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        ));
    }
    let offset = ctx.session.write_offset;
    let want = n.max(0) as usize;
    let now = repl.acked(offset);
    // Inside MULTI, or when enough replicas already have it, answer at once.
    if !ctx.may_park() || now >= want {
        ctx.out.int(now as i64);
        return Ok(());
    }
    ctx.park = Some(Park::Acks {
        offset,
        replicas: want,
        deadline: (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64)),
    });
    Ok(())
}

/// ```text
/// REPLCONF listening-port <port> | ip-address <ip> | capa <capa> ... | rdb-only <0|1>
///          | ack <offset> | getack *
/// ```
fn replconf(ctx: &mut Ctx, args: Args) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::syntax());
    }
    let mut i = 1;
    while i + 1 < args.len() {
        let (opt, val) = (args.get(i), args.get(i + 1));
        if is(opt, "listening-port") {
            let port = int_arg(val)?;
            if !(0..=65535).contains(&port) {
                return Err(CmdError::new("ERR invalid port"));
            }
            ctx.session.replconf.port = port as u16;
        } else if is(opt, "ip-address") {
            ctx.session.replconf.ip = Some(String::from_utf8_lossy(val).into_owned());
        } else if is(opt, "rdb-only") {
            ctx.session.replconf.snapshot_only = int_arg(val)? == 1;
        } else if is(opt, "getack") {
            // From the primary's stream (applied, not a client's): the replica link sends
            // its acknowledgement. Anywhere else it means nothing and gets no reply.
            if ctx.mode == Mode::Apply {
                ctx.session.replconf.getack = true;
            }
            return Ok(());
        } else if is(opt, "ack") || is(opt, "fack") {
            // Acknowledgements travel on a replica's link, which does not come here; in
            // an AOF or from a client they mean nothing, and get no reply (as in Redis).
            return Ok(());
        } else if is(opt, "capa") || is(opt, "rdb-filter-only") {
            // Cairn's primaries always send EOF-framed snapshots and PSYNC2 ids.
        } else {
            return Err(CmdError::new(format!(
                "ERR Unrecognized REPLCONF option: {}",
                crate::error::truncate_for_error(opt)
            )));
        }
        i += 2;
    }
    ctx.out.ok();
    Ok(())
}

/// ```text
/// PSYNC replicationid offset
/// ```
/// The reply and everything after it come from `replication::primary::serve`, which
/// takes the connection over once the replies before this one are written.
fn psync(ctx: &mut Ctx, args: Args) -> CmdResult {
    if args.len() != 3 {
        return Err(CmdError::arity("psync"));
    }
    take_over(ctx, args.get(1).to_vec(), int_arg(args.get(2))?, false)
}

/// SYNC: a full sync without ids or offsets (old replicas, `redis-cli --rdb`).
fn sync(ctx: &mut Ctx, _args: Args) -> CmdResult {
    take_over(ctx, b"?".to_vec(), -1, true)
}

fn take_over(ctx: &mut Ctx, replid: Vec<u8>, offset: i64, plain: bool) -> CmdResult {
    if ctx.session.multi.is_some() {
        return Err(CmdError::new(
            "ERR Replica can't be used inside a transaction",
        ));
    }
    if ctx.session.subscriptions.any() || ctx.session.tracking.is_some() {
        return Err(CmdError::new(
            "ERR Replica can't interact with the keyspace while subscribed or tracking",
        ));
    }
    let rc = ctx.session.replconf.clone();
    ctx.session.takeover = Some(Request {
        replid,
        offset,
        plain_sync: plain,
        snapshot_only: rc.snapshot_only,
        port: rc.port,
        ip: rc.ip,
    });
    Ok(())
}
