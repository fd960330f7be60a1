//! Routing a keyed command by hash slot, as Redis Cluster does: MOVED, ASK, CROSSSLOT,
//! TRYAGAIN, CLUSTERDOWN, and fencing of a primary cut off from the voters.

use std::time::Instant;

use cairn_protocol::Args;

use super::state::Cluster;
use crate::error::CmdError;
use crate::server::Server;
use crate::session::Session;
use crate::spec::{Spec, flags};

fn slot_error(slot: u16, addr: &str, ask: bool) -> CmdError {
    CmdError::new(format!(
        "{} {slot} {addr}",
        if ask { "ASK" } else { "MOVED" }
    ))
}

/// Decides whether this node serves `args` now, as Redis Cluster does; the error is the
/// redirect or refusal the client gets. `keys`: the command's key positions (from its
/// key specs); `writes`: whether it (or the transaction EXEC runs) writes; `at`: the
/// connection's clock reading for the batch (fencing is judged against it).
#[allow(clippy::too_many_arguments)]
pub fn route(
    server: &Server,
    cluster: &Cluster,
    session: &mut Session,
    spec: &Spec,
    args: Args,
    keys: &[(usize, u32)],
    writes: bool,
    at: Instant,
) -> Result<(), CmdError> {
    let asking = std::mem::take(&mut session.asking) || spec.has(flags::ASKING);
    let Some(&(first, _)) = keys.first() else {
        return Ok(());
    };
    let slot = cairn_store::key_slot(args.get(first));
    if keys[1..]
        .iter()
        .any(|&(i, _)| cairn_store::key_slot(args.get(i)) != slot)
    {
        return Err(CmdError::new(
            "CROSSSLOT Keys in request don't hash to the same slot",
        ));
    }
    let r = cluster.routing();
    if !r.full
        && server.with_config(|c| {
            c.cluster_require_full_coverage && (writes || !c.cluster_allow_reads_when_down)
        })
    {
        return Err(CmdError::new("CLUSTERDOWN The cluster is down"));
    }
    let fenced = || {
        if writes && !cluster.node.writable_at(at) {
            Err(CmdError::new(
                "CLUSTERDOWN The cluster is down (this node cannot reach a majority of the voters)",
            ))
        } else {
            Ok(())
        }
    };
    let migration = r.config.migrations.get(&slot).copied();
    // MIGRATE moves this node's own keys, so it runs here whoever owns the slot. Redis
    // serves it while the slot is open on the node (migrating or importing); Cairn keeps
    // one migration record per slot rather than a marker per node, so an importer whose
    // import was cancelled (a rollback: the owner went STABLE first) holds strays that it
    // must still be able to send back.
    if spec.has(flags::MOVES_KEYS) {
        return fenced();
    }
    match r.config.owner(slot) {
        None => Err(CmdError::new("CLUSTERDOWN Hash slot not served")),
        Some(owner) if owner == r.me => {
            if let Some(m) = migration.filter(|m| m.from == r.me) {
                // Keys already moved are served by the target: ASK for them.
                let now = server.clock.at(at);
                let mut shard = server.keyspace.lock(slot);
                let db = shard.db(session.db);
                let (mut present, mut all) = (0, 0);
                for &(i, _) in keys {
                    all += 1;
                    present += usize::from(db.contains(slot, args.get(i), now));
                }
                if present == 0 {
                    return Err(slot_error(slot, r.addr(m.to), true));
                }
                if present < all {
                    return Err(CmdError::new(
                        "TRYAGAIN Multiple keys request during rehashing of slot",
                    ));
                }
            }
            fenced()
        }
        Some(owner) => {
            if asking && migration.is_some_and(|m| m.to == r.me) {
                return fenced();
            }
            if !writes && session.readonly && r.my_primary == Some(owner) {
                return Ok(());
            }
            let ask = cluster.handed_over(slot) == Some(owner);
            Err(slot_error(slot, r.addr(owner), ask))
        }
    }
}
