//! Settings, named as Redis names its directives.
//!
//! Every setting can come from a TOML file (`port = 7000`, `maxmemory = "1gb"`), from the
//! command line (`--maxmemory 1gb`, as redis-server accepts it) and, where it can change
//! while running, from `CONFIG SET`. One table ([`SETTINGS`]) describes them all: the
//! parser, CONFIG GET/SET and `cairn server --help` read it, so they cannot disagree.

use crate::outbox::OutputLimit;

/// The running configuration. Fields are typed; [`SETTINGS`] maps them to and from text.
#[derive(Clone, Debug)]
pub struct Config {
    pub bind: Vec<String>,
    pub port: u16,
    pub tcp_backlog: u32,
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub protected_mode: bool,
    pub databases: usize,
    pub maxclients: usize,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub maxmemory_samples: u32,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub hz: u32,
    pub loglevel: String,
    pub logfile: String,
    pub dir: String,
    pub dbfilename: String,
    pub appendonly: bool,
    pub appendfilename: String,
    pub appenddirname: String,
    pub appendfsync: String,
    pub save: String,
    pub daemonize: bool,
    pub pidfile: String,
    pub threads: usize,
    pub shards: usize,
    pub latency_tracking: bool,
    pub latency_tracking_info_percentiles: Vec<f64>,
    /// SLOWLOG: microseconds from which a command is logged (-1: never), and how many
    /// entries are kept.
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    /// LATENCY: milliseconds from which an event is sampled (0: off).
    pub latency_monitor_threshold: u64,
    pub lazyfree_lazy_user_del: bool,
    /// Big values evicted, expired, overwritten by the server (RENAME, a replica's full
    /// sync) are freed on the lazy-free thread, not on the request path.
    pub lazyfree_lazy_eviction: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_server_del: bool,
    pub replica_lazy_flush: bool,
    pub lazyfree_lazy_user_flush: bool,
    pub client_output_buffer_limit: OutputLimits,
    /// Bits of `crate::notify::class`.
    pub notify_keyspace_events: u32,
    pub tracking_table_max_keys: usize,
    /// When small hashes and sets become tables (Redis's names and defaults).
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub stream_node_max_bytes: usize,
    pub stream_node_max_entries: usize,
    /// Largest sparse HyperLogLog, in bytes, before it converts to the dense form.
    pub hll_sparse_max_bytes: u64,
    /// TCP port of the memcached protocol; 0: off.
    pub memcached_port: u16,
    /// Largest memcached item (memcached's `-I`).
    pub memcached_max_item_size: u64,
    pub auto_aof_rewrite_percentage: u64,
    pub auto_aof_rewrite_min_size: u64,
    pub stop_writes_on_bgsave_error: bool,
    /// Start even though append-only parts the node expects are missing or unreadable,
    /// loading what can be read (docs/persistence.md, "Start-up").
    pub aof_accept_data_loss: bool,
    /// Seconds a lease placeholder lives, and the least time between two lease tokens for
    /// one key (RESP LEASE GET).
    pub lease_timeout: u64,
    /// `replicaof host port`: the primary this node replicates ("" for a primary).
    pub replicaof: String,
    /// Password (and user) a replica gives its primary.
    pub masterauth: String,
    pub masteruser: String,
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
    pub repl_backlog_size: u64,
    pub repl_backlog_ttl: u64,
    pub repl_timeout: u64,
    pub repl_ping_replica_period: u64,
    pub repl_diskless_sync_delay: u64,
    pub repl_diskless_sync_max_replicas: u64,
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag: u64,
    pub replica_announce_ip: String,
    pub replica_announce_port: u16,
    pub replica_priority: u64,
    /// Cluster mode (docs/cluster.md).
    pub cluster_enabled: bool,
    /// The cluster bus port; 0: the client port plus 10000 (or any free port if that
    /// does not fit).
    pub cluster_port: u16,
    /// Milliseconds without an answer after which a node is suspected (and a primary
    /// failed over); a primary stops taking writes after half of it without a majority.
    pub cluster_node_timeout: u64,
    pub cluster_require_full_coverage: bool,
    pub cluster_allow_reads_when_down: bool,
    /// The address other nodes and clients reach this node at.
    pub cluster_announce_ip: String,
    /// The secret every cluster bus connection proves it holds (cairn_cluster::bus::
    /// handshake); "" with no `cluster_secret_file`: the one a run-time change left in
    /// the node's directory, else none (the bus then refuses everyone).
    pub cluster_secret: String,
    /// A file holding the secret (a mounted Kubernetes secret, say), read at start.
    pub cluster_secret_file: String,
    /// Largest frame a proven bus peer may send, checked before anything is allocated.
    pub cluster_bus_max_frame: u64,
}

/// `client-output-buffer-limit`, per class of client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: OutputLimit,
    pub replica: OutputLimit,
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    /// Redis's defaults.
    fn default() -> Self {
        let mb = 1024 * 1024;
        OutputLimits {
            normal: OutputLimit::default(),
            replica: OutputLimit {
                hard: 256 * mb,
                soft: 64 * mb,
                soft_seconds: 60,
            },
            pubsub: OutputLimit {
                hard: 32 * mb,
                soft: 8 * mb,
                soft_seconds: 60,
            },
        }
    }
}

impl OutputLimits {
    /// As CONFIG GET shows it (Redis still says `slave`).
    fn show(&self) -> String {
        [
            ("normal", self.normal),
            ("slave", self.replica),
            ("pubsub", self.pubsub),
        ]
        .iter()
        .map(|(class, l)| format!("{class} {} {} {}", l.hard, l.soft, l.soft_seconds))
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// `class hard soft seconds` groups; the classes named change, the others stay.
    fn parse(&self, v: &str) -> Result<OutputLimits, String> {
        let words: Vec<&str> = v.split_whitespace().collect();
        if words.is_empty() || !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut next = *self;
        for group in words.chunks(4) {
            let limit = OutputLimit {
                hard: parse_memory(group[1]).ok_or("Error in hard, soft or soft_seconds setting in buffer limit configuration.")?,
                soft: parse_memory(group[2]).ok_or("Error in hard, soft or soft_seconds setting in buffer limit configuration.")?,
                soft_seconds: group[3].parse().map_err(|_| "Error in hard, soft or soft_seconds setting in buffer limit configuration.")?,
            };
            match group[0].to_ascii_lowercase().as_str() {
                "normal" => next.normal = limit,
                "replica" | "slave" => next.replica = limit,
                "pubsub" => next.pubsub = limit,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    );
                }
            }
        }
        Ok(next)
    }
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Config {
            bind: vec!["127.0.0.1".into()],
            port: 6379,
            tcp_backlog: 511,
            timeout: 0,
            tcp_keepalive: 300,
            protected_mode: true,
            databases: 16,
            maxclients: 10000,
            maxmemory: 0,
            maxmemory_policy: "allkeys-tinylfu".into(),
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            hz: 10,
            loglevel: "notice".into(),
            logfile: String::new(),
            dir: ".".into(),
            dbfilename: "dump.rdb".into(),
            appendonly: false,
            appendfilename: "appendonly.aof".into(),
            appenddirname: "appendonlydir".into(),
            appendfsync: "everysec".into(),
            save: String::new(),
            daemonize: false,
            pidfile: String::new(),
            // Half the cores: the kernel's network processing and, often, co-located
            // clients need the rest (docs/threads.md has the measurements).
            threads: (cores / 2).max(1),
            shards: (cores * 8).next_power_of_two(),
            latency_tracking: true,
            latency_tracking_info_percentiles: vec![50.0, 99.0, 99.9],
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_eviction: true,
            lazyfree_lazy_expire: true,
            lazyfree_lazy_server_del: true,
            replica_lazy_flush: true,
            lazyfree_lazy_user_flush: false,
            client_output_buffer_limit: OutputLimits::default(),
            notify_keyspace_events: 0,
            tracking_table_max_keys: 1_000_000,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            hll_sparse_max_bytes: 3000,
            memcached_port: 0,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            stop_writes_on_bgsave_error: true,
            aof_accept_data_loss: false,
            memcached_max_item_size: 1024 * 1024,
            lease_timeout: 10,
            replicaof: String::new(),
            masterauth: String::new(),
            masteruser: String::new(),
            replica_read_only: true,
            replica_serve_stale_data: true,
            repl_backlog_size: 1024 * 1024,
            repl_backlog_ttl: 3600,
            repl_timeout: 60,
            repl_ping_replica_period: 10,
            repl_diskless_sync_delay: 1,
            repl_diskless_sync_max_replicas: 0,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
            replica_announce_ip: String::new(),
            replica_announce_port: 0,
            replica_priority: 100,
            cluster_enabled: false,
            cluster_port: 0,
            cluster_node_timeout: 800,
            cluster_require_full_coverage: true,
            cluster_allow_reads_when_down: false,
            cluster_announce_ip: String::new(),
            cluster_secret: String::new(),
            cluster_secret_file: String::new(),
            cluster_bus_max_frame: 4 << 20,
        }
    }
}

/// How a setting may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    /// Only at start-up (file or command line).
    Startup,
    /// Also with CONFIG SET.
    Runtime,
}

/// One setting: its Redis directive name, how to read and write it, and a line of help.
pub struct Setting {
    pub name: &'static str,
    pub mutability: Mutability,
    pub help: &'static str,
    /// How many words the value takes on the command line (`save 3600 1 300 100` takes any
    /// number); 1 for almost everything.
    pub multi_word: bool,
    pub get: fn(&Config) -> String,
    pub set: fn(&mut Config, &str) -> Result<(), String>,
}

macro_rules! setting {
    // An integer within bounds (Redis's "argument must be between" error outside them).
    ($name:literal, $mutability:ident, $help:literal, $field:ident, ranged $min:expr, $max:expr) => {
        Setting {
            name: $name,
            mutability: Mutability::$mutability,
            help: $help,
            multi_word: false,
            get: |c| c.$field.to_string(),
            set: |c, v| {
                c.$field = ranged(v, i64::from($min), i64::from($max))?
                    .try_into()
                    .expect("a value within the bounds fits the field");
                Ok(())
            },
        }
    };
    // A word from a fixed list, stored lower-cased.
    ($name:literal, $mutability:ident, $help:literal, $field:ident, one_of $choices:expr) => {
        Setting {
            name: $name,
            mutability: Mutability::$mutability,
            help: $help,
            multi_word: false,
            get: |c| c.$field.clone(),
            set: |c, v| {
                c.$field = one_of(v, $choices)?;
                Ok(())
            },
        }
    };
    // A yes/no switch for something Cairn does not do (yet): only "no" is accepted.
    ($name:literal, $mutability:ident, $help:literal, $field:ident, only_no $why:literal) => {
        Setting {
            name: $name,
            mutability: Mutability::$mutability,
            help: $help,
            multi_word: false,
            get: |c| YesNo::show(&c.$field),
            set: |c, v| {
                if YesNo::parse(v)? {
                    return Err($why.into());
                }
                c.$field = false;
                Ok(())
            },
        }
    };
    ($name:literal, $mutability:ident, $help:literal, $field:ident, $kind:ident) => {
        Setting {
            name: $name,
            mutability: Mutability::$mutability,
            help: $help,
            multi_word: false,
            get: |c| $kind::show(&c.$field),
            set: |c, v| {
                c.$field = $kind::parse(v)?;
                Ok(())
            },
        }
    };
}

/// Every setting Cairn knows, in the order `--help` lists them.
pub static SETTINGS: &[Setting] = &[
    Setting {
        name: "bind",
        mutability: Mutability::Startup,
        help: "Addresses to listen on, space separated (\"*\" for all)",
        multi_word: true,
        get: |c| c.bind.join(" "),
        set: |c, v| {
            let addrs: Vec<String> = v.split_whitespace().map(str::to_owned).collect();
            if addrs.is_empty() {
                return Err("bind needs at least one address".into());
            }
            c.bind = addrs;
            Ok(())
        },
    },
    setting!("port", Startup, "TCP port for RESP clients", port, Num),
    setting!("tcp-backlog", Startup, "Listen backlog", tcp_backlog, Num),
    setting!(
        "timeout",
        Runtime,
        "Close a client idle this many seconds (0: never)",
        timeout,
        Num
    ),
    setting!(
        "tcp-keepalive",
        Runtime,
        "TCP keepalive interval in seconds (0: off)",
        tcp_keepalive,
        Num
    ),
    setting!(
        "protected-mode",
        Runtime,
        "When listening on all interfaces, refuse clients that are not on loopback",
        protected_mode,
        YesNo
    ),
    Setting {
        name: "databases",
        mutability: Mutability::Runtime,
        help: "Number of SELECT-able databases (can grow at run time)",
        multi_word: false,
        get: |c| c.databases.to_string(),
        set: |c, v| {
            let n: usize = Num::parse(v)?;
            if !(1..=1_000_000).contains(&n) {
                return Err("argument must be between 1 and 1000000 inclusive".into());
            }
            c.databases = n;
            Ok(())
        },
    },
    setting!(
        "maxclients",
        Runtime,
        "Most clients connected at once",
        maxclients,
        Num
    ),
    setting!(
        "maxmemory",
        Runtime,
        "Memory limit in bytes (k/kb/m/mb/g/gb suffixes; 0: none)",
        maxmemory,
        Memory
    ),
    setting!(
        "maxmemory-policy",
        Runtime,
        "What to evict at maxmemory: allkeys-tinylfu (default), Redis's allkeys-/volatile- lru, lfu, random, volatile-ttl, or noeviction (writes get OOM)",
        maxmemory_policy,
        one_of & POLICY_NAMES
    ),
    setting!(
        "maxmemory-samples",
        Runtime,
        "Keys sampled per eviction (1-64)",
        maxmemory_samples,
        ranged 1, 64
    ),
    setting!(
        "lfu-log-factor",
        Runtime,
        "How slowly the LFU counter grows with hits (Redis's allkeys-lfu/volatile-lfu)",
        lfu_log_factor,
        ranged 0, i32::MAX as u32
    ),
    setting!(
        "lfu-decay-time",
        Runtime,
        "Minutes of idleness that take one off the LFU counter (0: never)",
        lfu_decay_time,
        ranged 0, i32::MAX as u32
    ),
    setting!(
        "proto-max-bulk-len",
        Runtime,
        "Longest string a client may send or build",
        proto_max_bulk_len,
        Memory
    ),
    setting!(
        "client-query-buffer-limit",
        Runtime,
        "Most unparsed input buffered per client",
        client_query_buffer_limit,
        Memory
    ),
    setting!(
        "hz",
        Runtime,
        "Background task frequency (expiry sweep, timeouts, stats)",
        hz,
        Num
    ),
    setting!(
        "loglevel",
        Runtime,
        "debug, verbose, notice or warning",
        loglevel,
        one_of & ["debug", "verbose", "notice", "warning", "nothing"]
    ),
    setting!(
        "logfile",
        Startup,
        "Log file (empty: standard error)",
        logfile,
        Text
    ),
    setting!(
        "dir",
        Runtime,
        "Working directory for data files",
        dir,
        Text
    ),
    setting!(
        "dbfilename",
        Runtime,
        "Snapshot file name",
        dbfilename,
        Text
    ),
    setting!(
        "appendonly",
        Runtime,
        "Log every write to the append-only file and replay it at start-up (docs/persistence.md)",
        appendonly,
        YesNo
    ),
    setting!(
        "auto-aof-rewrite-percentage",
        Runtime,
        "Rewrite the append-only file when it grew by this percentage since the last rewrite (0: never)",
        auto_aof_rewrite_percentage,
        Num
    ),
    setting!(
        "auto-aof-rewrite-min-size",
        Runtime,
        "...and is at least this large",
        auto_aof_rewrite_min_size,
        Memory
    ),
    setting!(
        "stop-writes-on-bgsave-error",
        Runtime,
        "Refuse writes with MISCONF while the last background save failed (with save points set)",
        stop_writes_on_bgsave_error,
        YesNo
    ),
    setting!(
        "aof-accept-data-loss",
        Startup,
        "Start even if append-only parts are missing or unreadable: load what can be read, log what was lost, write a new AOF",
        aof_accept_data_loss,
        YesNo
    ),
    setting!(
        "appendfilename",
        Startup,
        "Append-only file base name",
        appendfilename,
        Text
    ),
    setting!(
        "appenddirname",
        Startup,
        "Append-only file directory",
        appenddirname,
        Text
    ),
    setting!(
        "appendfsync",
        Runtime,
        "always, everysec or no",
        appendfsync,
        one_of & ["always", "everysec", "no"]
    ),
    Setting {
        name: "save",
        mutability: Mutability::Runtime,
        help: "Snapshot schedule: pairs of <seconds> <changes> (\"3600 1 300 100 60 10000\"); empty: no schedule",
        multi_word: true,
        get: |c| c.save.clone(),
        set: |c, v| {
            let v = v.trim();
            let v = if v == "\"\"" { "" } else { v };
            let words: Vec<&str> = v.split_whitespace().collect();
            if !words.len().is_multiple_of(2) || words.iter().any(|w| w.parse::<u64>().is_err()) {
                return Err("Invalid save parameters".into());
            }
            c.save = words.join(" ");
            Ok(())
        },
    },
    setting!("daemonize", Startup, "Cairn runs in the foreground; only \"no\"", daemonize, only_no "cairn does not daemonize; run it under a supervisor"),
    setting!(
        "pidfile",
        Startup,
        "Write the process id here (empty: don't)",
        pidfile,
        Text
    ),
    setting!(
        "threads",
        Startup,
        "Worker threads serving connections (default: half the cores, at least 1)",
        threads,
        Num
    ),
    setting!(
        "shards",
        Startup,
        "Keyspace shards, rounded up to a power of two",
        shards,
        Num
    ),
    setting!(
        "latency-tracking",
        Runtime,
        "Per-command latency histograms for INFO latencystats",
        latency_tracking,
        YesNo
    ),
    Setting {
        name: "latency-tracking-info-percentiles",
        mutability: Mutability::Runtime,
        help: "Percentiles INFO latencystats reports",
        multi_word: true,
        get: |c| {
            c.latency_tracking_info_percentiles
                .iter()
                .map(|p| cairn_protocol::resp::reply::format_double(*p))
                .collect::<Vec<_>>()
                .join(" ")
        },
        set: |c, v| {
            let mut ps = Vec::new();
            for w in v.split_whitespace() {
                let p: f64 = w
                    .parse()
                    .map_err(|_| "Invalid latency percentile value".to_string())?;
                if !(0.0..=100.0).contains(&p) {
                    return Err("latency percentiles must be between 0 and 100".into());
                }
                ps.push(p);
            }
            c.latency_tracking_info_percentiles = ps;
            Ok(())
        },
    },
    // Applied to the atomics the request path reads by `Server::set_config`.
    Setting {
        name: "slowlog-log-slower-than",
        mutability: Mutability::Runtime,
        help: "SLOWLOG logs commands that ran at least this many microseconds (-1: none, 0: all)",
        multi_word: false,
        get: |c| c.slowlog_log_slower_than.to_string(),
        set: |c, v| {
            c.slowlog_log_slower_than = ranged(v, -1, i64::MAX)?;
            Ok(())
        },
    },
    Setting {
        name: "slowlog-max-len",
        mutability: Mutability::Runtime,
        help: "Most entries SLOWLOG keeps",
        multi_word: false,
        get: |c| c.slowlog_max_len.to_string(),
        set: |c, v| {
            c.slowlog_max_len = ranged(v, 0, i64::MAX)? as u64;
            Ok(())
        },
    },
    Setting {
        name: "latency-monitor-threshold",
        mutability: Mutability::Runtime,
        help: "LATENCY samples events that took at least this many milliseconds (0: off)",
        multi_word: false,
        get: |c| c.latency_monitor_threshold.to_string(),
        set: |c, v| {
            c.latency_monitor_threshold = ranged(v, 0, i64::MAX)? as u64;
            Ok(())
        },
    },
    setting!(
        "lazyfree-lazy-eviction",
        Runtime,
        "Big values evicted under maxmemory are freed in the background (Redis's default: no)",
        lazyfree_lazy_eviction,
        YesNo
    ),
    setting!(
        "lazyfree-lazy-expire",
        Runtime,
        "Big values whose TTL passed are freed in the background (Redis's default: no)",
        lazyfree_lazy_expire,
        YesNo
    ),
    setting!(
        "lazyfree-lazy-server-del",
        Runtime,
        "Big values a command replaces (RENAME onto a key) are freed in the background (Redis's default: no)",
        lazyfree_lazy_server_del,
        YesNo
    ),
    setting!(
        "replica-lazy-flush",
        Runtime,
        "A replica frees its old data in the background when a full sync replaces it (Redis's default: no)",
        replica_lazy_flush,
        YesNo
    ),
    setting!(
        "lazyfree-lazy-user-del",
        Runtime,
        "DEL frees values in the background, like UNLINK",
        lazyfree_lazy_user_del,
        YesNo
    ),
    setting!(
        "lazyfree-lazy-user-flush",
        Runtime,
        "FLUSHDB/FLUSHALL without SYNC/ASYNC free in the background",
        lazyfree_lazy_user_flush,
        YesNo
    ),
    Setting {
        name: "notify-keyspace-events",
        mutability: Mutability::Runtime,
        help: "Keyspace notifications to publish, as Redis's letters (K, E, g, $, x, e, A, ...; empty: none)",
        multi_word: false,
        get: |c| crate::notify::show(c.notify_keyspace_events),
        set: |c, v| {
            c.notify_keyspace_events = crate::notify::parse(v.trim())
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            Ok(())
        },
    },
    setting!(
        "tracking-table-max-keys",
        Runtime,
        "Most keys remembered for client-side caching (0: no limit)",
        tracking_table_max_keys,
        Num
    ),
    setting!(
        "hash-max-listpack-entries",
        Runtime,
        "A hash with more fields than this becomes a hash table (OBJECT ENCODING hashtable)",
        hash_max_listpack_entries,
        Num
    ),
    setting!(
        "hash-max-listpack-value",
        Runtime,
        "A hash with a field or value longer than this becomes a hash table",
        hash_max_listpack_value,
        Num
    ),
    setting!(
        "hash-max-ziplist-entries",
        Runtime,
        "Alias of hash-max-listpack-entries",
        hash_max_listpack_entries,
        Num
    ),
    setting!(
        "hash-max-ziplist-value",
        Runtime,
        "Alias of hash-max-listpack-value",
        hash_max_listpack_value,
        Num
    ),
    setting!(
        "set-max-intset-entries",
        Runtime,
        "A set of integers stays an intset up to this many members",
        set_max_intset_entries,
        Num
    ),
    setting!(
        "set-max-listpack-entries",
        Runtime,
        "A set with more members than this becomes a hash table",
        set_max_listpack_entries,
        Num
    ),
    setting!(
        "set-max-listpack-value",
        Runtime,
        "A set with a member longer than this becomes a hash table",
        set_max_listpack_value,
        Num
    ),
    setting!(
        "list-max-listpack-size",
        Runtime,
        "A list node's bound: -1..-5 for 4, 8, 16, 32, 64 KB, or a positive number of elements",
        list_max_listpack_size,
        ranged i32::MIN, i32::MAX
    ),
    setting!(
        "list-compress-depth",
        Runtime,
        "List nodes kept uncompressed at each end; the ones between are LZF-compressed (0: none)",
        list_compress_depth,
        Num
    ),
    setting!(
        "list-max-ziplist-size",
        Runtime,
        "Alias of list-max-listpack-size",
        list_max_listpack_size,
        ranged i32::MIN, i32::MAX
    ),
    setting!(
        "zset-max-listpack-entries",
        Runtime,
        "A sorted set with more members than this becomes a skip list (OBJECT ENCODING skiplist)",
        zset_max_listpack_entries,
        Num
    ),
    setting!(
        "zset-max-listpack-value",
        Runtime,
        "A sorted set with a member longer than this becomes a skip list",
        zset_max_listpack_value,
        Num
    ),
    setting!(
        "zset-max-ziplist-entries",
        Runtime,
        "Alias of zset-max-listpack-entries",
        zset_max_listpack_entries,
        Num
    ),
    setting!(
        "zset-max-ziplist-value",
        Runtime,
        "Alias of zset-max-listpack-value",
        zset_max_listpack_value,
        Num
    ),
    setting!(
        "stream-node-max-bytes",
        Runtime,
        "A stream node takes entries up to this many bytes, then the next starts a new node (0: no bound)",
        stream_node_max_bytes,
        Memory
    ),
    setting!(
        "stream-node-max-entries",
        Runtime,
        "A stream node takes this many entries, then the next starts a new node (0: no bound)",
        stream_node_max_entries,
        Num
    ),
    setting!(
        "hll-sparse-max-bytes",
        Runtime,
        "A sparse HyperLogLog larger than this many bytes converts to the dense form",
        hll_sparse_max_bytes,
        Memory
    ),
    setting!(
        "memcached-port",
        Startup,
        "TCP port for memcached clients, text and meta protocol, on the same keyspace (0: off; 11211 is memcached's)",
        memcached_port,
        Num
    ),
    setting!(
        "memcached-max-item-size",
        Runtime,
        "Largest item a memcached client may store, as memcached's -I (k/m suffixes)",
        memcached_max_item_size,
        Memory
    ),
    setting!(
        "lease-timeout",
        Runtime,
        "Seconds a lease lives (LEASE GET placeholder), and the least time between two lease tokens for one key",
        lease_timeout,
        Num
    ),
    Setting {
        name: "replicaof",
        mutability: Mutability::Startup,
        help: "Start as a replica of this primary: <host> <port> (at run time: REPLICAOF host port / REPLICAOF NO ONE)",
        multi_word: true,
        get: |c| c.replicaof.clone(),
        set: |c, v| {
            c.replicaof = parse_replicaof(v)?;
            Ok(())
        },
    },
    setting!(
        "masterauth",
        Runtime,
        "Password a replica sends its primary (AUTH) before syncing",
        masterauth,
        Text
    ),
    setting!(
        "masteruser",
        Runtime,
        "User a replica authenticates as with its primary (with masterauth)",
        masteruser,
        Text
    ),
    setting!(
        "replica-read-only",
        Runtime,
        "A replica refuses writes from its clients (READONLY); only its primary's stream changes it",
        replica_read_only,
        YesNo
    ),
    setting!(
        "replica-serve-stale-data",
        Runtime,
        "A replica whose link to its primary is down keeps answering from what it has (no: MASTERDOWN)",
        replica_serve_stale_data,
        YesNo
    ),
    Setting {
        name: "repl-backlog-size",
        mutability: Mutability::Runtime,
        help: "Write-stream history kept for replicas that reconnect (partial resync), k/mb/gb suffixes",
        multi_word: false,
        get: |c| c.repl_backlog_size.to_string(),
        set: |c, v| {
            let n: u64 = Memory::parse(v)?;
            if n < 16 * 1024 {
                return Err("argument must be at least 16384 (16kb)".into());
            }
            c.repl_backlog_size = n;
            Ok(())
        },
    },
    setting!(
        "repl-backlog-ttl",
        Runtime,
        "Seconds a primary keeps its backlog after its last replica left (0: forever)",
        repl_backlog_ttl,
        Num
    ),
    setting!(
        "repl-timeout",
        Runtime,
        "Seconds without traffic after which a replication link is dropped and reconnected",
        repl_timeout,
        ranged 1, i32::MAX as u32
    ),
    setting!(
        "repl-ping-replica-period",
        Runtime,
        "Seconds between the PINGs a primary puts in its stream, so idle replicas see it alive",
        repl_ping_replica_period,
        ranged 1, i32::MAX as u32
    ),
    Setting {
        name: "repl-diskless-sync",
        mutability: Mutability::Runtime,
        help: "Full syncs stream the snapshot over the socket; Cairn never goes through the disk, so only yes",
        multi_word: false,
        get: |_| "yes".into(),
        set: |_, v| {
            if !YesNo::parse(v)? {
                return Err(
                    "Cairn always streams full syncs over the socket (no disk, no fork)".into(),
                );
            }
            Ok(())
        },
    },
    setting!(
        "repl-diskless-sync-delay",
        Runtime,
        "Seconds a full sync waits for more replicas to share its snapshot",
        repl_diskless_sync_delay,
        Num
    ),
    setting!(
        "repl-diskless-sync-max-replicas",
        Runtime,
        "Start a full sync at once when this many replicas wait for it (0: wait the whole delay)",
        repl_diskless_sync_max_replicas,
        Num
    ),
    setting!(
        "min-replicas-to-write",
        Runtime,
        "Refuse writes (NOREPLICAS) unless this many replicas acknowledged within min-replicas-max-lag (0: off)",
        min_replicas_to_write,
        Num
    ),
    setting!(
        "min-replicas-max-lag",
        Runtime,
        "Seconds since its last acknowledgement within which a replica counts for min-replicas-to-write",
        min_replicas_max_lag,
        Num
    ),
    setting!(
        "replica-announce-ip",
        Runtime,
        "Address a replica tells its primary to show in INFO and ROLE (default: the connection's)",
        replica_announce_ip,
        Text
    ),
    setting!(
        "replica-announce-port",
        Runtime,
        "Port a replica tells its primary (default: its own port)",
        replica_announce_port,
        Num
    ),
    setting!(
        "replica-priority",
        Runtime,
        "Lower is preferred when a replica is chosen for promotion; 0 never (INFO slave_priority)",
        replica_priority,
        Num
    ),
    setting!(
        "cluster-enabled",
        Startup,
        "Run as a node of a cluster: hash slots, redirects, the cluster bus (docs/cluster.md)",
        cluster_enabled,
        YesNo
    ),
    setting!(
        "cluster-port",
        Startup,
        "Cluster bus port (0: the client port + 10000)",
        cluster_port,
        Num
    ),
    setting!(
        "cluster-node-timeout",
        Startup,
        "Milliseconds without an answer before a node is judged failed and its replica promoted; a primary that cannot reach a majority of the voters for half of it stops taking writes",
        cluster_node_timeout,
        ranged 100, i32::MAX as u32
    ),
    setting!(
        "cluster-require-full-coverage",
        Runtime,
        "Refuse keyed commands (CLUSTERDOWN) while some hash slot has no owner",
        cluster_require_full_coverage,
        YesNo
    ),
    setting!(
        "cluster-allow-reads-when-down",
        Runtime,
        "Serve reads while the cluster is down (uncovered slots, or this node fenced)",
        cluster_allow_reads_when_down,
        YesNo
    ),
    setting!(
        "cluster-announce-ip",
        Startup,
        "Address other nodes and clients are told to reach this node at (default: the bind address)",
        cluster_announce_ip,
        Text
    ),
    Setting {
        name: "cluster-secret",
        mutability: Mutability::Runtime,
        help: "Secret every cluster bus connection proves (HMAC, never sent); the same on every node, at least 16 characters. `cairn cluster create` installs one when none is set",
        multi_word: false,
        get: |c| c.cluster_secret.clone(),
        set: |c, v| {
            if !v.is_empty() && v.len() < 16 {
                return Err("cluster-secret must be at least 16 characters".into());
            }
            c.cluster_secret = v.to_string();
            Ok(())
        },
    },
    setting!(
        "cluster-secret-file",
        Startup,
        "File holding the cluster secret (read at start; cluster-secret wins if both are set)",
        cluster_secret_file,
        Text
    ),
    Setting {
        name: "cluster-bus-max-frame",
        mutability: Mutability::Runtime,
        help: "Largest cluster bus frame a proven peer may send (k/mb suffixes)",
        multi_word: false,
        get: |c| c.cluster_bus_max_frame.to_string(),
        set: |c, v| {
            let n: u64 = Memory::parse(v)?;
            if n < 64 * 1024 {
                return Err("argument must be at least 65536 (64kb)".into());
            }
            c.cluster_bus_max_frame = n;
            Ok(())
        },
    },
    Setting {
        name: "client-output-buffer-limit",
        mutability: Mutability::Runtime,
        help: "Disconnect a client whose unsent output passes these limits: <class> <hard> <soft> <soft-seconds> for the classes normal, replica, pubsub (0: no limit)",
        multi_word: true,
        get: |c| c.client_output_buffer_limit.show(),
        set: |c, v| {
            c.client_output_buffer_limit = c.client_output_buffer_limit.parse(v)?;
            Ok(())
        },
    },
];

/// Finds a setting by name, case-insensitively.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// Every `maxmemory-policy` name (cairn-store knows what each does), in the order Redis
/// lists them in its error message, then Cairn's.
const POLICY_NAMES: [&str; 9] = [
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
    "allkeys-tinylfu",
];

/// An integer within `min..=max`, with Redis's error texts.
fn ranged(v: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = Num::parse(v)?;
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n)
}

/// Lower-cases `v` and checks it is one of `choices`, with Redis's error text.
fn one_of(v: &str, choices: &[&str]) -> Result<String, String> {
    let v = v.trim().to_ascii_lowercase();
    if choices.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(format!(
            "argument(s) must be one of the following: {}",
            choices.join(", ")
        ))
    }
}

struct Num;
impl Num {
    fn parse<T: std::str::FromStr>(v: &str) -> Result<T, String> {
        v.trim()
            .parse()
            .map_err(|_| "argument couldn't be parsed into an integer".to_string())
    }
    fn show<T: ToString>(v: &T) -> String {
        v.to_string()
    }
}

struct YesNo;
impl YesNo {
    fn parse(v: &str) -> Result<bool, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err("argument must be 'yes' or 'no'".into()),
        }
    }
    fn show(v: &bool) -> String {
        if *v { "yes" } else { "no" }.into()
    }
}

struct Text;
impl Text {
    fn parse(v: &str) -> Result<String, String> {
        Ok(v.to_string())
    }
    fn show(v: &str) -> String {
        v.to_string()
    }
}

struct Memory;
impl Memory {
    fn parse<T: TryFrom<u64>>(v: &str) -> Result<T, String> {
        parse_memory(v)
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| "argument must be a memory value".to_string())
    }
    fn show<T: ToString>(v: &T) -> String {
        v.to_string()
    }
}

/// `replicaof`: "host port", or empty / "no one" for a primary.
fn parse_replicaof(v: &str) -> Result<String, String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    match words.as_slice() {
        [] => Ok(String::new()),
        [no, one] if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") => {
            Ok(String::new())
        }
        [host, port] => {
            let port: u16 = port
                .parse()
                .ok()
                .filter(|&p| p != 0)
                .ok_or("Invalid master port")?;
            Ok(format!("{host} {port}"))
        }
        _ => Err("replicaof needs <host> <port>".into()),
    }
}

/// Parses a memory amount as Redis's `memtoll` does: `1k` is 1000, `1kb` 1024, and so on
/// for m/mb and g/gb; no suffix means bytes.
pub fn parse_memory(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

/// A setting that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Unknown(String),
    Immutable(String),
    Invalid { name: String, reason: String },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Unknown(n) => write!(f, "unknown setting '{n}'"),
            ConfigError::Immutable(n) => write!(f, "'{n}' can only be set at start-up"),
            ConfigError::Invalid { name, reason } => write!(f, "'{name}': {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Applies one setting given as text, at start-up (any setting) or at run time (only
    /// the mutable ones).
    pub fn apply(&mut self, name: &str, value: &str, at_runtime: bool) -> Result<(), ConfigError> {
        let s = setting(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        if at_runtime && s.mutability == Mutability::Startup {
            return Err(ConfigError::Immutable(s.name.to_string()));
        }
        (s.set)(self, value).map_err(|reason| ConfigError::Invalid {
            name: s.name.to_string(),
            reason,
        })
    }

    /// Applies a TOML document: `name = value`, where value is a string, a number, a
    /// boolean (written as yes/no) or an array of those (joined by spaces).
    pub fn apply_toml(&mut self, text: &str) -> Result<(), String> {
        let table: toml::Table = text.parse().map_err(|e| format!("{e}"))?;
        for (name, value) in table {
            let v =
                toml_to_text(&value).ok_or_else(|| format!("'{name}': unsupported value type"))?;
            self.apply(&name, &v, false).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Applies `--name value ...` pairs, as redis-server takes them on its command line.
    /// A directive's value is every word up to the next `--`.
    pub fn apply_args(&mut self, args: &[String]) -> Result<(), String> {
        let mut i = 0;
        while i < args.len() {
            let Some(name) = args[i].strip_prefix("--") else {
                return Err(format!("expected --name, got '{}'", args[i]));
            };
            let mut words = Vec::new();
            i += 1;
            while i < args.len() && !args[i].starts_with("--") {
                words.push(args[i].as_str());
                i += 1;
            }
            self.apply(name, &words.join(" "), false)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn toml_to_text(v: &toml::Value) -> Option<String> {
    Some(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => if *b { "yes" } else { "no" }.into(),
        toml::Value::Array(items) => items
            .iter()
            .map(toml_to_text)
            .collect::<Option<Vec<_>>>()?
            .join(" "),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_follow_memtoll() {
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert_eq!(parse_memory("1x"), None);
        assert_eq!(parse_memory("-1"), None);
    }

    #[test]
    fn command_line_like_redis_server() {
        let mut c = Config::default();
        let args: Vec<String> = [
            "--port",
            "7000",
            "--maxmemory",
            "1gb",
            "--save",
            "",
            "--bind",
            "127.0.0.1",
            "::1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        c.apply_args(&args).unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.maxmemory, 1 << 30);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert!(c.apply_args(&["--nonsense".into(), "1".into()]).is_err());
        assert!(c.apply_args(&["--daemonize".into(), "yes".into()]).is_err());
    }

    #[test]
    fn toml_file() {
        let mut c = Config::default();
        c.apply_toml(
            "port = 7001\nmaxmemory = \"10mb\"\nprotected-mode = false\nbind = [\"127.0.0.1\"]\n",
        )
        .unwrap();
        assert_eq!(c.port, 7001);
        assert_eq!(c.maxmemory, 10 << 20);
        assert!(!c.protected_mode);
        assert!(c.apply_toml("bogus = 1").is_err());
    }

    #[test]
    fn runtime_rules() {
        let mut c = Config::default();
        assert_eq!(
            c.apply("port", "1", true),
            Err(ConfigError::Immutable("port".into()))
        );
        c.apply("maxclients", "5", true).unwrap();
        assert_eq!(c.maxclients, 5);
    }
}

#[cfg(test)]
mod policy_names {
    #[test]
    fn every_policy_the_store_knows_is_accepted_and_nothing_else() {
        let mut names: Vec<&str> = super::POLICY_NAMES.to_vec();
        let mut known: Vec<&str> = cairn_store::Policy::ALL.iter().map(|p| p.name()).collect();
        names.sort();
        known.sort();
        assert_eq!(names, known);
    }
}
