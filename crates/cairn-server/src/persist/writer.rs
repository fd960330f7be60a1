//! The append-only file's writer thread: it takes what the write stream buffered since
//! its last turn and writes it with one `write` (group commit), fsyncs by `appendfsync`,
//! and holds write commands back with MISCONF while the disk refuses writes. Also which
//! journal the store reports to, and pausing the AOF around a replica's full sync.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::state::Fsync;
use super::stream::{self};
use crate::server::Server;

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

pub(super) fn start_writer(server: &Arc<Server>, file: File) {
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
