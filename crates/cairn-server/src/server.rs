//! State shared by every connection: the keyspace, configuration, clients and counters.

use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::time::{Duration, Instant};

use cairn_protocol::Limits;
use cairn_store::{Keyspace, Lfu, Policy};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use crate::clients::Clients;
use crate::config::{Config, ConfigError};
use crate::lazyfree::LazyFree;
use crate::spec::{Spec, flags};
use crate::stats::Stats;

/// Applies a new `loglevel` to the process's logger.
pub type LogLevelHook = Box<dyn Fn(&str) + Send + Sync>;

/// Runs a replication link until it is stopped (see [`Server::link_runner`]).
pub type LinkRunner = fn(
    Arc<Server>,
    Arc<crate::replication::link::Link>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

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
    /// When small hashes and sets become tables (`hash-max-listpack-entries` ...).
    object_limits: RwLock<cairn_store::Limits>,
    /// Wall-clock time derived from one monotonic reading per batch.
    pub clock: crate::clock::Clock,
    config: RwLock<Config>,
    pub clients: Arc<Clients>,
    pub stats: Stats,
    pub hotkeys: crate::hotkeys::HotKeys,
    /// SLOWLOG's entries and settings.
    pub slowlog: crate::slowlog::SlowLog,
    /// LATENCY's events and threshold.
    pub latency: crate::latency::LatencyMonitor,
    /// MONITOR's clients.
    pub monitors: crate::monitor::Monitors,
    pub pubsub: Arc<crate::pubsub::PubSub>,
    pub tracking: Arc<crate::tracking::Tracking>,
    pub notifier: Arc<crate::notify::Notifier>,
    /// Clients blocked on keys (BLPOP ...), and serving them.
    pub blocking: Arc<crate::blocking::Blocking>,
    /// What the memcached protocol counts (`stats`).
    pub memcached: crate::memcache::counters::McStats,
    /// The rate limit on lease tokens for missing keys (LEASE GET).
    pub leases: crate::leases::LeaseLimiter,
    /// The write stream, the append-only file and snapshots.
    pub persist: crate::persist::state::Persistence,
    /// Replicas of this node, or its link to its primary.
    pub replication: crate::replication::state::Replication,
    /// Runs the link to a primary once this node follows one
    /// (`crate::replication::replica::run`), installed by `crate::run`: the roles that
    /// start links sit below the dispatch the link applies the stream through.
    pub link_runner: std::sync::OnceLock<LinkRunner>,
    /// Cluster mode, once started (`cluster-enabled yes`).
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::state::Cluster>>,
    /// This server, for work that must outlive a borrow (background saves, rewrites).
    me: std::sync::Weak<Server>,
    /// The store reports key changes while this is on (see `refresh_observing`).
    observing: Arc<AtomicBool>,
    pub lazyfree: LazyFree,
    /// Which of the server's own removals `lazyfree` takes (`lazyfree-lazy-*`).
    pub lazy: Arc<crate::lazyfree::When>,
    pub hooks: Hooks,
    pub started: Instant,
    /// 40 hex characters identifying this run (INFO run_id).
    pub run_id: String,
    /// Request limits, copied out of the config so connections read them without a lock.
    max_bulk_len: AtomicUsize,
    query_buffer_limit: AtomicUsize,
    maxclients: AtomicUsize,
    maxmemory: AtomicU64,
    /// `maxmemory-policy` as an index into [`Policy::ALL`], and `maxmemory-samples`.
    policy: AtomicU8,
    samples: AtomicU32,
    /// Memory the keyspace does not account for itself (buffers, runtime, allocator
    /// slack): the allocator's figure minus the keyspace's, refreshed by the cron. Adding
    /// the keyspace's live byte count gives a used-memory figure that is current before
    /// every write, which is what evicting before allocating needs.
    memory_base: AtomicI64,
    /// Allocated bytes when the server was built (INFO used_memory_startup).
    startup_memory: u64,
    /// Keys evicted under each policy (INFO evicted_keys_<policy>), and newcomers the
    /// TinyLFU admission test turned away.
    evicted_by_policy: [AtomicU64; Policy::ALL.len()],
    rejected: AtomicU64,
    unstored: AtomicU64,
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

fn object_limits(c: &Config) -> cairn_store::Limits {
    cairn_store::Limits {
        hash_entries: c.hash_max_listpack_entries,
        hash_value: c.hash_max_listpack_value,
        set_intset_entries: c.set_max_intset_entries,
        set_entries: c.set_max_listpack_entries,
        set_value: c.set_max_listpack_value,
        list_max_listpack_size: c.list_max_listpack_size,
        list_compress_depth: c.list_compress_depth,
        zset_entries: c.zset_max_listpack_entries,
        zset_value: c.zset_max_listpack_value,
        stream_node: cairn_store::types::stream::NodeLimits {
            max_bytes: c.stream_node_max_bytes,
            max_entries: c.stream_node_max_entries,
        },
    }
}

/// Where a policy name sits in [`Policy::ALL`]; the config only holds valid names.
fn policy_index(name: &str) -> u8 {
    let policy = Policy::parse(name).unwrap_or(Policy::NoEviction);
    Policy::ALL.iter().position(|p| *p == policy).unwrap_or(0) as u8
}

impl Server {
    pub fn new(config: Config, hooks: Hooks) -> Arc<Server> {
        let keyspace = Keyspace::new(config.databases, config.shards);
        let clients = Arc::new(Clients::default());
        let pubsub = Arc::new(crate::pubsub::PubSub::default());
        let slowlog =
            crate::slowlog::SlowLog::new(config.slowlog_log_slower_than, config.slowlog_max_len);
        let latency = crate::latency::LatencyMonitor::new(config.latency_monitor_threshold);
        let server = Server {
            keyspace,
            object_limits: RwLock::new(object_limits(&config)),
            clock: crate::clock::Clock::default(),
            max_bulk_len: AtomicUsize::new(config.proto_max_bulk_len as usize),
            query_buffer_limit: AtomicUsize::new(config.client_query_buffer_limit as usize),
            maxclients: AtomicUsize::new(config.maxclients),
            maxmemory: AtomicU64::new(config.maxmemory),
            policy: AtomicU8::new(policy_index(&config.maxmemory_policy)),
            samples: AtomicU32::new(config.maxmemory_samples),
            memory_base: AtomicI64::new(0),
            startup_memory: crate::memory::allocated(),
            evicted_by_policy: Default::default(),
            rejected: AtomicU64::new(0),
            unstored: AtomicU64::new(0),
            config: RwLock::new(config),
            tracking: Arc::new(crate::tracking::Tracking::new(
                clients.clone(),
                pubsub.clone(),
                0,
            )),
            notifier: Arc::new(crate::notify::Notifier::new(pubsub.clone(), 0)),
            blocking: Arc::default(),
            memcached: Default::default(),
            leases: Default::default(),
            persist: crate::persist::state::Persistence::new(),
            replication: Default::default(),
            link_runner: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
            me: std::sync::Weak::new(),
            observing: Arc::new(AtomicBool::new(false)),
            clients,
            stats: Stats::default(),
            hotkeys: Default::default(),
            slowlog,
            latency,
            monitors: Default::default(),
            pubsub,
            lazyfree: LazyFree::start(),
            lazy: Arc::default(),
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
        server.apply_memory_settings(&server.config());
        {
            let cfg = server.config.read();
            server
                .pubsub
                .set_limit(cfg.client_output_buffer_limit.pubsub);
            server.notifier.set_flags(cfg.notify_keyspace_events);
            server.tracking.set_max_keys(cfg.tracking_table_max_keys);
            server.replication.apply_config(&cfg);
        }
        server
            .keyspace
            .set_observer(cairn_store::observe::Observing {
                on: server.observing.clone(),
                sink: Arc::new(crate::keyevents::KeyEvents {
                    tracking: server.tracking.clone(),
                    notifier: server.notifier.clone(),
                    blocking: server.blocking.clone(),
                }),
            });
        server.refresh_observing();
        server.with_config(|c| server.lazy.configure(c));
        let (lazyfree, lazy) = (server.lazyfree.clone(), server.lazy.clone());
        server
            .keyspace
            .set_disposer(cairn_store::db::Disposer(Arc::new(move |entry, why| {
                let when = match why {
                    cairn_store::db::Removed::Evicted => &lazy.eviction,
                    cairn_store::db::Removed::Expired => &lazy.expire,
                };
                lazyfree.free_if(when, entry)
            })));
        Arc::new_cyclic(|me| {
            let mut server = server;
            server.me = me.clone();
            server
        })
    }

    /// A handle on this server that does not keep it alive (what a blocked client's
    /// try holds).
    pub fn weak(&self) -> std::sync::Weak<Server> {
        self.me.clone()
    }

    /// This server as an `Arc` (it always lives in one).
    pub fn arc(&self) -> Arc<Server> {
        self.me.upgrade().expect("the server lives in an Arc")
    }

    /// A copy of the running configuration.
    pub fn config(&self) -> Config {
        self.config.read().clone()
    }

    /// Reads one field of the configuration without copying all of it.
    pub fn with_config<R>(&self, f: impl FnOnce(&Config) -> R) -> R {
        f(&self.config.read())
    }

    /// Applies CONFIG SET pairs to what the server itself holds, all or nothing: if one
    /// fails (or `check`, which sees the configuration before and after, refuses), none
    /// takes effect. Returns the configuration as it was, for the caller to bring the
    /// rest of the node along (`crate::reconfigure`).
    pub fn set_config(
        &self,
        pairs: &[(String, String)],
        check: impl FnOnce(&Config, &Config) -> Result<(), ConfigError>,
    ) -> Result<Config, ConfigError> {
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
        check(&cfg, &next)?;
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
        self.pubsub
            .set_limit(next.client_output_buffer_limit.pubsub);
        self.notifier.set_flags(next.notify_keyspace_events);
        self.tracking.set_max_keys(next.tracking_table_max_keys);
        self.replication.apply_config(&next);
        self.maxmemory.store(next.maxmemory, Ordering::Relaxed);
        self.slowlog
            .configure(next.slowlog_log_slower_than, next.slowlog_max_len);
        self.latency.set_threshold(next.latency_monitor_threshold);
        self.lazy.configure(&next);
        self.apply_memory_settings(&next);
        self.stats.set_latency_tracking(next.latency_tracking);
        let before = std::mem::replace(&mut *cfg, next);
        drop(cfg);
        self.refresh_observing();
        Ok(before)
    }

    /// Records the primary REPLICAOF chose (CONFIG GET replicaof shows it).
    pub fn set_replicaof(&self, value: String) {
        self.config.write().replicaof = value;
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

    /// Switches the store's change reports on while anyone needs them: a tracking client,
    /// a client blocked on keys (its keys' writes make them ready),
    /// or notifications of expiries (of keys, or of hash fields: `hexpired` and the `del`
    /// of a hash whose last field went), evictions, new keys or misses.
    pub fn refresh_observing(&self) {
        use crate::notify::class::{EVICTED, EXPIRED, GENERIC, HASH, KEY_MISS, NEW_KEY};
        let on = self.tracking.is_active()
            || !self.blocking.is_empty()
            || self
                .notifier
                .wants(EXPIRED | EVICTED | NEW_KEY | KEY_MISS | HASH | GENERIC);
        self.observing.store(on, Ordering::Relaxed);
    }

    pub fn query_buffer_limit(&self) -> usize {
        self.query_buffer_limit.load(Ordering::Relaxed)
    }

    pub fn maxclients(&self) -> usize {
        self.maxclients.load(Ordering::Relaxed)
    }

    /// Hands the eviction settings to the keyspace: LFU parameters, and the frequency
    /// sketch only while a limit is set and a policy that reads it is in force.
    /// The encodings' thresholds now.
    pub fn object_limits(&self) -> cairn_store::Limits {
        *self.object_limits.read()
    }

    fn apply_memory_settings(&self, c: &Config) {
        *self.object_limits.write() = object_limits(c);
        let policy = Policy::ALL[policy_index(&c.maxmemory_policy) as usize];
        self.policy
            .store(policy_index(&c.maxmemory_policy), Ordering::Relaxed);
        self.samples.store(c.maxmemory_samples, Ordering::Relaxed);
        self.keyspace.set_lfu(Lfu {
            log_factor: c.lfu_log_factor,
            decay_minutes: c.lfu_decay_time,
        });
        // Without a limit nothing is ever evicted, so the history would be dead weight
        // (about 8 bytes a key).
        // Sized for the keys the limit may hold if each took ~128 bytes (a short key and
        // a value of about 100 bytes); smaller keys make it grow later, keeping its counts.
        self.keyspace
            .set_capacity_hint((c.maxmemory / 128) as usize);
        self.keyspace
            .set_sketch(policy.uses_sketch() && c.maxmemory != 0);
    }

    pub fn startup_memory(&self) -> u64 {
        self.startup_memory
    }

    pub fn count_eviction(&self, policy: Policy) {
        let i = Policy::ALL.iter().position(|p| *p == policy).unwrap_or(0);
        self.evicted_by_policy[i].fetch_add(1, Ordering::Relaxed);
    }

    /// A newcomer turned away before it was stored (see `Ctx::drop_new_key`).
    pub fn count_unstored_eviction(&self) {
        self.count_eviction(self.policy());
        self.unstored.fetch_add(1, Ordering::Relaxed);
    }

    /// Keys evicted on arrival without ever being stored (part of INFO evicted_keys).
    pub fn unstored_evictions(&self) -> u64 {
        self.unstored.load(Ordering::Relaxed)
    }

    /// CONFIG RESETSTAT: the eviction counters start again from zero.
    pub fn reset_eviction_stats(&self) {
        for n in &self.evicted_by_policy {
            n.store(0, Ordering::Relaxed);
        }
        self.rejected.store(0, Ordering::Relaxed);
        self.unstored.store(0, Ordering::Relaxed);
    }

    pub fn count_rejection(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Policies that have evicted something since the start, with their counts.
    pub fn evictions_by_policy(&self) -> Vec<(Policy, u64)> {
        Policy::ALL
            .iter()
            .zip(&self.evicted_by_policy)
            .map(|(p, n)| (*p, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    pub fn admission_rejections(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    pub fn policy(&self) -> Policy {
        Policy::ALL[self.policy.load(Ordering::Relaxed) as usize]
    }

    pub fn maxmemory_samples(&self) -> usize {
        self.samples.load(Ordering::Relaxed) as usize
    }

    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Ordering::Relaxed)
    }

    /// Used memory now: the cron's base plus the keyspace's live byte count.
    pub fn used_memory_now(&self) -> u64 {
        let base = self.memory_base.load(Ordering::Relaxed);
        (base + self.keyspace.used_bytes() as i64).max(0) as u64
    }

    /// Reads the allocator and refreshes the memory base and peak (the cron, INFO,
    /// MEMORY). Returns the allocated bytes.
    pub fn refresh_memory(&self) -> u64 {
        // The keyspace figure is read on both sides of the allocator's and the larger one
        // subtracted: if a FLUSHALL ran in between, subtracting the smaller one would leave
        // the flushed bytes in `base`, and every write until the next reading would evict
        // an already empty keyspace and fail with OOM.
        let before = self.keyspace.used_bytes();
        let allocated = crate::memory::allocated();
        let keyspace = before.max(self.keyspace.used_bytes());
        // Replication and AOF buffers are not the dataset: evicting keys to make room
        // for a lagging replica's backlog would empty the cache (Redis leaves them out
        // of the eviction figure too).
        let buffers = self.persist.stream.held_bytes();
        let base = allocated as i64 - keyspace as i64 - buffers as i64;
        self.memory_base.store(base, Ordering::Relaxed);
        self.used_memory.store(allocated, Ordering::Relaxed);
        self.peak_memory.fetch_max(allocated, Ordering::Relaxed);
        allocated
    }

    /// True when the memory limit is set and exceeded.
    pub fn over_maxmemory(&self) -> bool {
        let max = self.maxmemory.load(Ordering::Relaxed);
        max != 0 && self.used_memory_now() > max
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
    pub fn pause_for(&self, spec: &Spec, queued_flags: u32) -> Option<Instant> {
        if !self.pause_active.load(Ordering::Relaxed) {
            return None;
        }
        let p = self.pause.lock();
        let (until, mode) = (*p)?;
        if until <= Instant::now() || spec.has(flags::PAUSE_EXEMPT) {
            return None;
        }
        // EXEC counts as a write when its transaction holds one (`queued_flags`).
        let writes = (spec.flags | queued_flags) & (flags::WRITE | flags::MAY_REPLICATE) != 0;
        let held = match mode {
            PauseMode::All => true,
            PauseMode::Write => writes,
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
