//! Persistence: the write stream, the append-only file and snapshots, and coming back
//! warm after a restart (docs/persistence.md).
//!
//! - [`stream`]: the store's effects as RESP commands with a growing offset; the one
//!   source the AOF (and, later, replicas) consume.
//! - [`aof`]: the append-only file set (manifest, base, increments), loading, check-aof.
//! - [`snapshot`]: the snapshot file format, written without fork() slot by slot.
//! - [`replay`]: running a stream of commands back into the keyspace.
//!
//! This file holds the state the rest of the server sees: whether the AOF is on, the
//! writer thread that drains the stream into the current increment with the
//! `appendfsync` policy, background saves and rewrites, the `save` schedule, and the
//! MISCONF error that write commands get while the disk refuses writes.

pub mod aof;
pub mod replay;
pub mod snapshot;
pub mod stream;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::server::Server;
use aof::{Found, Layout, Manifest, Part};
use stream::Stream;

/// Redis's words for a write refused because the last snapshot failed.
const RDB_MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Seconds before a failed background save or AOF rewrite is tried again by itself
/// (Redis's CONFIG_BGSAVE_RETRY_DELAY).
const RETRY_SECS: u64 = 5;

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Fsync {
    No = 0,
    EverySec = 1,
    Always = 2,
}

impl Fsync {
    pub fn parse(s: &str) -> Fsync {
        match s {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A request to the writer thread: finish the current increment and continue in `file`;
/// answers with the stream's position where the switch happened.
struct Switch {
    file: File,
    done: std::sync::mpsc::Sender<stream::Position>,
}

/// The append-only file set being written.
#[derive(Clone)]
struct FileSet {
    layout: Layout,
    manifest: Manifest,
    /// Whether `manifest` is the one on disk. A new AOF (started at start-up or at run
    /// time, or again after a replica's full sync) has none until its first base is
    /// written: a manifest naming its increments without that base would load as a set
    /// missing everything from before them.
    published: bool,
}

#[derive(Default)]
pub struct Persistence {
    pub stream: Arc<Stream>,
    /// The AOF is on: the stream buffers effects and the writer drains them.
    pub aof_on: AtomicBool,
    fsync: AtomicU8,
    /// The last write or fsync of the AOF failed: write commands get MISCONF until one
    /// succeeds again.
    aof_error: Mutex<Option<String>>,
    aof_failing: AtomicBool,
    /// `stop-writes-on-bgsave-error yes` with `save` points set: a failed save turns
    /// writes into MISCONF (read on every write, so kept here rather than in the config).
    stop_writes_on_save_error: AtomicBool,
    stop_writer: AtomicBool,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    switch: Mutex<Option<Switch>>,
    /// The file set being appended to.
    files: Mutex<Option<FileSet>>,
    /// Bytes in the AOF parts now, and in the base after the last rewrite.
    pub aof_size: AtomicU64,
    pub aof_base_size: AtomicU64,
    pub rewrite_running: AtomicBool,
    pub rewrites: AtomicU64,
    last_rewrite_ok: AtomicBool,
    last_rewrite_secs: AtomicI64,
    /// Unix seconds the last rewrite started.
    last_rewrite_try: AtomicU64,
    /// Rewrites failed since the last one that succeeded.
    rewrite_failures: AtomicU64,
    pub loading: AtomicBool,
    pub bgsave_running: AtomicBool,
    pub saves: AtomicU64,
    /// Unix seconds of the last successful save (LASTSAVE).
    pub last_save: AtomicU64,
    last_bgsave_ok: AtomicBool,
    last_bgsave_secs: AtomicI64,
    last_bgsave_try: AtomicU64,
    pub loaded_keys: AtomicU64,
    /// SHUTDOWN SAVE / NOSAVE.
    shutdown_save: Mutex<Option<bool>>,
    /// DEBUG AOF-WRITE-DELAY: a slow disk, for tests.
    pub write_delay_ms: AtomicU64,
}

impl Persistence {
    pub fn new() -> Persistence {
        let p = Persistence::default();
        p.last_rewrite_ok.store(true, Relaxed);
        p.last_bgsave_ok.store(true, Relaxed);
        p.last_rewrite_secs.store(-1, Relaxed);
        p.last_bgsave_secs.store(-1, Relaxed);
        p.last_save.store(unix_secs(), Relaxed);
        p
    }

    pub fn set_shutdown_save(&self, save: Option<bool>) {
        *self.shutdown_save.lock() = save;
    }

    pub fn shutdown_save(&self) -> Option<bool> {
        *self.shutdown_save.lock()
    }

    /// Whether a connection must wait for its writes to reach the disk before it answers
    /// (`appendfsync always`).
    pub fn must_wait(&self) -> bool {
        self.aof_on.load(Relaxed) && self.fsync.load(Relaxed) == Fsync::Always as u8
    }

    /// The MISCONF error write commands get, if the disk is refusing writes: the last
    /// save failed (with save points and `stop-writes-on-bgsave-error yes`, judged now, so
    /// turning either off lifts it at once), or the AOF cannot be written. Redis's order
    /// and words.
    pub fn misconf(&self) -> Option<String> {
        if !self.last_bgsave_ok.load(Relaxed) && self.stop_writes_on_save_error.load(Relaxed) {
            return Some(RDB_MISCONF.into());
        }
        if self.aof_failing.load(Relaxed) {
            let why = self.aof_error.lock().clone().unwrap_or_default();
            return Some(format!("MISCONF Errors writing to the AOF file: {why}"));
        }
        None
    }

    /// Copies the settings [`Persistence::misconf`] and the writer read.
    fn apply_settings(&self, cfg: &crate::config::Config) {
        self.fsync
            .store(Fsync::parse(&cfg.appendfsync) as u8, Relaxed);
        self.stream
            .set_urgent(Fsync::parse(&cfg.appendfsync) == Fsync::Always);
        self.stop_writes_on_save_error.store(
            cfg.stop_writes_on_bgsave_error && !cfg.save.trim().is_empty(),
            Relaxed,
        );
    }

    fn fail(&self, e: &std::io::Error) {
        let first = !self.aof_failing.swap(true, Relaxed);
        // strerror's words, as Redis prints them ("No space left on device").
        let text = e.to_string();
        let text = text.split(" (os error").next().unwrap_or(&text).to_string();
        *self.aof_error.lock() = Some(text);
        if first {
            tracing::warn!(
                "writing the append-only file failed: {e}; write commands are refused with MISCONF until it succeeds"
            );
        }
    }

    fn recovered(&self) {
        if self.aof_failing.swap(false, Relaxed) {
            *self.aof_error.lock() = None;
            tracing::warn!(
                "the append-only file is being written again; write commands are accepted"
            );
        }
    }
}

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
    // primary for what came after it).
    let mut origin = None;
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
                let loaded = aof::load(server, &layout, &m)?;
                origin = Some(loaded.origin);
                log_loaded(&loaded, started);
                (m, true)
            }
            Found::New { .. } => {
                if snapshot_present(&snapshot_path)? {
                    origin = Some(load_snapshot(server, &snapshot_path, started)?);
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
                let loaded = aof::load(server, &layout, &load)?;
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
        p.aof_size.store(parts_size(&layout, &manifest), Relaxed);
        p.aof_base_size.store(p.aof_size.load(Relaxed), Relaxed);
        *p.files.lock() = Some(FileSet {
            layout,
            manifest,
            published,
        });
        if let Some(o) = origin {
            p.stream.reset(o.pos);
        }
        start_writer(server, file);
    } else if snapshot_present(&snapshot_path)? {
        origin = Some(load_snapshot(server, &snapshot_path, started)?);
    }
    if let Some(o) = origin {
        p.stream.reset(o.pos);
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

fn log_loaded(loaded: &aof::Loaded, started: Instant) {
    tracing::warn!(
        "loaded the append-only file in {:.3} s: {} keys from the base, {} commands replayed{}",
        started.elapsed().as_secs_f64(),
        loaded.base_keys,
        loaded.commands,
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

fn load_snapshot(
    server: &Server,
    path: &Path,
    started: Instant,
) -> Result<snapshot::Origin, String> {
    let checked = snapshot::load(server, path)?;
    server.persist.loaded_keys.store(checked.keys, Relaxed);
    tracing::warn!(
        "loaded {} keys from {} in {:.3} s",
        checked.keys,
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(checked.origin)
}

fn parts_size(layout: &Layout, manifest: &Manifest) -> u64 {
    manifest
        .parts
        .iter()
        .filter_map(|p| std::fs::metadata(layout.dir.join(&p.file)).ok())
        .map(|m| m.len())
        .sum()
}

/// The journal goes in when anyone needs the stream: the AOF, replicas (the backlog),
/// or a `save` schedule that counts changes. Otherwise the store reports to nobody and
/// pays nothing.
pub fn install_journal(server: &Server) {
    let (aof, save) = server.with_config(|c| (c.appendonly, !c.save.trim().is_empty()));
    let p = &server.persist;
    p.stream.set_buffering(aof && p.aof_on.load(Relaxed));
    if aof || save || p.stream.has_backlog() {
        server.keyspace.set_journal(Some(
            p.stream.clone() as Arc<dyn cairn_store::journal::Journal>
        ));
    } else {
        server.keyspace.set_journal(None);
    }
}

fn start_writer(server: &Arc<Server>, file: File) {
    let p = &server.persist;
    p.stop_writer.store(false, Relaxed);
    p.aof_on.store(true, Relaxed);
    p.stream.set_buffering(true);
    let srv = server.clone();
    let handle = std::thread::Builder::new()
        .name("cairn-aof".into())
        .spawn(move || writer(&srv, file))
        .expect("spawn the AOF writer");
    *p.writer.lock() = Some(handle);
}

/// What the writer wrote since the last fsync that succeeded, kept until the next one:
/// when an fsync fails, the kernel may already have dropped what it could not write out
/// (and report the next fsync as a success), so the file is cut back to what is known
/// durable and all of it is written again.
#[derive(Default)]
struct Unsynced {
    chunks: Vec<Vec<u8>>,
    /// Where the stream stood at the first byte kept.
    start: Option<stream::Position>,
    /// The stream offset just past the last byte kept.
    end: u64,
}

impl Unsynced {
    fn push(&mut self, taken: stream::Taken) {
        self.start.get_or_insert(taken.start);
        self.end = taken.end.offset;
        self.chunks.push(taken.data);
    }

    fn is_empty(&self) -> bool {
        self.start.is_none()
    }

    /// Everything kept, followed by `more` (taken after it), as one piece to put back
    /// into the stream.
    fn take_with(&mut self, more: Option<stream::Taken>) -> Option<stream::Taken> {
        let kept = std::mem::take(self);
        let Some(start) = kept.start else {
            return more;
        };
        let mut data = kept.chunks.concat();
        let mut end = stream::Position {
            offset: kept.end,
            db: usize::MAX,
        };
        if let Some(m) = more {
            data.extend_from_slice(&m.data);
            end = m.end;
        }
        Some(stream::Taken { data, start, end })
    }
}

/// The writer thread: drains the stream into the current increment, fsyncing as
/// `appendfsync` says, and reports how far the stream is durable. A failed write or
/// fsync keeps the data (it goes back into the stream, in front of what came since),
/// turns writes into MISCONF, and is retried until the disk takes it.
fn writer(server: &Server, mut file: File) {
    let p = &server.persist;
    let stream = &p.stream;
    let mut size = file.metadata().map_or(0, |m| m.len());
    // The file's length at the last fsync that succeeded, and what was written after it.
    let mut synced_size = size;
    let mut unsynced = Unsynced::default();
    let mut last_sync = Instant::now();
    loop {
        let stopping = p.stop_writer.load(Relaxed);
        let policy = p.fsync.load(Relaxed);
        stream.set_urgent(policy == Fsync::Always as u8);
        let wait = match (stopping, policy == Fsync::Always as u8) {
            (true, _) => Duration::ZERO,
            (false, true) => Duration::from_millis(100),
            // Everysec and no: a few milliseconds' worth of writes per `write`.
            (false, false) => Duration::from_millis(5),
        };
        let taken = stream.take(wait);
        let took_nothing = taken.data.is_empty();
        // Whether the disk refused something this turn (then wait a little, unless a
        // switch to a new increment is pending: the data goes there).
        let mut refused = false;
        if !took_nothing {
            let delay = p.write_delay_ms.load(Relaxed);
            if delay > 0 && !stopping {
                std::thread::sleep(Duration::from_millis(delay));
            }
            match file.write_all(&taken.data) {
                Ok(()) => {
                    size += taken.data.len() as u64;
                    p.aof_size.fetch_add(taken.data.len() as u64, Relaxed);
                    if policy == Fsync::No as u8 {
                        stream.mark_synced(taken.end.offset);
                        p.recovered();
                    } else {
                        unsynced.push(taken);
                    }
                }
                Err(e) => {
                    // A partial write would leave half a command: cut the file back, keep
                    // the data, and try again (or in the next increment, after a rewrite).
                    let _ = file.set_len(size);
                    p.fail(&e);
                    stream.put_back(taken);
                    refused = true;
                }
            }
        }
        if policy == Fsync::No as u8 {
            // Nothing is fsynced, so nothing is kept for it.
            unsynced = Unsynced::default();
            synced_size = size;
        }
        let due = match policy {
            x if x == Fsync::Always as u8 => true,
            x if x == Fsync::EverySec as u8 => last_sync.elapsed() >= Duration::from_secs(1),
            _ => false,
        };
        if !refused && !unsynced.is_empty() && (due || stopping) {
            match file.sync_data() {
                Ok(()) => {
                    stream.mark_synced(unsynced.end);
                    unsynced = Unsynced::default();
                    synced_size = size;
                    last_sync = Instant::now();
                    p.recovered();
                }
                Err(e) => {
                    p.fail(&e);
                    let _ = file.set_len(synced_size);
                    p.aof_size
                        .fetch_sub(size.saturating_sub(synced_size), Relaxed);
                    size = synced_size;
                    if let Some(back) = unsynced.take_with(None) {
                        stream.put_back(back);
                    }
                    refused = true;
                }
            }
        } else if took_nothing && unsynced.is_empty() && policy != Fsync::Always as u8 {
            p.recovered();
        }
        if refused && stopping {
            tracing::warn!(
                "shutting down with {} bytes of the append-only file not on disk: {}",
                stream.buffered(),
                p.aof_error.lock().clone().unwrap_or_default()
            );
            return;
        }
        if let Some(sw) = p.switch.lock().take() {
            // Everything taken so far goes to the old increment and is made durable there;
            // the new one continues from that offset. If the old file refuses it,
            // everything since its last good fsync goes to the new one instead.
            let rest = stream.take(Duration::ZERO);
            let boundary = match file.write_all(&rest.data).and_then(|_| file.sync_data()) {
                Ok(()) => {
                    p.aof_size.fetch_add(rest.data.len() as u64, Relaxed);
                    stream.mark_synced(rest.end.offset);
                    unsynced = Unsynced::default();
                    rest.end
                }
                Err(e) => {
                    let _ = file.set_len(synced_size);
                    p.aof_size
                        .fetch_sub(size.saturating_sub(synced_size), Relaxed);
                    p.fail(&e);
                    let back = unsynced.take_with(Some(rest)).expect("rest is there");
                    let boundary = back.start;
                    stream.put_back(back);
                    boundary
                }
            };
            file = sw.file;
            size = 0;
            synced_size = 0;
            let _ = sw.done.send(boundary);
            continue;
        }
        if refused {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        if stopping && stream.buffered() == 0 && unsynced.is_empty() {
            return;
        }
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

/// Stops the writer after it wrote and synced everything (shutdown, `appendonly no`).
pub fn stop_writer(server: &Server) {
    let p = &server.persist;
    p.stop_writer.store(true, Relaxed);
    p.stream.set_buffering(false);
    if let Some(h) = p.writer.lock().take() {
        let _ = h.join();
    }
    p.aof_on.store(false, Relaxed);
    // No AOF, no AOF error (Redis judges it only while the AOF is on).
    p.recovered();
}

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
    let origin = snapshot::Origin {
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
    p.aof_size.store(parts_size(&layout, &manifest), Relaxed);
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
    let result = snapshot::write(server, &path, || snapshot::Origin {
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
