//! MEMORY: USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE.
//!
//! Every figure comes from one of two sources that are both exact for what they count:
//! jemalloc's statistics (everything the process allocated) and the keyspace's own byte
//! count (each entry's block and the hash tables, rounded to jemalloc's size classes).

use cairn_protocol::Args;
use std::sync::atomic::Ordering;

use crate::commands::args::{help_reply, int_arg, is};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::memory::{self, human};
use crate::spec::{KeySpec, Spec, flags::*, key};

const SUBCOMMANDS: &[Command] = &[
    Spec::new("memory|usage", -3, "server")
        .flags(READONLY)
        .keys(&[KeySpec::one(2, key::RO)])
        .doc("4.0.0", "Estimates the memory usage of a key.")
        .complexity("O(N) where N is the number of samples.")
        .run(usage),
    Spec::new("memory|stats", 2, "server")
        .tips(&[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ])
        .doc("4.0.0", "Returns details about memory usage.")
        .complexity("O(1)")
        .run(stats),
    Spec::new("memory|doctor", 2, "server")
        .tips(&[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ])
        .doc("4.0.0", "Outputs a memory problems report.")
        .complexity("O(1)")
        .run(doctor),
    Spec::new("memory|malloc-stats", 2, "server")
        .tips(&[
            "nondeterministic_output",
            "request_policy:all_shards",
            "response_policy:special",
        ])
        .doc("4.0.0", "Returns the allocator statistics.")
        .complexity("Depends on how much memory is allocated, could be slow")
        .run(malloc_stats),
    Spec::new("memory|purge", 2, "server")
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .doc("4.0.0", "Asks the allocator to release memory.")
        .complexity("Depends on how much memory is allocated, could be slow")
        .run(purge),
    Spec::new("memory|help", 2, "server")
        .flags(LOADING | STALE)
        .doc(
            "4.0.0",
            "Returns helpful text about the different subcommands.",
        )
        .complexity("O(1)")
        .run(help),
];

pub const COMMANDS: &[Command] = &[Spec::new("memory", -2, "server")
    .doc("4.0.0", "A container for memory diagnostics commands.")
    .complexity("Depends on subcommand.")
    .container(SUBCOMMANDS)];

/// MEMORY USAGE key [SAMPLES count]: the entry's block (and a raw value's buffer) plus its
/// share of the slot's hash table. SAMPLES is accepted for compatibility; a string has
/// nothing to sample.
fn usage(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut i = 3;
    while i < args.len() {
        if is(args.get(i), "samples") && i + 1 < args.len() {
            let n = int_arg(args.get(i + 1))?;
            if n < 0 {
                return Err(CmdError::syntax());
            }
            i += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let key = args.get(2);
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(e) = db.peek(slot, key, ctx.now) else {
        drop(shard);
        ctx.out.null();
        return Ok(());
    };
    let bytes = e.mem_usage() + db.table_share(slot);
    drop(shard);
    ctx.out.int(bytes as i64);
    Ok(())
}

/// The figures MEMORY STATS and MEMORY DOCTOR work from.
struct Figures {
    peak: u64,
    allocated: u64,
    startup: u64,
    active: u64,
    resident: u64,
    rss: u64,
    keys: u64,
    keyspace: u64,
    tables: Vec<usize>,
    sizes: Vec<(usize, usize)>,
    detail: memory::AllocatorDetail,
}

fn figures(ctx: &Ctx) -> Figures {
    let server = ctx.server;
    let m = memory::read();
    server.refresh_memory();
    let sizes: Vec<(usize, usize)> = server
        .keyspace
        .sizes()
        .iter()
        .map(|s| (s.keys, s.expires))
        .collect();
    Figures {
        peak: server.peak_memory.load(Ordering::Relaxed).max(m.allocated),
        allocated: m.allocated,
        startup: server.startup_memory(),
        active: m.active,
        resident: m.resident,
        rss: m.rss,
        keys: sizes.iter().map(|s| s.0 as u64).sum(),
        keyspace: server.keyspace.used_bytes() as u64,
        tables: server.keyspace.table_bytes(),
        sizes,
        detail: memory::detail(),
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b.max(1) as f64
}

fn stats(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let f = figures(ctx);
    let tables: u64 = f.tables.iter().map(|&t| t as u64).sum();
    let dataset = f.keyspace.saturating_sub(tables);
    let overhead = f.allocated.saturating_sub(dataset);
    let dbs: Vec<usize> = (0..f.sizes.len()).filter(|&i| f.sizes[i].0 > 0).collect();
    let int_fields: Vec<(&str, i64)> = vec![
        ("peak.allocated", f.peak as i64),
        ("total.allocated", f.allocated as i64),
        ("startup.allocated", f.startup as i64),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("aof.buffer", 0),
    ];
    let tail_ints: Vec<(&str, i64)> = vec![
        ("overhead.total", overhead as i64),
        ("keys.count", f.keys as i64),
        // As Redis computes it: everything allocated since start-up, per key.
        (
            "keys.bytes-per-key",
            (f.allocated.saturating_sub(f.startup) / f.keys.max(1)) as i64,
        ),
        ("dataset.bytes", dataset as i64),
        ("allocator.allocated", f.allocated as i64),
        ("allocator.active", f.active as i64),
        ("allocator.resident", f.resident as i64),
        ("allocator.mapped", f.detail.mapped as i64),
        ("allocator.retained", f.detail.retained as i64),
        ("allocator.metadata", f.detail.metadata as i64),
    ];
    let floats: Vec<(&str, f64)> = vec![
        (
            "dataset.percentage",
            100.0 * dataset as f64 / f.allocated.saturating_sub(f.startup).max(1) as f64,
        ),
        ("peak.percentage", 100.0 * ratio(f.allocated, f.peak)),
        (
            "allocator-fragmentation.ratio",
            ratio(f.active, f.allocated),
        ),
        ("allocator.rss-ratio", ratio(f.resident, f.active)),
        ("rss-overhead.ratio", ratio(f.rss, f.resident)),
        ("fragmentation", ratio(f.rss, f.allocated)),
    ];
    let byte_diffs: Vec<(&str, i64)> = vec![
        (
            "allocator-fragmentation.bytes",
            f.active as i64 - f.allocated as i64,
        ),
        ("allocator.rss-bytes", f.resident as i64 - f.active as i64),
        ("rss-overhead.bytes", f.rss as i64 - f.resident as i64),
        ("fragmentation.bytes", f.rss as i64 - f.allocated as i64),
    ];
    let n = int_fields.len() + dbs.len() + tail_ints.len() + floats.len() + byte_diffs.len();
    ctx.out.map(n);
    // Field names go out as bulk strings, as Redis sends them.
    for (k, v) in int_fields {
        ctx.out.bulk(k.as_bytes());
        ctx.out.int(v);
    }
    for i in dbs {
        ctx.out.bulk(format!("db.{i}").as_bytes());
        ctx.out.map(4);
        ctx.out.bulk(b"overhead.hashtable.main");
        ctx.out.int(f.tables[i] as i64);
        // Deadlines live in the entries: there is no second table for them.
        ctx.out.bulk(b"overhead.hashtable.expires");
        ctx.out.int(0);
        ctx.out.bulk(b"keys");
        ctx.out.int(f.sizes[i].0 as i64);
        ctx.out.bulk(b"expires");
        ctx.out.int(f.sizes[i].1 as i64);
    }
    for (k, v) in tail_ints {
        ctx.out.bulk(k.as_bytes());
        ctx.out.int(v);
    }
    for (k, v) in floats {
        ctx.out.bulk(k.as_bytes());
        ctx.out.double(v);
    }
    for (k, v) in byte_diffs {
        ctx.out.bulk(k.as_bytes());
        ctx.out.int(v);
    }
    Ok(())
}

/// What MEMORY DOCTOR finds worth saying, in Redis's spirit: plain sentences, one per
/// problem, each with what to do about it.
fn diagnose(ctx: &Ctx, f: &Figures) -> Vec<String> {
    let mut found = Vec::new();
    let max = ctx.server.maxmemory();
    let policy = ctx.server.policy();
    if f.peak > f.allocated * 3 / 2 {
        found.push(format!(
            "Peak memory: at some point the instance used {} ({:.0}% more than the {} it uses now). RSS may stay high until the allocator returns pages; MEMORY PURGE asks it to.",
            human(f.peak),
            100.0 * (ratio(f.peak, f.allocated) - 1.0),
            human(f.allocated)
        ));
    }
    let frag = ratio(f.rss, f.allocated);
    if frag > 1.4 && f.rss > 64 << 20 {
        found.push(format!(
            "High fragmentation: the process holds {} of RSS for {} allocated (ratio {frag:.2}). Values of mixed sizes that are often rewritten cause this; MEMORY PURGE may help.",
            human(f.rss),
            human(f.allocated)
        ));
    }
    if max != 0 && f.allocated > max / 10 * 9 {
        if policy == cairn_store::Policy::NoEviction {
            found.push(format!(
                "Memory limit: {} of maxmemory {} is in use and maxmemory-policy is noeviction, so writes will be refused with OOM. Raise maxmemory or choose an evicting policy (allkeys-tinylfu for a cache).",
                human(f.allocated),
                human(max)
            ));
        } else if policy.volatile_only() && f.sizes.iter().all(|s| s.1 == 0) {
            found.push(format!(
                "Memory limit: maxmemory-policy {} only evicts keys with a TTL and no key has one; writes will be refused with OOM once the limit is reached.",
                policy.name()
            ));
        }
    }
    if max == 0 && f.keys > 0 {
        found.push(
            "No memory limit: maxmemory is 0, so this cache grows until the machine runs out of memory. Set maxmemory (and keep the default allkeys-tinylfu policy) to make it a bounded cache."
                .into(),
        );
    }
    found
}

fn doctor(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let f = figures(ctx);
    let text = if f.allocated < 5 << 20 && f.keys < 1000 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string()
    } else {
        let found = diagnose(ctx, &f);
        if found.is_empty() {
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string()
        } else {
            let mut t = "Sam, I detected a few issues in this Cairn instance memory implants:\n\n"
                .to_string();
            for line in found {
                t.push_str(" * ");
                t.push_str(&line);
                t.push_str("\n\n");
            }
            t.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
            t
        }
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn malloc_stats(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.out.verbatim(memory::malloc_stats().as_bytes());
    Ok(())
}

fn purge(ctx: &mut Ctx, _args: Args) -> CmdResult {
    if memory::purge() {
        ctx.out.ok();
        Ok(())
    } else {
        Err(CmdError::new("ERR Error purging dirty pages"))
    }
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}
