//! The hash table of one slot: open addressing with linear probing over 8-byte entry
//! pointers that carry a byte of the key's hash.
//!
//! Why not hashbrown: its tables have a power-of-two number of buckets and fill to 7/8,
//! so a table just past a power of two sits half empty, and every bucket costs 9 bytes.
//! With 1M keys over 16384 slot tables most tables land at ~48% load, which alone costs
//! ~21 bytes a key (issue 3 allows 84 in total, and the entry block takes 64). Here the
//! bucket count is any jemalloc size class divided by 8 (64, 80, 96, 112, 128, 160, ...),
//! so growth steps by 25% at most and the load stays between 0.6 and 0.8: about 11 bytes
//! a key.
//!
//! Each bucket is an `Option<Entry>`, 8 bytes. The top byte of an entry's pointer holds
//! the top byte of its key's hash (see `entry.rs`), so a probe compares keys only when that
//! byte matches and a miss rarely reads a block. Positions come from the hash by
//! multiply-shift (any bucket count works). Deletion shifts later entries of the run back
//! (no tombstones), so probe runs stay short under churn.

use crate::alloc::alloc_class;
use crate::entry::Entry;

/// Fill above which the table grows.
const MAX_LOAD_NUM: usize = 4;
const MAX_LOAD_DEN: usize = 5;
const MIN_BUCKETS: usize = 8;

#[derive(Default)]
pub struct Table {
    entries: Box<[Option<Entry>]>,
    len: u32,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("len", &self.len)
            .field("buckets", &self.entries.len())
            .finish()
    }
}

fn tag_of(hash: u64) -> u8 {
    (hash >> 56) as u8
}

/// The smallest bucket count above `n` whose entry array is exactly a size class.
fn buckets_for(n: usize) -> usize {
    let mut buckets = (n * MAX_LOAD_DEN).div_ceil(MAX_LOAD_NUM).max(MIN_BUCKETS);
    buckets = alloc_class(buckets * 8) / 8;
    buckets
}

impl Table {
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn num_buckets(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of the table's two arrays, as the allocator rounds them.
    pub fn allocation_size(&self) -> usize {
        if self.entries.is_empty() {
            return 0;
        }
        alloc_class(self.entries.len() * 8)
    }

    fn home(&self, hash: u64) -> usize {
        ((hash as u128 * self.entries.len() as u128) >> 64) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.entries.len() {
            0
        } else {
            i + 1
        }
    }

    /// The bucket holding `key`, if any.
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let tag = tag_of(hash);
        let mut i = self.home(hash);
        loop {
            match &self.entries[i] {
                None => return None,
                Some(e) if e.tag() == tag && e.key() == key => return Some(i),
                Some(_) => {}
            }
            i = self.next(i);
        }
    }

    pub fn get(&self, i: usize) -> &Entry {
        self.entries[i].as_ref().expect("occupied bucket")
    }

    pub fn get_mut(&mut self, i: usize) -> &mut Entry {
        self.entries[i].as_mut().expect("occupied bucket")
    }

    /// The entry in bucket `i`, if the bucket is occupied (random sampling).
    pub fn bucket(&self, i: usize) -> Option<&Entry> {
        self.entries.get(i)?.as_ref()
    }

    /// Inserts an entry whose key is not in the table. Returns its bucket.
    pub fn insert_new(&mut self, hash: u64, entry: Entry, rehash: impl Fn(&Entry) -> u64) -> usize {
        if (self.len() + 1) * MAX_LOAD_DEN > self.entries.len() * MAX_LOAD_NUM {
            self.grow(rehash);
        }
        let i = self.place(hash, entry);
        self.len += 1;
        i
    }

    fn place(&mut self, hash: u64, mut entry: Entry) -> usize {
        let mut i = self.home(hash);
        while self.entries[i].is_some() {
            i = self.next(i);
        }
        entry.set_tag(tag_of(hash));
        self.entries[i] = Some(entry);
        i
    }

    fn grow(&mut self, rehash: impl Fn(&Entry) -> u64) {
        self.rebuild(buckets_for(self.len() + 1), rehash);
    }

    fn rebuild(&mut self, buckets: usize, rehash: impl Fn(&Entry) -> u64) {
        let old = std::mem::replace(
            &mut self.entries,
            std::iter::repeat_with(|| None).take(buckets).collect(),
        );
        for e in old.into_vec().into_iter().flatten() {
            let h = rehash(&e);
            self.place(h, e);
        }
    }

    /// Removes the entry in bucket `i` and closes the gap: later entries of the same run
    /// that may live here move back, so every entry stays reachable from its home bucket
    /// without tombstones.
    pub fn remove_at(&mut self, i: usize, rehash: impl Fn(&Entry) -> u64) -> Entry {
        let removed = self.take_at(i, &rehash);
        self.shrink_if_sparse(rehash);
        removed
    }

    /// Gives memory back once a table is mostly empty (below 1/5 full), and all of it when
    /// the last key goes: under churn a slot's table would otherwise keep its peak size
    /// forever, and that memory counts against maxmemory.
    fn shrink_if_sparse(&mut self, rehash: impl Fn(&Entry) -> u64) {
        let buckets = self.entries.len();
        if self.len == 0 {
            self.entries = Box::default();
        } else if buckets > MIN_BUCKETS && self.len() * 5 < buckets {
            let target = buckets_for(self.len());
            if target < buckets {
                self.rebuild(target, rehash);
            }
        }
    }

    fn take_at(&mut self, i: usize, rehash: impl Fn(&Entry) -> u64) -> Entry {
        let removed = self.entries[i].take().expect("occupied bucket");
        self.len -= 1;
        let mut hole = i;
        let mut j = self.next(i);
        while self.entries[j].is_some() {
            let home = self.home(rehash(self.get(j)));
            // The entry at j may move into the hole unless its home lies cyclically in
            // (hole, j]: then the hole is before its home and it must stay.
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.entries[hole] = self.entries[j].take();
                hole = j;
            }
            j = self.next(j);
        }
        removed
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().flatten()
    }

    /// Occupied buckets with their index.
    pub fn occupied(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i, e)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.entries.iter_mut().flatten()
    }

    /// Removes every entry for which `pred` holds and hands it to `out`.
    pub fn extract(
        &mut self,
        mut pred: impl FnMut(&Entry) -> bool,
        rehash: impl Fn(&Entry) -> u64,
        mut out: impl FnMut(Entry),
    ) {
        // Removing at i may pull a later entry into i, so i is looked at again; entries only
        // move back into the hole being closed, never past the scan position, except across
        // the wrap-around into buckets already visited (they are simply seen twice).
        let mut i = 0;
        let mut steps = 0;
        let limit = self.entries.len() * 2;
        while i < self.entries.len() && steps < limit {
            steps += 1;
            if self.entries[i].as_ref().is_some_and(&mut pred) {
                out(self.take_at(i, &rehash));
            } else {
                i += 1;
            }
        }
        self.shrink_if_sparse(rehash);
    }

    /// Takes every entry out (FLUSHDB), leaving the table empty and unallocated.
    pub fn take(&mut self) -> Table {
        std::mem::take(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Meta, Src};
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn h(key: &[u8]) -> u64 {
        // Deliberately weak so runs form and collide: exercises probing and shifting.
        let mut x = 0u64;
        for &b in key {
            x = x.wrapping_mul(31).wrapping_add(b as u64);
        }
        x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & 0xFFFF_0000_0000_00FF
    }

    fn entry(key: &[u8]) -> Entry {
        Entry::build(key, Src::Bytes(b"v"), 0, Meta::default())
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in prop::collection::vec((0u8..3, 0u16..300), 1..2000)) {
            let mut t = Table::default();
            let mut model: HashMap<Vec<u8>, ()> = HashMap::new();
            let rehash = |e: &Entry| h(e.key());
            for (op, k) in ops {
                let key = format!("k{k}").into_bytes();
                let found = t.find(h(&key), &key);
                prop_assert_eq!(found.is_some(), model.contains_key(&key));
                match op {
                    0 | 1 => {
                        if found.is_none() {
                            t.insert_new(h(&key), entry(&key), rehash);
                            model.insert(key, ());
                        }
                    }
                    _ => {
                        if let Some(i) = found {
                            let e = t.remove_at(i, rehash);
                            prop_assert_eq!(e.key(), &key[..]);
                            model.remove(&key);
                        }
                    }
                }
                prop_assert_eq!(t.len(), model.len());
            }
            for k in model.keys() {
                prop_assert!(t.find(h(k), k).is_some());
            }
            prop_assert_eq!(t.iter().count(), model.len());
            let mut odd = Vec::new();
            t.extract(|e| e.key().last().is_some_and(|b| b % 2 == 1), rehash, |e| odd.push(e));
            for e in &odd {
                prop_assert!(t.find(h(e.key()), e.key()).is_none());
            }
            prop_assert_eq!(t.len() + odd.len(), model.len());
            for k in model.keys() {
                let gone = k.last().is_some_and(|b| b % 2 == 1);
                prop_assert_eq!(t.find(h(k), k).is_none(), gone);
            }
        }
    }

    #[test]
    fn tables_shrink_when_sparse_and_free_when_empty() {
        let mut t = Table::default();
        let rehash = |e: &Entry| h(e.key());
        let keys: Vec<Vec<u8>> = (0..1000).map(|i| format!("k{i}").into_bytes()).collect();
        for k in &keys {
            t.insert_new(h(k), entry(k), rehash);
        }
        let full = t.allocation_size();
        for k in &keys[..990] {
            let i = t.find(h(k), k).expect("present");
            t.remove_at(i, rehash);
        }
        assert!(
            t.allocation_size() * 10 < full,
            "{} of {full}",
            t.allocation_size()
        );
        for k in &keys[990..] {
            assert!(t.find(h(k), k).is_some());
        }
        t.extract(|_| true, rehash, drop);
        assert_eq!(t.allocation_size(), 0);
        assert!(t.is_empty());
    }

    #[test]
    fn bucket_counts_are_size_classes_and_load_stays_high() {
        let mut t = Table::default();
        let rehash = |e: &Entry| h(e.key());
        for i in 0..61 {
            let key = format!("key:{i:012}").into_bytes();
            t.insert_new(h(&key), entry(&key), rehash);
        }
        // 61 keys: 80 buckets (640 bytes), not hashbrown's 128.
        assert_eq!(t.num_buckets(), 80);
        assert_eq!(t.allocation_size(), 640);
    }
}
