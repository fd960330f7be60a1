//! The link to a primary as the rest of the server sees it: where it is going, its state
//! (INFO master_link_status), what it has received and applied. Run by `super::replica`.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use std::sync::Arc;

use parking_lot::Mutex;

use crate::clients::ClientInfo;
use tokio::sync::Notify;

pub(super) const CONNECT: u8 = 0;

pub(super) const CONNECTING: u8 = 1;

pub(super) const HANDSHAKE: u8 = 2;

pub(super) const SYNC: u8 = 3;

pub(super) const CONNECTED: u8 = 4;

/// The link as INFO, ROLE and the request path see it.
pub struct Link {
    pub host: String,
    pub port: u16,
    pub(super) status: AtomicU8,
    /// When bytes last came from the primary (ms on `Replication::now_ms`; 0: never).
    pub(super) last_io: AtomicU64,
    pub(super) down_since: Mutex<Option<Instant>>,
    /// Snapshot bytes received in the current full sync.
    pub(super) sync_read: AtomicU64,
    pub(super) stopped: AtomicBool,
    pub(super) stop: Notify,
    /// The link has been up at least once: this node holds its primary's data.
    pub(super) synced: AtomicBool,
    /// The link's face in CLIENT LIST (type master); CLIENT KILL TYPE master closes it,
    /// and it reconnects.
    pub(super) client: Mutex<Option<Arc<ClientInfo>>>,
}

impl Link {
    pub fn new(host: String, port: u16) -> Link {
        Link {
            host,
            port,
            status: AtomicU8::new(CONNECT),
            last_io: AtomicU64::new(0),
            down_since: Mutex::new(Some(Instant::now())),
            sync_read: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
            synced: AtomicBool::new(false),
            client: Mutex::new(None),
        }
    }

    pub fn is_up(&self) -> bool {
        self.status.load(Relaxed) == CONNECTED
    }

    /// Whether a sync with this primary has completed (see the field).
    pub fn has_synced(&self) -> bool {
        self.synced.load(Relaxed)
    }

    pub fn is_syncing(&self) -> bool {
        self.status.load(Relaxed) == SYNC
    }

    /// ROLE's word for the link's state.
    pub fn role_state(&self) -> &'static str {
        match self.status.load(Relaxed) {
            CONNECT => "connect",
            CONNECTING => "connecting",
            HANDSHAKE => "handshake",
            SYNC => "sync",
            _ => "connected",
        }
    }

    pub fn last_io_ago(&self, now_ms: u64) -> Option<u64> {
        match self.last_io.load(Relaxed) {
            0 => None,
            t => Some(now_ms.saturating_sub(t)),
        }
    }

    pub fn down_since(&self) -> Option<Instant> {
        *self.down_since.lock()
    }

    pub fn sync_read(&self) -> u64 {
        self.sync_read.load(Relaxed)
    }

    /// Ends the link for good (REPLICAOF elsewhere, or NO ONE).
    pub fn stop(&self) {
        self.stopped.store(true, Relaxed);
        self.stop.notify_waiters();
        if let Some(c) = self.client.lock().as_ref() {
            c.kill();
        }
    }

    pub(super) fn is_stopped(&self) -> bool {
        self.stopped.load(Relaxed)
    }

    pub(super) fn set_status(&self, s: u8) {
        self.status.store(s, Relaxed);
        let mut down = self.down_since.lock();
        if s == CONNECTED {
            self.synced.store(true, Relaxed);
            *down = None;
        } else if down.is_none() {
            *down = Some(Instant::now());
        }
    }
}
