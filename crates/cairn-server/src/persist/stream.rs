//! The write stream: the store's effects (`cairn_store::journal`) as RESP commands, in one
//! order, with a byte offset that only grows.
//!
//! Effects become the commands that recreate them, so the stream can be replayed by the
//! command table itself (and read by redis-check-aof-like tools):
//!
//! ```text
//! Set(entry)       SET key value [PXAT ms]      (+ MEMCACHED FLAGS key n, when n != 0)
//! Del(key)         DEL key
//! Expire(key, at)  PEXPIREAT key ms | PERSIST key
//! FlushDb(d)       SELECT d, FLUSHDB            FlushAll  FLUSHALL
//! SwapDb(a, b)     SWAPDB a b
//! ```
//!
//! A `SELECT` goes in front whenever the database changes. Every effect is a state, so
//! applying one twice changes nothing: a snapshot taken while writes go on, followed by
//! the stream from the offset the snapshot started at, rebuilds exactly the final state.
//!
//! Appending happens under the key's shard lock (the store calls in), into one buffer
//! behind a mutex; the append-only file's writer thread takes the buffer whole, so many
//! connections' writes share one `write` and one `fsync` (group commit).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use cairn_store::Entry;
use cairn_store::journal::{Effect, Global, Journal};
use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

thread_local! {
    /// The stream offset just past the last effect this thread appended: a connection
    /// reads it after a batch to know what must be durable before it answers
    /// (`appendfsync always`).
    static LAST_APPENDED: Cell<u64> = const { Cell::new(0) };
}

/// Takes this thread's last appended offset (0 if it appended nothing since).
pub fn take_last_appended() -> u64 {
    LAST_APPENDED.with(|c| c.replace(0))
}

/// Buffered bytes that wake the writer early even when nobody waits for it.
const WAKE_AT: usize = 1 << 20;

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    /// The offset just past `buf`'s end.
    offset: u64,
    /// The database the last SELECT in the stream chose (`usize::MAX`: none yet).
    db: usize,
}

pub struct Stream {
    /// Changes since the last successful snapshot (INFO rdb_changes_since_last_save, the
    /// `save` schedule).
    pub changes: AtomicU64,
    /// Whether effects are encoded and kept for a consumer (the AOF); when not, the
    /// stream only counts them.
    buffering: AtomicBool,
    /// See [`Stream::set_urgent`].
    urgent: AtomicBool,
    pending: Mutex<Pending>,
    ready: Condvar,
    /// The offset up to which the stream is on disk as `appendfsync` promises it.
    synced: watch::Sender<u64>,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            changes: AtomicU64::new(0),
            buffering: AtomicBool::new(false),
            urgent: AtomicBool::new(false),
            pending: Mutex::new(Pending {
                db: usize::MAX,
                ..Pending::default()
            }),
            ready: Condvar::new(),
            synced: watch::channel(0).0,
        }
    }
}

fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// The commands that recreate `entry` (used by the stream and by AOF bases).
pub fn encode_entry(out: &mut Vec<u8>, entry: &Entry) {
    let key = entry.key();
    entry.value().with_bytes(|value| match entry.expire_at() {
        Some(at) => {
            let ms = itoa::Buffer::new().format(at).to_owned();
            command(out, &[b"SET", key, value, b"PXAT", ms.as_bytes()]);
        }
        None => command(out, &[b"SET", key, value]),
    });
    let flags = entry.mc().flags;
    if flags != 0 {
        let n = itoa::Buffer::new().format(flags).to_owned();
        command(out, &[b"MEMCACHED", b"FLAGS", key, n.as_bytes()]);
    }
}

/// `SELECT db` when the stream is not on `db` already.
pub fn select(out: &mut Vec<u8>, current: &mut usize, db: usize) {
    if *current != db {
        let n = itoa::Buffer::new().format(db).to_owned();
        command(out, &[b"SELECT", n.as_bytes()]);
        *current = db;
    }
}

impl Stream {
    /// Starts or stops keeping effects for a consumer.
    pub fn set_buffering(&self, on: bool) {
        self.buffering.store(on, Relaxed);
    }

    /// Appends an effect (encoded by `f`) if a consumer listens; counts it either way.
    /// Returns the offset past it.
    fn append(&self, f: impl FnOnce(&mut Vec<u8>, &mut usize)) -> u64 {
        self.changes.fetch_add(1, Relaxed);
        if !self.buffering.load(Relaxed) {
            return 0;
        }
        let mut p = self.pending.lock();
        let before = p.buf.len();
        let Pending { buf, db, .. } = &mut *p;
        f(buf, db);
        p.offset += (p.buf.len() - before) as u64;
        let offset = p.offset;
        let wake = self.urgent.load(Relaxed) || p.buf.len() >= WAKE_AT;
        drop(p);
        if wake {
            self.ready.notify_one();
        }
        LAST_APPENDED.with(|c| c.set(offset));
        offset
    }

    /// The offset just past the last effect appended.
    pub fn offset(&self) -> u64 {
        self.pending.lock().offset
    }

    /// Bytes appended and not yet taken by the writer.
    pub fn buffered(&self) -> usize {
        self.pending.lock().buf.len()
    }

    /// Whether connections wait for the writer (`appendfsync always`): then every append
    /// wakes it; otherwise it comes round on its own cadence and takes many commands'
    /// effects at once (one `write` per turn, as Redis writes once per event-loop pass).
    pub fn set_urgent(&self, on: bool) {
        self.urgent.store(on, Relaxed);
    }

    /// Takes everything appended so far. When urgent, waits up to `wait` only if nothing
    /// is there; otherwise waits `wait` unless a lot has piled up. Returns the bytes and
    /// the offset just past them.
    pub fn take(&self, wait: std::time::Duration) -> (Vec<u8>, u64) {
        let mut p = self.pending.lock();
        let urgent = self.urgent.load(Relaxed);
        if (urgent && p.buf.is_empty()) || (!urgent && p.buf.len() < WAKE_AT && !wait.is_zero()) {
            self.ready.wait_for(&mut p, wait);
        }
        (std::mem::take(&mut p.buf), p.offset)
    }

    /// Puts back bytes the writer could not write, in front of what arrived since.
    pub fn put_back(&self, mut data: Vec<u8>) {
        let mut p = self.pending.lock();
        data.extend_from_slice(&p.buf);
        p.buf = data;
    }

    /// Records that the stream is durable up to `offset`.
    pub fn mark_synced(&self, offset: u64) {
        self.synced.send_if_modified(|s| {
            let moved = offset > *s;
            if moved {
                *s = offset;
            }
            moved
        });
    }

    pub fn synced(&self) -> u64 {
        *self.synced.borrow()
    }

    /// Waits until the stream is durable up to `offset`.
    pub async fn wait_synced(&self, offset: u64) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s >= offset).await;
    }

    /// Starts the stream over at `offset` (a new process, or after loading).
    pub fn reset(&self, offset: u64) {
        let mut p = self.pending.lock();
        p.buf.clear();
        p.offset = offset;
        p.db = usize::MAX;
        drop(p);
        self.synced.send_replace(offset);
    }
}

impl Journal for Stream {
    fn record(&self, db: usize, effect: Effect<'_>) {
        self.append(|out, current| {
            select(out, current, db);
            match effect {
                Effect::Set(entry) => encode_entry(out, entry),
                Effect::Del(key) => command(out, &[b"DEL", key]),
                Effect::Expire(key, Some(at)) => {
                    let ms = itoa::Buffer::new().format(at).to_owned();
                    command(out, &[b"PEXPIREAT", key, ms.as_bytes()]);
                }
                Effect::Expire(key, None) => command(out, &[b"PERSIST", key]),
            }
        });
    }

    fn global(&self, change: Global) {
        self.append(|out, current| match change {
            Global::FlushDb(d) => {
                select(out, current, d);
                command(out, &[b"FLUSHDB"]);
            }
            Global::FlushAll => command(out, &[b"FLUSHALL"]),
            Global::SwapDb(a, b) => {
                let (a, b) = (a.to_string(), b.to_string());
                command(out, &[b"SWAPDB", a.as_bytes(), b.as_bytes()]);
            }
        });
    }
}
