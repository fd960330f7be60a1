//! `cairn server --import-rdb PATH`: moving in from Redis. At start-up, once persistence
//! has loaded what it holds and before any client is served, the keys of a `dump.rdb`
//! that redis-server 6.2 to 7.x wrote are stored in the keyspace (the file is read by
//! `cairn_store::rdb::file`), then made durable: an AOF rewrite when the append-only file
//! is on, else a snapshot when a `save` schedule is set.
//!
//! The whole file is read and checked (checksum included) before the first key is
//! stored, so a bad file refuses the start with nothing of it in the keyspace, the AOF or
//! a snapshot. Keys already expired are skipped, as Redis skips them when it loads.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use cairn_store::db::Now;
use cairn_store::rdb::file::{Loaded, read_file};
use cairn_store::{ExpireChange, key_slot};

use super::saving::{rewrite, save};
use crate::server::Server;

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub keys: u64,
    pub databases: usize,
    pub expired: u64,
    pub functions_skipped: u64,
    pub redis_ver: Option<String>,
}

/// Refuses an import path that is the node's own snapshot (`dir/dbfilename`): Cairn
/// would try to load it as its own format at start, and write its snapshot over it.
pub fn check_path(dir: &str, dbfilename: &str, path: &Path) -> Result<(), String> {
    let own = Path::new(dir).join(dbfilename);
    let same = match (std::fs::canonicalize(&own), std::fs::canonicalize(path)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(format!(
            "--import-rdb {}: that is this node's own snapshot file (`dir`/`dbfilename`), \
             which Cairn loads and writes in its own format. Move the Redis file elsewhere, or \
             give Cairn another `dir` or `dbfilename`",
            path.display()
        ));
    }
    Ok(())
}

/// Imports the Redis RDB file at `path` into the keyspace and makes it durable as the
/// configuration says, logging what it did. An error is the reason the node must not
/// start (the file's own error, naming its offset).
pub fn import(server: &Arc<Server>, path: &Path) -> Result<Imported, String> {
    let started = Instant::now();
    let refuse = |why: String| {
        format!(
            "cannot import {}: {why}. Cairn does not start with part of a file: check it \
             (redis-check-rdb) or write it again with SAVE on the Redis side",
            path.display()
        )
    };
    let bytes = std::fs::read(path).map_err(|e| refuse(e.to_string()))?;
    let lim = server.object_limits();
    let ks = &server.keyspace;
    let dbs = ks.databases();
    // Every key read and checked before the first is stored.
    let mut keys: Vec<Loaded> = Vec::new();
    let summary = read_file(&bytes, &lim, |l| {
        if l.db >= dbs as u64 {
            return Err(format!(
                "the file has database {}, this node has {dbs} (raise `databases`)",
                l.db
            ));
        }
        keys.push(l);
        Ok(())
    })
    .map_err(|e| refuse(e.to_string()))?;
    drop(bytes);
    tracing::warn!(
        "importing {} keys from {} (RDB version {}, redis-ver {})",
        summary.keys,
        path.display(),
        summary.version,
        summary.redis_ver.as_deref().unwrap_or("unknown")
    );
    let now = Now::wall();
    let (mut stored, mut expired) = (0u64, 0u64);
    let mut used = vec![false; dbs];
    for l in keys {
        let expire = match l.expire_at {
            Some(at) if at <= now.ms => {
                expired += 1;
                continue;
            }
            Some(at) => ExpireChange::At(at),
            None => ExpireChange::Clear,
        };
        let db = l.db as usize;
        let slot = key_slot(&l.key);
        ks.lock(slot).db(db).set(slot, &l.key, l.value, expire, now);
        used[db] = true;
        stored += 1;
    }
    let imported = Imported {
        keys: stored,
        databases: used.iter().filter(|u| **u).count(),
        expired,
        functions_skipped: summary.functions_skipped,
        redis_ver: summary.redis_ver,
    };
    tracing::warn!(
        "imported {} keys into {} databases from {} (redis-ver {}) in {:.3} s; {} expired keys \
         skipped; {} function libraries skipped",
        imported.keys,
        imported.databases,
        path.display(),
        imported.redis_ver.as_deref().unwrap_or("unknown"),
        started.elapsed().as_secs_f64(),
        imported.expired,
        imported.functions_skipped
    );
    persist(server)?;
    Ok(imported)
}

/// Makes the imported keys durable: a new AOF base when the append-only file is on (its
/// increment holds them already, the base compacts them), else a snapshot when a `save`
/// schedule is set; with neither, says they live in memory only.
fn persist(server: &Arc<Server>) -> Result<(), String> {
    let (path, schedule) = server.with_config(|c| {
        (
            Path::new(&c.dir).join(&c.dbfilename),
            !c.save.trim().is_empty(),
        )
    });
    if server.persist.aof_on.load(Relaxed) {
        rewrite(server).map_err(|e| {
            format!("imported, but cannot rewrite the append-only file to hold it: {e}")
        })?;
        tracing::warn!("the imported keys are persisted: the append-only file was rewritten");
    } else if schedule {
        save(server).map_err(|e| {
            format!(
                "imported, but cannot write the snapshot {}: {e}",
                path.display()
            )
        })?;
        tracing::warn!(
            "the imported keys are persisted: snapshot written to {}",
            path.display()
        );
    } else {
        tracing::warn!(
            "the imported keys are NOT persisted: appendonly is no and no `save` schedule is \
             set (run SAVE, or start with --appendonly yes or --save, to keep them)"
        );
    }
    Ok(())
}
