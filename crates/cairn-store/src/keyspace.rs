//! The shards and their locks.
//!
//! A command that touches one key locks one shard. A command that touches several locks
//! every shard involved, in ascending order, before doing anything, so it is atomic
//! (MSET, RENAME) and two such commands cannot deadlock. Locks are `parking_lot` mutexes,
//! never held across an `.await`: the store is synchronous, the server calls it from its
//! connection tasks and returns to the runtime with the lock released.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::hold::{Hold, ShardGuard};
use crate::journal::{Global, Journal};
use crate::observe::Observing;
use crate::shard::Shard;

use crate::db::{Db, DbStats, Flushed, Now, ShardBytes};
use crate::entry::Lfu;
use crate::slot::{SLOTS, key_slot};

/// Keeps each shard's lock on its own cache lines, so two cores working on two shards do
/// not slow each other down.
#[repr(align(128))]
#[derive(Debug)]
struct Padded<T>(T);

/// Counters summed over every shard and database.
#[derive(Default, Debug, Clone, Copy)]
pub struct KeyspaceStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
    pub evicted: u64,
    pub expired_fields: u64,
}

/// Per-database figures for INFO keyspace.
#[derive(Default, Debug, Clone, Copy)]
pub struct DbSize {
    pub keys: usize,
    pub expires: usize,
}

#[derive(Debug)]
pub struct Keyspace {
    shards: Box<[Padded<Mutex<Shard>>]>,
    /// Each shard's byte count, readable without its lock.
    bytes: Box<[Arc<ShardBytes>]>,
    /// The sum of every shard's bytes.
    total_bytes: Arc<std::sync::atomic::AtomicIsize>,
    bits: u32,
    hasher: foldhash::fast::RandomState,
    /// Memcached's CAS uniques: one counter for the whole keyspace, as in memcached.
    cas: std::sync::atomic::AtomicU64,
    /// How many changes to whole databases (FLUSHDB, FLUSHALL, SWAPDB) ran, counted with
    /// every shard locked: a snapshot cut shard by shard checks none ran meanwhile, so no
    /// such change lies between its first and its last shard's cut, and replaying the
    /// stream after it can apply them to every shard alike.
    swaps: std::sync::atomic::AtomicU64,
}

impl Keyspace {
    /// A keyspace of `databases` databases over `shards` shards (rounded up to a power of
    /// two, at most 16384).
    pub fn new(databases: usize, shards: usize) -> Keyspace {
        Keyspace::with_hasher(databases, shards, foldhash::fast::RandomState::default())
    }

    /// An empty keyspace of the same shape as this one (shards, databases, hashing), to
    /// load a replica's full sync into while this one keeps serving; see
    /// [`Keyspace::adopt`].
    pub fn staging(&self) -> Keyspace {
        Keyspace::with_hasher(self.databases(), self.shards.len(), self.hasher.clone())
    }

    fn with_hasher(
        databases: usize,
        shards: usize,
        hasher: foldhash::fast::RandomState,
    ) -> Keyspace {
        let shards = shards.clamp(1, SLOTS).next_power_of_two();
        let bits = shards.trailing_zeros();
        let total_bytes = Arc::new(std::sync::atomic::AtomicIsize::new(0));
        let bytes: Box<[Arc<ShardBytes>]> = (0..shards)
            .map(|_| Arc::new(ShardBytes::new(Arc::clone(&total_bytes))))
            .collect();
        let shards = bytes
            .iter()
            .map(|b| {
                Padded(Mutex::new(Shard {
                    dbs: (0..databases)
                        .map(|_| Db::new(bits, hasher.clone(), Arc::clone(b)))
                        .collect(),
                    bytes: Arc::clone(b),
                    sweep_db: 0,
                    sweep_slot: 0,
                    victim: None,
                }))
            })
            .collect();
        Keyspace {
            shards,
            bytes,
            total_bytes,
            bits,
            hasher,
            cas: std::sync::atomic::AtomicU64::new(0),
            swaps: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Replaces every database's contents with `staging`'s (built by
    /// [`Keyspace::staging`]) in one step, with every shard locked: readers see the old data
    /// or the new, never a mix. WATCHers are touched and trackers told everything changed,
    /// as after a FLUSHALL. Returns the old contents, for the caller to free off the
    /// request path. Nothing is journaled: this is how a replica takes its primary's data.
    /// `then` runs with every shard still locked (the replica restarts its stream there,
    /// so no snapshot sees the new data with the old stream position); it counts as a
    /// whole-database change ([`Keyspace::swap_generation`]).
    pub fn adopt(&self, staging: &Keyspace, then: impl FnOnce()) -> Vec<Flushed> {
        assert_eq!(staging.shards.len(), self.shards.len(), "same shape");
        let mut old = Vec::new();
        let mut all = self.lock_all();
        self.swaps.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        for (i, shard) in all.guards.iter_mut() {
            let mut from = staging.shards[*i].0.lock();
            for (d, db) in shard.dbs.iter_mut().enumerate() {
                old.push(db.take_all());
                if let Some(src) = from.dbs.get_mut(d) {
                    db.install(src.take_all());
                }
            }
        }
        if let Some((_, shard)) = all.guards.first() {
            shard.dbs[0].report_flushed();
        }
        then();
        old
    }

    /// Whether expired keys stay until deleted explicitly (a replica) or go on access and
    /// in the sweep (a primary).
    pub fn set_keep_expired(&self, keep: bool) {
        for i in 0..self.shards.len() {
            for db in &mut self.lock_shard(i).dbs {
                db.keep_expired = keep;
            }
        }
    }

    /// How many FLUSHDB, FLUSHALL and SWAPDB have run (see the field).
    pub fn swap_generation(&self) -> u64 {
        self.swaps.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A new CAS unique, larger than every one handed out before.
    pub fn next_cas(&self) -> u64 {
        self.cas.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn databases(&self) -> usize {
        self.lock_shard(0).dbs.len()
    }

    /// The shard that owns `slot`.
    pub fn shard_of(&self, slot: u16) -> usize {
        slot as usize & (self.shards.len() - 1)
    }

    /// Locks the shard that owns `slot`.
    #[inline]
    pub fn lock(&self, slot: u16) -> ShardGuard<'_> {
        self.lock_shard(self.shard_of(slot))
    }

    /// Locks shard number `index`.
    /// Every shard lock goes through here: inside this thread's transaction [`Hold`] the
    /// shard is lent from the hold.
    #[inline]
    pub fn lock_shard(&self, index: usize) -> ShardGuard<'_> {
        crate::hold::lend(self.identity(), index)
            .unwrap_or_else(|| ShardGuard::own(self.shards[index].0.lock()))
    }

    #[inline]
    fn identity(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }

    /// Locks every shard for this thread until the hold is dropped (EXEC): meanwhile, locks
    /// this thread takes are lent from the hold, and no other thread can see the keyspace.
    pub fn hold_all(&self) -> Hold<'_> {
        let guards = self.shards.iter().map(|s| s.0.lock()).collect();
        Hold::new(self.identity(), guards)
    }

    /// Locks every shard owning one of `keys`, in ascending order.
    pub fn lock_keys<'a, I>(&self, keys: I) -> Locked<'_>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        self.lock_slots(keys.into_iter().map(key_slot))
    }

    /// Locks every shard owning one of `slots`, in ascending order.
    pub fn lock_slots(&self, slots: impl IntoIterator<Item = u16>) -> Locked<'_> {
        let mut wanted: Vec<usize> = slots.into_iter().map(|s| self.shard_of(s)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        self.lock_set(wanted)
    }

    /// Locks every shard (FLUSHALL, SWAPDB, KEYS-style whole-keyspace work).
    pub fn lock_all(&self) -> Locked<'_> {
        self.lock_set((0..self.shards.len()).collect())
    }

    fn lock_set(&self, indexes: Vec<usize>) -> Locked<'_> {
        let guards = indexes
            .into_iter()
            .map(|i| (i, self.lock_shard(i)))
            .collect();
        Locked {
            guards,
            mask: self.shards.len() - 1,
        }
    }

    /// Bytes held by every entry and table, summed without taking any lock (the figure
    /// may be a few writes behind, never more).
    pub fn used_bytes(&self) -> usize {
        self.total_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(0) as usize
    }

    /// The byte count recomputed from scratch by walking every table (tests, DEBUG):
    /// equal to [`Keyspace::used_bytes`] unless the accounting has a bug.
    pub fn recount_bytes(&self) -> usize {
        (0..self.shards.len())
            .map(|i| {
                self.lock_shard(i)
                    .dbs
                    .iter()
                    .map(Db::recount_bytes)
                    .sum::<usize>()
            })
            .sum()
    }

    /// Bytes held by shard `index`.
    pub fn shard_bytes(&self, index: usize) -> usize {
        self.bytes[index].get()
    }

    /// Applies `lfu-log-factor` / `lfu-decay-time`.
    pub fn set_lfu(&self, lfu: Lfu) {
        for i in 0..self.shards.len() {
            for db in &mut self.lock_shard(i).dbs {
                db.lfu = lfu;
            }
        }
    }

    /// Keeps (or drops) the access-frequency sketch the TinyLFU policy needs.
    pub fn set_sketch(&self, on: bool) {
        for i in 0..self.shards.len() {
            for db in &mut self.lock_shard(i).dbs {
                db.set_sketch(on);
            }
        }
    }

    /// One step of the sketches' [`Tuner`]: reads the keyspace's read counters and, when a
    /// window closes, lengthens or cuts every sketch's memory. A no-op without sketches.
    pub fn tune_sketches(&self, tuner: &mut crate::sketch::Tuner) {
        let (mut hits, mut misses, mut keys, mut sketches) = (0, 0, 0, false);
        for i in 0..self.shards.len() {
            for db in &self.lock_shard(i).dbs {
                hits += db.stats.hits;
                misses += db.stats.misses;
                keys += db.len();
                sketches |= db.has_sketch();
            }
        }
        if !sketches {
            return;
        }
        if let Some(tuning) = tuner.observe(hits, misses, keys) {
            for i in 0..self.shards.len() {
                for db in &mut self.lock_shard(i).dbs {
                    db.tune_sketch(tuning);
                }
            }
        }
    }

    /// Installs the observer every database reports key changes to (see
    /// [`crate::observe`]); `on` switches the reports on and off.
    pub fn set_observer(&self, observing: Observing) {
        for i in 0..self.shards.len() {
            for (index, db) in self.lock_shard(i).dbs.iter_mut().enumerate() {
                db.index = index;
                db.observer = Some(observing.clone());
            }
        }
    }

    /// Installs where every database hands the big entries it removes on its own
    /// (eviction, expiry found by a lookup) to be freed.
    pub fn set_disposer(&self, disposer: crate::db::Disposer) {
        for i in 0..self.shards.len() {
            for db in self.lock_shard(i).dbs.iter_mut() {
                db.disposer = Some(disposer.clone());
            }
        }
    }

    /// Installs (or, with `None`, removes) the journal every database hands its changes to
    /// (see [`crate::journal`]). Taken with every shard locked, so the journal hears
    /// everything after the moment it is installed and nothing before.
    pub fn set_journal(&self, journal: Option<Arc<dyn Journal>>) {
        let mut all = self.lock_all();
        for (_, shard) in all.guards.iter_mut() {
            for db in shard.dbs.iter_mut() {
                db.journal = journal.clone();
            }
        }
    }

    /// Keys some client WATCHes, over every database (INFO total_watched_keys).
    pub fn watched_keys(&self) -> usize {
        (0..self.shards.len())
            .map(|i| {
                self.lock_shard(i)
                    .dbs
                    .iter()
                    .map(Db::watched_keys)
                    .sum::<usize>()
            })
            .sum()
    }

    /// Tells the sketches how many keys the memory limit may hold in all (0: unknown), so
    /// they are sized once instead of growing while the cache fills.
    pub fn set_capacity_hint(&self, keys: usize) {
        let per_shard = keys / self.shards.len();
        for i in 0..self.shards.len() {
            for db in &mut self.lock_shard(i).dbs {
                db.sketch_hint = per_shard;
            }
        }
    }

    /// Hit, miss and expiry counters summed over the keyspace.
    pub fn stats(&self) -> KeyspaceStats {
        let mut total = KeyspaceStats::default();
        for i in 0..self.shards.len() {
            for db in &self.lock_shard(i).dbs {
                let DbStats {
                    hits,
                    misses,
                    expired,
                    evicted,
                    expired_fields,
                } = db.stats;
                total.hits += hits;
                total.misses += misses;
                total.expired += expired;
                total.evicted += evicted;
                total.expired_fields += expired_fields;
            }
        }
        total
    }

    /// Resets hit and miss counters (CONFIG RESETSTAT).
    pub fn reset_stats(&self) {
        for i in 0..self.shards.len() {
            for db in &mut self.lock_shard(i).dbs {
                db.stats = DbStats::default();
            }
        }
    }

    /// Keys and keys-with-TTL of each database.
    pub fn sizes(&self) -> Vec<DbSize> {
        let mut sizes = Vec::new();
        for i in 0..self.shards.len() {
            let shard = self.lock_shard(i);
            sizes.resize(shard.dbs.len(), DbSize::default());
            for (size, db) in sizes.iter_mut().zip(&shard.dbs) {
                size.keys += db.len();
                size.expires += db.volatile_len();
            }
        }
        sizes
    }

    /// Bytes of each database's hash tables, summed over shards (MEMORY STATS).
    pub fn table_bytes(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for i in 0..self.shards.len() {
            let shard = self.lock_shard(i);
            out.resize(shard.dbs.len(), 0);
            for (o, db) in out.iter_mut().zip(&shard.dbs) {
                *o += db.table_bytes();
            }
        }
        out
    }

    /// Keys in database `db` (DBSIZE).
    pub fn db_len(&self, db: usize) -> usize {
        (0..self.shards.len())
            .map(|i| self.lock_shard(i).dbs[db].len())
            .sum()
    }

    /// Changes the number of databases. Growing adds empty ones; shrinking is refused
    /// while a database that would go away holds keys.
    pub fn set_databases(&self, n: usize) -> Result<(), &'static str> {
        let mut all = self.lock_all();
        for (_, shard) in all.guards.iter() {
            if shard.dbs.iter().skip(n).any(|db| !db.is_empty()) {
                return Err("databases that would be removed still hold keys");
            }
        }
        for (_, shard) in all.guards.iter_mut() {
            let bits = self.bits;
            let template = (shard.dbs[0].lfu, shard.dbs[0].has_sketch());
            let bytes = Arc::clone(&shard.bytes);
            let observer = shard.dbs[0].observer.clone();
            let journal = shard.dbs[0].journal.clone();
            let shard_keep = shard.dbs[0].keep_expired;
            let mut index = shard.dbs.len();
            shard.dbs.resize_with(n, || {
                let mut db = Db::new(bits, self.hasher.clone(), Arc::clone(&bytes));
                db.lfu = template.0;
                db.set_sketch(template.1);
                db.index = index;
                db.observer = observer.clone();
                db.journal = journal.clone();
                db.keep_expired = shard_keep;
                index += 1;
                db
            });
            shard.sweep_db = 0;
        }
        Ok(())
    }

    /// Empties database `db`, or all of them; returns what was removed so the caller can
    /// free it where it likes.
    pub fn flush(&self, db: Option<usize>) -> Vec<Flushed> {
        let mut all = self.lock_all();
        self.swaps.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let mut out = Vec::new();
        for (_, shard) in all.guards.iter_mut() {
            for (i, d) in shard.dbs.iter_mut().enumerate() {
                if db.is_none_or(|want| want == i) {
                    out.push(d.take_all());
                }
            }
        }
        // Reported once for the whole flush, with every shard still locked.
        if let Some((_, shard)) = all.guards.first() {
            shard.dbs[db.unwrap_or(0)].report_flushed();
            if let Some(j) = &shard.dbs[0].journal {
                j.global(match db {
                    Some(d) => Global::FlushDb(d),
                    None => Global::FlushAll,
                });
            }
        }
        out
    }

    /// Swaps two databases atomically (SWAPDB).
    pub fn swap_dbs(&self, a: usize, b: usize) {
        let mut all = self.lock_all();
        self.swaps.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        for (_, shard) in all.guards.iter_mut() {
            shard.dbs.swap(a, b);
            if a != b {
                let (lo, hi) = (a.min(b), a.max(b));
                let (left, right) = shard.dbs.split_at_mut(hi);
                left[lo].swap_watchers(&mut right[0]);
                std::mem::swap(&mut left[lo].index, &mut right[0].index);
                // A watched key changed if either database holds it (before or after).
                left[lo].touch_watched_present(Some(&right[0]));
                right[0].touch_watched_present(Some(&left[lo]));
            }
        }
        if a != b
            && let Some((_, shard)) = all.guards.first()
        {
            shard.dbs[a].report_flushed();
            if let Some(j) = &shard.dbs[0].journal {
                j.global(Global::SwapDb(a, b));
            }
        }
    }

    /// One SCAN step over database `db` from `cursor`: visits whole slot tables until about
    /// `count` keys were seen, calling `f` for each live one. Returns the next cursor (0
    /// when the iteration is complete).
    ///
    /// The cursor is a position in a fixed order of the 16384 hash slots (shard by shard),
    /// so it stays valid whatever happens to the tables in between.
    pub fn scan(
        &self,
        db: usize,
        cursor: u64,
        count: usize,
        now: Now,
        mut f: impl FnMut(&crate::Entry),
    ) -> u64 {
        let per_shard = SLOTS >> self.bits;
        let mut pos = cursor as usize;
        let mut seen = 0usize;
        while pos < SLOTS {
            let (shard, local) = (pos / per_shard, pos % per_shard);
            let guard = self.lock_shard(shard);
            let next = guard.dbs[db].scan(local, count - seen, now, |e| {
                seen += 1;
                f(e)
            });
            drop(guard);
            pos = match next {
                Some(local) => shard * per_shard + local,
                None => (shard + 1) * per_shard,
            };
            if seen >= count {
                break;
            }
        }
        if pos >= SLOTS { 0 } else { pos as u64 }
    }

    /// A random live key of database `db` (RANDOMKEY). Shards are picked in proportion to
    /// the keys they hold.
    pub fn random_key(&self, db: usize, now: Now) -> Option<Vec<u8>> {
        for _ in 0..16 {
            let sizes: Vec<usize> = (0..self.shards.len())
                .map(|i| self.lock_shard(i).dbs[db].len())
                .collect();
            let total: usize = sizes.iter().sum();
            if total == 0 {
                return None;
            }
            let mut pick = fastrand::usize(..total);
            let shard = sizes
                .iter()
                .position(|&n| {
                    if pick < n {
                        true
                    } else {
                        pick -= n;
                        false
                    }
                })
                .unwrap_or(0);
            if let Some(k) = self.lock_shard(shard).dbs[db].random_key(now) {
                return Some(k);
            }
        }
        None
    }

    /// Expires up to `budget` hash fields whose time passed in shard `index`, over all
    /// its databases (see [`Db::sweep_fields`]). Returns how many it expired.
    pub fn sweep_fields_shard(&self, index: usize, budget: usize, now: Now) -> usize {
        let mut guard = self.lock_shard(index);
        let mut expired = 0;
        for db in guard.dbs.iter_mut() {
            if expired >= budget {
                break;
            }
            expired += db.sweep_fields(budget - expired, now);
        }
        expired
    }

    /// One round of the active expiry sweep on shard `index`: examines about `budget`
    /// entries across its databases and removes the expired ones. Returns (examined, removed).
    pub fn sweep_shard(
        &self,
        index: usize,
        budget: usize,
        now: Now,
        mut on_expired: impl FnMut(usize, crate::Entry),
    ) -> (usize, usize) {
        let mut guard = self.lock_shard(index);
        let shard = &mut *guard;
        let (mut seen, mut removed) = (0, 0);
        let ndbs = shard.dbs.len();
        for _ in 0..ndbs {
            if seen >= budget {
                break;
            }
            let db = shard.sweep_db % ndbs;
            let (s, r) =
                shard.dbs[db].sweep_expired(&mut shard.sweep_slot, budget - seen, now, |e| {
                    on_expired(db, e)
                });
            seen += s;
            removed += r;
            if shard.sweep_slot == 0 {
                shard.sweep_db = (db + 1) % ndbs;
            }
        }
        (seen, removed)
    }
}

/// Several shards locked at once, in ascending order.
pub struct Locked<'a> {
    guards: Vec<(usize, ShardGuard<'a>)>,
    mask: usize,
}

impl Locked<'_> {
    /// Database `db` of the shard owning `slot`. Panics if that shard was not locked: a bug
    /// in the caller, which must lock every key it touches.
    pub fn db(&mut self, slot: u16, db: usize) -> &mut Db {
        let want = slot as usize & self.mask;
        let i = self
            .guards
            .binary_search_by_key(&want, |(i, _)| *i)
            .expect("shard of this key was locked");
        self.guards[i].1.db(db)
    }

    /// [`Locked::db`] to read only: several can be held at once (SINTER reads every
    /// set it intersects side by side).
    pub fn db_ref(&self, slot: u16, db: usize) -> &Db {
        let want = slot as usize & self.mask;
        let i = self
            .guards
            .binary_search_by_key(&want, |(i, _)| *i)
            .expect("shard of this key was locked");
        &self.guards[i].1.dbs()[db]
    }

    /// Every locked shard.
    pub fn shards(&mut self) -> impl Iterator<Item = &mut Shard> {
        self.guards.iter_mut().map(|(_, g)| &mut **g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExpireChange;

    fn set(ks: &Keyspace, db: usize, key: &[u8], value: &[u8], expire: ExpireChange) {
        let slot = key_slot(key);
        ks.lock(slot)
            .db(db)
            .set_bytes(slot, key, value, expire, Now::from_unix_ms(1_000));
    }

    fn get(ks: &Keyspace, db: usize, key: &[u8], now_ms: u64) -> Option<Vec<u8>> {
        let slot = key_slot(key);
        ks.lock(slot)
            .db(db)
            .read(slot, key, Now::from_unix_ms(now_ms))
            .map(|e| e.value().with_bytes(|b| b.to_vec()))
    }

    #[test]
    fn adopt_replaces_every_database_at_once_and_keeps_the_byte_count_exact() {
        let live = Keyspace::new(4, 8);
        for i in 0..500u32 {
            set(
                &live,
                0,
                format!("old:{i}").as_bytes(),
                b"x",
                ExpireChange::Clear,
            );
        }
        set(&live, 2, b"old-db2", b"y", ExpireChange::Clear);
        let staging = live.staging();
        for i in 0..300u32 {
            set(
                &staging,
                0,
                format!("new:{i}").as_bytes(),
                b"z",
                ExpireChange::Clear,
            );
        }
        set(&staging, 3, b"new-db3", b"w", ExpireChange::At(5_000));
        let old = live.adopt(&staging, || {});
        assert!(!old.is_empty());
        assert_eq!(live.db_len(0), 300);
        assert_eq!(live.db_len(2), 0);
        assert_eq!(live.db_len(3), 1);
        assert_eq!(live.sizes()[3].expires, 1);
        assert_eq!(get(&live, 0, b"old:1", 2_000), None);
        assert_eq!(get(&live, 0, b"new:1", 2_000), Some(b"z".to_vec()));
        assert_eq!(live.used_bytes(), live.recount_bytes());
        // The staging keyspace is left empty.
        assert_eq!(staging.db_len(0), 0);
    }

    #[test]
    fn a_replica_hides_expired_keys_without_removing_them() {
        let ks = Keyspace::new(1, 4);
        ks.set_keep_expired(true);
        set(&ks, 0, b"k", b"v", ExpireChange::At(5_000));
        assert_eq!(get(&ks, 0, b"k", 4_000), Some(b"v".to_vec()));
        assert_eq!(get(&ks, 0, b"k", 6_000), None, "never served past its TTL");
        assert_eq!(ks.db_len(0), 1, "but kept until deleted explicitly");
        assert_eq!(ks.stats().expired, 0);
        // A primary removes it on access.
        ks.set_keep_expired(false);
        assert_eq!(get(&ks, 0, b"k", 6_000), None);
        assert_eq!(ks.db_len(0), 0);
        assert_eq!(ks.stats().expired, 1);
    }

    #[test]
    fn swapdb_moves_the_generation() {
        let ks = Keyspace::new(2, 2);
        let g = ks.swap_generation();
        ks.swap_dbs(0, 1);
        assert_eq!(ks.swap_generation(), g + 1);
    }
}
