//! The Cairn server: listeners, connections, the command table and one module per
//! command family.
//!
//! # Layout
//!
//! A request takes five hops, each one place in this tree:
//!
//! ```text
//! socket ─▶ connection.rs ─▶ cairn-protocol ─▶ commands/mod.rs ─▶ commands/<family>.rs ─▶ cairn-store
//!           (read, batch,     (RESP frame       (table lookup:      (the handler)          (shard lock,
//!            write replies)    → Args)           arity, flags)                              entry)
//! ```
//!
//! - [`server`]: state every connection shares (keyspace, config, clients, stats).
//! - [`listener`]: accepting, maxclients, protected mode.
//! - [`connection`]: one task per client; pipelined reads, one write per batch.
//! - [`session`]: what belongs to one connection only (selected db, pending sleep).
//! - [`commands`]: the command table and one file per family (strings, bits, keys, expire,
//!   connection, client, server, info, config, command).
//! - [`config`]: settings by Redis directive name, from TOML, the command line and CONFIG SET.
//! - [`stats`], [`clients`], [`memory`]: what INFO and CLIENT LIST report.
//! - [`cron`]: `hz` times a second: active expiry, memory figures, ops/sec, idle timeouts.
//! - [`workers`]: the connection threads, each with its own runtime.
//! - [`ld80`]: x87 `long double` arithmetic, so INCRBYFLOAT prints what Redis prints.
//! - [`geo`]: geohash arithmetic (cells, neighbours, search areas, distances) as Redis's
//!   geo commands compute it, for `commands/geo.rs` over sorted sets.
//! - [`lazyfree`]: a thread that frees big values and flushed databases off the request path.
//! - [`pubsub`]: who subscribes to what, and delivery; [`outbox`]: the queue through which
//!   other connections send a client frames, bounded by `client-output-buffer-limit`.
//! - [`memcache`]: the memcached text and meta protocol on `memcached-port`, on the same
//!   keyspace (database 0).
//! - [`persist`]: the write stream, the append-only file, snapshots, loading at start-up.
//! - [`replication`]: serving replicas the write stream, and following a primary.
//! - [`cluster`]: cluster mode: routing by hash slot, following the roles the cluster's
//!   configuration (`cairn-cluster`) gives this node.
//! - [`migrate`]: MIGRATE's engine: the keys' payloads taken, sent to the target, removed
//!   here once it has them.
//! - [`peer`]: a RESP connection to another server, this node the client (MIGRATE, a
//!   manual failover, a replica's handshake with its primary).
//! - [`tracking`]: client-side caching invalidations; [`notify`]: keyspace notifications;
//!   [`keyevents`]: what the store reports about changed keys, handed to both.
//!
//! ```text
//!   main runtime              worker threads (one per core, `threads`),
//!   ┌─────────────┬────────┐  each its own single-threaded runtime
//!   │ accept loop │ cron   │  ┌──────────────────┐ ┌──────────────────┐
//!   └──────┬──────┴────────┘  │ connections …    │ │ connections …    │  lazyfree
//!          └── round robin ──▶└────────┬─────────┘ └────────┬─────────┘  thread
//!                                      └──── Arc<Server> ───┘              ▲
//!                   keyspace: shards[N] (mutex each, never held across .await)
//!                                                     big values, flushed dbs ┘
//! ```

pub mod blocking;
pub mod clients;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod connection;
pub mod cron;
pub mod ctx;
pub mod dispatch;
pub mod error;
pub mod evict;
pub mod geo;
pub mod hotkeys;
pub mod keyevents;
pub mod latency;
pub mod lazyfree;
pub mod ld80;
pub mod leases;
pub mod listener;
pub mod memcache;
pub mod memory;
pub mod migrate;
pub mod monitor;
pub mod notify;
pub mod outbox;
pub mod park;
pub mod peer;
pub mod persist;
pub mod pubsub;
pub mod reconfigure;
pub mod replication;
pub mod server;
pub mod session;
pub mod slowlog;
pub mod spec;
pub mod stats;
pub mod table;
pub mod tracking;
pub mod transaction;
pub mod workers;

use std::sync::Arc;

pub use config::Config;
pub use server::{Hooks, Server};

/// Cairn's own version, reported next to the Redis version it matches.
pub const CAIRN_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis version whose behaviour Cairn matches (HELLO, INFO redis_version).
pub const REDIS_VERSION: &str = "7.4.0";

/// Binds the configured addresses and serves until [`Server::shutdown`] is called.
/// `on_ready` receives the addresses actually bound (port 0 resolves to a real port).
pub async fn run(
    server: Arc<Server>,
    on_ready: impl FnOnce(&[std::net::SocketAddr]),
) -> std::io::Result<()> {
    // The command table before anything looks a command up: loading the AOF and a
    // replica applying its primary's stream read it, possibly before any client's command
    // has come through dispatch (a replica once panicked there, applying its first record).
    dispatch::table();
    // The roles that start replication links sit below dispatch, which the links apply
    // the stream through: the link is wired in here.
    let _ = server
        .link_runner
        .set(|server, link| Box::pin(replication::replica::run(server, link)));
    // Come back warm before anyone can connect: load the AOF or the snapshot.
    persist::load::start(&server).map_err(std::io::Error::other)?;
    let listeners = listener::bind(&server)?;
    let mc_listeners = listener::bind_memcached(&server)?;
    let addrs: Vec<_> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let mc_addrs: Vec<_> = mc_listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    if let Some(a) = addrs.first() {
        server.set_bound_port(a.port());
    }
    if server.with_config(|c| c.cluster_enabled) {
        let port = addrs.first().map_or(0, |a| a.port());
        cluster::node::start(&server, port).await?;
    }
    cron::refresh_memory(&server);
    let threads = server.with_config(|c| c.threads);
    let workers = Arc::new(workers::Workers::start(&server, threads, listener::serve)?);
    let mut tasks = Vec::new();
    let all = listeners
        .into_iter()
        .map(|l| (l, workers::Protocol::Resp))
        .chain(
            mc_listeners
                .into_iter()
                .map(|l| (l, workers::Protocol::Memcached)),
        );
    for (l, protocol) in all {
        tasks.push(tokio::spawn(listener::accept_loop(
            server.clone(),
            l,
            workers.clone(),
            protocol,
        )));
    }
    tasks.push(tokio::spawn(cron::run(server.clone())));
    let replicaof = server.with_config(|c| c.replicaof.clone());
    if let Some((host, port)) = replicaof.split_once(' ') {
        let port = port.parse().unwrap_or(6379);
        replication::roles::follow_at_start(&server, host.to_string(), port);
    }
    if !mc_addrs.is_empty() {
        let list: Vec<String> = mc_addrs.iter().map(|a| a.to_string()).collect();
        tracing::warn!("memcached protocol on tcp {}", list.join(" "));
    }
    on_ready(&addrs);
    server.wait_shutdown().await;
    for t in tasks {
        let _ = t.await;
    }
    // The workers let connections write their last replies, then stop.
    if let Ok(workers) = Arc::try_unwrap(workers) {
        tokio::task::spawn_blocking(move || workers.join())
            .await
            .ok();
    }
    let save = server.persist.shutdown_save();
    let srv = server.clone();
    tokio::task::spawn_blocking(move || persist::saving::shutdown(&srv, save))
        .await
        .ok();
    Ok(())
}
