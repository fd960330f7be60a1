//! Who is connected: what CLIENT LIST / INFO / KILL and the cron see of each connection.
//!
//! A connection task owns its state; the few fields others must read (name, database,
//! last command, idle time) live here in atomics or small locks, written by the
//! connection and read by whoever asks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};

use crate::outbox::Outbox;

/// What a connection is, for CLIENT LIST / KILL TYPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Normal = 0,
    /// A replica of this node, after its PSYNC.
    Replica = 1,
    /// This node's link to its primary (it has no socket task of its own here).
    Master = 2,
}

/// The shared face of one connection.
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    /// The socket's file descriptor (CLIENT LIST fd).
    pub fd: i64,
    pub created: Instant,
    pub name: Mutex<Option<Vec<u8>>>,
    pub lib_name: Mutex<Option<Vec<u8>>>,
    pub lib_ver: Mutex<Option<Vec<u8>>>,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    /// Id in the command table of the last command run, plus one (0: none yet).
    pub last_cmd: AtomicUsize,
    /// Milliseconds since `created` of the last command (idle time, `timeout`).
    pub last_active_ms: AtomicU64,
    /// Bytes waiting in the query buffer (CLIENT LIST qbuf).
    pub qbuf: AtomicUsize,
    /// Bytes of the last command's arguments (CLIENT LIST argv-mem).
    pub argv_mem: AtomicUsize,
    /// CLIENT NO-EVICT: this client's own memory is not a reason to disconnect it.
    pub no_evict: AtomicBool,
    /// Parked in a blocking command (BLPOP ...): CLIENT LIST's `b`.
    pub blocked: AtomicBool,
    /// In MONITOR mode: CLIENT LIST's `O`.
    pub monitor: AtomicBool,
    /// CLIENT NO-TOUCH: its commands leave keys' LRU/LFU alone (CLIENT LIST's `T`).
    pub no_touch: AtomicBool,
    /// Frames other connections send this one (Pub/Sub messages).
    pub outbox: Outbox,
    /// Channels, patterns and shard channels subscribed to (CLIENT LIST sub, psub, ssub).
    pub subscriptions: [AtomicUsize; 3],
    /// Commands queued since MULTI, -1 outside a transaction (CLIENT LIST multi).
    pub multi: AtomicI64,
    /// Keys WATCHed (CLIENT LIST watch).
    pub watch: AtomicUsize,
    /// CLIENT TRACKING: -1 off, 0 on, otherwise the client id invalidations go to.
    pub tracking_redirect: AtomicI64,
    /// What the connection is (see [`Kind`]).
    kind: AtomicU8,
    killed: AtomicBool,
    kill: Notify,
}

impl ClientInfo {
    /// The client's shared face, and the receiving end of its outbox for its connection
    /// task.
    pub fn new(
        id: u64,
        addr: SocketAddr,
        laddr: SocketAddr,
        fd: i64,
    ) -> (ClientInfo, mpsc::UnboundedReceiver<Bytes>) {
        let (outbox, inbox) = Outbox::new();
        let info = ClientInfo {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_cmd: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            qbuf: AtomicUsize::new(0),
            argv_mem: AtomicUsize::new(0),
            no_evict: AtomicBool::new(false),
            monitor: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            outbox,
            subscriptions: Default::default(),
            multi: AtomicI64::new(-1),
            watch: AtomicUsize::new(0),
            tracking_redirect: AtomicI64::new(-1),
            kind: AtomicU8::new(Kind::Normal as u8),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
        };
        (info, inbox)
    }

    /// Asks the connection to close (CLIENT KILL, timeout, shutdown).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        // Every waiter: a connection that became a replica's link waits on a second
        // future while its first is still pinned in the connection task.
        self.kill.notify_waiters();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Resolves when [`ClientInfo::kill`] was called.
    pub async fn killed(&self) {
        let notified = self.kill.notified();
        tokio::pin!(notified);
        // Registered before the flag is read, so a kill in between is not missed.
        notified.as_mut().enable();
        if self.is_killed() {
            return;
        }
        notified.await;
    }

    pub fn set_kind(&self, kind: Kind) {
        self.kind.store(kind as u8, Ordering::Relaxed);
    }

    pub fn kind(&self) -> Kind {
        match self.kind.load(Ordering::Relaxed) {
            1 => Kind::Replica,
            2 => Kind::Master,
            _ => Kind::Normal,
        }
    }

    /// The class CLIENT LIST TYPE and CLIENT KILL TYPE filter on.
    pub fn class(&self) -> &'static str {
        match self.kind() {
            Kind::Replica => return "replica",
            Kind::Master => return "master",
            Kind::Normal => {}
        }
        if self
            .subscriptions
            .iter()
            .any(|n| n.load(Ordering::Relaxed) > 0)
        {
            "pubsub"
        } else {
            "normal"
        }
    }

    pub fn touch(&self) {
        self.touch_at(Instant::now());
    }

    /// Records activity at `at` (the connection's per-batch clock reading).
    pub fn touch_at(&self, at: Instant) {
        self.last_active_ms.store(
            at.saturating_duration_since(self.created).as_millis() as u64,
            Ordering::Relaxed,
        );
    }

    pub fn idle_secs(&self) -> u64 {
        let now = self.created.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000
    }
}

/// Every connected client, by id.
#[derive(Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
}

impl Clients {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn add(&self, c: Arc<ClientInfo>) {
        self.map.lock().insert(c.id, c);
    }

    pub fn remove(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map.lock().get(&id).cloned()
    }

    /// All clients, in id order.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.map.lock().values().cloned().collect()
    }
}
