//! `stats` with the fields memcached clients and dashboards read. The keyspace figures
//! (items, bytes, evictions, expirations) are the same counters INFO reports; the command
//! counters are the memcached protocol's own.

use std::sync::atomic::Ordering::Relaxed;

use super::McConn;
use super::store::DB;

fn stat(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    out.extend_from_slice(format!("STAT {name} {value}\r\n").as_bytes());
}

pub fn stats(conn: &mut McConn, tokens: &[&[u8]]) {
    let server = conn.server;
    // This connection's own counts so far belong in the figures it asks for.
    server.memcached.absorb(&mut conn.counters);
    let mut out = Vec::with_capacity(2048);
    match tokens.get(1).copied() {
        None => general(conn, &mut out),
        Some(b"reset") => {
            server.memcached.reset();
            conn.line("RESET");
            return;
        }
        Some(b"settings") => settings(conn, &mut out),
        Some(b"items") => items(conn, &mut out),
        Some(b"slabs") => slabs(conn, &mut out),
        Some(b"conns") => {
            stat(
                &mut out,
                "curr_connections",
                server.memcached.curr_connections.load(Relaxed),
            );
        }
        Some(_) => {
            conn.line("ERROR");
            return;
        }
    }
    out.extend_from_slice(b"END\r\n");
    conn.out.extend_from_slice(&out);
}

fn general(conn: &McConn, out: &mut Vec<u8>) {
    let server = conn.server;
    let mc = &server.memcached;
    let ks = server.keyspace.stats();
    let (user, sys) = crate::commands::info::cpu_seconds();
    stat(out, "pid", std::process::id());
    stat(out, "uptime", server.uptime().as_secs());
    stat(out, "time", conn.now.ms / 1000);
    stat(out, "version", super::version());
    stat(out, "pointer_size", usize::BITS);
    stat(out, "rusage_user", format!("{user:.6}"));
    stat(out, "rusage_system", format!("{sys:.6}"));
    stat(out, "max_connections", server.maxclients());
    stat(out, "curr_connections", mc.curr_connections.load(Relaxed));
    stat(out, "total_connections", mc.total_connections.load(Relaxed));
    stat(
        out,
        "rejected_connections",
        mc.rejected_connections.load(Relaxed),
    );
    stat(
        out,
        "connection_structures",
        mc.curr_connections.load(Relaxed),
    );
    for (name, value) in mc.fields() {
        stat(out, name, value);
    }
    stat(out, "limit_maxbytes", server.maxmemory());
    stat(out, "accepting_conns", 1);
    stat(out, "threads", server.with_config(|c| c.threads));
    stat(out, "bytes", server.keyspace.used_bytes());
    stat(out, "curr_items", server.keyspace.db_len(DB));
    stat(out, "expired_unfetched", 0);
    stat(out, "evicted_unfetched", 0);
    stat(out, "evictions", ks.evicted + server.unstored_evictions());
    stat(out, "reclaimed", ks.expired);
}

fn settings(conn: &McConn, out: &mut Vec<u8>) {
    let server = conn.server;
    let c = server.config();
    stat(out, "maxbytes", c.maxmemory);
    stat(out, "maxconns", c.maxclients);
    stat(out, "tcpport", c.memcached_port);
    stat(out, "udpport", 0);
    stat(out, "verbosity", 0);
    stat(out, "num_threads", c.threads);
    stat(out, "cas_enabled", "yes");
    stat(out, "tcp_backlog", c.tcp_backlog);
    stat(out, "binding_protocol", "ascii");
    stat(out, "item_size_max", c.memcached_max_item_size);
    stat(
        out,
        "evictions",
        if c.maxmemory_policy == "noeviction" {
            "off"
        } else {
            "on"
        },
    );
    stat(out, "maxmemory_policy", &c.maxmemory_policy);
    stat(out, "lease_timeout", c.lease_timeout);
    stat(out, "flush_enabled", "yes");
    stat(out, "meta_response_old", "no");
}

/// Cairn has no slab classes: every item is reported in class 1.
fn items(conn: &McConn, out: &mut Vec<u8>) {
    let server = conn.server;
    let n = server.keyspace.db_len(DB);
    if n == 0 {
        return;
    }
    let ks = server.keyspace.stats();
    stat(out, "items:1:number", n);
    stat(
        out,
        "items:1:evicted",
        ks.evicted + server.unstored_evictions(),
    );
    stat(out, "items:1:reclaimed", ks.expired);
}

fn slabs(conn: &McConn, out: &mut Vec<u8>) {
    let server = conn.server;
    let n = server.keyspace.db_len(DB);
    let bytes = server.keyspace.used_bytes();
    if n > 0 {
        stat(out, "1:used_chunks", n);
        stat(out, "1:mem_requested", bytes);
    }
    stat(out, "active_slabs", (n > 0) as u8);
    stat(out, "total_malloced", bytes);
}
