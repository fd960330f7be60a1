//! Primary–replica replication on the write stream (docs/replication.md).
//!
//! - [`backlog`]: the stream's tail kept in memory, one buffer shared by every replica.
//! - [`primary`]: serving replicas: PSYNC, full syncs that stream one snapshot to every
//!   replica waiting for it, partial resyncs from the backlog, acknowledgements, output
//!   limits.
//! - [`replica`]: the link to a primary: handshake, loading a full sync aside while the
//!   old data keeps serving, applying the stream, acknowledging it, reconnecting.
//! - [`digest`]: an order-independent digest of the dataset (DEBUG DIGEST), to prove two
//!   nodes hold the same data.
//!
//! This file holds what both sides share: the replication ids (a history is a replication
//! id plus an offset into it; PSYNC2's second id lets replicas of a promoted node
//! continue), the decision whether a PSYNC can continue, the checks write commands pass
//! (READONLY, MASTERDOWN, NOREPLICAS), WAIT's bookkeeping, INFO replication and ROLE.
//!
//! ```text
//!   primary                                   replica
//!   ┌───────────────────────────────┐         ┌─────────────────────────────────────┐
//!   │ commands ─▶ store ─▶ journal  │         │ link task: PSYNC, then per read:    │
//!   │   └▶ stream (AOF buffer,      │  bytes  │  apply commands (expiry off) ─▶ store│
//!   │        backlog) ─▶ sender ────┼────────▶│  append the same bytes to its own    │
//!   │              ◀── REPLCONF ACK ┼─────────┤  stream (AOF, backlog, sub-replicas) │
//!   └───────────────────────────────┘         └─────────────────────────────────────┘
//! ```

pub mod backlog;
pub mod digest;
pub mod primary;
pub mod replica;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::commands::{CmdError, CommandSpec, flags};
use crate::persist::snapshot::{Origin, REPLID_LEN};
use crate::server::Server;

pub type ReplId = [u8; REPLID_LEN];

/// A fresh replication id: 40 random hex characters.
pub fn new_replid() -> ReplId {
    let mut id = [0u8; REPLID_LEN];
    for b in &mut id {
        *b = b"0123456789abcdef"[fastrand::usize(..16)];
    }
    id
}

/// The id Redis shows when there is none.
pub const NO_ID: ReplId = [b'0'; REPLID_LEN];

/// Which histories this node can continue: its own id, and the id it had before its
/// last promotion up to the offset where it was promoted (PSYNC2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    pub replid: ReplId,
    pub replid2: ReplId,
    /// Bytes of `replid2`'s history this node holds; `None` without a second id.
    pub second_offset: Option<u64>,
}

/// What a PSYNC request gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Psync {
    /// Send the stream from this offset (the replica holds every byte before it).
    Continue { from: u64 },
    /// Send a snapshot. `refused` when the replica asked to continue and could not.
    Full { refused: bool },
}

/// Decides a `PSYNC replid offset` (offset as Redis counts it: the next byte wanted, so
/// the replica holds `offset - 1` bytes) against this node's ids and backlog range.
pub fn decide(ids: &Ids, replid: &[u8], offset: i64, backlog: Option<(u64, u64)>) -> Psync {
    if replid == b"?" || offset < 1 {
        return Psync::Full { refused: false };
    }
    let have = offset as u64 - 1;
    let ours = replid == ids.replid;
    let before_promotion = replid == ids.replid2
        && ids.replid2 != NO_ID
        && ids.second_offset.is_some_and(|s| have <= s);
    if !ours && !before_promotion {
        return Psync::Full { refused: true };
    }
    match backlog {
        Some((start, end)) if start <= have && have <= end => Psync::Continue { from: have },
        _ => Psync::Full { refused: true },
    }
}

/// Settings the request path reads without the config lock.
#[derive(Default)]
struct Gates {
    read_only: AtomicBool,
    serve_stale: AtomicBool,
    min_replicas: AtomicU64,
    max_lag: AtomicU64,
}

pub struct Replication {
    ids: Mutex<Ids>,
    /// This node follows a primary.
    replica: AtomicBool,
    /// Anything for write commands to check (a replica, or min-replicas-to-write).
    gated: AtomicBool,
    gates: Gates,
    /// The link to the primary, on a replica.
    link: Mutex<Option<Arc<replica::Link>>>,
    /// Replicas connected to this node.
    replicas: Mutex<Vec<Arc<primary::Replica>>>,
    pub(crate) rounds: primary::Rounds,
    /// Woken by every acknowledgement (WAIT).
    acked: Notify,
    /// Where the data loaded at start-up sits in its history: a restarted replica asks
    /// its primary to continue from there.
    loaded: Mutex<Option<Origin>>,
    /// When the last replica left (the backlog goes after `repl-backlog-ttl`).
    alone_since: Mutex<Option<Instant>>,
    last_ping: Mutex<Option<Instant>>,
    /// The stream offset of the last REPLCONF GETACK sent (one per offset is enough).
    last_getack: AtomicU64,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    pub input_bytes: AtomicU64,
    pub output_bytes: AtomicU64,
    /// Server start, the zero of the millisecond clocks below and in the links.
    epoch: Instant,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            ids: Mutex::new(Ids {
                replid: new_replid(),
                replid2: NO_ID,
                second_offset: None,
            }),
            replica: AtomicBool::new(false),
            gated: AtomicBool::new(false),
            gates: Gates::default(),
            link: Mutex::new(None),
            replicas: Mutex::new(Vec::new()),
            rounds: primary::Rounds::default(),
            acked: Notify::new(),
            loaded: Mutex::new(None),
            alone_since: Mutex::new(None),
            last_ping: Mutex::new(None),
            last_getack: AtomicU64::new(u64::MAX),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            input_bytes: AtomicU64::new(0),
            output_bytes: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl Replication {
    pub fn ids(&self) -> Ids {
        *self.ids.lock()
    }

    pub fn replid(&self) -> ReplId {
        self.ids.lock().replid
    }

    pub(crate) fn set_ids(&self, ids: Ids) {
        *self.ids.lock() = ids;
    }

    /// Starts a new history: this node's data no longer follows the old one (the
    /// backlog went away, so writes stopped being counted).
    pub fn forget_history(&self) {
        *self.ids.lock() = Ids {
            replid: new_replid(),
            replid2: NO_ID,
            second_offset: None,
        };
    }

    pub fn is_replica(&self) -> bool {
        self.replica.load(Relaxed)
    }

    /// Milliseconds since the server started (the clock acknowledgements are stamped on).
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Records what start-up loaded (see the field).
    pub fn loaded(&self, origin: Origin) {
        *self.loaded.lock() = Some(origin);
    }

    pub fn link(&self) -> Option<Arc<replica::Link>> {
        self.link.lock().clone()
    }

    pub fn replicas(&self) -> Vec<Arc<primary::Replica>> {
        self.replicas.lock().clone()
    }

    pub(crate) fn add_replica(&self, r: Arc<primary::Replica>) {
        self.replicas.lock().push(r);
        *self.alone_since.lock() = None;
    }

    pub(crate) fn remove_replica(&self, r: &Arc<primary::Replica>) {
        let mut list = self.replicas.lock();
        list.retain(|x| !Arc::ptr_eq(x, r));
        if list.is_empty() {
            *self.alone_since.lock() = Some(Instant::now());
        }
    }

    /// Copies the settings the request path reads (at start-up and after CONFIG SET).
    pub fn apply_config(&self, c: &crate::config::Config) {
        self.gates.read_only.store(c.replica_read_only, Relaxed);
        self.gates
            .serve_stale
            .store(c.replica_serve_stale_data, Relaxed);
        self.gates
            .min_replicas
            .store(c.min_replicas_to_write, Relaxed);
        self.gates.max_lag.store(c.min_replicas_max_lag, Relaxed);
        self.refresh_gated();
        self.rounds.settings(c);
    }

    fn refresh_gated(&self) {
        let on = self.is_replica() || self.gates.min_replicas.load(Relaxed) > 0;
        self.gated.store(on, Relaxed);
    }

    /// The error a command gets before it runs, if replication forbids it now:
    /// READONLY on a read-only replica, MASTERDOWN on a replica cut off from its primary
    /// that must not serve stale data, NOREPLICAS on a primary short of good replicas.
    #[inline]
    pub fn refuse(&self, spec: &CommandSpec, queued_flags: u32) -> Option<CmdError> {
        if !self.gated.load(Relaxed) {
            return None;
        }
        self.refuse_slow(spec, queued_flags)
    }

    #[cold]
    fn refuse_slow(&self, spec: &CommandSpec, queued_flags: u32) -> Option<CmdError> {
        let writes = (spec.flags | queued_flags) & flags::WRITE != 0;
        if self.is_replica() {
            if !self.gates.serve_stale.load(Relaxed)
                && !spec.has(flags::STALE)
                && !self.link().is_some_and(|l| l.is_up())
            {
                return Some(CmdError::new(
                    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
                ));
            }
            if writes && self.gates.read_only.load(Relaxed) {
                return Some(CmdError::new(
                    "READONLY You can't write against a read only replica.",
                ));
            }
            return None;
        }
        let min = self.gates.min_replicas.load(Relaxed);
        if writes && min > 0 && (self.good_replicas() as u64) < min {
            return Some(CmdError::new(
                "NOREPLICAS Not enough good replicas to write.",
            ));
        }
        None
    }

    /// Whether client writes are refused (a read-only replica); for the memcached
    /// protocol, which has no command table to consult.
    pub fn refuses_writes(&self) -> bool {
        self.is_replica() && self.gates.read_only.load(Relaxed)
    }

    /// Replicas online that acknowledged within `min-replicas-max-lag` seconds.
    pub fn good_replicas(&self) -> usize {
        let lag_ms = self.gates.max_lag.load(Relaxed) * 1000;
        let now = self.now_ms();
        self.replicas
            .lock()
            .iter()
            .filter(|r| r.is_online() && now.saturating_sub(r.ack_at()) <= lag_ms)
            .count()
    }

    /// Replicas that acknowledged `offset` or more.
    pub fn acked(&self, offset: u64) -> usize {
        self.replicas
            .lock()
            .iter()
            .filter(|r| r.is_online() && r.acked() >= offset)
            .count()
    }

    /// Called by a replica's reader for each acknowledgement.
    pub(crate) fn on_ack(&self) {
        self.acked.notify_waiters();
    }

    /// WAIT: asks the replicas to acknowledge now (a `REPLCONF GETACK *` in the stream,
    /// once per offset), then waits until `want` of them acknowledged `offset` or the
    /// deadline passes. Returns how many did.
    pub async fn wait_acks(
        &self,
        server: &Server,
        offset: u64,
        want: usize,
        deadline: Option<Instant>,
    ) -> usize {
        loop {
            let notified = self.acked.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let n = self.acked(offset);
            if n >= want {
                return n;
            }
            let stream = &server.persist.stream;
            let at = stream.offset();
            if self.last_getack.swap(at, Relaxed) != at && !self.replicas.lock().is_empty() {
                stream.append_command(&[b"REPLCONF", b"GETACK", b"*"]);
                self.last_getack.store(stream.offset(), Relaxed);
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d.into(), notified).await.is_err() {
                        return self.acked(offset);
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Becomes a replica of `host:port` (REPLICAOF, or `replicaof` at start-up). Returns
    /// false when it already follows exactly that primary.
    pub fn follow(&self, server: &Arc<Server>, host: String, port: u16) -> bool {
        self.follow_from(server, host, port, false)
    }

    /// [`Replication::follow`] at start-up (`replicaof` in the config): only data loaded
    /// from a replica's files has a history to continue.
    pub fn follow_at_start(&self, server: &Arc<Server>, host: String, port: u16) {
        self.follow_from(server, host, port, true);
    }

    fn follow_from(&self, server: &Arc<Server>, host: String, port: u16, at_start: bool) -> bool {
        let mut link = self.link.lock();
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
        let was_replica = self.replica.swap(true, Relaxed);
        if !was_replica {
            stream.set_following(true);
            server.keyspace.set_keep_expired(true);
            let mut ids = self.ids.lock();
            match self.loaded.lock().take() {
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
        crate::persist::install_journal(server);
        self.refresh_gated();
        // Replicas of this node reconnect and continue with the new history.
        self.disconnect_replicas();
        let l = Arc::new(replica::Link::new(host, port));
        *link = Some(l.clone());
        drop(link);
        tokio::spawn(replica::run(server.clone(), l));
        true
    }

    /// Stops following (REPLICAOF NO ONE): this node becomes a primary under a new id,
    /// and keeps the old one as its second id up to the current offset, so the other
    /// replicas of its old primary can continue with it (PSYNC2).
    pub fn promote(&self, server: &Arc<Server>) {
        let mut link = self.link.lock();
        if let Some(old) = link.take() {
            old.stop();
        }
        drop(link);
        if !self.replica.swap(false, Relaxed) {
            return;
        }
        let stream = &server.persist.stream;
        let offset = stream.offset();
        {
            let mut ids = self.ids.lock();
            ids.replid2 = ids.replid;
            ids.second_offset = Some(offset);
            ids.replid = new_replid();
        }
        stream.set_following(false);
        server.keyspace.set_keep_expired(false);
        self.refresh_gated();
        self.disconnect_replicas();
        tracing::warn!(
            "now a primary: replication id {}, continuing {} up to offset {offset}",
            String::from_utf8_lossy(&self.replid()),
            String::from_utf8_lossy(&self.ids().replid2)
        );
    }

    /// What a replica sends in PSYNC: its history, or `?` when it has none worth
    /// continuing (nothing tracked its writes).
    pub fn psync_args(&self, server: &Server) -> (Vec<u8>, i64) {
        let ids = self.ids();
        let stream = &server.persist.stream;
        if !stream.has_backlog() || ids.replid == NO_ID {
            return (b"?".to_vec(), -1);
        }
        (ids.replid.to_vec(), stream.offset() as i64 + 1)
    }

    pub fn disconnect_replicas(&self) {
        for r in self.replicas() {
            r.info.kill();
        }
    }

    /// The background work of replication, from the cron: PINGs into the stream so idle
    /// replicas see their primary alive, output limits, the backlog's time to live.
    pub fn tick(&self, server: &Arc<Server>) {
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
        if self.is_replica() {
            return;
        }
        let replicas = self.replicas();
        if !replicas.is_empty() {
            let mut last = self.last_ping.lock();
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
        let alone = *self.alone_since.lock();
        if ttl > 0
            && replicas.is_empty()
            && alone.is_some_and(|t| t.elapsed() >= Duration::from_secs(ttl))
            && stream.has_backlog()
        {
            stream.drop_backlog();
            crate::persist::install_journal(server);
            // Writes from now on are not counted: no replica may continue this history.
            self.forget_history();
            *self.alone_since.lock() = None;
            tracing::warn!("replication backlog freed after {ttl} s without replicas");
        }
    }

    /// ROLE.
    pub fn role(&self, server: &Server, out: &mut cairn_protocol::Reply) {
        let offset = server.persist.stream.offset();
        match self.link() {
            Some(l) => {
                out.array(5);
                out.bulk(b"slave");
                out.bulk(l.host.as_bytes());
                out.int(l.port as i64);
                out.bulk(l.role_state().as_bytes());
                out.int(if l.is_up() { offset as i64 } else { -1 });
            }
            None => {
                let replicas: Vec<_> = self
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
    pub fn info(&self, server: &Server, out: &mut String) {
        let kv = |out: &mut String, k: &str, v: &dyn std::fmt::Display| {
            out.push_str(k);
            out.push(':');
            out.push_str(&v.to_string());
            out.push_str("\r\n");
        };
        let stream = &server.persist.stream;
        let offset = stream.offset();
        let now = self.now_ms();
        match self.link() {
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
        let replicas = self.replicas();
        kv(out, "connected_slaves", &replicas.len());
        if self.link().is_none() {
            let min = self.gates.min_replicas.load(Relaxed);
            if min > 0 {
                kv(out, "min_slaves_good_slaves", &self.good_replicas());
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
        let ids = self.ids();
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Ids {
        Ids {
            replid: *b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            replid2: *b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            second_offset: Some(1000),
        }
    }

    #[test]
    fn continues_its_own_history_inside_the_backlog() {
        let ids = ids();
        assert_eq!(
            decide(&ids, &ids.replid, 501, Some((100, 2000))),
            Psync::Continue { from: 500 }
        );
        // The replica holds everything: nothing to send, still a continue.
        assert_eq!(
            decide(&ids, &ids.replid, 2001, Some((100, 2000))),
            Psync::Continue { from: 2000 }
        );
    }

    #[test]
    fn a_replica_outside_the_backlog_gets_a_full_sync() {
        let ids = ids();
        assert_eq!(
            decide(&ids, &ids.replid, 50, Some((100, 2000))),
            Psync::Full { refused: true }
        );
        assert_eq!(
            decide(&ids, &ids.replid, 2002, Some((100, 2000))),
            Psync::Full { refused: true }
        );
        assert_eq!(
            decide(&ids, &ids.replid, 500, None),
            Psync::Full { refused: true }
        );
    }

    #[test]
    fn the_old_id_continues_only_up_to_the_promotion() {
        let ids = ids();
        assert_eq!(
            decide(&ids, &ids.replid2, 1001, Some((0, 5000))),
            Psync::Continue { from: 1000 }
        );
        // It holds writes of the old primary this node never had.
        assert_eq!(
            decide(&ids, &ids.replid2, 1002, Some((0, 5000))),
            Psync::Full { refused: true }
        );
    }

    #[test]
    fn unknown_ids_and_questions_get_full_syncs() {
        let ids = ids();
        assert_eq!(
            decide(&ids, b"?", -1, Some((0, 5000))),
            Psync::Full { refused: false }
        );
        assert_eq!(
            decide(&ids, &NO_ID, 10, Some((0, 5000))),
            Psync::Full { refused: true }
        );
        let no_second = Ids {
            replid2: NO_ID,
            second_offset: None,
            ..ids
        };
        assert_eq!(
            decide(&no_second, &NO_ID, 10, Some((0, 5000))),
            Psync::Full { refused: true }
        );
    }
}
