//! The background work that runs `hz` times a second: the active expiry sweep, memory
//! figures, eviction left over by commands, tuning TinyLFU's memory, the ops/sec sample,
//! and closing clients idle past `timeout`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cairn_store::db::Now;

use crate::server::Server;

/// Entries the sweep examines per shard per step.
const SWEEP_STEP: usize = 2_000;
/// Stop sweeping a shard this tick once fewer than this share of examined keys had expired.
const STALE_THRESHOLD: f64 = 0.10;

pub async fn run(server: Arc<Server>) {
    let mut last_timeout_check = Instant::now();
    let mut last_hotkeys_decay = Instant::now();
    let mut sketch_tuner = cairn_store::sketch::Tuner::default();
    loop {
        let hz = server.with_config(|c| c.hz).clamp(1, 500);
        tokio::select! {
            _ = server.wait_shutdown() => return,
            _ = tokio::time::sleep(Duration::from_millis(1000 / hz as u64)) => {}
        }
        server.clock.resync();
        // A replica never expires keys itself: its primary's DELs do (it hides them).
        if server.active_expire.load(Ordering::Relaxed) && !server.replication.is_replica() {
            // Time budget per tick: 25% of the tick, as Redis's slow expire cycle allows.
            let budget = Duration::from_micros(250_000 / hz as u64);
            let srv = server.clone();
            let _ = tokio::task::spawn_blocking(move || sweep(&srv, budget)).await;
        }
        refresh_memory(&server);
        crate::replication::roles::tick(&server);
        if server.over_maxmemory() && !server.replication.is_replica() {
            // A command evicts a bounded number of keys; whatever is left over (one huge
            // write, a lowered maxmemory) is evicted here, off the request path.
            let srv = server.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let _ = crate::evict::make_room(&srv, 0, None, Now::wall(), 100_000);
            })
            .await;
        }
        if server.maxmemory() != 0 && server.policy().uses_sketch() {
            server.keyspace.tune_sketches(&mut sketch_tuner);
        }
        server.stats.sample_ops();
        if last_hotkeys_decay.elapsed() >= Duration::from_secs(crate::hotkeys::DECAY_SECS) {
            last_hotkeys_decay = Instant::now();
            server.hotkeys.decay();
        }
        if last_timeout_check.elapsed() >= Duration::from_secs(1) {
            last_timeout_check = Instant::now();
            close_idle_clients(&server);
            crate::persist::saving::tick(&server);
        }
    }
}

/// One round of the active expiry sweep over every shard, within `budget` of time.
/// Shards with many expired keys get more passes, so expired-but-unread keys stay a small
/// share of the keyspace.
pub fn sweep(server: &Server, budget: Duration) {
    let start = Instant::now();
    let shards = server.keyspace.shard_count();
    for shard in 0..shards {
        loop {
            let now = Now::wall();
            let (seen, removed) =
                server
                    .keyspace
                    .sweep_shard(shard, SWEEP_STEP, now, |_db, entry| {
                        if entry.value_heap_size() >= cairn_store::db::LAZYFREE_BYTES {
                            server.lazyfree.free_if(&server.lazy.expire, entry);
                        }
                    });
            if seen == 0
                || (removed as f64) < seen as f64 * STALE_THRESHOLD
                || start.elapsed() > budget
            {
                break;
            }
        }
        if start.elapsed() > budget {
            break;
        }
    }
    // Volatile hash fields: the index hands over only hashes with a field due, so a
    // step costs what it expires.
    for shard in 0..shards {
        let now = Now::wall();
        while server.keyspace.sweep_fields_shard(shard, SWEEP_STEP, now) >= SWEEP_STEP
            && start.elapsed() <= budget
        {}
    }
}

pub fn refresh_memory(server: &Server) {
    server.refresh_memory();
}

fn close_idle_clients(server: &Server) {
    let timeout = server.with_config(|c| c.timeout);
    if timeout == 0 {
        return;
    }
    for c in server.clients.all() {
        if c.idle_secs() > timeout {
            tracing::debug!(client = c.id, "closing idle client");
            c.kill();
        }
    }
}
