//! The write stream: the store's effects (`cairn_store::journal`) as RESP commands, in one
//! order, with a byte offset that only grows.
//!
//! Effects become the commands that recreate them, so the stream can be replayed by the
//! command table itself (and read by redis-check-aof-like tools):
//!
//! ```text
//! Set(entry)       SET key value [PXAT ms]      (+ MEMCACHED FLAGS key n, when n != 0)
//!                  a collection: DEL key, HSET/SADD key ... (512 elements each),
//!                  HPEXPIREAT key ms FIELDS n field... (a hash's volatile fields),
//!                  PEXPIREAT key ms
//! Op(args)         the command as given: APPEND key tail, SETRANGE key off bytes,
//!                  INCRBY key n, SETBIT key off b
//! Del(key)         DEL key
//! Expire(key, at)  PEXPIREAT key ms | PERSIST key
//! FlushDb(d)       SELECT d, FLUSHDB            FlushAll  FLUSHALL
//! SwapDb(a, b)     SWAPDB a b
//! ```
//!
//! A `SELECT` goes in front whenever the database changes. An operation applied twice
//! is applied wrongly (APPEND twice appends twice), so whoever replays the stream after a
//! snapshot skips what the snapshot holds already: each of its shards was cut at an
//! offset of this stream (see [`super::cuts`]), and a record about a key of that shard
//! before that offset is in the snapshot. Every record is about one key, or about no key
//! (SELECT, FLUSHDB, SWAPDB, PING), so the test is one lookup.
//!
//! Appending happens under the key's shard lock (the store calls in), into one buffer
//! behind a mutex; the append-only file's writer thread takes the buffer whole, so many
//! connections' writes share one `write` and one `fsync` (group commit). When replicas
//! listen, the same bytes also go to the replication backlog
//! (`crate::replication::backlog`) under the same lock, so the AOF, the backlog and the
//! offsets never disagree.
//!
//! On a replica the stream *follows*: the store's own effects are not encoded (they are
//! the primary's writes being applied), and the primary's bytes are appended verbatim
//! instead ([`Stream::append_raw`]), so a replica's offsets, AOF and backlog are byte for
//! byte its primary's, which is what lets its own replicas, and itself after a restart or
//! a promotion, continue with a partial resync.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use cairn_store::journal::{Effect, Global, Journal};
use cairn_store::{Entry, Object};
use parking_lot::{Condvar, Mutex};
use tokio::sync::{Notify, watch};

use super::cuts::Cuts;
use crate::replication::backlog::Backlog;

/// Buffered bytes that wake the writer early even when nobody waits for it.
const WAKE_AT: usize = 1 << 20;

struct Pending {
    /// What the AOF writer has not taken yet (only while the AOF is on).
    buf: Vec<u8>,
    /// Where the stream stood at `buf`'s first byte.
    buf_start: Position,
    /// The offset just past the last byte appended.
    offset: u64,
    /// The database the last SELECT in the stream chose (`usize::MAX`: none yet).
    db: usize,
    /// The replication backlog, while replicas may read the stream.
    backlog: Option<Backlog>,
}

/// Wakes the tasks that send the stream to replicas. Appenders pay one relaxed load
/// unless a sender is actually waiting for bytes.
#[derive(Default)]
pub struct Feed {
    notify: Notify,
    waiting: AtomicBool,
}

impl Feed {
    #[inline]
    fn wake(&self) {
        if self.waiting.load(std::sync::atomic::Ordering::SeqCst)
            && self
                .waiting
                .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.notify.notify_waiters();
        }
    }

    /// Waits until something is appended, unless `ready` says there is something
    /// already (checked after registering, so no append can slip in between).
    pub async fn wait_unless(&self, ready: impl FnOnce() -> bool) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        self.waiting
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if ready() {
            return;
        }
        notified.await;
    }
}

/// What the AOF writer took: the bytes, and where the stream stood at their first byte
/// and just past their last.
pub struct Taken {
    pub data: Vec<u8>,
    pub start: Position,
    pub end: Position,
}

/// Where the stream stands: the offset just past its last byte and the database its
/// last SELECT chose (`usize::MAX`: none yet). A snapshot records both, so whoever
/// continues the stream after it knows which database its first commands are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub offset: u64,
    pub db: usize,
}

/// The parser limits for files Cairn wrote itself: as large as the format allows.
pub const FILE_LIMITS: cairn_protocol::Limits = cairn_protocol::Limits {
    max_bulk_len: 1 << 40,
    max_multibulk_len: i32::MAX as usize,
    max_inline_len: 64 * 1024,
};

/// Replication ids are 40 hex characters, as Redis's.
pub const REPLID_LEN: usize = 40;

/// Where the snapshot sits in the write stream's history (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub pos: Position,
    pub replid: [u8; REPLID_LEN],
}

impl Origin {
    /// An origin outside any replication history (version 1 files, tests).
    pub fn at(offset: u64) -> Origin {
        Origin {
            pos: Position {
                offset,
                db: usize::MAX,
            },
            replid: [b'0'; REPLID_LEN],
        }
    }

    /// The replication id as text.
    pub fn replid(&self) -> &str {
        std::str::from_utf8(&self.replid).unwrap_or("")
    }
}

pub struct Stream {
    /// Changes since the last successful snapshot (INFO rdb_changes_since_last_save, the
    /// `save` schedule).
    pub changes: AtomicU64,
    /// The offset just past the last byte appended, readable without the lock: dispatch
    /// reads it around a command, and a command that wrote answers once the stream is
    /// durable that far (`appendfsync always`) and WAITs for replicas to reach it.
    end: AtomicU64,
    /// Whether effects are encoded and kept for the AOF.
    buffering: AtomicBool,
    /// Whether effects are encoded at all: for the AOF or for the backlog.
    active: AtomicBool,
    /// A replica's stream: the store's effects are not encoded, the primary's bytes are
    /// appended as they came ([`Stream::append_raw`]).
    following: AtomicBool,
    /// Wakes replica senders when bytes arrive.
    pub feed: Feed,
    /// See [`Stream::set_urgent`].
    urgent: AtomicBool,
    pending: Mutex<Pending>,
    ready: Condvar,
    /// The offset up to which the stream is on disk as `appendfsync` promises it.
    synced: watch::Sender<u64>,
    /// Held by a replica from applying its primary's commands until it appended them,
    /// and by a snapshot while it reads a shard's cut ([`Stream::hold_applying`]).
    applying: Mutex<()>,
    /// The cuts of the snapshot the data was loaded from, while the stream that follows
    /// it may still hold records that snapshot holds ([`Stream::window`]).
    window: Mutex<Cuts>,
    /// `window`'s end, readable without the lock (0: no window).
    window_end: AtomicU64,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            changes: AtomicU64::new(0),
            end: AtomicU64::new(0),
            buffering: AtomicBool::new(false),
            active: AtomicBool::new(false),
            following: AtomicBool::new(false),
            feed: Feed::default(),
            urgent: AtomicBool::new(false),
            pending: Mutex::new(Pending {
                buf: Vec::new(),
                buf_start: Position {
                    offset: 0,
                    db: usize::MAX,
                },
                offset: 0,
                db: usize::MAX,
                backlog: None,
            }),
            ready: Condvar::new(),
            synced: watch::channel(0).0,
            applying: Mutex::new(()),
            window: Mutex::new(Cuts::default()),
            window_end: AtomicU64::new(0),
        }
    }
}

fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    cairn_protocol::resp::write_command(out, args);
}

/// Elements per HSET / SADD when a collection is written whole: a million-field hash
/// becomes commands a loader takes one at a time, not one request of its whole size.
const ELEMENTS_PER_COMMAND: usize = 512;

/// The commands that recreate `entry` in an empty keyspace (snapshots, AOF bases); the
/// stream writes a collection's whole state after a `DEL` ([`Journal::record`]).
pub fn encode_entry(out: &mut Vec<u8>, entry: &Entry) {
    let key = entry.key();
    if let Some(obj) = entry.object() {
        encode_object(out, key, obj);
        if let Some(at) = entry.expire_at() {
            let ms = itoa::Buffer::new().format(at).to_owned();
            command(out, &[b"PEXPIREAT", key, ms.as_bytes()]);
        }
        return;
    }
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

/// A collection as HSET / SADD / RPUSH / ZADD commands of at most [`ELEMENTS_PER_COMMAND`]
/// elements; a stream as one `RESTORE key 0 payload` (its groups point into its entries,
/// so it is rebuilt whole, from its DUMP form).
fn encode_object(out: &mut Vec<u8>, key: &[u8], obj: &Object) {
    if let Object::Stream(_) = obj {
        let payload = cairn_store::dump::serialize(cairn_store::ValueRef::Obj(obj));
        command(out, &[b"RESTORE", key, b"0", &payload]);
        return;
    }
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let name: &[u8] = match obj {
        Object::Hash(_) => b"HSET",
        Object::Set(_) => b"SADD",
        Object::List(_) => b"RPUSH",
        Object::ZSet(_) => b"ZADD",
        Object::Stream(_) => unreachable!("written above"),
    };
    let mut flush = |parts: &mut Vec<Vec<u8>>| {
        if parts.is_empty() {
            return;
        }
        let mut args: Vec<&[u8]> = Vec::with_capacity(parts.len() + 2);
        args.push(name);
        args.push(key);
        args.extend(parts.iter().map(Vec::as_slice));
        command(out, &args);
        parts.clear();
    };
    match obj {
        Object::Hash(h) => h.for_each(|f, v| {
            parts.push(f.to_vec());
            parts.push(v.to_vec());
            if parts.len() >= 2 * ELEMENTS_PER_COMMAND {
                flush(&mut parts);
            }
        }),
        Object::Set(set) => set.for_each(|m| {
            parts.push(m.to_vec());
            if parts.len() >= ELEMENTS_PER_COMMAND {
                flush(&mut parts);
            }
        }),
        Object::List(list) => {
            for v in list.iter() {
                parts.push(v.to_vec());
                if parts.len() >= ELEMENTS_PER_COMMAND {
                    flush(&mut parts);
                }
            }
        }
        // `%.17g` reads back to the same double.
        Object::ZSet(z) => z.for_each(|m, score| {
            parts.push(cairn_protocol::resp::reply::format_score(score).into_bytes());
            parts.push(m.to_vec());
            if parts.len() >= 2 * ELEMENTS_PER_COMMAND {
                flush(&mut parts);
            }
        }),
        Object::Stream(_) => {}
    }
    flush(&mut parts);
    if let Object::Hash(h) = obj {
        encode_field_times(out, key, h);
    }
}

/// The expiry times of a hash's volatile fields: `HPEXPIREAT key ms FIELDS n field...`
/// for each run of fields due at the same time (earliest first), at most
/// [`ELEMENTS_PER_COMMAND`] fields a command.
fn encode_field_times(out: &mut Vec<u8>, key: &[u8], h: &cairn_store::types::hash::Hash) {
    let mut run: Vec<&[u8]> = Vec::new();
    let mut run_at = 0;
    let flush = |out: &mut Vec<u8>, at: u64, run: &mut Vec<&[u8]>| {
        if run.is_empty() {
            return;
        }
        let ms = itoa::Buffer::new().format(at).to_owned();
        let n = itoa::Buffer::new().format(run.len()).to_owned();
        let mut args: Vec<&[u8]> = vec![b"HPEXPIREAT", key, ms.as_bytes(), b"FIELDS", n.as_bytes()];
        args.extend(run.iter().copied());
        command(out, &args);
        run.clear();
    };
    for (field, at) in h.volatile_fields() {
        if at != run_at || run.len() >= ELEMENTS_PER_COMMAND {
            flush(out, run_at, &mut run);
            run_at = at;
        }
        run.push(field);
    }
    flush(out, run_at, &mut run);
}

/// A PING of at least `len` bytes (its argument is filler).
fn padding(out: &mut Vec<u8>, len: u64) {
    let filler = vec![b'.'; usize::try_from(len).unwrap_or(usize::MAX)];
    command(out, &[b"PING", &filler]);
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
    /// Starts or stops keeping effects for the AOF.
    pub fn set_buffering(&self, on: bool) {
        // What is buffered stays for the writer to drain (it stops once it is empty).
        let mut p = self.pending.lock();
        self.buffering.store(on, Relaxed);
        if on && p.buf.is_empty() {
            p.buf_start = Position {
                offset: p.offset,
                db: p.db,
            };
        }
        self.active.store(on || p.backlog.is_some(), Relaxed);
    }

    /// Starts or stops following a primary (see the module's doc).
    pub fn set_following(&self, on: bool) {
        self.following.store(on, Relaxed);
    }

    pub fn is_following(&self) -> bool {
        self.following.load(Relaxed)
    }

    /// Appends an effect (encoded by `f`) if a consumer listens; counts it either way.
    /// Returns the offset past it.
    fn append(&self, f: impl FnOnce(&mut Vec<u8>, &mut usize)) -> u64 {
        self.changes.fetch_add(1, Relaxed);
        if self.following.load(Relaxed) {
            return 0;
        }
        if self.window_end.load(Relaxed) != 0 {
            self.leave_window();
        }
        if !self.active.load(Relaxed) {
            return 0;
        }
        let mut p = self.pending.lock();
        self.put(&mut p, f);
        self.appended(p)
    }

    /// This node's own first write since it loaded a snapshot: the stream goes on with a
    /// history of its own. The data holds the old history's records up to the loaded
    /// snapshot's cuts, and snapshots of it say so: the new history starts past them, so
    /// none of its records can be taken for one a snapshot holds. With consumers, one
    /// PING fills the gap (offsets count bytes); without, the offset just moves on.
    #[cold]
    fn leave_window(&self) {
        let mut p = self.pending.lock();
        let end = self.close_window();
        if p.offset < end {
            if self.active.load(Relaxed) {
                let gap = end - p.offset;
                self.put(&mut p, |out, _| padding(out, gap));
            } else {
                p.offset = end;
            }
        }
        self.appended(p);
    }

    /// Encodes one record (by `f`) into the AOF's buffer and the backlog, whichever are on.
    fn put(&self, p: &mut Pending, f: impl FnOnce(&mut Vec<u8>, &mut usize)) {
        let Pending {
            buf,
            db,
            backlog,
            offset,
            ..
        } = &mut *p;
        let written = if self.buffering.load(Relaxed) {
            let before = buf.len();
            f(buf, db);
            if let Some(b) = backlog {
                b.push(&buf[before..]);
            }
            buf.len() - before
        } else if let Some(b) = backlog {
            b.extend(|v| f(v, db))
        } else {
            0
        };
        *offset += written as u64;
    }

    /// After an append: releases the lock, then wakes the AOF writer (when it is waited
    /// for, or a lot piled up) and the replica senders. Returns the offset past the end.
    fn appended(&self, p: parking_lot::MutexGuard<'_, Pending>) -> u64 {
        let end = p.offset;
        self.end.store(end, std::sync::atomic::Ordering::Release);
        let replicas = p.backlog.is_some();
        let wake = self.urgent.load(Relaxed) || p.buf.len() >= WAKE_AT;
        drop(p);
        if wake {
            self.ready.notify_one();
        }
        if replicas {
            self.feed.wake();
        }
        end
    }

    /// Appends a primary's bytes as they came: whole commands, after they were applied
    /// (a replica). `db` is the database the primary's stream is on after them.
    pub fn append_raw(&self, bytes: &[u8], db: usize) -> u64 {
        let mut p = self.pending.lock();
        if self.buffering.load(Relaxed) {
            p.buf.extend_from_slice(bytes);
        }
        if let Some(b) = &mut p.backlog {
            b.push(bytes);
        }
        p.offset += bytes.len() as u64;
        p.db = db;
        self.appended(p)
    }

    /// Appends a command that is not a keyspace change (PING, REPLCONF GETACK) for the
    /// replicas' sake; it goes wherever the stream goes.
    pub fn append_command(&self, args: &[&[u8]]) -> u64 {
        if !self.active.load(Relaxed) {
            return self.offset();
        }
        self.append(|out, _| command(out, args))
    }

    /// The offset just past the last effect appended.
    pub fn offset(&self) -> u64 {
        self.pending.lock().offset
    }

    /// [`Stream::offset`] without the lock: at least the end of every append that
    /// returned before this call.
    pub fn end(&self) -> u64 {
        self.end.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The offset and the stream's database, at one instant.
    pub fn position(&self) -> Position {
        let p = self.pending.lock();
        Position {
            offset: p.offset,
            db: p.db,
        }
    }

    /// Runs `f` on the backlog, if there is one, with appends held off meanwhile.
    pub fn with_backlog<R>(&self, f: impl FnOnce(&mut Backlog) -> R) -> Option<R> {
        self.pending.lock().backlog.as_mut().map(f)
    }

    /// Creates the backlog at the current offset if there is none; runs `f` on it and
    /// the stream's position, atomically (a full sync's cut and the replica's pin).
    pub fn with_new_backlog<R>(
        &self,
        size: usize,
        f: impl FnOnce(&mut Backlog, Position) -> R,
    ) -> R {
        let mut p = self.pending.lock();
        let pos = Position {
            offset: p.offset,
            db: p.db,
        };
        let b = p
            .backlog
            .get_or_insert_with(|| Backlog::new(pos.offset, size));
        let r = f(b, pos);
        self.active.store(true, Relaxed);
        r
    }

    /// Frees the backlog (no replica for `repl-backlog-ttl`).
    pub fn drop_backlog(&self) {
        let mut p = self.pending.lock();
        p.backlog = None;
        self.active.store(self.buffering.load(Relaxed), Relaxed);
    }

    /// Bytes the stream holds for its consumers (the AOF's buffer and the backlog).
    pub fn held_bytes(&self) -> usize {
        let p = self.pending.lock();
        p.buf.capacity() + p.backlog.as_ref().map_or(0, |b| b.len())
    }

    /// Whether effects are being encoded (for the AOF or the backlog).
    pub fn is_active(&self) -> bool {
        self.active.load(Relaxed)
    }

    pub fn has_backlog(&self) -> bool {
        self.pending.lock().backlog.is_some()
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
    /// the stream's position just past them.
    pub fn take(&self, wait: std::time::Duration) -> Taken {
        let mut p = self.pending.lock();
        let urgent = self.urgent.load(Relaxed);
        if (urgent && p.buf.is_empty()) || (!urgent && p.buf.len() < WAKE_AT && !wait.is_zero()) {
            self.ready.wait_for(&mut p, wait);
        }
        let end = Position {
            offset: p.offset,
            db: p.db,
        };
        let start = std::mem::replace(&mut p.buf_start, end);
        Taken {
            data: std::mem::take(&mut p.buf),
            start,
            end,
        }
    }

    /// Puts back bytes the writer could not write, in front of what arrived since.
    pub fn put_back(&self, taken: Taken) {
        let mut p = self.pending.lock();
        let mut data = taken.data;
        data.extend_from_slice(&p.buf);
        p.buf = data;
        p.buf_start = taken.start;
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

    /// Held while a replica applies its primary's commands and appends them, and while a
    /// snapshot reads a shard's cut: a command applied and not yet appended would be in
    /// the snapshot's data and after its cut in the stream, and applied twice.
    pub fn hold_applying(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.applying.lock()
    }

    /// The cuts of the snapshot the data was loaded from, while records of the stream
    /// after it may be in it (a replica continuing its primary's stream skips those):
    /// empty once this node appended writes of its own.
    pub fn window(&self) -> Cuts {
        if self.window_end.load(Relaxed) == 0 {
            return Cuts::default();
        }
        self.window.lock().clone()
    }

    /// Closes the window; returns where it ended (0: none was open).
    fn close_window(&self) -> u64 {
        *self.window.lock() = Cuts::default();
        self.window_end.swap(0, Relaxed)
    }

    /// Starts the stream over at `pos` (after loading, or a replica's full sync): what
    /// the AOF had not taken is dropped, and the backlog, if any, restarts there.
    /// `window`: the cuts of the snapshot the data came from (see [`Stream::window`]).
    pub fn reset(&self, pos: Position, window: Cuts) {
        if window.end() > pos.offset {
            self.window_end.store(window.end(), Relaxed);
            *self.window.lock() = window;
        } else {
            self.close_window();
        }
        let mut p = self.pending.lock();
        p.buf.clear();
        p.offset = pos.offset;
        self.end
            .store(pos.offset, std::sync::atomic::Ordering::Release);
        p.db = pos.db;
        p.buf_start = pos;
        if let Some(b) = &mut p.backlog {
            b.reset(pos.offset);
        }
        drop(p);
        self.synced.send_replace(pos.offset);
    }
}

impl Journal for Stream {
    fn record(&self, db: usize, effect: Effect<'_>) {
        self.append(|out, current| {
            select(out, current, db);
            match effect {
                Effect::Set(entry) => {
                    if entry.object().is_some() {
                        // A collection's elements are added to nothing, not merged.
                        command(out, &[b"DEL", entry.key()]);
                    }
                    encode_entry(out, entry)
                }
                Effect::Op(args) => command(out, args),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key_record(stream: &Stream, key: &[u8]) -> u64 {
        stream.record(0, Effect::Op(&[b"APPEND", key, b"x"]));
        stream.end()
    }

    #[test]
    fn own_writes_after_a_loaded_snapshot_start_past_its_cuts() {
        let stream = Stream::default();
        stream.with_new_backlog(1 << 20, |_, _| ());
        let at = Position { offset: 100, db: 0 };
        stream.reset(at, Cuts::new(vec![500, 600]));
        assert_eq!(stream.window().end(), 600);
        let before = stream.end();
        let after = key_record(&stream, b"k");
        assert!(before == 100 && after > 600, "{before} -> {after}");
        assert!(stream.window().is_empty());
        // The gap is one PING in the backlog, followed by the write.
        let bytes: Vec<u8> = stream
            .with_backlog(|b| b.read(100, usize::MAX).unwrap().concat())
            .unwrap();
        assert!(bytes.starts_with(b"*2\r\n$4\r\nPING\r\n$"));
        assert!(bytes.ends_with(b"*3\r\n$6\r\nAPPEND\r\n$1\r\nk\r\n$1\r\nx\r\n"));
        assert_eq!(bytes.len() as u64, after - 100);
    }

    #[test]
    fn without_consumers_the_offset_just_moves_past_the_cuts() {
        let stream = Stream::default();
        stream.reset(Position { offset: 10, db: 0 }, Cuts::new(vec![70]));
        key_record(&stream, b"k");
        assert_eq!(stream.offset(), 70);
        assert!(stream.window().is_empty());
    }

    #[test]
    fn a_follower_keeps_its_window_until_it_passes_it() {
        let stream = Stream::default();
        stream.set_following(true);
        stream.reset(Position { offset: 10, db: 0 }, Cuts::new(vec![70]));
        key_record(&stream, b"k");
        stream.append_raw(b"*1\r\n$4\r\nPING\r\n", 0);
        assert_eq!(stream.window().end(), 70);
        // A window the stream is already past is no window.
        stream.reset(Position { offset: 80, db: 0 }, Cuts::new(vec![70]));
        assert!(stream.window().is_empty());
    }
}
