//! What decides, before a command runs, that it may not run here and now, in Redis's
//! order: the cluster's routing (MOVED, ASK, CROSSSLOT, TRYAGAIN, CLUSTERDOWN), a failing
//! disk (MISCONF), replication (MASTERDOWN, READONLY, NOREPLICAS), then the connection's
//! context (RESP2's subscribed mode). And what follows a command that read: client
//! tracking remembers the keys it read.

use std::time::Instant;

use cairn_protocol::{Args, Reply};

use crate::error::CmdError;
use crate::server::Server;
use crate::session::Session;
use crate::spec::{Spec, flags};

/// The key positions of `args` by `spec` (none when the arguments contradict it: the
/// handler then answers its own syntax error).
pub fn keys<'b>(spec: &Spec, args: Args<'_>, buf: &'b mut Vec<(usize, u32)>) -> &'b [(usize, u32)] {
    buf.clear();
    if spec
        .keys_of(args.len(), |i| args.get(i), false, buf)
        .is_err()
    {
        buf.clear();
    }
    buf
}

/// The first key's position, without allocating for the common single-index spec
/// (eviction, hot keys).
pub fn first_key(spec: &Spec, args: Args<'_>) -> Option<usize> {
    use crate::spec::Begin;
    match spec.keys.first()? {
        k if k.flags & crate::spec::key::NOT_KEY != 0 => None,
        k => match k.begin {
            Begin::Index(i) if (i as usize) < args.len() => match k.find {
                crate::spec::Find::KeyNum { .. } => {
                    let mut buf = Vec::new();
                    keys(spec, args, &mut buf).first().map(|&(i, _)| i)
                }
                _ => Some(i as usize),
            },
            Begin::Index(_) => None,
            Begin::Keyword { .. } => {
                let mut buf = Vec::new();
                keys(spec, args, &mut buf).first().map(|&(i, _)| i)
            }
        },
    }
}

/// Refusals by this node's state: the slot is served elsewhere (or the node is fenced),
/// the disk fails, the node is a replica, or too few replicas are up. `queued`: the flags
/// of the transaction EXEC would run.
pub fn refusal(
    server: &Server,
    session: &mut Session,
    spec: &Spec,
    args: Args<'_>,
    queued: u32,
    at: Instant,
) -> Result<(), CmdError> {
    let writes = (spec.flags | queued) & flags::WRITE != 0;
    if let Some(cluster) = server.cluster.get() {
        let mut buf = std::mem::take(&mut session.key_positions);
        let keys = keys(spec, args, &mut buf);
        let routed =
            crate::cluster::route::route(server, cluster, session, spec, args, keys, writes, at);
        session.key_positions = buf;
        routed?;
    }
    if writes && let Some(e) = server.persist.misconf() {
        return Err(CmdError::new(e));
    }
    match server.replication.refuse(spec, queued) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// RESP2's subscribed mode allows only the Pub/Sub commands, PING, QUIT and RESET.
pub fn context(session: &Session, out: &Reply, spec: &Spec) -> Option<CmdError> {
    if session.subscriptions.any() && !out.is_resp3() && !spec.has(flags::SUBSCRIBED_OK) {
        return Some(CmdError::new(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        )));
    }
    None
}

/// Client tracking: the keys a read-only command read are remembered for the client
/// (unless it tracks by prefix, or opted out of this command). `caching`: CLIENT
/// CACHING's answer for this command.
pub fn track_reads(
    server: &Server,
    session: &mut Session,
    spec: &Spec,
    args: Args<'_>,
    caching: Option<bool>,
) {
    let Some(mode) = &session.tracking else {
        return;
    };
    if mode.bcast || !spec.has(flags::READONLY) {
        return;
    }
    let track = if mode.optin {
        caching == Some(true)
    } else if mode.optout {
        caching != Some(false)
    } else {
        true
    };
    if !track {
        return;
    }
    let mut buf = std::mem::take(&mut session.key_positions);
    let keys = keys(spec, args, &mut buf);
    if !keys.is_empty() {
        server
            .tracking
            .remember(session.info.id, keys.iter().map(|&(i, _)| args.get(i)));
    }
    session.key_positions = buf;
}
