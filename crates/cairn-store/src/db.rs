//! One database's share of a shard: a hash table per hash slot the shard owns.
//!
//! Every lookup applies lazy expiry: a key whose TTL has passed is removed on the spot and
//! reported as absent, so no command ever sees it. The active sweep
//! ([`Db::sweep_expired`]) removes the ones nobody asks for.

use foldhash::fast::RandomState;
use hashbrown::hash_table::{Entry as TableEntry, HashTable};
use std::hash::BuildHasher;

use crate::entry::Entry;
use crate::value::Value;

/// The current time, read once per command so that one command sees one instant.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Unix time in milliseconds (expiry).
    pub ms: u64,
    /// Seconds on the LRU clock (idle time).
    pub s: u32,
}

impl Now {
    pub fn from_unix_ms(ms: u64) -> Now {
        Now {
            ms,
            s: (ms / 1000) as u32,
        }
    }

    /// The wall clock now.
    pub fn wall() -> Now {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Now::from_unix_ms(ms)
    }
}

/// What a write does to the key's TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireChange {
    /// Keep the TTL the key had (SET KEEPTTL, INCR, APPEND).
    Keep,
    /// Remove any TTL (a plain SET).
    Clear,
    /// Expire at this Unix time in milliseconds.
    At(u64),
}

/// Keys of one hash slot.
#[derive(Default, Debug)]
struct SlotTable {
    table: HashTable<Entry>,
    /// How many of them carry a TTL; the sweep skips tables where this is 0.
    volatile: u32,
}

/// Counters kept under the shard lock, summed by [`crate::Keyspace::stats`].
#[derive(Default, Debug, Clone, Copy)]
pub struct DbStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

/// Everything FLUSHDB took out of a database, to be dropped off the request path.
#[derive(Debug, Default)]
pub struct Flushed(#[allow(dead_code)] Vec<SlotTable>);

/// One database's keys within one shard.
#[derive(Debug)]
pub struct Db {
    /// Allocated on first insert: an empty database costs nothing per slot.
    slots: Vec<SlotTable>,
    /// How many slots this shard owns (16384 / shards).
    slots_per_shard: usize,
    /// log2 of the number of shards: a slot's index here is `slot >> shard_bits`.
    shard_bits: u32,
    hasher: RandomState,
    keys: usize,
    volatile: usize,
    pub stats: DbStats,
}

impl Db {
    pub(crate) fn new(shard_bits: u32, hasher: RandomState) -> Db {
        Db {
            slots: Vec::new(),
            slots_per_shard: crate::SLOTS >> shard_bits,
            shard_bits,
            hasher,
            keys: 0,
            volatile: 0,
            stats: DbStats::default(),
        }
    }

    /// Keys held (including expired ones not yet removed, as Redis's DBSIZE counts).
    pub fn len(&self) -> usize {
        self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    /// Keys that carry a TTL.
    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    fn local(&self, slot: u16) -> usize {
        (slot as usize) >> self.shard_bits
    }

    fn slot_table(&mut self, slot: u16) -> &mut SlotTable {
        if self.slots.is_empty() {
            self.slots
                .resize_with(self.slots_per_shard, SlotTable::default);
        }
        let local = self.local(slot);
        &mut self.slots[local]
    }

    fn existing_table(&mut self, slot: u16) -> Option<&mut SlotTable> {
        let local = self.local(slot);
        self.slots.get_mut(local)
    }

    /// The live entry for `key`, removing it first if it has expired, plus the counters
    /// (borrowed apart from the entry so callers can count hits while holding it).
    fn lookup(&mut self, slot: u16, key: &[u8], now: Now) -> (Option<&mut Entry>, &mut DbStats) {
        let hash = self.hasher.hash_one(key);
        let local = self.local(slot);
        let Db {
            slots,
            stats,
            keys,
            volatile,
            ..
        } = self;
        let Some(st) = slots.get_mut(local) else {
            return (None, stats);
        };
        match st.table.find_entry(hash, |e| e.key() == key) {
            Ok(occ) if occ.get().is_expired(now.ms) => {
                occ.remove();
                st.volatile -= 1;
                *volatile -= 1;
                *keys -= 1;
                stats.expired += 1;
                (None, stats)
            }
            Ok(occ) => (Some(occ.into_mut()), stats),
            Err(_) => (None, stats),
        }
    }

    /// The live entry for `key`. No stats, no touch.
    fn live(&mut self, slot: u16, key: &[u8], now: Now) -> Option<&mut Entry> {
        self.lookup(slot, key, now).0
    }

    /// Looks a key up for a read command: counts a keyspace hit or miss and records the
    /// access (Redis's `lookupKeyRead`).
    pub fn read(&mut self, slot: u16, key: &[u8], now: Now) -> Option<&mut Entry> {
        match self.lookup(slot, key, now) {
            (Some(e), stats) => {
                stats.hits += 1;
                e.touch(now.s);
                Some(e)
            }
            (None, stats) => {
                stats.misses += 1;
                None
            }
        }
    }

    /// Looks a key up for a write command: records the access, counts nothing.
    pub fn write(&mut self, slot: u16, key: &[u8], now: Now) -> Option<&mut Entry> {
        let e = self.live(slot, key, now)?;
        e.touch(now.s);
        Some(e)
    }

    /// Looks a key up without touching it or counting (TTL, TYPE, OBJECT, EXISTS-like
    /// checks inside other commands).
    pub fn peek(&mut self, slot: u16, key: &[u8], now: Now) -> Option<&Entry> {
        self.live(slot, key, now).map(|e| &*e)
    }

    pub fn contains(&mut self, slot: u16, key: &[u8], now: Now) -> bool {
        self.live(slot, key, now).is_some()
    }

    /// Writes `value` under `key` with one hash probe. Returns the previous value when the
    /// key existed (and had not expired).
    pub fn set(
        &mut self,
        slot: u16,
        key: &[u8],
        value: Value,
        expire: ExpireChange,
        now: Now,
    ) -> Option<Value> {
        let hasher = self.hasher.clone();
        let hash = hasher.hash_one(key);
        let new_ttl = match expire {
            ExpireChange::At(t) => t,
            _ => 0,
        };
        let st = self.slot_table(slot);
        let (old, was_volatile, is_volatile, fresh) =
            match st
                .table
                .entry(hash, |e| e.key() == key, |e| hasher.hash_one(e.key()))
            {
                TableEntry::Occupied(mut occ) => {
                    let e = occ.get_mut();
                    let expired = e.is_expired(now.ms);
                    let was_volatile = e.expire_at != 0;
                    let old = std::mem::replace(&mut e.value, value);
                    e.expire_at = match expire {
                        ExpireChange::Keep if !expired => e.expire_at,
                        _ => new_ttl,
                    };
                    if expired {
                        e.set_access(now.s, crate::entry::LFU_INIT);
                    } else {
                        e.touch(now.s);
                    }
                    let is_volatile = e.expire_at != 0;
                    (
                        (!expired).then_some(old),
                        was_volatile,
                        is_volatile,
                        expired,
                    )
                }
                TableEntry::Vacant(v) => {
                    v.insert(Entry::new(key, value, new_ttl, now.s));
                    (None, false, new_ttl != 0, false)
                }
            };
        match (was_volatile, is_volatile) {
            (false, true) => {
                st.volatile += 1;
                self.volatile += 1;
            }
            (true, false) => {
                st.volatile -= 1;
                self.volatile -= 1;
            }
            _ => {}
        }
        if fresh {
            self.stats.expired += 1;
        } else if old.is_none() {
            self.keys += 1;
        }
        old
    }

    /// Inserts a whole entry taken from elsewhere (RENAME, MOVE, COPY, RESTORE), replacing
    /// any key of the same name.
    pub fn put_entry(&mut self, slot: u16, entry: Entry, now: Now) -> Option<Value> {
        let expire = match entry.expire_at() {
            Some(t) => ExpireChange::At(t),
            None => ExpireChange::Clear,
        };
        let (access, freq) = (entry.access, entry.freq);
        let key: Box<[u8]> = entry.key().into();
        let old = self.set(slot, &key, entry.into_value(), expire, now);
        if let Some(e) = self.live(slot, &key, now) {
            e.set_access(access, freq);
        }
        old
    }

    /// Removes `key`; returns its entry if it was live.
    pub fn remove(&mut self, slot: u16, key: &[u8], now: Now) -> Option<Entry> {
        let hash = self.hasher.hash_one(key);
        let st = self.existing_table(slot)?;
        let (entry, _) = st.table.find_entry(hash, |e| e.key() == key).ok()?.remove();
        if entry.expire_at != 0 {
            st.volatile -= 1;
            self.volatile -= 1;
        }
        self.keys -= 1;
        if entry.is_expired(now.ms) {
            self.stats.expired += 1;
            return None;
        }
        Some(entry)
    }

    /// Sets or clears the TTL of a live key. Returns false when the key does not exist.
    pub fn set_expire(&mut self, slot: u16, key: &[u8], at: Option<u64>, now: Now) -> bool {
        let Some(e) = self.live(slot, key, now) else {
            return false;
        };
        let was = e.expire_at != 0;
        e.expire_at = at.unwrap_or(0);
        let is = e.expire_at != 0;
        if was != is {
            let st = self.slot_table(slot);
            if is {
                st.volatile += 1;
            } else {
                st.volatile -= 1;
            }
            if is {
                self.volatile += 1;
            } else {
                self.volatile -= 1;
            }
        }
        true
    }

    /// Takes every key out, leaving the database empty; the caller decides where the
    /// memory is freed (FLUSHDB ASYNC drops it on a background thread).
    pub fn take_all(&mut self) -> Flushed {
        self.keys = 0;
        self.volatile = 0;
        Flushed(std::mem::take(&mut self.slots))
    }

    /// Calls `f` for every live entry.
    pub fn for_each(&self, now: Now, mut f: impl FnMut(&Entry)) {
        for st in &self.slots {
            for e in st.table.iter() {
                if !e.is_expired(now.ms) {
                    f(e);
                }
            }
        }
    }

    /// Visits the live entries of whole slot tables, starting at the shard-local slot
    /// `from`, until at least `budget` entries were seen. Returns the local slot to resume
    /// from, or `None` when the last slot was visited.
    pub fn scan(
        &self,
        from: usize,
        budget: usize,
        now: Now,
        mut f: impl FnMut(&Entry),
    ) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut seen = 0;
        let mut local = from;
        while local < self.slots.len() {
            let st = &self.slots[local];
            local += 1;
            for e in st.table.iter() {
                seen += 1;
                if !e.is_expired(now.ms) {
                    f(e);
                }
            }
            if seen >= budget {
                break;
            }
        }
        (local < self.slots.len()).then_some(local)
    }

    /// A random live key, or `None` for an empty database. Close to uniform: a random
    /// non-empty slot table, then a random occupied bucket of it.
    pub fn random_key(&mut self, now: Now) -> Option<Vec<u8>> {
        // Expired keys found on the way are removed, as RANDOMKEY does in Redis; a bounded
        // number of them, so a database full of dead keys cannot stall the caller.
        for _ in 0..100 {
            if self.keys == 0 {
                return None;
            }
            let key = self.random_entry_any()?.key().to_vec();
            let slot = crate::key_slot(&key);
            if self.peek(slot, &key, now).is_some() {
                return Some(key);
            }
        }
        None
    }

    /// A random entry, live or not.
    fn random_entry_any(&self) -> Option<&Entry> {
        let n = self.slots.len();
        if self.keys == 0 || n == 0 {
            return None;
        }
        let mut local = fastrand::usize(..n);
        let mut tries = 0;
        while self.slots[local].table.is_empty() {
            tries += 1;
            local = if tries < 64 {
                fastrand::usize(..n)
            } else {
                (local + 1) % n
            };
        }
        let table = &self.slots[local].table;
        let buckets = table.num_buckets();
        for _ in 0..64 {
            if let Some(e) = table.get_bucket(fastrand::usize(..buckets)) {
                return Some(e);
            }
        }
        table.iter().nth(fastrand::usize(..table.len()))
    }

    /// Removes expired keys from slot tables that hold any, starting at the shard-local slot
    /// `*cursor`, until `budget` entries have been examined; hands each removed entry to
    /// `on_expired`. Returns how many were examined and how many removed; `*cursor` wraps
    /// to 0 after the last slot.
    pub fn sweep_expired(
        &mut self,
        cursor: &mut usize,
        budget: usize,
        now: Now,
        mut on_expired: impl FnMut(Entry),
    ) -> (usize, usize) {
        let (mut seen, mut removed) = (0, 0);
        if self.volatile == 0 || self.slots.is_empty() {
            *cursor = 0;
            return (0, 0);
        }
        let n = self.slots.len();
        let mut visited_tables = 0;
        while seen < budget && visited_tables < n {
            let local = *cursor % n;
            *cursor = (local + 1) % n;
            visited_tables += 1;
            let st = &mut self.slots[local];
            if st.volatile == 0 {
                continue;
            }
            seen += st.table.len();
            for e in st.table.extract_if(|e| e.is_expired(now.ms)) {
                st.volatile -= 1;
                removed += 1;
                on_expired(e);
            }
        }
        self.volatile -= removed;
        self.keys -= removed;
        self.stats.expired += removed as u64;
        (seen, removed)
    }
}
