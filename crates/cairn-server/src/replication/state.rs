//! What the server holds of replication: this node's ids, whether it follows a primary
//! (and its link), the replicas connected to it, the checks write commands pass
//! (READONLY, MASTERDOWN, NOREPLICAS) and WAIT's acknowledgements. Changing roles is in
//! `super::roles`; the links themselves in `super::primary` and `super::replica`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::follower::Replica;
use super::ids::{Ids, NO_ID, ReplId, new_replid};
use super::link::Link;
use super::rounds::Rounds;
use crate::error::CmdError;
use crate::persist::stream::{Origin, Stream};
use crate::spec::{Spec, flags};

/// Settings the request path reads without the config lock.
#[derive(Default)]
pub(super) struct Gates {
    pub(super) read_only: AtomicBool,
    pub(super) serve_stale: AtomicBool,
    pub(super) min_replicas: AtomicU64,
    pub(super) max_lag: AtomicU64,
}

pub struct Replication {
    pub(super) ids: Mutex<Ids>,
    /// This node follows a primary.
    pub(super) replica: AtomicBool,
    /// Anything for write commands to check (a replica, or min-replicas-to-write).
    pub(super) gated: AtomicBool,
    pub(super) gates: Gates,
    /// The link to the primary, on a replica.
    pub(super) link: Mutex<Option<Arc<Link>>>,
    /// Replicas connected to this node.
    pub(super) replicas: Mutex<Vec<Arc<Replica>>>,
    pub(crate) rounds: Rounds,
    /// Woken by every acknowledgement (WAIT).
    pub(super) acked: Notify,
    /// Where the data loaded at start-up sits in its history: a restarted replica asks
    /// its primary to continue from there.
    pub(super) loaded: Mutex<Option<Origin>>,
    /// When the last replica left (the backlog goes after `repl-backlog-ttl`).
    pub(super) alone_since: Mutex<Option<Instant>>,
    pub(super) last_ping: Mutex<Option<Instant>>,
    /// The stream offset of the last REPLCONF GETACK sent (one per offset is enough).
    pub(super) last_getack: AtomicU64,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    pub input_bytes: AtomicU64,
    pub output_bytes: AtomicU64,
    /// Server start, the zero of the millisecond clocks below and in the links.
    pub(super) epoch: Instant,
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
            rounds: Rounds::default(),
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

    pub fn link(&self) -> Option<Arc<Link>> {
        self.link.lock().clone()
    }

    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        self.replicas.lock().clone()
    }

    pub(crate) fn add_replica(&self, r: Arc<Replica>) {
        self.replicas.lock().push(r);
        *self.alone_since.lock() = None;
    }

    pub(crate) fn remove_replica(&self, r: &Arc<Replica>) {
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

    pub(super) fn refresh_gated(&self) {
        let on = self.is_replica() || self.gates.min_replicas.load(Relaxed) > 0;
        self.gated.store(on, Relaxed);
    }

    /// The error a command gets before it runs, if replication forbids it now:
    /// READONLY on a read-only replica, MASTERDOWN on a replica cut off from its primary
    /// that must not serve stale data, NOREPLICAS on a primary short of good replicas.
    #[inline]
    pub fn refuse(&self, spec: &Spec, queued_flags: u32) -> Option<CmdError> {
        if !self.gated.load(Relaxed) {
            return None;
        }
        self.refuse_slow(spec, queued_flags)
    }

    #[cold]
    fn refuse_slow(&self, spec: &Spec, queued_flags: u32) -> Option<CmdError> {
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
        stream: &Stream,
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

    pub fn disconnect_replicas(&self) {
        for r in self.replicas() {
            r.info.kill();
        }
    }
}
