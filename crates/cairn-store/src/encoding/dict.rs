//! The table form of a big collection: its elements, each one allocation, in hash
//! tables split by hash into a power-of-two number of segments.
//!
//! Why segments: SSCAN and HSCAN promise every element present for the whole iteration
//! at least once, across any growth, and a cursor that is a few bytes. Redis gets that from
//! chained buckets and a cursor that counts in reversed bits. Here each *segment* plays a
//! bucket: an element lives in segment `(hash >> 32) & (segments - 1)`, a scan step returns
//! whole segments, the segment count doubles (each splits in two by the next hash bit) or
//! halves (pairs merge) as the collection grows and shrinks, and the cursor walks the
//! segment numbers in reversed-bit order, which visits every segment's descendants and
//! ancestors exactly as Redis's dictScan does. Inside a segment, a `hashbrown` table.
//!
//! Doubling does not split every segment at once (at a million elements that moved half
//! of them in one write): the segment count doubles at once, but each segment splits
//! later, two per write, in order, while a segment not yet split keeps serving both of
//! its halves (linear hashing's split pointer; Redis rehashes incrementally likewise).
//!
//! An element is a byte string behind a one-word pointer (`thin.rs`: its length lives in
//! its allocation); the collection says which part of it is the key
//! (a set's member is all of it; a hash keeps `field len | field | value` and keys on the
//! field). Its heap size is kept as elements come and go, so MEMORY USAGE and maxmemory
//! read it in O(1).

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use crate::alloc::alloc_class;
use crate::encoding::thin::Thin;

/// Elements per segment, on average, above which segments split (and below a sixteenth
/// of which they merge).
const SPLIT_AT: usize = 128;

/// Which part of an element is its key.
pub type KeyOf = fn(&[u8]) -> &[u8];

#[derive(Clone)]
pub struct Dict {
    segs: Vec<HashTable<Thin>>,
    hasher: RandomState,
    key_of: KeyOf,
    len: usize,
    /// The elements' allocations, in allocator size classes.
    elem_bytes: usize,
    /// The segments' tables' allocations, kept up to date as they change: a write asks
    /// for the size before and after, and summing hundreds of segments each time cost
    /// more than the write.
    table_bytes: usize,
    /// While a doubling is under way, the segment count before it (0 otherwise): segment
    /// `lo < half` not yet split holds the elements of `lo + half` too.
    half: usize,
    /// The segments below this one (of the lower half) have split.
    next: usize,
}

/// Segments split per write while a doubling is under way: the doubling ends long before
/// the next one is due.
const SPLITS_PER_WRITE: usize = 2;

impl std::fmt::Debug for Dict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dict")
            .field("len", &self.len)
            .field("segments", &self.segs.len())
            .finish()
    }
}

/// The hash bits that choose a segment (see [`Dict::seg_of`]).
fn seg_bits(hash: u64) -> usize {
    (hash >> 32) as usize
}

impl Dict {
    pub fn new(key_of: KeyOf) -> Dict {
        Dict {
            segs: vec![HashTable::new()],
            hasher: RandomState::default(),
            key_of,
            len: 0,
            elem_bytes: 0,
            table_bytes: 0,
            half: 0,
            next: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes: the segments' tables and the elements.
    pub fn heap_bytes(&self) -> usize {
        alloc_class(self.segs.capacity() * std::mem::size_of::<HashTable<Thin>>())
            + self.table_bytes
            + self.elem_bytes
    }

    /// Sums the segments' tables again (after a split or merge changed them all).
    fn recount_tables(&mut self) {
        self.table_bytes = self.segs.iter().map(HashTable::allocation_size).sum();
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// A segment is picked by bits 32 and up of the hash: hashbrown places by the low bits
    /// and tags by the top 7, and elements sharing their placing bits in one segment would
    /// pile into a fraction of its buckets (long probes, a key comparison on most).
    fn seg_of(&self, hash: u64) -> usize {
        self.serving(seg_bits(hash) & (self.segs.len() - 1))
    }

    /// The segment that holds what belongs in segment `j`: its lower half's while that
    /// one has not split yet.
    fn serving(&self, j: usize) -> usize {
        if self.half != 0 {
            let lo = j & (self.half - 1);
            if lo >= self.next {
                return lo;
            }
        }
        j
    }

    /// The element whose key is `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let h = self.hash(key);
        let k = self.key_of;
        self.segs[self.seg_of(h)]
            .find(h, |e| k(e.bytes()) == key)
            .map(Thin::bytes)
    }

    /// The element whose key is `key`, as the allocation it lives in (see
    /// [`Thin::as_raw`]: a sorted set's order points at its members this way).
    pub fn get_elem(&self, key: &[u8]) -> Option<&Thin> {
        let h = self.hash(key);
        let k = self.key_of;
        self.segs[self.seg_of(h)].find(h, |e| k(e.bytes()) == key)
    }

    /// Inserts the element made of `parts` (concatenated), replacing the element with the
    /// same key; true if there was none.
    pub fn insert(&mut self, parts: &[&[u8]]) -> bool {
        let k = self.key_of;
        let elem = Thin::new(parts);
        let h = self.hash(k(elem.bytes()));
        let seg = self.seg_of(h);
        self.elem_bytes += alloc_class(elem.allocated());
        let hasher = self.hasher.clone();
        let table = &mut self.segs[seg];
        let before = table.allocation_size();
        let old = match table.find_mut(h, |e| k(e.bytes()) == k(elem.bytes())) {
            Some(slot) => Some(std::mem::replace(slot, elem)),
            None => {
                table.insert_unique(h, elem, |e| hasher.hash_one(k(e.bytes())));
                self.len += 1;
                None
            }
        };
        self.table_bytes = self.table_bytes + table.allocation_size() - before;
        if let Some(o) = &old {
            self.elem_bytes -= alloc_class(o.allocated());
        } else if self.half == 0 && self.len > self.segs.len() * SPLIT_AT {
            self.start_doubling();
        }
        self.split_some();
        old.is_none()
    }

    /// Removes the element whose key is `key`; true if there was one.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        let h = self.hash(key);
        let seg = self.seg_of(h);
        let k = self.key_of;
        let before = self.segs[seg].allocation_size();
        let Ok(e) = self.segs[seg].find_entry(h, |e| k(e.bytes()) == key) else {
            return false;
        };
        let (elem, _) = e.remove();
        self.len -= 1;
        self.elem_bytes -= alloc_class(elem.allocated());
        if self.half != 0 {
            self.split_some();
        } else if self.segs.len() > 1 && self.len < self.segs.len() * SPLIT_AT / 16 {
            self.merge();
        } else if self.segs[seg].capacity() > 64
            && self.segs[seg].len() * 4 < self.segs[seg].capacity()
        {
            let hasher = self.hasher.clone();
            self.segs[seg].shrink_to_fit(|e| hasher.hash_one(k(e.bytes())));
            self.table_bytes = self.table_bytes + self.segs[seg].allocation_size() - before;
        }
        true
    }

    /// The segment count doubles; the segments split afterwards ([`Dict::split_some`]).
    fn start_doubling(&mut self) {
        let n = self.segs.len();
        self.segs.resize_with(2 * n, HashTable::new);
        self.half = n;
        self.next = 0;
    }

    /// While a doubling is under way, splits the next few segments of the lower half by
    /// the next hash bit.
    fn split_some(&mut self) {
        for _ in 0..SPLITS_PER_WRITE {
            if self.half == 0 {
                return;
            }
            let (lo, n) = (self.next, self.half);
            let k = self.key_of;
            let hasher = self.hasher.clone();
            let (low, high) = self.segs.split_at_mut(n);
            let (low, high) = (&mut low[lo], &mut high[lo]);
            let before = low.allocation_size() + high.allocation_size();
            for e in low.extract_if(|e| seg_bits(hasher.hash_one(k(e.bytes()))) & n != 0) {
                high.insert_unique(hasher.hash_one(k(e.bytes())), e, |e| {
                    hasher.hash_one(k(e.bytes()))
                });
            }
            low.shrink_to_fit(|e| hasher.hash_one(k(e.bytes())));
            self.table_bytes =
                self.table_bytes + low.allocation_size() + high.allocation_size() - before;
            self.next += 1;
            if self.next == n {
                self.half = 0;
                self.next = 0;
            }
        }
    }

    /// Segment `i + n/2` pours into segment `i`.
    fn merge(&mut self) {
        let half = self.segs.len() / 2;
        let k = self.key_of;
        let hasher = self.hasher.clone();
        let uppers = self.segs.split_off(half);
        for (i, high) in uppers.into_iter().enumerate() {
            let low = &mut self.segs[i];
            low.reserve(high.len(), |e| hasher.hash_one(k(e.bytes())));
            for e in high {
                low.insert_unique(hasher.hash_one(k(e.bytes())), e, |e| {
                    hasher.hash_one(k(e.bytes()))
                });
            }
        }
        self.segs.shrink_to_fit();
        self.recount_tables();
    }

    /// Every element, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.segs.iter().flat_map(|s| s.iter().map(Thin::bytes))
    }

    /// One SCAN step from `cursor`: hands `f` the elements of whole segments until at
    /// least `count` were handed (or the walk ends); returns the next cursor, 0 at the end.
    pub fn scan<'s>(&'s self, cursor: u64, count: usize, mut f: impl FnMut(&'s [u8])) -> u64 {
        let mask = (self.segs.len() - 1) as u64;
        let mut cursor = cursor;
        let mut handed = 0;
        loop {
            let j = (cursor & mask) as usize;
            // A segment not yet split answers for both halves where the lower half comes
            // (the reversed-bit walk reaches it first) and for nothing at the upper.
            if self.serving(j) == j {
                for e in self.segs[j].iter() {
                    f(e.bytes());
                    handed += 1;
                }
            }
            // Redis's reversed-bit increment over the masked bits.
            cursor |= !mask;
            cursor = cursor.reverse_bits().wrapping_add(1).reverse_bits();
            if cursor == 0 || handed >= count {
                return cursor;
            }
        }
    }

    /// A random element: a random segment holding some, then a random bucket of it
    /// walked forward to the next element. Not exactly uniform (neither is Redis's).
    pub fn random(&self, rng: &mut fastrand::Rng) -> Option<&[u8]> {
        if self.len == 0 {
            return None;
        }
        let seg = loop {
            let s = &self.segs[rng.usize(..self.segs.len())];
            if !s.is_empty() {
                break s;
            }
        };
        let buckets = seg.num_buckets();
        let start = rng.usize(..buckets);
        (0..buckets)
            .map(|i| (start + i) % buckets)
            .find_map(|i| seg.get_bucket(i))
            .map(Thin::bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(e: &[u8]) -> &[u8] {
        e
    }

    fn elem(i: u32) -> Box<[u8]> {
        format!("member:{i}").into_bytes().into_boxed_slice()
    }

    #[test]
    fn grows_shrinks_and_keeps_its_size_exact() {
        let mut d = Dict::new(whole);
        for i in 0..10_000 {
            assert!(d.insert(&[&elem(i)]));
        }
        assert!(!d.insert(&[&elem(7)]));
        assert_eq!(d.len(), 10_000);
        assert!(d.segs.len() >= 64);
        assert!(d.get(b"member:9999").is_some() && d.get(b"member:10000").is_none());
        let expected: usize = d
            .iter()
            .map(|e| alloc_class(cairn_protocol::varint::len(e.len() as u64) + e.len()))
            .sum();
        assert_eq!(d.elem_bytes, expected);
        let tables = |d: &Dict| d.segs.iter().map(HashTable::allocation_size).sum::<usize>();
        assert_eq!(d.table_bytes, tables(&d));
        for i in 0..9_990 {
            assert!(d.remove(format!("member:{i}").as_bytes()));
        }
        assert_eq!(d.len(), 10);
        assert_eq!(d.table_bytes, tables(&d));
        assert!(d.segs.len() <= 2, "{} segments", d.segs.len());
        let mut rest: Vec<_> = d.iter().map(|e| e.to_vec()).collect();
        rest.sort();
        assert_eq!(rest.len(), 10);
    }

    #[test]
    fn a_scan_returns_every_element_present_throughout_across_growth_and_shrinking() {
        let mut d = Dict::new(whole);
        for i in 0..2_000 {
            d.insert(&[&elem(i)]);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut step = 0u32;
        loop {
            cursor = d.scan(cursor, 50, |e| {
                seen.insert(e.to_vec());
            });
            // Meanwhile the set grows a lot, then shrinks; members 0..1000 stay.
            step += 1;
            if step < 20 {
                for i in 0..2_000 {
                    d.insert(&[&elem(100_000 + step * 2_000 + i)]);
                }
            } else if step < 40 {
                for i in 0..2_000 {
                    d.remove(&elem(100_000 + (step - 19) * 2_000 + i));
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1_000 {
            assert!(
                seen.contains(&elem(i).to_vec()),
                "member {i} was never returned"
            );
        }
    }

    #[test]
    fn a_doubling_splits_a_few_segments_per_write() {
        let mut d = Dict::new(whole);
        let mut i = 0;
        while d.half == 0 || d.segs.len() < 64 {
            d.insert(&[&elem(i)]);
            i += 1;
        }
        // Mid-doubling: most segments not split yet, every element still found, the sizes
        // still exact.
        assert!(d.next < d.half, "{} of {}", d.next, d.half);
        for j in 0..i {
            assert!(d.get(&elem(j)).is_some(), "member {j} lost mid-doubling");
        }
        let tables = |d: &Dict| d.segs.iter().map(HashTable::allocation_size).sum::<usize>();
        assert_eq!(d.table_bytes, tables(&d));
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = d.scan(cursor, 10, |e| {
                seen.insert(e.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(
            seen.len(),
            i as usize,
            "a scan mid-doubling returns each element"
        );
        // A few writes later the doubling is over.
        let n = d.half;
        for j in 0..n as u32 {
            d.insert(&[&elem(1_000_000 + j)]);
        }
        assert_eq!(d.half, 0);
        assert_eq!(d.table_bytes, tables(&d));
        for j in 0..i {
            assert!(d.get(&elem(j)).is_some());
        }
    }

    #[test]
    fn random_elements_come_from_the_set() {
        let mut d = Dict::new(whole);
        let mut rng = fastrand::Rng::with_seed(1);
        assert!(d.random(&mut rng).is_none());
        for i in 0..300 {
            d.insert(&[&elem(i)]);
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5_000 {
            let e = d.random(&mut rng).unwrap().to_vec();
            assert!(d.get(&e).is_some());
            seen.insert(e);
        }
        assert!(seen.len() > 250, "{} distinct", seen.len());
    }
}
