//! Changing this node's role and reporting it: following a primary (REPLICAOF, the
//! cluster's configuration), promotion (REPLICAOF NO ONE, failover), the periodic upkeep
//! of links and the backlog, ROLE and INFO replication.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::ids::{Ids, NO_ID, new_replid};
use super::link::Link;
use crate::server::Server;

/// Becomes a replica of `host:port` (REPLICAOF, or `replicaof` at start-up). Returns
/// false when it already follows exactly that primary.
pub fn follow(server: &Arc<Server>, host: String, port: u16) -> bool {
    let _repl = &server.replication;
    follow_from(server, host, port, false)
}

/// [`Replication::follow`] at start-up (`replicaof` in the config): only data loaded
/// from a replica's files has a history to continue.
pub fn follow_at_start(server: &Arc<Server>, host: String, port: u16) {
    let _repl = &server.replication;
    follow_from(server, host, port, true);
}

fn follow_from(server: &Arc<Server>, host: String, port: u16, at_start: bool) -> bool {
    let repl = &server.replication;
    let mut link = repl.link.lock();
    if let Some(l) = link.as_ref()
        && l.host == host
        && l.port == port
    {
        return false;
    }
    if let Some(old) = link.take() {
        old.stop();
    }
    let stream = &server.persist.stream;
    let was_replica = repl.replica.swap(true, Relaxed);
    if !was_replica {
        // As Redis: what clients wait for on a primary will not come to a replica.
        server.blocking.fail_all(
            "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)",
        );
        stream.set_following(true);
        server.keyspace.set_keep_expired(true);
        let mut ids = repl.ids.lock();
        match repl.loaded.lock().take() {
            // Start-up loaded a replica's data: that history is its primary's.
            Some(o) if o.replid != NO_ID => ids.replid = o.replid,
            // What this node holds continues its own history, if its writes were
            // counted: a PSYNC with it continues if the new primary was this node's
            // replica until now (PSYNC2). Otherwise it has nothing to continue.
            _ if stream.is_active() && !at_start => {}
            _ => {
                *ids = Ids {
                    replid: NO_ID,
                    replid2: NO_ID,
                    second_offset: None,
                }
            }
        }
    }
    // The stream is counted from here on whatever happens (a replica always keeps a
    // backlog: its own replicas, and itself after a promotion, continue from it).
    let size = server.with_config(|c| c.repl_backlog_size) as usize;
    stream.with_new_backlog(size, |_, _| ());
    crate::persist::writer::install_journal(server);
    repl.refresh_gated();
    // Replicas of this node reconnect and continue with the new history.
    repl.disconnect_replicas();
    let l = Arc::new(Link::new(host, port));
    *link = Some(l.clone());
    drop(link);
    match server.link_runner.get() {
        Some(run) => {
            tokio::spawn(run(server.clone(), l));
        }
        None => tracing::error!("no replication link runner installed: cannot follow a primary"),
    }
    true
}

/// Stops following (REPLICAOF NO ONE): this node becomes a primary under a new id,
/// and keeps the old one as its second id up to the current offset, so the other
/// replicas of its old primary can continue with it (PSYNC2).
pub fn promote(server: &Arc<Server>) {
    let repl = &server.replication;
    let mut link = repl.link.lock();
    if let Some(old) = link.take() {
        old.stop();
    }
    drop(link);
    if !repl.replica.swap(false, Relaxed) {
        return;
    }
    let stream = &server.persist.stream;
    let offset = stream.offset();
    {
        let mut ids = repl.ids.lock();
        ids.replid2 = ids.replid;
        ids.second_offset = Some(offset);
        ids.replid = new_replid();
    }
    stream.set_following(false);
    server.keyspace.set_keep_expired(false);
    repl.refresh_gated();
    repl.disconnect_replicas();
    tracing::warn!(
        "now a primary: replication id {}, continuing {} up to offset {offset}",
        String::from_utf8_lossy(&repl.replid()),
        String::from_utf8_lossy(&repl.ids().replid2)
    );
}

/// What a replica sends in PSYNC: its history, or `?` when it has none worth
/// continuing (nothing tracked its writes).
pub fn psync_args(server: &Server) -> (Vec<u8>, i64) {
    let repl = &server.replication;
    let ids = repl.ids();
    let stream = &server.persist.stream;
    if !stream.has_backlog() || ids.replid == NO_ID {
        return (b"?".to_vec(), -1);
    }
    (ids.replid.to_vec(), stream.offset() as i64 + 1)
}

/// The background work of replication, from the cron: PINGs into the stream so idle
/// replicas see their primary alive, output limits, the backlog's time to live.
pub fn tick(server: &Arc<Server>) {
    let repl = &server.replication;
    let (ping_every, ttl, limit) = server.with_config(|c| {
        (
            c.repl_ping_replica_period,
            c.repl_backlog_ttl,
            c.client_output_buffer_limit.replica,
        )
    });
    let stream = &server.persist.stream;
    if let Some(size) = Some(server.with_config(|c| c.repl_backlog_size as usize)) {
        stream.with_backlog(|b| {
            if b.size() != size {
                b.set_size(size)
            }
        });
    }
    if repl.is_replica() {
        return;
    }
    let replicas = repl.replicas();
    if !replicas.is_empty() {
        let mut last = repl.last_ping.lock();
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(ping_every)) {
            *last = Some(Instant::now());
            stream.append_command(&[b"PING"]);
        }
    }
    let end = stream.offset();
    for r in &replicas {
        if r.over_limit(end, &limit) {
            tracing::warn!(
                "disconnecting replica {}:{}: {} bytes of the stream unsent, over client-output-buffer-limit replica",
                r.ip,
                r.port(),
                end.saturating_sub(r.sent())
            );
            server
                .pubsub
                .disconnected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            r.info.kill();
        }
    }
    let alone = *repl.alone_since.lock();
    if ttl > 0
        && replicas.is_empty()
        && alone.is_some_and(|t| t.elapsed() >= Duration::from_secs(ttl))
        && stream.has_backlog()
    {
        stream.drop_backlog();
        crate::persist::writer::install_journal(server);
        // Writes from now on are not counted: no replica may continue this history.
        repl.forget_history();
        *repl.alone_since.lock() = None;
        tracing::warn!("replication backlog freed after {ttl} s without replicas");
    }
}

/// ROLE.
pub fn role(server: &Server, out: &mut cairn_protocol::Reply) {
    let repl = &server.replication;
    let offset = server.persist.stream.offset();
    match repl.link() {
        Some(l) => {
            out.array(5);
            out.bulk(b"slave");
            out.bulk(l.host.as_bytes());
            out.int(l.port as i64);
            out.bulk(l.role_state().as_bytes());
            out.int(if l.is_up() { offset as i64 } else { -1 });
        }
        None => {
            let replicas: Vec<_> = repl
                .replicas()
                .into_iter()
                .filter(|r| r.is_online())
                .collect();
            out.array(3);
            out.bulk(b"master");
            out.int(offset as i64);
            out.array(replicas.len());
            for r in replicas {
                out.array(3);
                out.bulk(r.ip.to_string().as_bytes());
                out.bulk(r.port().to_string().as_bytes());
                out.bulk(r.acked().to_string().as_bytes());
            }
        }
    }
}

/// INFO replication, with Redis's field names.
pub fn info(server: &Server, out: &mut String) {
    let repl = &server.replication;
    let kv = |out: &mut String, k: &str, v: &dyn std::fmt::Display| {
        out.push_str(k);
        out.push(':');
        out.push_str(&v.to_string());
        out.push_str("\r\n");
    };
    let stream = &server.persist.stream;
    let offset = stream.offset();
    let now = repl.now_ms();
    match repl.link() {
        Some(l) => {
            kv(out, "role", &"slave");
            kv(out, "master_host", &l.host);
            kv(out, "master_port", &l.port);
            kv(
                out,
                "master_link_status",
                &if l.is_up() { "up" } else { "down" },
            );
            kv(
                out,
                "master_last_io_seconds_ago",
                &l.last_io_ago(now).map_or(-1, |ms| (ms / 1000) as i64),
            );
            let syncing = l.is_syncing();
            kv(out, "master_sync_in_progress", &(syncing as u8));
            kv(out, "slave_read_repl_offset", &offset);
            kv(out, "slave_repl_offset", &offset);
            if syncing {
                let read = l.sync_read();
                kv(out, "master_sync_total_bytes", &-1);
                kv(out, "master_sync_read_bytes", &read);
                kv(out, "master_sync_left_bytes", &-1);
                kv(out, "master_sync_perc", &"0.00");
                kv(
                    out,
                    "master_sync_last_io_seconds_ago",
                    &l.last_io_ago(now).map_or(0, |ms| ms / 1000),
                );
            }
            if let Some(since) = l.down_since() {
                kv(
                    out,
                    "master_link_down_since_seconds",
                    &since.elapsed().as_secs(),
                );
            }
            let (prio, ro) = server.with_config(|c| (c.replica_priority, c.replica_read_only));
            kv(out, "slave_priority", &prio);
            kv(out, "slave_read_only", &(ro as u8));
            kv(out, "replica_announced", &1);
        }
        None => kv(out, "role", &"master"),
    }
    let replicas = repl.replicas();
    kv(out, "connected_slaves", &replicas.len());
    if repl.link().is_none() {
        let min = repl.gates.min_replicas.load(Relaxed);
        if min > 0 {
            kv(out, "min_slaves_good_slaves", &repl.good_replicas());
        }
    }
    for (i, r) in replicas.iter().enumerate() {
        kv(
            out,
            &format!("slave{i}"),
            &format!(
                "ip={},port={},state={},offset={},lag={}",
                r.ip,
                r.port(),
                r.state_name(),
                r.acked(),
                now.saturating_sub(r.ack_at()) / 1000
            ),
        );
    }
    kv(out, "master_failover_state", &"no-failover");
    let ids = repl.ids();
    kv(out, "master_replid", &String::from_utf8_lossy(&ids.replid));
    kv(
        out,
        "master_replid2",
        &String::from_utf8_lossy(&ids.replid2),
    );
    kv(out, "master_repl_offset", &offset);
    kv(
        out,
        "second_repl_offset",
        &ids.second_offset.map_or(-1, |s| s as i64 + 1),
    );
    let backlog = stream.with_backlog(|b| (b.size(), b.start(), b.len()));
    match backlog {
        Some((size, start, len)) => {
            kv(out, "repl_backlog_active", &1);
            kv(out, "repl_backlog_size", &size);
            kv(out, "repl_backlog_first_byte_offset", &(start + 1));
            kv(out, "repl_backlog_histlen", &len);
        }
        None => {
            kv(out, "repl_backlog_active", &0);
            kv(
                out,
                "repl_backlog_size",
                &server.with_config(|c| c.repl_backlog_size),
            );
            kv(out, "repl_backlog_first_byte_offset", &0);
            kv(out, "repl_backlog_histlen", &0);
        }
    }
}
