//! A list: a chain of packed nodes, as Redis's quicklist. Each node is one buffer of
//! entries `len | bytes | backlen` (the length as a LEB128 varint in front, and the size
//! of `len | bytes` again behind, written to be read from its end), so a node is walked in
//! both directions and an element of 16 bytes costs 18. Nodes are bounded by
//! `list-max-listpack-size` (negative: bytes, -2 = 8 KB; positive: entries), so a push or a
//! pop at either end touches one node of bounded size: O(1). A node that stops being an
//! end (a new one was started beside it) gives back its spare capacity.
//!
//! OBJECT ENCODING answers as Redis 7.2 does: `listpack` while the list is one node, then
//! `quicklist`, and `listpack` again once it shrinks to one node of at most half the limit.
//!
//! With `list-compress-depth` d > 0, every node but the d at each end is kept LZF-compressed
//! when that saves at least 8 bytes of a node of at least 48 (Redis's quicklist rules): a
//! queue or a feed touches only its ends, and its long middle costs what it compresses to.
//! Reading a compressed node decompresses it into a temporary (elements come out as
//! `Cow`); changing one decompresses it in place, and the list compresses it again before
//! the command returns.

use std::borrow::Cow;
use std::collections::VecDeque;

use cairn_protocol::varint;

use crate::alloc::alloc_class;
use crate::limits::Limits;
use crate::rdb::lzf;

/// Largest node, in bytes, when the limit counts entries (Redis's `SIZE_SAFETY_LIMIT`).
const SAFETY_BYTES: usize = 8192;

#[derive(Clone, Default)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
    /// Heap bytes of the nodes' buffers, in allocator classes, and two flags.
    bytes: Bytes,
}

/// A list's byte count (low bits) and its flags [`QUICK`] and [`LOOSE`] (the top two) in
/// one word: two `bool`s of their own made a list 56 bytes, and a list is the largest
/// collection, so every key holding any collection paid a 64-byte `Object` allocation
/// where 48 bytes now do (16 bytes a hash, set or sorted set key).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Bytes(usize);

/// Reported as `quicklist` (see the module's doc).
const QUICK: usize = 1 << (usize::BITS - 1);
/// Some node away from the ends may be uncompressed: the next settling looks at every
/// node, not only those near the ends.
const LOOSE: usize = 1 << (usize::BITS - 2);

impl Bytes {
    fn get(self) -> usize {
        self.0 & !(QUICK | LOOSE)
    }

    /// A node went from `before` to `after` bytes (added first: never below zero).
    fn change(&mut self, before: usize, after: usize) {
        self.0 = self.0 + after - before;
    }

    fn is(self, flag: usize) -> bool {
        self.0 & flag != 0
    }

    fn set(&mut self, flag: usize, on: bool) {
        if on {
            self.0 |= flag;
        } else {
            self.0 &= !flag;
        }
    }

    /// The flag's value, cleared.
    fn take(&mut self, flag: usize) -> bool {
        let was = self.is(flag);
        self.set(flag, false);
        was
    }
}

#[derive(Clone, Default)]
struct Node {
    /// The entries, or (when `raw_len` > 0) their LZF compression.
    buf: Vec<u8>,
    count: u32,
    /// The size of the entries when `buf` holds them compressed; 0 when it holds them.
    raw_len: u32,
}

/// Redis's quicklist bounds: a node smaller than this is not compressed, nor one that
/// compression would shrink by less than `MIN_GAIN` bytes.
const MIN_COMPRESS: usize = 48;
const MIN_GAIN: usize = 8;

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|v| String::from_utf8_lossy(&v).into_owned()),
            )
            .finish()
    }
}

impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for List {}

/// The size of an entry holding `n` bytes.
fn entry_size(n: usize) -> usize {
    let head = varint::len(n as u64) + n;
    head + back_len(head)
}

/// Bytes the backlen of an entry whose `len | bytes` is `n` bytes takes.
fn back_len(n: usize) -> usize {
    varint::len(n as u64)
}

/// Appends `v` as an entry.
fn put_entry(out: &mut Vec<u8>, v: &[u8]) {
    let before = out.len();
    varint::push(out, v.len() as u64);
    out.extend_from_slice(v);
    let mut n = out.len() - before;
    // The backlen's low seven bits last, each byte but the first flagged "more before"
    // (it is read from its end).
    let mut groups = [0u8; varint::MAX_LEN];
    let mut k = 0;
    loop {
        groups[k] = (n & 0x7f) as u8;
        n >>= 7;
        k += 1;
        if n == 0 {
            break;
        }
    }
    for i in (0..k).rev() {
        out.push(groups[i] | if i + 1 < k { 0x80 } else { 0 });
    }
}

/// The entry at `at`: its bytes and where the next one starts.
fn entry_at(buf: &[u8], at: usize) -> (&[u8], usize) {
    let (len, n) = varint::decode(&buf[at..]).expect("list entries have whole lengths");
    let start = at + n;
    let end = start + len as usize;
    (&buf[start..end], end + back_len(end - at))
}

/// Where the entry ending at `end` starts.
fn entry_before(buf: &[u8], end: usize) -> usize {
    let (mut n, mut shift, mut at) = (0usize, 0, end);
    loop {
        at -= 1;
        let b = buf[at];
        n |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    at - n
}

impl Node {
    fn with(v: &[u8]) -> Node {
        let mut buf = Vec::with_capacity(entry_size(v.len()));
        put_entry(&mut buf, v);
        Node {
            buf,
            count: 1,
            raw_len: 0,
        }
    }

    fn is_compressed(&self) -> bool {
        self.raw_len > 0
    }

    /// The entries, decompressed into a temporary if need be.
    fn entries(&self) -> Cow<'_, [u8]> {
        if self.is_compressed() {
            Cow::Owned(
                lzf::decompress(&self.buf, self.raw_len as usize)
                    .expect("a list node compressed here decompresses"),
            )
        } else {
            Cow::Borrowed(&self.buf)
        }
    }

    /// The elements, borrowed from the node or (compressed) owned.
    fn items(&self) -> Items<'_> {
        if self.is_compressed() {
            let raw = self.entries().into_owned();
            let all: Vec<Vec<u8>> = NodeIter {
                buf: &raw,
                front: 0,
                back: raw.len(),
            }
            .map(<[u8]>::to_vec)
            .collect();
            Items::Owned(all.into_iter())
        } else {
            Items::Borrowed(self.iter())
        }
    }

    fn decompress(&mut self) {
        if self.is_compressed() {
            self.buf = self.entries().into_owned();
            self.raw_len = 0;
        }
    }

    /// Compresses the entries when that pays (see [`MIN_COMPRESS`]).
    fn compress(&mut self) {
        if self.is_compressed() || self.buf.len() < MIN_COMPRESS {
            return;
        }
        if let Some(c) = lzf::compress(&self.buf).filter(|c| c.len() + MIN_GAIN <= self.buf.len()) {
            self.raw_len = self.buf.len() as u32;
            self.buf = c;
            self.buf.shrink_to_fit();
        }
    }

    fn iter(&self) -> NodeIter<'_> {
        debug_assert!(!self.is_compressed());
        NodeIter {
            buf: &self.buf,
            front: 0,
            back: self.buf.len(),
        }
    }

    /// Byte offset of entry `i`.
    fn offset(&self, i: usize) -> usize {
        if i * 2 <= self.count as usize {
            let mut at = 0;
            for _ in 0..i {
                at = entry_at(&self.buf, at).1;
            }
            at
        } else {
            let mut at = self.buf.len();
            for _ in i..self.count as usize {
                at = entry_before(&self.buf, at);
            }
            at
        }
    }

    fn heap(&self) -> usize {
        alloc_class(self.buf.capacity())
    }

    /// Makes room for `extra` more bytes, doubling as a `Vec` does but never past the
    /// node's bound (`max`), so a full node holds no slack to give back.
    fn grow(&mut self, extra: usize, max: usize) {
        let need = self.buf.len() + extra;
        if need > self.buf.capacity() {
            let cap = (self.buf.capacity() * 2).min(max).max(need);
            self.buf.reserve_exact(cap - self.buf.len());
        }
    }

    /// A node that stops being an end keeps no spare capacity.
    fn seal(&mut self) {
        self.buf.shrink_to_fit();
    }

    /// Gives back spare capacity beyond a quarter of what it holds.
    fn tighten(&mut self) {
        if self.buf.capacity() > self.buf.len() + self.buf.len() / 4 + 16 {
            self.buf.shrink_to_fit();
        }
    }
}

struct NodeIter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (v, next) = entry_at(self.buf, self.front);
        self.front = next;
        Some(v)
    }
}

/// A node's elements: borrowed, or decompressed and owned.
enum Items<'a> {
    Borrowed(NodeIter<'a>),
    Owned(std::vec::IntoIter<Vec<u8>>),
}

impl<'a> Iterator for Items<'a> {
    type Item = Cow<'a, [u8]>;
    fn next(&mut self) -> Option<Cow<'a, [u8]>> {
        match self {
            Items::Borrowed(i) => i.next().map(Cow::Borrowed),
            Items::Owned(i) => i.next().map(Cow::Owned),
        }
    }
}

impl DoubleEndedIterator for Items<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Items::Borrowed(i) => i.next_back().map(Cow::Borrowed),
            Items::Owned(i) => i.next_back().map(Cow::Owned),
        }
    }
}

impl DoubleEndedIterator for NodeIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let at = entry_before(self.buf, self.back);
        self.back = at;
        Some(entry_at(self.buf, at).0)
    }
}

/// The most a node may hold: (bytes, entries).
fn node_limits(lim: &Limits) -> (usize, usize) {
    match lim.list_max_listpack_size {
        n if n < 0 => (4096usize << ((-n).min(5) - 1), usize::MAX),
        0 => (SAFETY_BYTES, 1),
        n => (SAFETY_BYTES, n as usize),
    }
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    /// A list of `items`, in order.
    pub fn from_items<I, B>(items: I, lim: &Limits) -> List
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        let mut l = List::new();
        for v in items {
            l.push_back(v.as_ref(), lim);
        }
        l
    }

    pub fn encoding(&self) -> &'static str {
        if self.bytes.is(QUICK) {
            "quicklist"
        } else {
            "listpack"
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes, in allocator size classes, in O(1).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.get() + alloc_class(self.nodes.capacity() * std::mem::size_of::<Node>())
    }

    /// Packed nodes (DEBUG, tests).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Elements front to back; `.rev()` walks back to front.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Cow<'_, [u8]>> + '_ {
        self.nodes.iter().flat_map(Node::items)
    }

    /// Elements from index `start` on, front to back.
    pub fn iter_from(&self, start: usize) -> impl Iterator<Item = Cow<'_, [u8]>> + '_ {
        let (node, i) = self.locate(start.min(self.len));
        self.nodes
            .iter()
            .skip(node)
            .enumerate()
            .flat_map(move |(k, n)| n.items().skip(if k == 0 { i } else { 0 }))
    }

    /// Runs `f` on `n` elements from index `start` on, front to back (LRANGE's walk),
    /// borrowing each from its node: nothing is copied, and a compressed node is
    /// decompressed once, into a scratch buffer.
    pub fn for_each_from(&self, start: usize, mut n: usize, mut f: impl FnMut(&[u8])) {
        let (mut k, skip) = self.locate(start.min(self.len));
        let mut scratch: Vec<u8>;
        let mut first = true;
        while n > 0 && k < self.nodes.len() {
            let node = &self.nodes[k];
            let buf: &[u8] = if node.is_compressed() {
                scratch = node.entries().into_owned();
                &scratch
            } else {
                &node.buf
            };
            let mut at = 0;
            if first {
                for _ in 0..skip {
                    at = entry_at(buf, at).1;
                }
                first = false;
            }
            while n > 0 && at < buf.len() {
                let (v, next) = entry_at(buf, at);
                f(v);
                at = next;
                n -= 1;
            }
            k += 1;
        }
    }

    /// The node holding element `index` (< len, or len for "past the end") and its index
    /// inside that node.
    fn locate(&self, index: usize) -> (usize, usize) {
        if index >= self.len {
            return (self.nodes.len(), 0);
        }
        if index * 2 <= self.len {
            let mut left = index;
            for (k, n) in self.nodes.iter().enumerate() {
                if left < n.count as usize {
                    return (k, left);
                }
                left -= n.count as usize;
            }
        } else {
            let mut right = self.len - 1 - index;
            for (k, n) in self.nodes.iter().enumerate().rev() {
                if right < n.count as usize {
                    return (k, n.count as usize - 1 - right);
                }
                right -= n.count as usize;
            }
        }
        unreachable!("index < len lies in some node")
    }

    /// Element `index` (0 = front).
    pub fn get(&self, index: usize) -> Option<Cow<'_, [u8]>> {
        if index >= self.len {
            return None;
        }
        let (k, i) = self.locate(index);
        let node = &self.nodes[k];
        if node.is_compressed() {
            return node.items().nth(i);
        }
        Some(Cow::Borrowed(entry_at(&node.buf, node.offset(i)).0))
    }

    /// Runs `f` on node `k`'s entries (decompressed first), keeping the byte count exact.
    fn edit<R>(&mut self, k: usize, f: impl FnOnce(&mut Node) -> R) -> R {
        let node = &mut self.nodes[k];
        let before = node.heap();
        if node.is_compressed() {
            node.decompress();
            self.bytes.set(LOOSE, true);
        }
        let r = f(node);
        self.bytes.change(before, node.heap());
        r
    }

    fn fits(node: &Node, extra: usize, lim: &Limits) -> bool {
        let (max_bytes, max_count) = node_limits(lim);
        (node.count as usize) < max_count && node.buf.len() + extra <= max_bytes
    }

    pub fn push_front(&mut self, v: &[u8], lim: &Limits) {
        let size = entry_size(v.len());
        if self.nodes.front().is_some_and(|n| List::fits(n, size, lim)) {
            let max = node_limits(lim).0;
            self.edit(0, |n| {
                let mut e = Vec::with_capacity(size);
                put_entry(&mut e, v);
                n.grow(size, max);
                n.buf.splice(0..0, e);
                n.count += 1;
            });
        } else {
            if !self.nodes.is_empty() {
                self.edit(0, Node::seal);
            }
            let n = Node::with(v);
            self.bytes.change(0, n.heap());
            self.nodes.push_front(n);
        }
        self.len += 1;
        self.settle(lim);
    }

    pub fn push_back(&mut self, v: &[u8], lim: &Limits) {
        let size = entry_size(v.len());
        if self.nodes.back().is_some_and(|n| List::fits(n, size, lim)) {
            let last = self.nodes.len() - 1;
            let max = node_limits(lim).0;
            self.edit(last, |n| {
                n.grow(size, max);
                put_entry(&mut n.buf, v);
                n.count += 1;
            });
        } else {
            if let Some(last) = self.nodes.len().checked_sub(1) {
                self.edit(last, Node::seal);
            }
            let n = Node::with(v);
            self.bytes.change(0, n.heap());
            self.nodes.push_back(n);
        }
        self.len += 1;
        self.settle(lim);
    }

    pub fn pop_front(&mut self, lim: &Limits) -> Option<Vec<u8>> {
        if self.nodes.front()?.is_compressed() {
            self.edit(0, |_| ());
        }
        let first = self.nodes.front()?;
        let (v, next) = entry_at(&first.buf, 0);
        let v = v.to_vec();
        if first.count == 1 {
            self.drop_node(0);
        } else {
            self.edit(0, |n| {
                n.buf.drain(..next);
                n.count -= 1;
                n.tighten();
            });
        }
        self.len -= 1;
        self.settle(lim);
        Some(v)
    }

    pub fn pop_back(&mut self, lim: &Limits) -> Option<Vec<u8>> {
        if self.nodes.back()?.is_compressed() {
            self.edit(self.nodes.len() - 1, |_| ());
        }
        let last = self.nodes.back()?;
        let at = entry_before(&last.buf, last.buf.len());
        let v = entry_at(&last.buf, at).0.to_vec();
        let k = self.nodes.len() - 1;
        if last.count == 1 {
            self.drop_node(k);
        } else {
            self.edit(k, |n| {
                n.buf.truncate(at);
                n.count -= 1;
                n.tighten();
            });
        }
        self.len -= 1;
        self.settle(lim);
        Some(v)
    }

    fn drop_node(&mut self, k: usize) {
        let n = self.nodes.remove(k).expect("node k exists");
        self.bytes.change(n.heap(), 0);
    }

    /// Replaces element `index`; false when out of range.
    pub fn set(&mut self, index: usize, v: &[u8], lim: &Limits) -> bool {
        if index >= self.len {
            return false;
        }
        let (k, i) = self.locate(index);
        self.edit(k, |n| {
            let at = n.offset(i);
            let end = entry_at(&n.buf, at).1;
            let mut e = Vec::with_capacity(entry_size(v.len()));
            put_entry(&mut e, v);
            n.buf.splice(at..end, e);
        });
        self.split_if_big(k, lim);
        self.settle(lim);
        true
    }

    /// Inserts `v` so that it becomes element `index` (index = len appends).
    pub fn insert(&mut self, index: usize, v: &[u8], lim: &Limits) {
        if index == 0 {
            return self.push_front(v, lim);
        }
        if index >= self.len {
            return self.push_back(v, lim);
        }
        let (k, i) = self.locate(index);
        self.edit(k, |n| {
            let at = n.offset(i);
            let mut e = Vec::with_capacity(entry_size(v.len()));
            put_entry(&mut e, v);
            n.buf.splice(at..at, e);
            n.count += 1;
        });
        self.len += 1;
        self.split_if_big(k, lim);
        self.settle(lim);
    }

    /// Splits node `k` in two while it holds more than a node may.
    fn split_if_big(&mut self, k: usize, lim: &Limits) {
        let (max_bytes, max_count) = node_limits(lim);
        self.edit(k, |_| ());
        let n = &self.nodes[k];
        if n.count < 2 || (n.buf.len() <= max_bytes && (n.count as usize) <= max_count) {
            return;
        }
        let half = n.count as usize / 2;
        let at = n.offset(half);
        let tail = Node {
            buf: n.buf[at..].to_vec(),
            count: n.count - half as u32,
            raw_len: 0,
        };
        self.bytes.set(LOOSE, true);
        self.edit(k, |n| {
            n.buf.truncate(at);
            n.count = half as u32;
            n.buf.shrink_to_fit();
        });
        self.bytes.change(0, tail.heap());
        self.nodes.insert(k + 1, tail);
        self.split_if_big(k + 1, lim);
        self.split_if_big(k, lim);
    }

    /// Keeps elements `start..=end` only (both < len, start <= end): LTRIM.
    pub fn retain_range(&mut self, start: usize, end: usize, lim: &Limits) {
        debug_assert!(start <= end && end < self.len);
        self.remove_front(start);
        self.remove_back(self.len - (end - start + 1));
        self.compact(lim);
        self.settle(lim);
    }

    /// Empties the list (LTRIM to nothing).
    pub fn clear(&mut self) {
        *self = List::new();
    }

    fn remove_front(&mut self, mut n: usize) {
        while n > 0 {
            self.edit(0, |_| ());
            let first = &self.nodes[0];
            if first.count as usize <= n {
                n -= first.count as usize;
                self.len -= first.count as usize;
                self.drop_node(0);
            } else {
                let at = first.offset(n);
                self.edit(0, |node| {
                    node.buf.drain(..at);
                    node.count -= n as u32;
                    node.tighten();
                });
                self.len -= n;
                n = 0;
            }
        }
    }

    fn remove_back(&mut self, mut n: usize) {
        while n > 0 {
            let k = self.nodes.len() - 1;
            self.edit(k, |_| ());
            let last = &self.nodes[k];
            if last.count as usize <= n {
                n -= last.count as usize;
                self.len -= last.count as usize;
                self.drop_node(k);
            } else {
                let at = last.offset(last.count as usize - n);
                self.edit(k, |node| {
                    node.buf.truncate(at);
                    node.count -= n as u32;
                    node.tighten();
                });
                self.len -= n;
                n = 0;
            }
        }
    }

    /// Removes elements equal to `v`: the first `count` from the front (count > 0), from
    /// the back (count < 0), or all (0). Returns how many went (LREM).
    pub fn remove_value(&mut self, v: &[u8], count: i64, lim: &Limits) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut removed = 0;
        let order: Vec<usize> = if count < 0 {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        for k in order {
            if removed == limit {
                break;
            }
            let node = &self.nodes[k];
            // Looked at in place (a compressed node decompressed once): a node without
            // `v` is left as it is, compressed or not.
            let raw = node.entries();
            let mut entries = NodeIter {
                buf: &raw,
                front: 0,
                back: raw.len(),
            };
            if !entries.any(|e| e == v) {
                continue;
            }
            self.edit(k, |_| ());
            let node = &self.nodes[k];
            // Entry offsets in this node, in the order they are judged.
            let mut spans: Vec<(usize, usize)> = Vec::new();
            let mut at = 0;
            while at < node.buf.len() {
                let (e, next) = entry_at(&node.buf, at);
                if e == v {
                    spans.push((at, next));
                }
                at = next;
            }
            if spans.is_empty() {
                continue;
            }
            if count < 0 {
                spans.reverse();
            }
            spans.truncate(limit - removed);
            spans.sort_unstable();
            removed += spans.len();
            let gone = spans.len() as u32;
            self.edit(k, |n| {
                let mut kept = Vec::with_capacity(n.buf.len());
                let mut from = 0;
                for (s, e) in &spans {
                    kept.extend_from_slice(&n.buf[from..*s]);
                    from = *e;
                }
                kept.extend_from_slice(&n.buf[from..]);
                n.buf = kept;
                n.count -= gone;
                n.tighten();
            });
        }
        self.len -= removed;
        if removed > 0 {
            self.compact(lim);
            self.settle(lim);
        }
        removed
    }

    /// Drops empty nodes and merges neighbours that fit one node together.
    fn compact(&mut self, lim: &Limits) {
        let (max_bytes, max_count) = node_limits(lim);
        let mut k = 0;
        while k < self.nodes.len() {
            if self.nodes[k].count == 0 {
                self.drop_node(k);
                continue;
            }
            if k + 1 < self.nodes.len() {
                self.edit(k, |_| ());
                self.edit(k + 1, |_| ());
                let (a, b) = (&self.nodes[k], &self.nodes[k + 1]);
                if a.buf.len() + b.buf.len() <= max_bytes
                    && (a.count + b.count) as usize <= max_count
                    && b.count > 0
                {
                    let b = self.nodes.remove(k + 1).expect("k + 1 exists");
                    self.bytes.change(b.heap(), 0);
                    self.edit(k, |a| {
                        a.buf.extend_from_slice(&b.buf);
                        a.count += b.count;
                        a.tighten();
                    });
                    continue;
                }
            }
            k += 1;
        }
    }

    /// Keeps every node but the `depth` at each end compressed (when that pays), the end
    /// ones not: the window near each end after a push or a pop, every node after a change
    /// in the middle.
    fn compress_interior(&mut self, depth: usize) {
        let n = self.nodes.len();
        if n == 0 {
            self.bytes.set(LOOSE, false);
            return;
        }
        let want = |i: usize| depth > 0 && i >= depth && i + depth < n;
        let fix = |list: &mut List, i: usize| {
            let node = &mut list.nodes[i];
            if want(i) == node.is_compressed() {
                return;
            }
            let before = node.heap();
            if want(i) {
                node.compress();
            } else {
                node.decompress();
            }
            list.bytes.change(before, node.heap());
        };
        if self.bytes.take(LOOSE) {
            for i in 0..n {
                fix(self, i);
            }
        } else {
            for i in (0..=depth.min(n.saturating_sub(1))).chain(n.saturating_sub(depth + 1)..n) {
                fix(self, i);
            }
        }
    }

    /// Updates the encoding Redis would report, and which nodes are compressed.
    fn settle(&mut self, lim: &Limits) {
        if lim.list_compress_depth > 0 {
            self.compress_interior(lim.list_compress_depth);
        } else {
            // Nodes compressed under an earlier depth stay so until changed.
            self.bytes.set(LOOSE, false);
        }
        if self.nodes.len() > 1 {
            self.bytes.set(QUICK, true);
        } else if self.bytes.is(QUICK) {
            let (max_bytes, max_count) = node_limits(lim);
            let small = self.nodes.front().is_none_or(|n| {
                n.buf.len() <= max_bytes / 2
                    && (max_count == usize::MAX || n.count as usize <= max_count / 2)
            });
            if small {
                self.bytes.set(QUICK, false);
            }
        }
        if self.nodes.capacity() > 16 && self.nodes.len() * 4 < self.nodes.capacity() {
            self.nodes.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn small() -> Limits {
        Limits {
            list_max_listpack_size: 4,
            ..Limits::default()
        }
    }

    #[test]
    fn a_sixteen_byte_element_costs_eighteen_bytes() {
        let lim = Limits::default();
        let mut l = List::new();
        for i in 0..100_000u32 {
            l.push_back(format!("{i:016}").as_bytes(), &lim);
        }
        let per = l.heap_bytes() as f64 / l.len() as f64;
        assert!(per < 18.5, "{per} bytes an element");
        assert_eq!(l.encoding(), "quicklist");
        assert_eq!(l.get(12345).as_deref(), Some(&b"0000000000012345"[..]));
    }

    #[test]
    fn interior_nodes_compress_and_come_back() {
        let lim = Limits {
            list_compress_depth: 1,
            ..Limits::default()
        };
        let mut l = List::new();
        for i in 0..20_000u32 {
            l.push_back(format!("item:{:08}", i % 1000).as_bytes(), &lim);
        }
        let plain = List::from_items(l.iter(), &Limits::default());
        assert!(
            l.heap_bytes() * 2 < plain.heap_bytes(),
            "{} vs {}",
            l.heap_bytes(),
            plain.heap_bytes()
        );
        assert_eq!(l, plain);
        assert!(!l.nodes[0].is_compressed() && !l.nodes[l.nodes.len() - 1].is_compressed());
        assert!(l.nodes[1].is_compressed());
        assert_eq!(l.get(10_001).as_deref(), Some(&b"item:00000001"[..]));
        // A change in the middle decompresses one node and compresses it again.
        l.set(10_001, b"changed", &lim);
        assert_eq!(l.get(10_001).as_deref(), Some(&b"changed"[..]));
        assert!(l.nodes.range(1..l.nodes.len() - 1).all(Node::is_compressed));
        let heap: usize = l.nodes.iter().map(Node::heap).sum();
        assert_eq!(heap, l.bytes.get());
    }

    #[test]
    fn encoding_follows_redis() {
        let lim = Limits::default();
        let mut l = List::new();
        l.push_back(b"a", &lim);
        assert_eq!(l.encoding(), "listpack");
        let big = vec![b'x'; 5000];
        l.push_back(&big, &lim);
        l.push_back(&big, &lim);
        assert_eq!(l.encoding(), "quicklist");
        l.pop_back(&lim);
        l.pop_back(&lim);
        assert_eq!(l.encoding(), "listpack");
    }

    #[derive(Debug, Clone)]
    enum Op {
        PushFront(Vec<u8>),
        PushBack(Vec<u8>),
        PopFront,
        PopBack,
        Set(usize, Vec<u8>),
        Insert(usize, Vec<u8>),
        Trim(usize, usize),
        Rem(Vec<u8>, i64),
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(b'a'..b'd', 0..3),
            prop::collection::vec(any::<u8>(), 0..300),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            value().prop_map(Op::PushFront),
            value().prop_map(Op::PushBack),
            Just(Op::PopFront),
            Just(Op::PopBack),
            (any::<usize>(), value()).prop_map(|(i, v)| Op::Set(i, v)),
            (any::<usize>(), value()).prop_map(|(i, v)| Op::Insert(i, v)),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Trim(a, b)),
            (value(), -3i64..3).prop_map(|(v, c)| Op::Rem(v, c)),
        ]
    }

    proptest! {
        #[test]
        fn behaves_as_a_deque(
            ops in prop::collection::vec(op(), 0..200),
            sized in any::<bool>(),
            depth in prop_oneof![Just(0usize), Just(1), Just(2)],
        ) {
            let mut lim = if sized { small() } else { Limits { list_max_listpack_size: -1, ..Limits::default() } };
            lim.list_compress_depth = depth;
            let mut l = List::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for op in ops {
                match op {
                    Op::PushFront(v) => { l.push_front(&v, &lim); m.push_front(v); }
                    Op::PushBack(v) => { l.push_back(&v, &lim); m.push_back(v); }
                    Op::PopFront => prop_assert_eq!(l.pop_front(&lim), m.pop_front()),
                    Op::PopBack => prop_assert_eq!(l.pop_back(&lim), m.pop_back()),
                    Op::Set(i, v) => {
                        let i = if m.is_empty() { i % 3 } else { i % (m.len() + 1) };
                        let ok = i < m.len();
                        prop_assert_eq!(l.set(i, &v, &lim), ok);
                        if ok { m[i] = v; }
                    }
                    Op::Insert(i, v) => {
                        let i = i % (m.len() + 1);
                        l.insert(i, &v, &lim);
                        m.insert(i, v);
                    }
                    Op::Trim(a, b) => {
                        if !m.is_empty() {
                            let a = a % m.len();
                            let b = a + b % (m.len() - a);
                            l.retain_range(a, b, &lim);
                            m = m.iter().skip(a).take(b - a + 1).cloned().collect();
                        }
                    }
                    Op::Rem(v, c) => {
                        let want = if c == 0 { usize::MAX } else { c.unsigned_abs() as usize };
                        let mut gone = 0;
                        if c >= 0 {
                            let mut out = VecDeque::new();
                            for x in m.drain(..) {
                                if x == v && gone < want { gone += 1 } else { out.push_back(x) }
                            }
                            m = out;
                        } else {
                            let mut out = VecDeque::new();
                            for x in m.drain(..).rev() {
                                if x == v && gone < want { gone += 1 } else { out.push_front(x) }
                            }
                            m = out;
                        }
                        prop_assert_eq!(l.remove_value(&v, c, &lim), gone);
                    }
                }
                prop_assert_eq!(l.len(), m.len());
                let fwd: Vec<Vec<u8>> = l.iter().map(Cow::into_owned).collect();
                let want: Vec<Vec<u8>> = m.iter().cloned().collect();
                prop_assert_eq!(&fwd, &want);
                let back: Vec<Vec<u8>> = l.iter().rev().map(Cow::into_owned).collect();
                let want_back: Vec<Vec<u8>> = m.iter().rev().cloned().collect();
                prop_assert_eq!(back, want_back);
                let heap: usize = l.nodes.iter().map(Node::heap).sum();
                prop_assert_eq!(heap, l.bytes.get());
                prop_assert!(l.nodes.iter().all(|n| n.count > 0));
                // Only nodes away from both ends are compressed, and only under a depth.
                let n = l.nodes.len();
                for (i, node) in l.nodes.iter().enumerate() {
                    prop_assert!(!node.is_compressed() || (depth > 0 && i >= depth && i + depth < n));
                }
            }
            for i in 0..m.len() {
                let got = l.get(i);
                prop_assert_eq!(got.as_deref(), Some(m[i].as_slice()));
                let from: Vec<Cow<[u8]>> = l.iter_from(i).collect();
                prop_assert_eq!(from.len(), m.len() - i);
                prop_assert_eq!(&*from[0], m[i].as_slice());
                let mut walked: Vec<Vec<u8>> = Vec::new();
                l.for_each_from(i, 5, |v| walked.push(v.to_vec()));
                let want: Vec<Vec<u8>> = m.iter().skip(i).take(5).cloned().collect();
                prop_assert_eq!(walked, want);
            }
        }
    }
}
