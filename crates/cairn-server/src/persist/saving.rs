//! Background work that writes whole data sets: AOF rewrites (a new base beside a new
//! increment), snapshots (SAVE, BGSAVE, `save` points, at shutdown), and the periodic
//! checks and settings that start them; INFO persistence.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::aof::{self, Layout, Manifest, Part};
use super::snapshot;
use super::state::{FileSet, RETRY_SECS, Switch, unix_secs};
use super::stream::{self};
use super::writer::{install_journal, start_writer, stop_writer};
use crate::server::Server;

/// Rewrites the AOF: new writes go to a new increment from now on, a base snapshot of the
/// keyspace is written beside it, and the manifest moves to the pair; the old parts are
/// removed. Writers never wait for it.
pub fn rewrite(server: &Arc<Server>) -> std::io::Result<()> {
    let p = &server.persist;
    if p.rewrite_running.swap(true, Relaxed) {
        return Err(std::io::Error::other("a rewrite is already running"));
    }
    let started = Instant::now();
    p.last_rewrite_try.store(unix_secs(), Relaxed);
    let result = rewrite_inner(server);
    p.rewrite_running.store(false, Relaxed);
    p.last_rewrite_secs
        .store(started.elapsed().as_secs() as i64, Relaxed);
    p.last_rewrite_ok.store(result.is_ok(), Relaxed);
    match &result {
        Ok(()) => {
            p.rewrites.fetch_add(1, Relaxed);
            p.rewrite_failures.store(0, Relaxed);
            tracing::warn!(
                "append-only file rewritten in {:.3} s",
                started.elapsed().as_secs_f64()
            );
        }
        Err(e) => {
            p.rewrite_failures.fetch_add(1, Relaxed);
            tracing::warn!("append-only file rewrite failed: {e}")
        }
    }
    result
}

fn rewrite_inner(server: &Arc<Server>) -> std::io::Result<()> {
    let p = &server.persist;
    let FileSet {
        layout,
        manifest: old,
        published,
    } = p
        .files
        .lock()
        .clone()
        .ok_or_else(|| std::io::Error::other("the append-only file is off"))?;
    let seq = layout.free_seq(&old);
    let incr = layout.incr_name(seq);
    let file = layout.open_incr(&incr)?;
    // The new increment continues the old parts until the base is written. It is listed
    // before the writer moves to it: if that manifest cannot be written, the rewrite stops
    // here and every write stays in a part the manifest on disk names.
    let mut interim = old.clone();
    interim.parts.push(Part {
        file: incr.clone(),
        seq,
        base: false,
    });
    if published && let Err(e) = layout.write_manifest(&interim) {
        drop(file);
        let _ = std::fs::remove_file(layout.dir.join(&incr));
        return Err(e);
    }
    *p.files.lock() = Some(FileSet {
        layout: layout.clone(),
        manifest: interim,
        published,
    });
    let (tx, rx) = std::sync::mpsc::channel();
    // Counted before the switch: a SWAPDB after the boundary must fail the cut.
    let swaps = snapshot::cut_start(server);
    *p.switch.lock() = Some(Switch { file, done: tx });
    p.stream.set_buffering(true);
    let boundary = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| std::io::Error::other("the AOF writer did not switch files"))?;
    let base = layout.base_name(seq);
    let origin = stream::Origin {
        pos: boundary,
        replid: server.replication.replid(),
    };
    let written = snapshot::write_at(server, &layout.dir.join(&base), origin, swaps)?;
    let manifest = Manifest {
        parts: vec![
            Part {
                file: base.clone(),
                seq,
                base: true,
            },
            Part {
                file: incr,
                seq,
                base: false,
            },
        ],
    };
    if let Err(e) = layout.write_manifest(&manifest) {
        // The manifest on disk is still the interim one, which does not name this base.
        let _ = std::fs::remove_file(layout.dir.join(&base));
        return Err(e);
    }
    for part in &old.parts {
        let _ = std::fs::remove_file(layout.dir.join(&part.file));
    }
    p.aof_base_size.store(written.bytes, Relaxed);
    p.aof_size
        .store(aof::parts_size(&layout, &manifest), Relaxed);
    *p.files.lock() = Some(FileSet {
        layout,
        manifest,
        published: true,
    });
    Ok(())
}

/// Runs a rewrite on its own thread.
pub fn rewrite_in_background(server: &Arc<Server>) -> Result<(), &'static str> {
    if !server.persist.aof_on.load(Relaxed) {
        return Err(
            "ERR Background append only file rewriting is only possible while appendonly is yes",
        );
    }
    if server.persist.rewrite_running.load(Relaxed) {
        return Err("ERR Background append only file rewriting already in progress");
    }
    let srv = server.clone();
    std::thread::Builder::new()
        .name("cairn-aof-rewrite".into())
        .spawn(move || {
            let _ = rewrite(&srv);
        })
        .map_err(|_| "ERR cannot start the rewrite")?;
    Ok(())
}

/// Writes a snapshot to `dir/dbfilename` (SAVE, BGSAVE, SHUTDOWN, the `save` schedule).
pub fn save(server: &Server) -> std::io::Result<snapshot::Written> {
    let p = &server.persist;
    let path: PathBuf = server.with_config(|c| Path::new(&c.dir).join(&c.dbfilename));
    let started = Instant::now();
    let dirty = p.stream.changes.load(Relaxed);
    p.last_bgsave_try.store(unix_secs(), Relaxed);
    let result = snapshot::write(server, &path, || stream::Origin {
        pos: p.stream.position(),
        replid: server.replication.replid(),
    });
    p.last_bgsave_secs
        .store(started.elapsed().as_secs() as i64, Relaxed);
    match &result {
        Ok(w) => {
            p.stream
                .changes
                .fetch_sub(dirty.min(p.stream.changes.load(Relaxed)), Relaxed);
            p.last_save.store(unix_secs(), Relaxed);
            p.saves.fetch_add(1, Relaxed);
            if !p.last_bgsave_ok.swap(true, Relaxed) {
                tracing::warn!("the snapshot is being written again; write commands are accepted");
            }
            tracing::warn!(
                "snapshot of {} keys written to {} in {:.3} s",
                w.keys,
                path.display(),
                started.elapsed().as_secs_f64()
            );
        }
        Err(e) => {
            p.last_bgsave_ok.store(false, Relaxed);
            if p.stop_writes_on_save_error.load(Relaxed) {
                tracing::warn!(
                    "writing the snapshot {} failed: {e}; write commands are refused with MISCONF \
                     until a save succeeds (stop-writes-on-bgsave-error yes); the save is tried \
                     again every {RETRY_SECS} s",
                    path.display()
                );
            } else {
                tracing::warn!("writing the snapshot {} failed: {e}", path.display());
            }
        }
    }
    result
}

/// BGSAVE: a snapshot on its own thread.
pub fn save_in_background(server: &Arc<Server>) -> Result<(), &'static str> {
    let p = &server.persist;
    if p.bgsave_running.swap(true, Relaxed) {
        return Err("ERR Background save already in progress");
    }
    let srv = server.clone();
    std::thread::Builder::new()
        .name("cairn-bgsave".into())
        .spawn(move || {
            let _ = save(&srv);
            srv.persist.bgsave_running.store(false, Relaxed);
        })
        .map_err(|_| {
            p.bgsave_running.store(false, Relaxed);
            "ERR cannot start the background save"
        })?;
    Ok(())
}

/// Parses `save` ("3600 1 300 100 ..."): (seconds, changes) pairs.
pub fn save_points(spec: &str) -> Vec<(u64, u64)> {
    let n: Vec<u64> = spec
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    n.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

/// Called once a second: the `save` schedule and the automatic AOF rewrite.
pub fn tick(server: &Arc<Server>) {
    let p = &server.persist;
    let (spec, pct, min) = server.with_config(|c| {
        (
            c.save.clone(),
            c.auto_aof_rewrite_percentage,
            c.auto_aof_rewrite_min_size,
        )
    });
    if !p.bgsave_running.load(Relaxed) && !spec.trim().is_empty() {
        let now = unix_secs();
        let dirty = p.stream.changes.load(Relaxed);
        let since = now.saturating_sub(p.last_save.load(Relaxed));
        // After a failure, wait 5 s before trying again, as Redis does.
        let retry_ok = p.last_bgsave_ok.load(Relaxed)
            || now.saturating_sub(p.last_bgsave_try.load(Relaxed)) >= RETRY_SECS;
        if retry_ok
            && save_points(&spec)
                .iter()
                .any(|&(secs, changes)| dirty >= changes && since >= secs)
        {
            let _ = save_in_background(server);
        }
    }
    if p.aof_on.load(Relaxed) && !p.rewrite_running.load(Relaxed) {
        // After a failed rewrite, automatic ones wait 5 s too.
        let retry_ok = p.last_rewrite_ok.load(Relaxed)
            || unix_secs().saturating_sub(p.last_rewrite_try.load(Relaxed)) >= RETRY_SECS;
        // A new AOF whose first base failed (a full disk when it was turned on) is not
        // on disk yet: try again until it is.
        let unpublished = p.files.lock().as_ref().is_some_and(|f| !f.published);
        let size = p.aof_size.load(Relaxed);
        let base = p.aof_base_size.load(Relaxed).max(1);
        let grown = pct > 0 && size >= min && size * 100 >= base * (100 + pct);
        if retry_ok && (unpublished || grown) {
            let _ = rewrite_in_background(server);
        }
    }
}

/// Applies `appendonly`, `appendfsync` and `save` changes made with CONFIG SET.
pub fn apply_config(server: &Arc<Server>, before: &crate::config::Config) {
    let cfg = server.config();
    let p = &server.persist;
    p.apply_settings(&cfg);
    if cfg.appendonly && !before.appendonly {
        // Turning the AOF on writes a base of the current data first, as Redis does; the
        // manifest on disk changes only once that base is there.
        let layout = Layout::from_config(&cfg);
        let result = std::fs::create_dir_all(&layout.dir).and_then(|_| {
            // A set left from when the AOF was on before: its parts go once the new base
            // is in place (it names them as the parts the rewrite replaces).
            let mut manifest = layout
                .read_manifest()
                .map_err(std::io::Error::other)?
                .unwrap_or_default();
            let seq = layout.free_seq(&manifest);
            let name = layout.incr_name(seq);
            let file = layout.open_incr(&name)?;
            manifest.parts.push(Part {
                file: name,
                seq,
                base: false,
            });
            *p.files.lock() = Some(FileSet {
                layout: layout.clone(),
                manifest,
                published: false,
            });
            Ok(file)
        });
        match result {
            Ok(file) => {
                start_writer(server, file);
                install_journal(server);
                let srv = server.clone();
                std::thread::spawn(move || {
                    let _ = rewrite(&srv);
                });
            }
            Err(e) => tracing::warn!("cannot turn the append-only file on: {e}"),
        }
    } else if !cfg.appendonly && before.appendonly {
        server.keyspace.set_journal(None);
        stop_writer(server);
        *p.files.lock() = None;
        install_journal(server);
    } else if cfg.save.trim().is_empty() != before.save.trim().is_empty() {
        install_journal(server);
    }
}

/// At shutdown: the AOF is flushed and synced; a snapshot is written when `save` points
/// are set (or SHUTDOWN SAVE asked) unless SHUTDOWN NOSAVE said not to.
pub fn shutdown(server: &Server, save_requested: Option<bool>) {
    let wants_save =
        save_requested.unwrap_or_else(|| server.with_config(|c| !c.save.trim().is_empty()));
    if wants_save && let Err(e) = save(server) {
        tracing::warn!("could not write the snapshot at shutdown: {e}");
    }
    if server.persist.aof_on.load(Relaxed) {
        stop_writer(server);
    }
}

/// INFO persistence, with Redis's field names.
pub fn info(server: &Server, out: &mut String) {
    let p = &server.persist;
    let kv = |out: &mut String, k: &str, v: String| {
        out.push_str(k);
        out.push(':');
        out.push_str(&v);
        out.push_str("\r\n");
    };
    let ok = |b: bool| if b { "ok" } else { "err" }.to_string();
    kv(out, "loading", (p.loading.load(Relaxed) as u8).to_string());
    kv(out, "async_loading", "0".into());
    kv(out, "current_cow_peak", "0".into());
    kv(out, "current_cow_size", "0".into());
    kv(out, "current_fork_perc", "0.00".into());
    kv(out, "current_save_keys_processed", "0".into());
    kv(out, "current_save_keys_total", "0".into());
    kv(
        out,
        "rdb_changes_since_last_save",
        p.stream.changes.load(Relaxed).to_string(),
    );
    kv(
        out,
        "rdb_bgsave_in_progress",
        (p.bgsave_running.load(Relaxed) as u8).to_string(),
    );
    kv(
        out,
        "rdb_last_save_time",
        p.last_save.load(Relaxed).to_string(),
    );
    kv(
        out,
        "rdb_last_bgsave_status",
        ok(p.last_bgsave_ok.load(Relaxed)),
    );
    kv(
        out,
        "rdb_last_bgsave_time_sec",
        p.last_bgsave_secs.load(Relaxed).to_string(),
    );
    kv(out, "rdb_current_bgsave_time_sec", "-1".into());
    kv(out, "rdb_saves", p.saves.load(Relaxed).to_string());
    kv(out, "rdb_last_cow_size", "0".into());
    kv(out, "rdb_last_load_keys_expired", "0".into());
    kv(
        out,
        "rdb_last_load_keys_loaded",
        p.loaded_keys.load(Relaxed).to_string(),
    );
    let on = p.aof_on.load(Relaxed);
    kv(out, "aof_enabled", (on as u8).to_string());
    kv(
        out,
        "aof_rewrite_in_progress",
        (p.rewrite_running.load(Relaxed) as u8).to_string(),
    );
    kv(out, "aof_rewrite_scheduled", "0".into());
    kv(
        out,
        "aof_last_rewrite_time_sec",
        p.last_rewrite_secs.load(Relaxed).to_string(),
    );
    kv(out, "aof_current_rewrite_time_sec", "-1".into());
    kv(
        out,
        "aof_last_bgrewrite_status",
        ok(p.last_rewrite_ok.load(Relaxed)),
    );
    kv(out, "aof_rewrites", p.rewrites.load(Relaxed).to_string());
    kv(
        out,
        "aof_rewrites_consecutive_failures",
        p.rewrite_failures.load(Relaxed).to_string(),
    );
    kv(
        out,
        "aof_last_write_status",
        ok(!p.aof_failing.load(Relaxed)),
    );
    kv(out, "aof_last_cow_size", "0".into());
    kv(out, "module_fork_in_progress", "0".into());
    kv(out, "module_fork_last_cow_size", "0".into());
    if on {
        kv(
            out,
            "aof_current_size",
            p.aof_size.load(Relaxed).to_string(),
        );
        kv(
            out,
            "aof_base_size",
            p.aof_base_size.load(Relaxed).to_string(),
        );
        kv(out, "aof_pending_rewrite", "0".into());
        kv(out, "aof_buffer_length", p.stream.buffered().to_string());
        kv(out, "aof_pending_bio_fsync", "0".into());
        kv(out, "aof_delayed_fsync", "0".into());
        kv(out, "cairn_stream_offset", p.stream.offset().to_string());
        kv(
            out,
            "cairn_stream_synced_offset",
            p.stream.synced().to_string(),
        );
    }
}

/// A replica's full sync replaces its data with another history: the AOF stops, and its
/// manifest and parts go, so a crash before [`resume_aof`] wrote a new base cannot load
/// the old history's files under the new one's offsets (the next start loads nothing and
/// syncs). Returns the sequence number the new parts must take.
pub fn suspend_aof(server: &Server) -> u64 {
    let p = &server.persist;
    stop_writer(server);
    match p.files.lock().take() {
        Some(set) => {
            let seq = set.layout.free_seq(&set.manifest);
            set.layout.remove_all();
            seq
        }
        None => 1,
    }
}

/// Starts the AOF again after a full sync: a new increment from the stream's position,
/// and a base of the new data written beside it (as `CONFIG SET appendonly yes` does).
pub fn resume_aof(server: &Arc<Server>, seq: u64) {
    let cfg = server.config();
    let p = &server.persist;
    let layout = Layout::from_config(&cfg);
    let name = layout.incr_name(seq);
    match std::fs::create_dir_all(&layout.dir).and_then(|()| layout.open_incr(&name)) {
        Ok(file) => {
            *p.files.lock() = Some(FileSet {
                layout,
                manifest: Manifest {
                    parts: vec![Part {
                        file: name,
                        seq,
                        base: false,
                    }],
                },
                published: false,
            });
            start_writer(server, file);
            install_journal(server);
            let srv = server.clone();
            std::thread::spawn(move || {
                let _ = rewrite(&srv);
            });
        }
        Err(e) => {
            tracing::warn!("cannot start the append-only file again after the full sync: {e}")
        }
    }
}
