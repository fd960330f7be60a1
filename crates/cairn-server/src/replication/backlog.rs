//! The replication backlog: the tail of the write stream, kept in memory so replicas can
//! read it at their own pace and a replica that reconnects can continue where it stopped
//! (partial resync) instead of loading a whole snapshot again.
//!
//! One buffer serves every replica, as Redis 7's shared replication buffer does: bytes
//! are appended once, in chunks that are frozen into reference-counted [`Bytes`] when
//! full, and each replica keeps only a cursor (an offset). Sending is handing the socket
//! the chunks past the cursor, no copy per replica.
//!
//! ```text
//!  start                                                        end
//!    │ chunk │ chunk │ chunk │ chunk │ current (being filled) │
//!            ▲ pin: replica A (mid full sync)      ▲ replica B (online)
//! ```
//!
//! What is kept: at least the last `repl-backlog-size` bytes, and everything a pinned
//! replica has not been sent yet (a replica in the middle of a full sync pins the offset
//! its snapshot was cut at). A replica that falls so far behind that its unsent bytes
//! pass `client-output-buffer-limit replica` is disconnected by its owner, which unpins
//! it; the chunks it held are then trimmed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;

/// Bytes per chunk. Small enough that the unfrozen tail is cheap to copy for a reader,
/// large enough that a busy stream seals a few hundred chunks a second at most.
pub const CHUNK: usize = 16 * 1024;

/// A reader's position, shared between the backlog (which must not trim past it) and the
/// task sending to that replica (which moves it forward).
pub type Pin = Arc<AtomicU64>;

/// The reader asked for bytes the backlog no longer holds.
#[derive(Debug, PartialEq, Eq)]
pub struct Trimmed;

#[derive(Debug)]
pub struct Backlog {
    /// Frozen chunks, oldest first; `chunks[0]` starts at `start`.
    chunks: VecDeque<Bytes>,
    /// The chunk being filled, starting at `start + held`.
    current: Vec<u8>,
    /// Offset of the first byte held.
    start: u64,
    /// Bytes in `chunks`.
    held: usize,
    /// `repl-backlog-size`: how much history to keep for partial resyncs.
    size: usize,
    pins: Vec<Pin>,
}

impl Backlog {
    /// An empty backlog whose next byte will be at `offset`.
    pub fn new(offset: u64, size: usize) -> Backlog {
        Backlog {
            chunks: VecDeque::new(),
            current: Vec::with_capacity(CHUNK),
            start: offset,
            held: 0,
            size: size.max(1),
            pins: Vec::new(),
        }
    }

    /// Offset of the first byte held (a partial resync can start anywhere from here).
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Offset just past the last byte.
    pub fn end(&self) -> u64 {
        self.start + (self.held + self.current.len()) as u64
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.held + self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn set_size(&mut self, size: usize) {
        self.size = size.max(1);
        self.trim();
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Appends bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.extend(|v| v.extend_from_slice(bytes));
    }

    /// Appends whatever `f` writes into the unfrozen tail (encoding straight into the
    /// backlog, without a scratch buffer). Returns how many bytes it wrote.
    pub fn extend(&mut self, f: impl FnOnce(&mut Vec<u8>)) -> usize {
        let before = self.current.len();
        f(&mut self.current);
        let n = self.current.len() - before;
        if self.current.len() >= CHUNK {
            self.seal();
        }
        n
    }

    fn seal(&mut self) {
        let full = std::mem::replace(&mut self.current, Vec::with_capacity(CHUNK));
        self.held += full.len();
        self.chunks.push_back(Bytes::from(full));
        self.trim();
    }

    /// Drops whole chunks that are older than the last `size` bytes and that no pinned
    /// reader still needs.
    fn trim(&mut self) {
        let keep_from = self.pins.iter().map(|p| p.load(Relaxed)).min();
        while let Some(front) = self.chunks.front() {
            let front_end = self.start + front.len() as u64;
            let rest = self.len() - front.len();
            if rest < self.size || keep_from.is_some_and(|k| k < front_end) {
                break;
            }
            self.start = front_end;
            self.held -= front.len();
            self.chunks.pop_front();
        }
    }

    /// Registers a reader at `offset` (which must be held, or be the end); the backlog
    /// keeps everything from there until the pin moves or is dropped.
    pub fn pin(&mut self, offset: u64) -> Result<Pin, Trimmed> {
        if offset < self.start || offset > self.end() {
            return Err(Trimmed);
        }
        let pin = Arc::new(AtomicU64::new(offset));
        self.pins.push(pin.clone());
        Ok(pin)
    }

    /// Forgets a reader (it disconnected, or was cut off for lagging).
    pub fn unpin(&mut self, pin: &Pin) {
        self.pins.retain(|p| !Arc::ptr_eq(p, pin));
        self.trim();
    }

    /// Readers registered.
    pub fn pins(&self) -> usize {
        self.pins.len()
    }

    /// The bytes from `from` to the end, as frozen chunks (shared, not copied) plus a copy
    /// of the unfrozen tail; at most about `max` bytes.
    pub fn read(&self, from: u64, max: usize) -> Result<Vec<Bytes>, Trimmed> {
        if from < self.start || from > self.end() {
            return Err(Trimmed);
        }
        let mut out = Vec::new();
        let mut skip = (from - self.start) as usize;
        let mut taken = 0;
        for c in &self.chunks {
            if taken >= max {
                return Ok(out);
            }
            if skip >= c.len() {
                skip -= c.len();
                continue;
            }
            out.push(c.slice(skip..));
            taken += c.len() - skip;
            skip = 0;
        }
        if taken < max && skip < self.current.len() {
            out.push(Bytes::copy_from_slice(&self.current[skip..]));
        }
        Ok(out)
    }

    /// Drops everything and starts again at `offset` (a replica's full sync moved it onto
    /// another history). Pinned readers are the caller's to disconnect.
    pub fn reset(&mut self, offset: u64) {
        self.chunks.clear();
        self.current.clear();
        self.held = 0;
        self.start = offset;
        self.pins.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concat(parts: &[Bytes]) -> Vec<u8> {
        parts.iter().flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn reads_back_what_was_written_from_any_offset() {
        let mut b = Backlog::new(100, 1 << 20);
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        for piece in data.chunks(777) {
            b.push(piece);
        }
        assert_eq!(b.start(), 100);
        assert_eq!(b.end(), 100 + data.len() as u64);
        for from in [100u64, 101, 100 + 16_384, 100 + 40_000, 100 + 50_000] {
            let got = concat(&b.read(from, usize::MAX).unwrap());
            assert_eq!(got, data[(from - 100) as usize..]);
        }
        assert_eq!(b.read(99, 10), Err(Trimmed));
        assert_eq!(b.read(100 + 50_001, 10), Err(Trimmed));
    }

    #[test]
    fn keeps_the_configured_history_and_no_more() {
        let mut b = Backlog::new(0, 40_000);
        for _ in 0..100 {
            b.push(&[7u8; 1000]);
        }
        assert_eq!(b.end(), 100_000);
        // Whole chunks go, when one is sealed: at least 40,000 bytes stay, and at most
        // one sealed chunk and the unsealed tail more.
        assert!(b.len() >= 40_000, "{}", b.len());
        assert!(b.len() < 40_000 + 2 * (CHUNK + 1000), "{}", b.len());
        assert!(b.read(b.start(), usize::MAX).is_ok());
        assert_eq!(b.read(0, 10), Err(Trimmed));
    }

    #[test]
    fn a_pinned_reader_holds_history_until_it_moves_or_leaves() {
        let mut b = Backlog::new(0, 1000);
        let pin = b.pin(0).unwrap();
        for _ in 0..100 {
            b.push(&[1u8; 1000]);
        }
        assert_eq!(b.start(), 0, "the pin at 0 keeps everything");
        pin.store(60_000, Relaxed);
        b.push(&[1u8; 20_000]);
        assert!(b.start() <= 60_000 && b.start() > 0, "{}", b.start());
        b.unpin(&pin);
        assert!(b.len() < 1000 + 2 * (CHUNK + 1000), "{}", b.len());
        assert_eq!(b.pins(), 0);
    }

    #[test]
    fn read_is_bounded_by_max() {
        let mut b = Backlog::new(0, 1 << 20);
        for _ in 0..5 * CHUNK / 1000 {
            b.push(&[3u8; 1000]);
        }
        // Whole chunks: the one that crosses `max` is the last.
        let parts = b.read(0, CHUNK).unwrap();
        let n: usize = parts.iter().map(Bytes::len).sum();
        assert!((CHUNK..2 * (CHUNK + 1000)).contains(&n), "{n}");
        assert!(n < b.len());
    }

    #[test]
    fn pin_outside_the_history_is_refused() {
        let mut b = Backlog::new(500, 10);
        b.push(b"abc");
        assert!(b.pin(499).is_err());
        assert!(b.pin(504).is_err());
        assert!(b.pin(503).is_ok());
    }
}
