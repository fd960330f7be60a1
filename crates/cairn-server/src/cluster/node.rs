//! This node's cluster side: started once the client port is known, its run-time
//! settings applied, and the roles the committed configuration gives it followed
//! (replicate a primary, or be promoted).

use std::sync::Arc;

use cairn_cluster::{ClusterNode, Host, Options, Role};

use super::state::Cluster;
use crate::server::Server;

/// The replication offset pings carry.
struct Offset(std::sync::Weak<Server>);

impl Host for Offset {
    fn repl_offset(&self) -> u64 {
        self.0.upgrade().map_or(0, |s| s.persist.stream.offset())
    }

    fn synced(&self) -> bool {
        self.0
            .upgrade()
            .and_then(|s| s.replication.link())
            .is_some_and(|l| l.has_synced())
    }
}

/// Starts this node's cluster side once the client port is known.
pub async fn start(server: &Arc<Server>, port: u16) -> std::io::Result<()> {
    let cfg = server.config();
    let bus_port = match cfg.cluster_port {
        0 if port <= 55535 => port + 10000,
        0 => std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port(),
        p => p,
    };
    let host = if !cfg.cluster_announce_ip.is_empty() {
        cfg.cluster_announce_ip.clone()
    } else {
        cfg.bind
            .iter()
            .find(|b| !matches!(b.as_str(), "*" | "0.0.0.0" | "::" | "::*"))
            .cloned()
            .unwrap_or_else(|| "127.0.0.1".into())
    };
    let bus_bind = cfg
        .bind
        .iter()
        .map(|b| match b.as_str() {
            "*" => "0.0.0.0".to_string(),
            "::*" => "::".to_string(),
            other => other.trim_start_matches('-').to_string(),
        })
        .collect();
    let opts = Options {
        dir: std::path::Path::new(&cfg.dir).join("cluster"),
        host,
        port,
        bus_port,
        bus_bind,
        node_timeout: std::time::Duration::from_millis(cfg.cluster_node_timeout),
        secret: configured_secret(&cfg)?,
        max_frame: cfg.cluster_bus_max_frame as usize,
    };
    let node = ClusterNode::start(opts, Arc::new(Offset(Arc::downgrade(server)))).await?;
    tracing::warn!("cluster node {} on bus port {bus_port}", node.name);
    let cluster = Arc::new(Cluster::new(node));
    let _ = server.cluster.set(cluster.clone());
    tokio::spawn(follow_roles(server.clone(), cluster));
    Ok(())
}

/// The secret the settings give: `cluster-secret`, else the file `cluster-secret-file`
/// names (a file that cannot be read stops the start), else none (the node then uses the
/// one a run-time change left in its directory, if any).
fn configured_secret(cfg: &crate::config::Config) -> std::io::Result<Option<Vec<u8>>> {
    if !cfg.cluster_secret.is_empty() {
        return Ok(Some(cfg.cluster_secret.as_bytes().to_vec()));
    }
    if cfg.cluster_secret_file.is_empty() {
        return Ok(None);
    }
    let s = std::fs::read(&cfg.cluster_secret_file).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot read cluster-secret-file {}: {e}",
                cfg.cluster_secret_file
            ),
        )
    })?;
    let s = s.trim_ascii();
    if s.len() < 16 {
        return Err(std::io::Error::other(format!(
            "cluster-secret-file {} holds fewer than 16 characters",
            cfg.cluster_secret_file
        )));
    }
    Ok(Some(s.to_vec()))
}

/// CONFIG SET of the cluster's run-time settings: a new secret for the bus (kept in the
/// node's directory), a new frame limit.
pub fn apply_config(
    server: &Server,
    before: &crate::config::Config,
    next: &crate::config::Config,
) -> Result<(), String> {
    let Some(cluster) = server.cluster.get() else {
        return Ok(());
    };
    if next.cluster_secret != before.cluster_secret {
        let secret =
            (!next.cluster_secret.is_empty()).then(|| next.cluster_secret.as_bytes().to_vec());
        cluster
            .node
            .set_secret(secret)
            .map_err(|e| format!("cannot keep the cluster secret in the node's directory: {e}"))?;
    }
    cluster
        .node
        .set_max_frame(next.cluster_bus_max_frame as usize);
    Ok(())
}

/// Keeps the routing current and this node in the role the configuration gives it.
async fn follow_roles(server: Arc<Server>, cluster: Arc<Cluster>) {
    let mut changes = cluster.node.subscribe();
    loop {
        cluster.refresh();
        let routing = cluster.routing();
        // A client blocked on a key whose slot is now another node's runs its command
        // again: it gets the MOVED that sends its cluster client there.
        server.blocking.rerun_if(|w| {
            w.keys
                .first()
                .is_some_and(|k| routing.config.owner(cairn_store::key_slot(k)) != Some(routing.me))
        });
        let repl = &server.replication;
        match routing.config.node(routing.me).map(|n| n.role) {
            Some(Role::Replica { of }) => {
                if let Some(p) = routing.config.node(of)
                    && crate::replication::roles::follow(&server, p.host.clone(), p.port)
                {
                    server.set_replicaof(format!("{} {}", p.host, p.port));
                    // Writes held for a manual failover now get redirected instead.
                    server.unpause();
                    tracing::warn!("replicating {} as the cluster configuration says", p.addr());
                }
            }
            Some(Role::Primary) if repl.is_replica() => {
                crate::replication::roles::promote(&server);
                server.set_replicaof(String::new());
                tracing::warn!(
                    "promoted to primary by the cluster configuration (epoch {})",
                    routing.config.epoch
                );
            }
            Some(Role::Primary) => {}
            None => {}
        }
        tokio::select! {
            _ = server.wait_shutdown() => return,
            r = changes.changed() => if r.is_err() { return },
        }
    }
}
