//! A listpack: byte strings packed one after another in one buffer, each behind its length
//! as a LEB128 varint (`len | bytes | len | bytes ...`).
//!
//! Redis's listpack also stores each entry's length after it (to walk backwards) and
//! integers in compact forms; Cairn's small hashes and sets only ever walk forwards and
//! keep integer sets in an [`super::intset`], so a length in front is all an entry needs.
//! Lookups are linear, which is what Redis does too: the thresholds keep these small
//! (128 entries of 64 bytes by default), where a scan of one contiguous buffer beats a
//! hash table.
//!
//! Positions are byte offsets into the buffer, valid until the next change.

use cairn_protocol::varint;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Listpack {
    buf: Vec<u8>,
    len: u32,
}

impl std::fmt::Debug for Listpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Reads the entry at `at`: its bytes and the offset of the next one.
fn entry(buf: &[u8], at: usize) -> (&[u8], usize) {
    let (len, n) = varint::decode(&buf[at..]).expect("listpack entries have whole lengths");
    let start = at + n;
    let end = start + len as usize;
    (&buf[start..end], end)
}

impl Listpack {
    pub fn new() -> Listpack {
        Listpack::default()
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of its buffer (its allocation, before the allocator's rounding).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The entries, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            at: 0,
        }
    }

    /// The entries with their offsets.
    pub fn positions(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= self.buf.len() {
                return None;
            }
            let here = at;
            let (item, next) = entry(&self.buf, at);
            at = next;
            Some((here, item))
        })
    }

    /// The entry at offset `at`, and the offset after it.
    pub fn get(&self, at: usize) -> (&[u8], usize) {
        entry(&self.buf, at)
    }

    /// The entry after the one at `at` (a hash's value after its field).
    pub fn next(&self, at: usize) -> usize {
        entry(&self.buf, at).1
    }

    /// Appends an entry. The buffer grows by exactly what it needs (the allocator rounds
    /// it to its size class), as Redis reallocates a listpack on every insert.
    pub fn push(&mut self, item: &[u8]) {
        let need = varint::len(item.len() as u64) + item.len();
        self.buf.reserve_exact(need);
        varint::push(&mut self.buf, item.len() as u64);
        self.buf.extend_from_slice(item);
        self.len += 1;
    }

    /// Inserts `items` before the entry at offset `at` (at the end when `at` is the
    /// buffer's length).
    pub fn insert(&mut self, at: usize, items: &[&[u8]]) {
        let mut encoded = Vec::with_capacity(items.iter().map(|i| i.len() + 2).sum());
        for item in items {
            varint::push(&mut encoded, item.len() as u64);
            encoded.extend_from_slice(item);
        }
        self.buf.reserve_exact(encoded.len());
        self.buf.splice(at..at, encoded);
        self.len += items.len() as u32;
    }

    /// The offset just past the last entry (where [`Listpack::insert`] appends).
    pub fn end(&self) -> usize {
        self.buf.len()
    }

    /// Removes `count` entries starting at offset `at`.
    pub fn remove(&mut self, at: usize, count: usize) {
        let mut end = at;
        for _ in 0..count {
            end = entry(&self.buf, end).1;
        }
        self.buf.drain(at..end);
        self.len -= count as u32;
        if self.buf.capacity() > 64 && self.buf.capacity() > 2 * self.buf.len() {
            self.buf.shrink_to_fit();
        }
    }

    /// Replaces the entry at offset `at` with `item`.
    pub fn replace(&mut self, at: usize, item: &[u8]) {
        let (old, end) = entry(&self.buf, at);
        if old.len() == item.len() {
            let start = end - old.len();
            self.buf[start..end].copy_from_slice(item);
            return;
        }
        let mut encoded = Vec::with_capacity(varint::len(item.len() as u64) + item.len());
        varint::push(&mut encoded, item.len() as u64);
        encoded.extend_from_slice(item);
        self.buf.splice(at..end, encoded);
    }

    /// The offset of the first entry equal to `item` among every `stride`-th entry from
    /// the first (1: a set's members; 2: a hash's fields).
    pub fn find(&self, item: &[u8], stride: usize) -> Option<usize> {
        let mut at = 0;
        while at < self.buf.len() {
            let (e, mut next) = entry(&self.buf, at);
            if e == item {
                return Some(at);
            }
            for _ in 1..stride {
                next = entry(&self.buf, next).1;
            }
            at = next;
        }
        None
    }

    /// The entry at index `i` (O(i)).
    pub fn nth(&self, i: usize) -> Option<&[u8]> {
        self.iter().nth(i)
    }

    /// The offset of the entry at index `i` (O(i)).
    pub fn offset_of(&self, i: usize) -> Option<usize> {
        self.positions().nth(i).map(|(at, _)| at)
    }
}

pub struct Iter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.buf.len() {
            return None;
        }
        let (item, next) = entry(self.buf, self.at);
        self.at = next;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_find_replace_remove() {
        let mut lp = Listpack::new();
        for w in [&b"a"[..], b"", b"field", &[7u8; 300]] {
            lp.push(w);
        }
        assert_eq!(lp.len(), 4);
        let items: Vec<&[u8]> = lp.iter().collect();
        assert_eq!(items[3].len(), 300);
        let at = lp.find(b"field", 1).unwrap();
        lp.replace(at, b"longer field");
        assert_eq!(lp.get(at).0, b"longer field");
        lp.replace(at, b"f");
        assert_eq!(lp.nth(2), Some(&b"f"[..]));
        let at = lp.find(b"", 1).unwrap();
        lp.remove(at, 2);
        assert_eq!(lp.iter().collect::<Vec<_>>(), vec![&b"a"[..], &[7u8; 300]]);
        // Every other entry: fields of a hash.
        let mut h = Listpack::new();
        for w in ["f1", "v1", "v1", "x", "f2", "v2"] {
            h.push(w.as_bytes());
        }
        assert_eq!(h.find(b"v1", 2), h.offset_of(2));
        assert_eq!(h.find(b"f2", 2), h.offset_of(4));
        assert_eq!(h.find(b"x", 2), None);
    }
}
