//! A replica connected to this node, as its primary sees it: where it is in its sync,
//! how far it has been sent and has acknowledged the stream, whether it lags past its
//! output limits. Served by `super::primary`; listed by `super::state`.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::backlog::Pin;
use crate::clients::ClientInfo;
use crate::outbox::OutputLimit;

pub(super) const WAIT_BGSAVE: u8 = 0;

pub(super) const SEND_BULK: u8 = 1;

pub(super) const ONLINE: u8 = 2;

/// One replica connected to this node.
pub struct Replica {
    pub info: Arc<ClientInfo>,
    pub ip: IpAddr,
    pub(super) port: AtomicU16,
    pub(super) state: AtomicU8,
    /// How far it has been sent the stream; pinned in the backlog.
    pub(super) pin: Mutex<Option<Pin>>,
    pub(super) ack: AtomicU64,
    /// When it last acknowledged (ms on `Replication::now_ms`).
    pub(super) ack_at: AtomicU64,
    /// Since when its unsent bytes are over the soft limit.
    pub(super) over_soft: Mutex<Option<Instant>>,
}

impl Replica {
    pub fn port(&self) -> u16 {
        self.port.load(Relaxed)
    }

    pub fn is_online(&self) -> bool {
        self.state.load(Relaxed) == ONLINE
    }

    pub fn state_name(&self) -> &'static str {
        match self.state.load(Relaxed) {
            WAIT_BGSAVE => "wait_bgsave",
            SEND_BULK => "send_bulk",
            _ => "online",
        }
    }

    pub fn acked(&self) -> u64 {
        self.ack.load(Relaxed)
    }

    pub fn ack_at(&self) -> u64 {
        self.ack_at.load(Relaxed)
    }

    /// The offset it has been sent up to (the end of the stream if nothing is pinned).
    pub fn sent(&self) -> u64 {
        self.pin
            .lock()
            .as_ref()
            .map_or(u64::MAX, |p| p.load(Relaxed))
    }

    /// Whether its unsent bytes passed the hard limit, or the soft one for too long.
    pub fn over_limit(&self, end: u64, limit: &OutputLimit) -> bool {
        let sent = self.sent();
        if sent == u64::MAX {
            return false;
        }
        let lag = end.saturating_sub(sent);
        if limit.hard > 0 && lag > limit.hard {
            return true;
        }
        let mut soft = self.over_soft.lock();
        if limit.soft > 0 && lag > limit.soft {
            let since = *soft.get_or_insert_with(Instant::now);
            since.elapsed() >= Duration::from_secs(limit.soft_seconds)
        } else {
            *soft = None;
            false
        }
    }
}
