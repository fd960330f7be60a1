//! INFO: the server's state in Redis's sections and field names, so dashboards, exporters
//! and client libraries that parse it work unchanged.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use cairn_protocol::Args;

use crate::ctx::{Command, Ctx};
use crate::error::CmdResult;
use crate::memory::human;
use crate::pubsub::Kind;
use crate::spec::{Spec, acl, flags::*};

pub const COMMANDS: &[Command] = &[Spec::new("info", -1, "server")
    .flags(LOADING | STALE)
    .acl(acl::DANGEROUS)
    .tips(&[
        "nondeterministic_output",
        "request_policy:all_shards",
        "response_policy:special",
    ])
    .doc(
        "1.0.0",
        "Returns information and statistics about the server.",
    )
    .complexity("O(1)")
    .run(info)];

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
const EXTRA_SECTIONS: &[&str] = &["commandstats", "latencystats", "hotkeys"];

/// ```text
/// INFO [section [section ...]]
/// ```
fn info(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut wanted: Vec<&str> = Vec::new();
    if args.len() == 1 {
        wanted.extend(DEFAULT_SECTIONS);
    }
    for a in args.tail(1).iter() {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS),
            "all" | "everything" => {
                wanted.extend(DEFAULT_SECTIONS);
                wanted.extend(EXTRA_SECTIONS);
            }
            other => {
                if let Some(s) = DEFAULT_SECTIONS
                    .iter()
                    .chain(EXTRA_SECTIONS)
                    .find(|s| **s == other)
                {
                    wanted.push(s);
                }
            }
        }
    }
    let mut seen = Vec::new();
    let mut text = String::new();
    for s in DEFAULT_SECTIONS.iter().chain(EXTRA_SECTIONS) {
        if wanted.contains(s) && !seen.contains(s) {
            seen.push(s);
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            section(ctx, s, &mut text);
        }
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// Appends one section, its `# Title` line included.
fn section(ctx: &Ctx, name: &str, out: &mut String) {
    let server = ctx.server;
    let cfg = server.config();
    match name {
        "server" => {
            out.push_str("# Server\r\n");
            let up = server.uptime().as_secs();
            kv(out, "redis_version", &crate::REDIS_VERSION);
            kv(out, "cairn_version", &crate::CAIRN_VERSION);
            kv(out, "redis_git_sha1", &"00000000");
            kv(out, "redis_git_dirty", &0);
            kv(out, "redis_build_id", &"0");
            kv(out, "redis_mode", &"standalone");
            kv(
                out,
                "os",
                &format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            );
            kv(out, "arch_bits", &(usize::BITS));
            kv(out, "multiplexing_api", &"epoll");
            kv(out, "atomicvar_api", &"c11-builtin");
            kv(out, "process_id", &std::process::id());
            kv(out, "process_supervised", &"no");
            kv(out, "run_id", &server.run_id);
            kv(out, "tcp_port", &cfg.port);
            kv(out, "server_time_usec", &(ctx.now.ms * 1000));
            kv(out, "uptime_in_seconds", &up);
            kv(out, "uptime_in_days", &(up / 86400));
            kv(out, "hz", &cfg.hz);
            kv(out, "configured_hz", &cfg.hz);
            kv(out, "lru_clock", &(ctx.now.s & 0xFF_FFFF));
            kv(
                out,
                "executable",
                &std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            kv(out, "config_file", &"");
            kv(out, "io_threads_active", &0);
            kv(
                out,
                "listener0",
                &format!("name=tcp,bind={},port={}", cfg.bind.join(","), cfg.port),
            );
        }
        "clients" => {
            out.push_str("# Clients\r\n");
            kv(
                out,
                "connected_clients",
                &super::client::live_clients(ctx).len(),
            );
            kv(out, "cluster_connections", &0);
            kv(out, "maxclients", &cfg.maxclients);
            kv(out, "client_recent_max_input_buffer", &0);
            kv(out, "client_recent_max_output_buffer", &0);
            kv(out, "blocked_clients", &ctx.server.blocking.len());
            kv(out, "tracking_clients", &server.tracking.stats().0);
            kv(
                out,
                "pubsub_clients",
                &super::client::live_clients(ctx)
                    .iter()
                    .filter(|c| c.class() == "pubsub")
                    .count(),
            );
            kv(
                out,
                "watching_clients",
                &super::client::live_clients(ctx)
                    .iter()
                    .filter(|c| c.watch.load(Ordering::Relaxed) > 0)
                    .count(),
            );
            kv(out, "clients_in_timeout_table", &0);
            kv(out, "total_watched_keys", &server.keyspace.watched_keys());
            kv(out, "total_blocking_keys", &0);
            kv(out, "total_blocking_keys_on_nokey", &0);
        }
        "memory" => {
            out.push_str("# Memory\r\n");
            let m = crate::memory::read();
            server.refresh_memory();
            let peak = server.peak_memory.load(Ordering::Relaxed).max(m.allocated);
            let total = total_system_memory();
            // As MEMORY STATS dataset.bytes: the keys and values, without their tables.
            let tables: usize = server.keyspace.table_bytes().iter().sum();
            let dataset = server.keyspace.used_bytes().saturating_sub(tables) as u64;
            let overhead = m.allocated.saturating_sub(dataset);
            kv(out, "used_memory", &m.allocated);
            kv(out, "used_memory_human", &human(m.allocated));
            kv(out, "used_memory_rss", &m.rss);
            kv(out, "used_memory_rss_human", &human(m.rss));
            kv(out, "used_memory_peak", &peak);
            kv(out, "used_memory_peak_human", &human(peak));
            kv(
                out,
                "used_memory_peak_perc",
                &format!("{:.2}%", m.allocated as f64 * 100.0 / peak.max(1) as f64),
            );
            kv(out, "used_memory_overhead", &overhead);
            kv(out, "used_memory_startup", &server.startup_memory());
            kv(out, "used_memory_dataset", &dataset);
            kv(
                out,
                "used_memory_dataset_perc",
                &format!("{:.2}%", dataset as f64 * 100.0 / m.allocated.max(1) as f64),
            );
            kv(out, "allocator_allocated", &m.allocated);
            kv(out, "allocator_active", &m.active);
            kv(out, "allocator_resident", &m.resident);
            kv(out, "total_system_memory", &total);
            kv(out, "total_system_memory_human", &human(total));
            kv(out, "maxmemory", &cfg.maxmemory);
            kv(out, "maxmemory_human", &human(cfg.maxmemory));
            kv(out, "maxmemory_policy", &cfg.maxmemory_policy);
            kv(out, "maxmemory_samples", &cfg.maxmemory_samples);
            kv(
                out,
                "allocator_frag_ratio",
                &format!("{:.2}", m.active as f64 / m.allocated.max(1) as f64),
            );
            kv(
                out,
                "mem_fragmentation_ratio",
                &format!("{:.2}", m.rss as f64 / m.allocated.max(1) as f64),
            );
            kv(
                out,
                "mem_fragmentation_bytes",
                &(m.rss as i64 - m.allocated as i64),
            );
            kv(out, "mem_allocator", &"jemalloc");
            kv(out, "lazyfree_pending_objects", &server.lazyfree.pending());
            kv(out, "lazyfreed_objects", &server.lazyfree.freed());
        }
        "persistence" => {
            out.push_str("# Persistence\r\n");
            crate::persist::saving::info(server, out);
        }
        "stats" => {
            out.push_str("# Stats\r\n");
            let ks = server.keyspace.stats();
            let counters = server.stats.snapshot();
            let total_cmds: u64 = counters.commands.iter().map(|c| c.calls).sum();
            let errors: u64 = counters.errors.values().sum();
            kv(
                out,
                "total_connections_received",
                &server.stats.connections_received.load(Ordering::Relaxed),
            );
            kv(out, "total_commands_processed", &total_cmds);
            kv(
                out,
                "instantaneous_ops_per_sec",
                &server.stats.ops_per_sec(),
            );
            kv(out, "total_net_input_bytes", &counters.net_input_bytes);
            kv(out, "total_net_output_bytes", &counters.net_output_bytes);
            kv(
                out,
                "rejected_connections",
                &server.stats.rejected_connections.load(Ordering::Relaxed),
            );
            kv(out, "expired_keys", &ks.expired);
            kv(out, "expired_subkeys", &ks.expired_fields);
            kv(
                out,
                "evicted_keys",
                &(ks.evicted + server.unstored_evictions()),
            );
            for (policy, n) in server.evictions_by_policy() {
                kv(
                    out,
                    &format!("evicted_keys_{}", policy.name().replace('-', "_")),
                    &n,
                );
            }
            kv(out, "evicted_rejected", &server.admission_rejections());
            let repl = &server.replication;
            kv(out, "sync_full", &repl.sync_full.load(Ordering::Relaxed));
            kv(
                out,
                "sync_partial_ok",
                &repl.sync_partial_ok.load(Ordering::Relaxed),
            );
            kv(
                out,
                "sync_partial_err",
                &repl.sync_partial_err.load(Ordering::Relaxed),
            );
            kv(
                out,
                "total_net_repl_input_bytes",
                &repl.input_bytes.load(Ordering::Relaxed),
            );
            kv(
                out,
                "total_net_repl_output_bytes",
                &repl.output_bytes.load(Ordering::Relaxed),
            );
            kv(out, "evicted_clients", &0);
            kv(
                out,
                "client_output_buffer_limit_disconnections",
                &server.pubsub.disconnected.load(Ordering::Relaxed),
            );
            let (_, tracked_keys, tracked_items, prefixes) = server.tracking.stats();
            kv(out, "tracking_total_keys", &tracked_keys);
            kv(out, "tracking_total_items", &tracked_items);
            kv(out, "tracking_total_prefixes", &prefixes);
            kv(out, "keyspace_hits", &ks.hits);
            kv(out, "keyspace_misses", &ks.misses);
            kv(out, "pubsub_channels", &server.pubsub.len(Kind::Channel));
            kv(out, "pubsub_patterns", &server.pubsub.len(Kind::Pattern));
            kv(out, "pubsubshard_channels", &server.pubsub.len(Kind::Shard));
            kv(out, "total_error_replies", &errors);
            kv(out, "total_eviction_exceeded_time", &0);
            kv(out, "lazyfree_pending_objects", &server.lazyfree.pending());
            kv(out, "lazyfreed_objects", &server.lazyfree.freed());
        }
        "replication" => {
            out.push_str("# Replication\r\n");
            crate::replication::roles::info(server, out);
        }
        "cpu" => {
            out.push_str("# CPU\r\n");
            let (user, sys) = cpu_seconds();
            kv(out, "used_cpu_sys", &format!("{sys:.6}"));
            kv(out, "used_cpu_user", &format!("{user:.6}"));
        }
        "modules" => out.push_str("# Modules\r\n"),
        "errorstats" => {
            out.push_str("# Errorstats\r\n");
            let counters = server.stats.snapshot();
            let mut errors: Vec<_> = counters.errors.into_iter().collect();
            errors.sort();
            for (code, n) in errors {
                kv(out, &format!("errorstat_{code}"), &format!("count={n}"));
            }
        }
        "cluster" => {
            out.push_str("# Cluster\r\n");
            kv(
                out,
                "cluster_enabled",
                &u8::from(server.cluster.get().is_some()),
            );
            // The bus's guard (cairn_cluster::node::serve): what it refused since start.
            if let Some(cluster) = server.cluster.get() {
                let bus = cluster.node.bus_stats();
                kv(
                    out,
                    "cairn_bus_secret_set",
                    &u8::from(cluster.node.has_secret()),
                );
                kv(out, "cairn_bus_connections", &bus.connections);
                kv(
                    out,
                    "cairn_bus_refused_connections",
                    &bus.refused_connections,
                );
                kv(out, "cairn_bus_refused_handshakes", &bus.refused_handshakes);
                kv(out, "cairn_bus_refused_requests", &bus.refused_requests);
            }
        }
        "hotkeys" => {
            out.push_str("# Hotkeys\r\n");
            kv(out, "hotkeys_sampled", &server.hotkeys.sampled());
            kv(out, "hotkeys_sample_rate", &crate::hotkeys::SAMPLE_EVERY);
            for (i, h) in server.hotkeys.top(10).iter().enumerate() {
                let key: String = h
                    .key
                    .iter()
                    .flat_map(|&b| std::ascii::escape_default(b))
                    .map(char::from)
                    .map(|c| if c == ',' || c == '=' { '_' } else { c })
                    .collect();
                kv(
                    out,
                    &format!("hotkey_{i}"),
                    &format!("key={key},accesses={}", h.accesses),
                );
            }
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            for (i, size) in server.keyspace.sizes().iter().enumerate() {
                if size.keys > 0 {
                    kv(
                        out,
                        &format!("db{i}"),
                        &format!(
                            "keys={},expires={},avg_ttl=0,subexpiry=0",
                            size.keys, size.expires
                        ),
                    );
                }
            }
        }
        "commandstats" => {
            out.push_str("# Commandstats\r\n");
            let table = crate::table::Table::get();
            let counters = server.stats.snapshot();
            for (id, c) in counters.commands.iter().enumerate() {
                if c.calls == 0 && c.rejected == 0 {
                    continue;
                }
                kv(
                    out,
                    &format!(
                        "cmdstat_{}",
                        table.spec(crate::spec::CommandId(id as u16)).name
                    ),
                    &format!(
                        "calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}",
                        c.calls,
                        c.usec,
                        c.usec as f64 / c.calls.max(1) as f64,
                        c.rejected,
                        c.failed
                    ),
                );
            }
        }
        "latencystats" => {
            out.push_str("# Latencystats\r\n");
            let table = crate::table::Table::get();
            let counters = server.stats.snapshot();
            for (id, c) in counters.commands.iter().enumerate() {
                let Some(h) = &c.latency else { continue };
                if h.is_empty() {
                    continue;
                }
                let parts: Vec<String> = cfg
                    .latency_tracking_info_percentiles
                    .iter()
                    .map(|p| {
                        format!(
                            "p{}={:.3}",
                            cairn_protocol::resp::reply::format_double(*p),
                            h.value_at_quantile(p / 100.0) as f64 / 1000.0
                        )
                    })
                    .collect();
                kv(
                    out,
                    &format!(
                        "latency_percentiles_usec_{}",
                        table.spec(crate::spec::CommandId(id as u16)).name
                    ),
                    &parts.join(","),
                );
            }
        }
        _ => {}
    }
}

/// One `field:value` line.
fn kv(out: &mut String, k: &str, v: &dyn std::fmt::Display) {
    let _ = write!(out, "{k}:{v}\r\n");
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// User and system CPU seconds of this process, from /proc.
pub(crate) fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}
