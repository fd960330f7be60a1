//! State shared by every connection: the keyspace, configuration, clients and counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cairn_protocol::Limits;
use cairn_store::Keyspace;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use crate::clients::Clients;
use crate::commands::{CommandSpec, flags};
use crate::config::{Config, ConfigError};
use crate::lazyfree::LazyFree;
use crate::stats::Stats;

/// Applies a new `loglevel` to the process's logger.
pub type LogLevelHook = Box<dyn Fn(&str) + Send + Sync>;

/// Hooks the binary gives the server for what lives outside it.
#[derive(Default)]
pub struct Hooks {
    pub set_loglevel: Option<LogLevelHook>,
}

/// Which commands CLIENT PAUSE holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseMode {
    All,
    Write,
}

pub struct Server {
    pub keyspace: Keyspace,
    /// Wall-clock time derived from one monotonic reading per batch.
    pub clock: crate::clock::Clock,
    config: RwLock<Config>,
    pub clients: Clients,
    pub stats: Stats,
    pub lazyfree: LazyFree,
    pub hooks: Hooks,
    pub started: Instant,
    /// 40 hex characters identifying this run (INFO run_id).
    pub run_id: String,
    /// Request limits, copied out of the config so connections read them without a lock.
    max_bulk_len: AtomicUsize,
    query_buffer_limit: AtomicUsize,
    maxclients: AtomicUsize,
    maxmemory: AtomicU64,
    /// The active expiry sweep (DEBUG SET-ACTIVE-EXPIRE turns it off for tests).
    pub active_expire: AtomicBool,
    /// Memory figures refreshed by the cron (allocator statistics are not free to read).
    pub used_memory: AtomicU64,
    pub peak_memory: AtomicU64,
    pause: Mutex<Option<(Instant, PauseMode)>>,
    /// Set while a pause may be in force, so the common case costs one relaxed load.
    pause_active: AtomicBool,
    unpaused: Notify,
    shutdown: Notify,
    shutting_down: AtomicBool,
}

impl Server {
    pub fn new(config: Config, hooks: Hooks) -> Arc<Server> {
        let keyspace = Keyspace::new(config.databases, config.shards);
        let server = Server {
            keyspace,
            clock: crate::clock::Clock::default(),
            max_bulk_len: AtomicUsize::new(config.proto_max_bulk_len as usize),
            query_buffer_limit: AtomicUsize::new(config.client_query_buffer_limit as usize),
            maxclients: AtomicUsize::new(config.maxclients),
            maxmemory: AtomicU64::new(config.maxmemory),
            config: RwLock::new(config),
            clients: Clients::default(),
            stats: Stats::default(),
            lazyfree: LazyFree::start(),
            hooks,
            started: Instant::now(),
            run_id: (0..40)
                .map(|_| char::from_digit(fastrand::u32(..16), 16).expect("hex digit"))
                .collect(),
            active_expire: AtomicBool::new(true),
            used_memory: AtomicU64::new(0),
            peak_memory: AtomicU64::new(0),
            pause: Mutex::new(None),
            pause_active: AtomicBool::new(false),
            unpaused: Notify::new(),
            shutdown: Notify::new(),
            shutting_down: AtomicBool::new(false),
        };
        server
            .stats
            .set_latency_tracking(server.config.read().latency_tracking);
        Arc::new(server)
    }

    /// A copy of the running configuration.
    pub fn config(&self) -> Config {
        self.config.read().clone()
    }

    /// Reads one field of the configuration without copying all of it.
    pub fn with_config<R>(&self, f: impl FnOnce(&Config) -> R) -> R {
        f(&self.config.read())
    }

    /// Applies CONFIG SET pairs all or nothing: if one fails, none takes effect.
    pub fn set_config(&self, pairs: &[(String, String)]) -> Result<(), ConfigError> {
        let mut cfg = self.config.write();
        let mut next = cfg.clone();
        for (name, value) in pairs {
            next.apply(name, value, true)?;
        }
        if next.databases < cfg.databases {
            return Err(ConfigError::Invalid {
                name: "databases".into(),
                reason: "databases can only grow at run time".into(),
            });
        }
        if next.databases > cfg.databases {
            self.keyspace
                .set_databases(next.databases)
                .map_err(|reason| ConfigError::Invalid {
                    name: "databases".into(),
                    reason: reason.into(),
                })?;
        }
        if next.loglevel != cfg.loglevel
            && let Some(set) = &self.hooks.set_loglevel
        {
            set(&next.loglevel);
        }
        self.max_bulk_len
            .store(next.proto_max_bulk_len as usize, Ordering::Relaxed);
        self.query_buffer_limit
            .store(next.client_query_buffer_limit as usize, Ordering::Relaxed);
        self.maxclients.store(next.maxclients, Ordering::Relaxed);
        self.maxmemory.store(next.maxmemory, Ordering::Relaxed);
        self.stats.set_latency_tracking(next.latency_tracking);
        *cfg = next;
        Ok(())
    }

    /// Records the port actually bound when `port 0` asked for any free one, so CONFIG GET
    /// port and INFO report the real one.
    pub fn set_bound_port(&self, port: u16) {
        let mut cfg = self.config.write();
        if cfg.port == 0 {
            cfg.port = port;
        }
    }

    /// Limits on what one client may send.
    pub fn limits(&self) -> Limits {
        Limits {
            max_bulk_len: self.max_bulk_len.load(Ordering::Relaxed),
            ..Limits::default()
        }
    }

    pub fn query_buffer_limit(&self) -> usize {
        self.query_buffer_limit.load(Ordering::Relaxed)
    }

    pub fn maxclients(&self) -> usize {
        self.maxclients.load(Ordering::Relaxed)
    }

    /// True when the memory limit is set and exceeded: commands flagged `denyoom` are
    /// refused (the `noeviction` policy).
    pub fn over_maxmemory(&self) -> bool {
        let max = self.maxmemory.load(Ordering::Relaxed);
        max != 0 && self.used_memory.load(Ordering::Relaxed) > max
    }

    /// CLIENT PAUSE: holds back matching commands until `until`.
    pub fn pause(&self, until: Instant, mode: PauseMode) {
        let mut p = self.pause.lock();
        // As in Redis, a new pause can extend or widen the current one, never shrink it.
        let (until, mode) = match *p {
            Some((t, m)) => (
                t.max(until),
                if m == PauseMode::All || mode == PauseMode::All {
                    PauseMode::All
                } else {
                    PauseMode::Write
                },
            ),
            None => (until, mode),
        };
        *p = Some((until, mode));
        self.pause_active.store(true, Ordering::SeqCst);
    }

    /// CLIENT UNPAUSE.
    pub fn unpause(&self) {
        *self.pause.lock() = None;
        self.pause_active.store(false, Ordering::SeqCst);
        self.unpaused.notify_waiters();
    }

    /// How long `spec` must wait before running, if clients are paused for it.
    pub fn pause_for(&self, spec: &CommandSpec) -> Option<Instant> {
        if !self.pause_active.load(Ordering::Relaxed) {
            return None;
        }
        let p = self.pause.lock();
        let (until, mode) = (*p)?;
        if until <= Instant::now() || spec.has(flags::PAUSE_EXEMPT) {
            return None;
        }
        let held = match mode {
            PauseMode::All => true,
            PauseMode::Write => spec.has(flags::WRITE) || spec.has(flags::MAY_REPLICATE),
        };
        held.then_some(until)
    }

    /// Waits until `until` or an UNPAUSE, whichever comes first.
    pub async fn wait_unpaused(&self, until: Instant) {
        let notified = self.unpaused.notified();
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(until.into()) => {}
        }
    }

    /// Starts an orderly shutdown (SHUTDOWN, SIGTERM, SIGINT).
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown.notify_waiters();
        for c in self.clients.all() {
            c.kill();
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Resolves once [`Server::shutdown`] was called.
    pub async fn wait_shutdown(&self) {
        loop {
            let notified = self.shutdown.notified();
            if self.is_shutting_down() {
                return;
            }
            notified.await;
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}
