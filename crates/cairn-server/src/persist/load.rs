//! Coming back warm: at start-up, before any client, what persistence holds is loaded
//! (the AOF's base and increments when `appendonly yes`, else the snapshot in
//! `dir/dbfilename`), the increments replayed through dispatch, and appending started. A
//! file the node expects and cannot read refuses the start.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use std::fs::{File, OpenOptions};
use std::io::Read;

use super::aof::{self, Found, Layout, Manifest, Part};
use super::cuts::Cuts;
use super::replay::{self, Stop};
use super::saving::rewrite;
use super::snapshot::{Checked, Damage, read};
use super::state::FileSet;
use super::stream::{self};
use super::writer::{install_journal, start_writer};
use crate::server::Server;

/// At start-up, before any client: loads what persistence holds (the AOF when
/// `appendonly yes`, else the snapshot in `dir/dbfilename`), then starts appending. A
/// file the node expects and cannot read refuses the start (the error names the file and
/// the way out) rather than starting with less data than it had.
pub fn start(server: &Arc<Server>) -> Result<(), String> {
    let cfg = server.config();
    let p = &server.persist;
    p.apply_settings(&cfg);
    let started = Instant::now();
    p.loading.store(true, Relaxed);
    check_data_dir(&cfg.dir)?;
    let snapshot_path = Path::new(&cfg.dir).join(&cfg.dbfilename);
    let mut need_base = false;
    // Where the loaded data sits in the stream's history (a restarted replica asks its
    // primary for what came after it), and the cuts of the snapshot it came from.
    let mut origin = None;
    let mut window = Cuts::default();
    // Parts of a damaged set loaded under aof-accept-data-loss: removed once the new
    // base holds their data.
    let mut salvaged = Vec::new();
    if cfg.appendonly {
        let layout = Layout::from_config(&cfg);
        std::fs::create_dir_all(&layout.dir).map_err(|e| {
            let why = if layout.dir.exists() {
                "it exists and is not a directory".to_string()
            } else {
                e.to_string()
            };
            format!(
                "Cannot open or create the append-only directory {}: {why}. Cairn does not start \
                 without the append-only file it is configured to use: move what is in the way, \
                 or point `dir` / `appenddirname` at a directory it can write",
                layout.dir.display()
            )
        })?;
        let (mut manifest, published) = match layout.inspect(cfg.aof_accept_data_loss)? {
            Found::Whole(m) => {
                let loaded = load_aof(server, &layout, &m)?;
                log_loaded(&loaded, started);
                if loaded.origin.pos.offset < loaded.cuts.end() {
                    // The base holds writes the increment after it lost (the machine
                    // died before the increment reached the disk): the files no longer
                    // spell one history. The data is the base's and what the increment
                    // kept; a new base is written from it, and no stream position is
                    // claimed (a replica of this node syncs in full).
                    tracing::warn!(
                        "the append-only file's increment ends at stream offset {}, before the end of its base's cut ({}): writing a new base",
                        loaded.origin.pos.offset,
                        loaded.cuts.end()
                    );
                    need_base = true;
                } else {
                    origin = Some(loaded.origin);
                }
                (m, true)
            }
            Found::New { .. } => {
                if snapshot_present(&snapshot_path)? {
                    let checked = load_snapshot(server, &snapshot_path, started)?;
                    origin = Some(checked.origin);
                    window = checked.cuts;
                }
                need_base = true;
                (Manifest::default(), false)
            }
            Found::Salvage {
                load,
                ignored,
                problem,
                ..
            } => {
                tracing::error!(
                    "{problem}. Starting anyway with what can be read, as aof-accept-data-loss yes says"
                );
                let loaded = load_aof(server, &layout, &load)?;
                let names: Vec<&str> = load.parts.iter().map(|p| p.file.as_str()).collect();
                tracing::error!(
                    "aof-accept-data-loss yes: loaded {} ({} keys from the base, {} commands \
                     replayed); left out: {}. A new append-only file is written from what is loaded",
                    if names.is_empty() {
                        "no part".to_string()
                    } else {
                        names.join(", ")
                    },
                    loaded.base_keys,
                    loaded.commands,
                    if ignored.is_empty() {
                        "no other part file".to_string()
                    } else {
                        ignored.join(", ")
                    },
                );
                salvaged = names.iter().map(|n| n.to_string()).collect();
                // Not the history the files recorded: no stream position is claimed (a
                // replica syncs in full), and the next start loads the new base.
                need_base = true;
                (Manifest::default(), false)
            }
        };
        let added = manifest.last_incr().is_none();
        if added {
            let seq = layout.free_seq(&manifest);
            manifest.parts.push(Part {
                file: layout.incr_name(seq),
                seq,
                base: false,
            });
        }
        // Created before any manifest names it.
        let incr = manifest.last_incr().expect("just ensured").file.clone();
        let file = layout
            .open_incr(&incr)
            .map_err(|e| format!("cannot open {}: {e}", layout.dir.join(&incr).display()))?;
        if published && added {
            layout
                .write_manifest(&manifest)
                .map_err(|e| format!("cannot write {}: {e}", layout.manifest().display()))?;
        }
        p.aof_size
            .store(aof::parts_size(&layout, &manifest), Relaxed);
        p.aof_base_size.store(p.aof_size.load(Relaxed), Relaxed);
        *p.files.lock() = Some(FileSet {
            layout,
            manifest,
            published,
        });
        if let Some(o) = origin {
            p.stream.reset(o.pos, window.clone());
        }
        start_writer(server, file);
    } else if snapshot_present(&snapshot_path)? {
        let checked = load_snapshot(server, &snapshot_path, started)?;
        origin = Some(checked.origin);
        window = checked.cuts;
    }
    if let Some(o) = origin {
        p.stream.reset(o.pos, window);
        server.replication.loaded(o);
    }
    p.loading.store(false, Relaxed);
    install_journal(server);
    if need_base {
        // A new AOF starts with a base of whatever is loaded (possibly nothing).
        rewrite(server).map_err(|e| format!("cannot write the append-only file's base: {e}"))?;
        if let Some(set) = p.files.lock().as_ref() {
            for file in &salvaged {
                let _ = std::fs::remove_file(set.layout.dir.join(file));
            }
        }
    }
    Ok(())
}

fn log_loaded(loaded: &Loaded, started: Instant) {
    tracing::warn!(
        "loaded the append-only file in {:.3} s: {} keys from the base, {} commands replayed{}{}",
        started.elapsed().as_secs_f64(),
        loaded.base_keys,
        loaded.commands,
        if loaded.skipped > 0 {
            format!(" ({} more were in the base already)", loaded.skipped)
        } else {
            String::new()
        },
        if loaded.dropped_bytes > 0 {
            format!(", a torn tail of {} bytes dropped", loaded.dropped_bytes)
        } else {
            String::new()
        }
    );
}

/// `dir` must be a directory if it exists.
fn check_data_dir(dir: &str) -> Result<(), String> {
    let why = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "Not a directory".to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => e.to_string(),
    };
    Err(format!(
        "Cannot use {dir} as the data directory (`dir`): {why}. Cairn does not start without \
         the files it may have to load: point `dir` at a directory it can read and write"
    ))
}

/// Whether there is a snapshot to load. Something at the path that cannot be read as
/// one, or a link to nothing, refuses the start: it names data the node expects.
fn snapshot_present(path: &Path) -> Result<bool, String> {
    let refuse = |why: String| {
        format!(
            "Cannot read the snapshot {}: {why}. Cairn does not start without data it expects: \
             restore it, or move it away to start without its data",
            path.display()
        )
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(refuse(e.to_string())),
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::metadata(path) {
            Ok(_) => Ok(true),
            Err(e) => {
                let target = std::fs::read_link(path)
                    .map_or_else(|_| "?".to_string(), |t| t.display().to_string());
                Err(refuse(if e.kind() == std::io::ErrorKind::NotFound {
                    format!("it is a symbolic link to {target}, which does not exist")
                } else {
                    format!("it is a symbolic link to {target}: {e}")
                }))
            }
        },
        Ok(_) => Ok(true),
    }
}

fn load_snapshot(server: &Server, path: &Path, started: Instant) -> Result<Checked, String> {
    let checked = load_snapshot_file(server, path)?;
    server.persist.loaded_keys.store(checked.keys, Relaxed);
    tracing::warn!(
        "loaded {} keys from {} in {:.3} s",
        checked.keys,
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(checked)
}

/// What loading found.
#[derive(Debug)]
pub struct Loaded {
    pub commands: u64,
    pub base_keys: u64,
    pub dropped_bytes: u64,
    /// Where the stream stands after the last increment: the base's origin moved on by
    /// every increment byte replayed (increments are the stream, byte for byte).
    pub origin: stream::Origin,
    /// The base's cuts: increment records before them were skipped.
    pub cuts: Cuts,
    /// Increment records skipped because the base held them.
    pub skipped: u64,
}

/// Loads every part the manifest lists. A torn tail in the last increment is cut off.
fn load_aof(server: &Server, layout: &Layout, manifest: &Manifest) -> Result<Loaded, String> {
    let mut loaded = Loaded {
        commands: 0,
        base_keys: 0,
        dropped_bytes: 0,
        origin: stream::Origin::at(0),
        cuts: Cuts::default(),
        skipped: 0,
    };
    let mut session = replay::session();
    // A torn tail is cut in the last increment holding data: a rewrite lists its new,
    // still empty increment before the writer moves to it, and the server may die
    // mid-write in between.
    let last_incr = manifest
        .parts
        .iter()
        .rev()
        .filter(|p| !p.base)
        .find(|p| std::fs::metadata(layout.dir.join(&p.file)).is_ok_and(|m| m.len() > 0))
        .or_else(|| manifest.last_incr())
        .map(|p| p.file.clone());
    for part in &manifest.parts {
        let path = layout.dir.join(&part.file);
        if part.base {
            let checked = load_snapshot_file(server, &path)?;
            loaded.base_keys += checked.keys;
            loaded.origin = checked.origin;
            loaded.cuts = checked.cuts;
            // The increment after a base continues the stream on the base's database.
            if checked.origin.pos.db != usize::MAX {
                session.db = checked.origin.pos.db;
            }
            continue;
        }
        let data = std::fs::read(&path).map_err(|e| {
            format!(
                "Cannot read the append-only file {}: {e}. Cairn does not start without data \
                 it expects: restore it, or start once with `aof-accept-data-loss yes` to load \
                 the other parts and lose this one",
                path.display()
            )
        })?;
        let after = replay::After {
            offset: loaded.origin.pos.offset,
            cuts: &loaded.cuts,
        };
        match replay::replay(server, &mut session, &data, Some(after)) {
            Ok(r) => {
                loaded.commands += r.commands;
                loaded.skipped += r.skipped;
                loaded.origin.pos.offset += data.len() as u64;
            }
            Err((r, Stop::Torn { at })) if Some(&part.file) == last_incr.as_ref() => {
                loaded.commands += r.commands;
                loaded.skipped += r.skipped;
                loaded.origin.pos.offset += at as u64;
                let dropped = (data.len() - at) as u64;
                tracing::warn!(
                    "{} ends in the middle of a command (the server stopped mid-write): \
                     loaded up to offset {at}, dropped the last {dropped} bytes",
                    path.display()
                );
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(at as u64))
                    .map_err(|e| format!("cannot truncate {}: {e}", path.display()))?;
                loaded.dropped_bytes += dropped;
            }
            Err((_, stop)) => {
                let (at, why) = match stop {
                    Stop::Torn { at } => (at, "a command is cut short".to_string()),
                    Stop::Bad { at, why } => (at, why),
                };
                return Err(format!(
                    "Bad file format reading the append only file {} at offset {at}: {why}. \
                     Keep a copy of it, then repair it with `cairn check-aof --fix {}`",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    loaded.origin.pos.db = session.db;
    Ok(loaded)
}

/// Loads a snapshot file into the keyspace. Errors name the file, the offset and the
/// command that checks it.
pub fn load_snapshot_file(server: &Server, path: &Path) -> Result<Checked, String> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| {
            format!(
                "Cannot read the snapshot {}: {e}. Cairn does not start without data it \
                 expects: restore it, or move it away to start without its data",
                path.display()
            )
        })?;
    let mut session = replay::session();
    let result = read(&data, |payload, base| {
        // Blocks stand alone: each starts in database 0 unless it selects another.
        session.db = 0;
        match replay::replay(server, &mut session, payload, None) {
            Ok(_) => Ok(()),
            Err((_, Stop::Torn { at })) => Err(Damage {
                at: base + at as u64,
                why: "a command is cut short inside a block".into(),
            }),
            Err((_, Stop::Bad { at, why })) => Err(Damage {
                at: base + at as u64,
                why,
            }),
        }
    });
    result.map_err(|d| {
        format!(
            "Bad snapshot {} at offset {}: {}. Keep a copy of it, then check it with `cairn check-snapshot {}`",
            path.display(),
            d.at,
            d.why,
            path.display()
        )
    })
}
