//! One database's share of a shard: a hash table per hash slot the shard owns.
//!
//! Every lookup applies lazy expiry: a key whose TTL has passed is removed on the spot and
//! reported as absent, so no command ever sees it. The active sweep
//! ([`Db::sweep_expired`]) removes the ones nobody asks for.

use foldhash::fast::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};

use crate::encoding::deadlines::Deadlines;
use crate::entry::{Entry, Lfu, Src};
use crate::journal::{Effect, Journal};
use crate::object::Object;
use crate::observe::{Change, Observing};
use crate::sketch::Sketch;
use crate::table::Table;
use crate::types::hash::Hash;
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
    table: Table,
    /// How many of them carry a TTL; the sweep skips tables where this is 0.
    volatile: u32,
}

/// Counters kept under the shard lock, summed by [`crate::Keyspace::stats`].
#[derive(Default, Debug, Clone, Copy)]
pub struct DbStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
    pub evicted: u64,
    /// Hash fields whose time passed (INFO's `expired_subkeys`).
    pub expired_fields: u64,
}

/// Bytes a shard's databases hold (entries and tables, rounded to allocator classes).
/// Written only under the shard's lock; read without it by the eviction check, which
/// needs a current figure before every write command and must not take every lock.
///
/// Each shard also adds its changes to one keyspace-wide total, so the check before a
/// write reads one counter instead of every shard's cache line.
#[derive(Debug, Default)]
pub struct ShardBytes {
    shard: AtomicUsize,
    total: Arc<AtomicIsize>,
}

impl ShardBytes {
    pub(crate) fn new(total: Arc<AtomicIsize>) -> ShardBytes {
        ShardBytes {
            shard: AtomicUsize::new(0),
            total,
        }
    }

    pub fn get(&self) -> usize {
        self.shard.load(Relaxed)
    }

    fn add(&self, delta: isize) {
        if delta == 0 {
            return;
        }
        // Every writer of the shard's figure holds the shard lock, so a load and a store
        // cannot lose an update there; the total is shared between shards.
        let v = self.shard.load(Relaxed) as isize + delta;
        self.shard.store(v.max(0) as usize, Relaxed);
        self.total.fetch_add(delta, Relaxed);
    }
}

/// A live entry borrowed for a write. Whatever the command does to it (APPEND grows it,
/// SETRANGE rewrites it), dropping the guard brings the shard's byte count up to date,
/// and journals the entry's new state if the command changed it (borrowed it mutably)
/// without journaling its operation ([`EntryMut::journal_op`]).
pub struct EntryMut<'a> {
    entry: &'a mut Entry,
    bytes: &'a ShardBytes,
    before: usize,
    /// Where the entry's new state goes when the guard drops (a write), if anywhere.
    journal: Option<(&'a dyn Journal, usize)>,
    /// Whether the entry was borrowed mutably (or is new): only then is its state
    /// journaled. A command that looked (WRONGTYPE, a field already there) writes nothing
    /// to the AOF or the replicas.
    dirty: bool,
    /// The database's index of hashes with volatile fields, which a changed hash joins.
    volatile_hashes: &'a mut Deadlines,
    /// The command journaled its operations ([`EntryMut::journal_op`]), not the state.
    op_journaled: bool,
}

/// Where an entry sits: its slot table (shard-local) and bucket. Valid only while the
/// shard stays locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    local: usize,
    bucket: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    /// A memcached read: counted like a read, touched unless `bump` is false (meta `u`),
    /// and not yet marked fetched (meta `h` reports the state before this read).
    Fetch {
        bump: bool,
    },
    Write,
    Peek,
}

impl Access {
    fn counts(self) -> bool {
        matches!(self, Access::Read | Access::Fetch { .. })
    }
}

impl std::ops::Deref for EntryMut<'_> {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        self.entry
    }
}

impl std::ops::DerefMut for EntryMut<'_> {
    fn deref_mut(&mut self) -> &mut Entry {
        self.dirty = true;
        self.entry
    }
}

impl EntryMut<'_> {
    /// Journals this write as `args`, a command in Redis's form (APPEND k v, SETRANGE k
    /// off v) that applied to the entry's state before it produces its state now, instead
    /// of the whole new state. Call it after the change, while the guard is held; a
    /// guard dropped without it journals the state.
    ///
    /// A command may journal more than one operation (HSETEX's fields, then their
    /// times); after the first, the guard journals no state when it drops.
    pub fn journal_op(&mut self, args: &[&[u8]]) {
        if let Some((journal, db)) = self.journal {
            journal.record(db, Effect::Op(args));
            self.op_journaled = true;
        }
    }

    /// Nothing changed after all (SADD of members already there, an HDEL that found
    /// nothing): nothing is journaled.
    pub fn unchanged(&mut self) {
        self.dirty = false;
    }
}

impl Drop for EntryMut<'_> {
    fn drop(&mut self) {
        if self.dirty {
            note_volatile_hash(self.volatile_hashes, self.entry);
        }
        let after = self.entry.mem_usage();
        if after != self.before {
            self.bytes.add(after as isize - self.before as isize);
        }
        if self.dirty
            && !self.op_journaled
            && let Some((journal, db)) = self.journal
        {
            journal.record(db, Effect::Set(self.entry));
        }
    }
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
    bytes: Arc<ShardBytes>,
    pub(crate) lfu: Lfu,
    /// Access frequencies for the TinyLFU policy; `None` unless that policy is active.
    sketch: Option<Sketch>,
    /// How many keys this database's share of the memory limit may hold, roughly: the
    /// sketch is sized for that from the start, so it does not grow (and blur its counts)
    /// while the cache fills.
    pub(crate) sketch_hint: usize,
    /// The packed estimate of the key [`Db::record`] counted last, for its entry's header.
    recorded: u8,
    /// WATCH: the keys clients watch in this database, each with the watchers' flags, set
    /// by every change to the key (write, delete, expiry, eviction, flush).
    watchers: Watchers,
    /// This database's number, for the observer.
    pub(crate) index: usize,
    pub(crate) observer: Option<Observing>,
    /// Where changes go as effects (the write stream), when persistence or replication
    /// listens.
    pub(crate) journal: Option<Arc<dyn Journal>>,
    /// A replica's rule for keys whose TTL has passed: reads see them as absent, but they
    /// stay until the primary's DEL arrives, so the replica's data never runs ahead of, or
    /// diverges from, its primary's (Redis's replicas do the same). Volatile hash fields
    /// follow the same rule, except that reads still see them until the primary's HDEL.
    pub(crate) keep_expired: bool,
    /// Hashes with volatile fields, by (at most) their earliest field's expiry time: where
    /// the active sweep looks for fields to expire. An entry may be stale (the hash gone,
    /// renamed, or its fields made persistent); the sweep drops it then.
    volatile_hashes: Deadlines,
    /// Frees big entries this database removes on its own (see [`Disposer`]).
    pub(crate) disposer: Option<Disposer>,
}

/// Tells `observer`, if it listens, that `key` of database `index` changed (a free
/// function so callers holding other fields of the database borrowed can use it).
#[inline]
fn report(observer: &Option<Observing>, index: usize, key: &[u8], change: Change) {
    if let Some(o) = observer
        && o.active()
    {
        o.sink.changed(index, key, change);
    }
}

/// Puts `entry` in the index of hashes with volatile fields if it is one (or moves it
/// earlier there).
fn note_volatile_hash(index: &mut Deadlines, entry: &Entry) {
    if let Some(next) = entry
        .object()
        .and_then(Object::as_hash)
        .and_then(Hash::next_expiry)
        && index.get(entry.key()).is_none_or(|at| next < at)
    {
        index.set(entry.key(), next);
    }
}

/// Whether `entry` is a hash with a field due at `now_ms`.
fn fields_due(entry: &Entry, now_ms: u64) -> bool {
    entry
        .object()
        .and_then(Object::as_hash)
        .and_then(Hash::next_expiry)
        .is_some_and(|at| at <= now_ms)
}

/// Values at least this big (heap bytes) are freed off the request path when a key goes
/// without a command asking for it (eviction, expiry), as UNLINK frees them.
pub const LAZYFREE_BYTES: usize = 64 * 1024;

/// Why a database removed an entry on its own (the server's `lazyfree-lazy-eviction` and
/// `lazyfree-lazy-expire` decide each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removed {
    Evicted,
    Expired,
}

/// Where a database hands the entries it removes on its own (evicted, expired) that are
/// big enough to free elsewhere ([`LAZYFREE_BYTES`]); the server frees them on a thread,
/// or at once if its settings say so.
#[derive(Clone)]
pub struct Disposer(pub Arc<dyn Fn(Entry, Removed) + Send + Sync>);

impl std::fmt::Debug for Disposer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Disposer")
    }
}

thread_local! {
    /// CLIENT NO-TOUCH for the command running on this thread: its lookups leave keys'
    /// LRU/LFU as they were (see [`no_touch`]).
    static NO_TOUCH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Until the guard goes, lookups on this thread do not count as accesses for eviction
/// (LRU clock, LFU counter) when `on`: the command of a CLIENT NO-TOUCH client, as Redis
/// 7.2's `LOOKUP_NOTOUCH` (TOUCH itself still touches; the server decides).
pub fn no_touch(on: bool) -> impl Drop {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            NO_TOUCH.with(|n| n.set(self.0));
        }
    }
    Restore(NO_TOUCH.with(|n| n.replace(on)))
}

/// A watching client's flag: set once any key it watches changes.
pub type WatchFlag = Arc<std::sync::atomic::AtomicBool>;

#[derive(Debug, Default)]
struct Watchers(std::collections::HashMap<Box<[u8]>, Vec<WatchFlag>, RandomState>);

impl Watchers {
    /// Flags the watchers of `key`. One emptiness check when nobody watches anything.
    #[inline]
    fn touch(&self, key: &[u8]) {
        if !self.0.is_empty() {
            self.touch_slow(key);
        }
    }

    #[cold]
    fn touch_slow(&self, key: &[u8]) {
        if let Some(flags) = self.0.get(key) {
            for f in flags {
                f.store(true, std::sync::atomic::Ordering::Release);
            }
        }
    }

    /// Flags the watchers of every watched key `present` says is there.
    fn touch_present(&self, present: impl Fn(&[u8]) -> bool) {
        for (key, flags) in &self.0 {
            if present(key) {
                for f in flags {
                    f.store(true, std::sync::atomic::Ordering::Release);
                }
            }
        }
    }
}

impl Db {
    pub(crate) fn new(shard_bits: u32, hasher: RandomState, bytes: Arc<ShardBytes>) -> Db {
        Db {
            slots: Vec::new(),
            slots_per_shard: crate::SLOTS >> shard_bits,
            shard_bits,
            hasher,
            keys: 0,
            volatile: 0,
            stats: DbStats::default(),
            bytes,
            lfu: Lfu::default(),
            sketch: None,
            sketch_hint: 0,
            recorded: 0,
            watchers: Watchers::default(),
            index: 0,
            observer: None,
            journal: None,
            keep_expired: false,
            volatile_hashes: Deadlines::default(),
            disposer: None,
        }
    }

    /// Tells WATCHers and the observer that `key` changed.
    #[inline]
    fn changed(&self, key: &[u8], change: Change) {
        self.watchers.touch(key);
        self.report(key, change);
    }

    /// Hands the journal, if one listens, an effect of this database.
    #[inline]
    fn journal(&self, effect: Effect<'_>) {
        if let Some(j) = &self.journal {
            j.record(self.index, effect);
        }
    }

    /// Tells the observer only (a creation or a miss is no change for WATCH).
    #[inline]
    fn report(&self, key: &[u8], change: Change) {
        report(&self.observer, self.index, key, change);
    }

    /// A read that found nothing (or found the key expired) counts a miss.
    fn missed(&mut self, key: &[u8], access: Access) {
        if access.counts() {
            self.stats.misses += 1;
            self.report(key, Change::Missed);
        }
    }

    /// WATCH `key` for the client owning `flag`.
    pub fn watch(&mut self, key: &[u8], flag: &WatchFlag) {
        let flags = self.watchers.0.entry(key.into()).or_default();
        if !flags.iter().any(|f| Arc::ptr_eq(f, flag)) {
            flags.push(flag.clone());
        }
    }

    /// Stops watching `key` for the client owning `flag`.
    pub fn unwatch(&mut self, key: &[u8], flag: &WatchFlag) {
        if let Some(flags) = self.watchers.0.get_mut(key) {
            flags.retain(|f| !Arc::ptr_eq(f, flag));
            if flags.is_empty() {
                self.watchers.0.remove(key);
            }
        }
    }

    /// Keys watched by at least one client (INFO total_watched_keys).
    pub fn watched_keys(&self) -> usize {
        self.watchers.0.len()
    }

    /// Flags the watchers of the watched keys this database holds, or `other` does
    /// (FLUSHDB, FLUSHALL, SWAPDB, a replica's full sync), as Redis 7's
    /// `touchAllWatchedKeysInDb`: a watched key that was not there, and is not there
    /// after, did not change.
    pub fn touch_watched_present(&self, other: Option<&Db>) {
        if self.watchers.0.is_empty() {
            return;
        }
        self.watchers.touch_present(|key| {
            let slot = crate::key_slot(key);
            self.find(slot, key).is_some() || other.is_some_and(|o| o.find(slot, key).is_some())
        });
    }

    /// Tells the observer every key of this database may have changed at once.
    pub(crate) fn report_flushed(&self) {
        if let Some(o) = &self.observer
            && o.active()
        {
            o.sink.flushed(self.index);
        }
    }

    /// SWAPDB exchanges the data of two databases, not their watchers.
    pub(crate) fn swap_watchers(&mut self, other: &mut Db) {
        std::mem::swap(&mut self.watchers, &mut other.watchers);
    }

    fn account(&self, delta: isize) {
        self.bytes.add(delta);
    }

    /// What this database holds, recomputed by walking it (see
    /// [`crate::Keyspace::recount_bytes`]).
    pub fn recount_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<SlotTable>()
            + self
                .slots
                .iter()
                .map(|st| {
                    st.table.allocation_size()
                        + st.table.iter().map(Entry::mem_usage).sum::<usize>()
                })
                .sum::<usize>()
            + self.sketch.as_ref().map_or(0, Sketch::bytes)
    }

    /// The hash-table bytes one key of `slot` accounts for: its share of the slot's table
    /// (MEMORY USAGE).
    pub fn table_share(&self, slot: u16) -> usize {
        self.slots
            .get(self.local(slot))
            .map_or(0, |st| st.table.allocation_size() / st.table.len().max(1))
    }

    /// Bytes of the hash tables themselves (MEMORY STATS overhead.hashtable.main).
    pub fn table_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<SlotTable>()
            + self
                .slots
                .iter()
                .map(|st| st.table.allocation_size())
                .sum::<usize>()
    }

    pub(crate) fn has_sketch(&self) -> bool {
        self.sketch.is_some()
    }

    /// Starts or drops the frequency sketch. A sketch started on a database that already
    /// holds keys is seeded from the LFU counters the entries carry (every policy keeps
    /// them), so switching a running node to TinyLFU does not start from amnesia.
    pub(crate) fn set_sketch(&mut self, on: bool) {
        if on != self.sketch.is_some() {
            let before = self.sketch.as_ref().map_or(0, |s| s.bytes());
            let mut sketch = Sketch::default();
            if on && self.keys > 0 {
                sketch.ensure_capacity(self.keys.max(self.sketch_hint));
                for st in &mut self.slots {
                    for e in st.table.iter_mut() {
                        let hash = self.hasher.hash_one(e.key());
                        let seen = e.freq().saturating_sub(crate::entry::LFU_INIT);
                        if seen > 0 {
                            sketch.add(hash, seen);
                        }
                    }
                }
                // Second pass: every entry's header learns its estimate (collisions in the
                // first pass may have raised it).
                for st in &mut self.slots {
                    for e in st.table.iter_mut() {
                        let hash = self.hasher.hash_one(e.key());
                        e.set_bits(sketch.packed_estimate(hash));
                    }
                }
            }
            self.sketch = on.then_some(sketch);
            let after = self.sketch.as_ref().map_or(0, |s| s.bytes());
            self.account(after as isize - before as isize);
        }
    }

    /// Applies a [`crate::sketch::Tuner`] decision to this database's sketch.
    pub(crate) fn tune_sketch(&mut self, tuning: crate::sketch::Tuning) {
        if let Some(sk) = &mut self.sketch {
            sk.set_period_percent(tuning.period_percent);
            sk.forget(tuning.halvings);
        }
    }

    /// For a write: counts it in the sketch only if the sketch has never seen the key.
    /// Reads are what a cache serves, so they are what the sketch counts; counting the
    /// cache-aside SET that follows every miss would count each miss twice and favour keys
    /// that miss. A key that is only ever written still gets a count of one, or it would
    /// lose every admission test. (Offline, this with conservative increments gained 0.8
    /// points; docs/eviction.md.)
    fn record_write(&mut self, hash: u64) {
        if let Some(sk) = &self.sketch {
            let packed = sk.packed_estimate(hash);
            if packed & 0xF != 0 {
                self.recorded = packed;
                return;
            }
            self.record(hash);
        }
    }

    /// Counts an access in the frequency sketch, growing it with the key count.
    fn record(&mut self, hash: u64) {
        if let Some(sk) = &mut self.sketch {
            let before = sk.bytes();
            sk.ensure_capacity(self.keys.max(self.sketch_hint));
            self.recorded = sk.increment(hash);
            let after = sk.bytes();
            if after != before {
                self.account(after as isize - before as isize);
            }
        }
    }

    /// The sketch's estimate for `e`'s key as its header remembers it, aged to now: no
    /// read of the sketch itself (0 when no sketch is kept).
    pub fn cached_frequency(&self, e: &Entry) -> u8 {
        self.sketch.as_ref().map_or(0, |s| s.cached(e.meta().bits))
    }

    /// The sketch's estimate for `key` (0 when no sketch is kept).
    pub fn frequency(&self, key: &[u8]) -> u8 {
        self.sketch
            .as_ref()
            .map_or(0, |s| s.estimate(self.hasher.hash_one(key)))
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

    /// Where the live entry for `key` is, removing it first if it has expired. `access`
    /// says what the lookup is for: a read counts a hit or miss, reads and writes touch the
    /// entry.
    fn locate(
        &mut self,
        slot: u16,
        hash: u64,
        key: &[u8],
        now: Now,
        access: Access,
    ) -> Option<Position> {
        let local = self.local(slot);
        let mut found = self
            .slots
            .get(local)
            .and_then(|st| st.table.find(hash, key));
        if let Some(bucket) = found
            && !self.volatile_hashes.is_empty()
            && !self.keep_expired
            && fields_due(self.slots[local].table.get(bucket), now.ms)
            && self.expire_fields(Position { local, bucket }, now, usize::MAX)
        {
            // Its last field expired: the key went with it.
            found = None;
        }
        match found {
            Some(bucket) if self.slots[local].table.get(bucket).is_expired(now.ms) => {
                if !self.keep_expired {
                    let (entry, _) = self.take_at(Position { local, bucket }, Change::Expired);
                    self.dispose(entry, Removed::Expired);
                    self.stats.expired += 1;
                }
                self.missed(key, access);
                None
            }
            Some(bucket) => {
                let e = self.slots[local].table.get_mut(bucket);
                let touch = !NO_TOUCH.with(std::cell::Cell::get);
                match access {
                    Access::Read => {
                        self.stats.hits += 1;
                        if touch {
                            e.touch(now.s, self.lfu);
                        }
                        e.mark_fetched();
                    }
                    Access::Fetch { bump } => {
                        self.stats.hits += 1;
                        if bump && touch {
                            e.touch(now.s, self.lfu);
                        }
                    }
                    Access::Write if touch => e.touch(now.s, self.lfu),
                    Access::Write | Access::Peek => {}
                }
                if access != Access::Peek && self.sketch.is_some() {
                    e.set_bits(self.recorded);
                }
                Some(Position { local, bucket })
            }
            None => {
                self.missed(key, access);
                None
            }
        }
    }

    /// The live entry for `key` (see [`Db::locate`]).
    fn lookup(
        &mut self,
        slot: u16,
        hash: u64,
        key: &[u8],
        now: Now,
        access: Access,
    ) -> Option<&mut Entry> {
        let at = self.locate(slot, hash, key, now, access)?;
        Some(self.slots[at.local].table.get_mut(at.bucket))
    }

    /// The live entry for `key`. No stats, no touch.
    fn live(&mut self, slot: u16, key: &[u8], now: Now) -> Option<&mut Entry> {
        let hash = self.hasher.hash_one(key);
        self.lookup(slot, hash, key, now, Access::Peek)
    }

    /// Looks a key up for a read command: counts a keyspace hit or miss and records the
    /// access (Redis's `lookupKeyRead`).
    pub fn read(&mut self, slot: u16, key: &[u8], now: Now) -> Option<&Entry> {
        let hash = self.hasher.hash_one(key);
        self.record(hash);
        self.lookup(slot, hash, key, now, Access::Read).map(|e| &*e)
    }

    /// Looks a key up for a memcached read, which may change the entry's memcached fields
    /// (a lazily assigned CAS, the fetched and lease bits) but not its value: counts a hit
    /// or miss like [`Db::read`]; `bump` false leaves the access time alone (meta `u`).
    pub fn fetch(&mut self, slot: u16, key: &[u8], now: Now, bump: bool) -> Option<EntryMut<'_>> {
        let hash = self.hasher.hash_one(key);
        self.record(hash);
        let at = self.locate(slot, hash, key, now, Access::Fetch { bump })?;
        Some(self.guard(at, false))
    }

    /// Records an access to `key` (LRU clock, LFU counter) without counting a hit: for a
    /// memcached read that first reported the state before it (meta `l`, `h`).
    pub fn bump(&mut self, slot: u16, key: &[u8], now: Now) {
        let hash = self.hasher.hash_one(key);
        self.locate(slot, hash, key, now, Access::Write);
    }

    /// The live entry for `key`, to change the memcached fields that are no part of its
    /// stored state (a CAS unique handed out, the lease and fetched bits) without counting,
    /// reporting or journaling anything. Client flags go through [`Db::set_client_flags`],
    /// the value through [`Db::write`].
    pub fn peek_mut(&mut self, slot: u16, key: &[u8], now: Now) -> Option<EntryMut<'_>> {
        let hash = self.hasher.hash_one(key);
        let at = self.locate(slot, hash, key, now, Access::Peek)?;
        Some(self.guard(at, false))
    }

    /// Sets memcached's client flags of a live key (they are part of its state: the journal
    /// hears of it), which also retires its CAS unique. Returns false if there is no key.
    pub fn set_client_flags(&mut self, slot: u16, key: &[u8], flags: u32, now: Now) -> bool {
        let hash = self.hasher.hash_one(key);
        let Some(at) = self.locate(slot, hash, key, now, Access::Peek) else {
            return false;
        };
        let mut e = self.guard(at, true);
        let mc = e.mc();
        e.set_mc(crate::Mc {
            flags,
            cas: 0,
            ..mc
        });
        true
    }

    /// The entry at `at`, borrowed with the shard's byte count so that a change of its
    /// size is accounted when the guard drops; a `write` guard also hands the journal the
    /// entry's new state then. The other guards change only what is no part of the key's
    /// state (a CAS unique handed out, the fetched and lease bits).
    fn guard(&mut self, at: Position, write: bool) -> EntryMut<'_> {
        let Db {
            slots,
            bytes,
            journal,
            index,
            volatile_hashes,
            ..
        } = self;
        let entry = slots[at.local].table.get_mut(at.bucket);
        let before = entry.mem_usage();
        EntryMut {
            entry,
            bytes,
            before,
            journal: journal.as_deref().filter(|_| write).map(|j| (j, *index)),
            dirty: false,
            volatile_hashes,
            op_journaled: false,
        }
    }

    /// Looks a key up for a write command: records the access, counts nothing. Only a key
    /// that is there is reported written (WATCH, tracking, blocked clients): a write
    /// command that finds nothing changes nothing, as in Redis.
    pub fn write(&mut self, slot: u16, key: &[u8], now: Now) -> Option<EntryMut<'_>> {
        let hash = self.hasher.hash_one(key);
        self.record_write(hash);
        let at = self.locate(slot, hash, key, now, Access::Write)?;
        self.changed(key, Change::Written);
        Some(self.guard(at, true))
    }

    /// Looks a key up for a write command on a collection (HSET, SADD): the live entry,
    /// or a new one holding `make()` when there is none (and whether it is new). A new key
    /// is journaled like any write: its state when the guard drops, unless the command
    /// journals its operation (`EntryMut::journal_op`) first. The command checks the type
    /// of an entry that was there.
    pub fn write_or_create(
        &mut self,
        slot: u16,
        key: &[u8],
        now: Now,
        make: impl FnOnce() -> Object,
    ) -> (EntryMut<'_>, bool) {
        self.changed(key, Change::Written);
        let hash = self.hasher.hash_one(key);
        self.record_write(hash);
        if let Some(at) = self.locate(slot, hash, key, now, Access::Write) {
            return (self.guard(at, true), false);
        }
        let mut e = Entry::new(key, Src::Obj(Box::new(make())), 0, now.s);
        if self.sketch.is_some() {
            e.set_bits(self.recorded);
        }
        self.ensure_slots();
        let local = self.local(slot);
        let hasher = self.hasher.clone();
        let st = &mut self.slots[local];
        let table_before = st.table.allocation_size();
        let mut delta = e.mem_usage() as isize;
        let bucket = st.table.insert_new(hash, e, |e| hasher.hash_one(e.key()));
        delta += st.table.allocation_size() as isize - table_before as isize;
        self.keys += 1;
        self.account(delta);
        self.report(key, Change::Created);
        let mut e = self.guard(Position { local, bucket }, true);
        e.dirty = true;
        (e, true)
    }

    /// The live entry for `key`, read only: no expiry on the spot (an expired key is just
    /// absent), no touch, no counting. For a command that holds several databases at once
    /// (`Locked::db_ref`) after it looked each key up properly.
    pub fn get(&self, slot: u16, key: &[u8], now: Now) -> Option<&Entry> {
        let at = self.find(slot, key)?;
        self.entry_at(at).filter(|e| !e.is_expired(now.ms))
    }

    /// Looks a key up without touching it or counting (TTL, TYPE, OBJECT, EXISTS-like
    /// checks inside other commands).
    pub fn peek(&mut self, slot: u16, key: &[u8], now: Now) -> Option<&Entry> {
        self.live(slot, key, now).map(|e| &*e)
    }

    pub fn contains(&mut self, slot: u16, key: &[u8], now: Now) -> bool {
        self.live(slot, key, now).is_some()
    }

    /// Writes `value` under `key` with one hash probe. Returns whether a live key was
    /// replaced.
    pub fn set(
        &mut self,
        slot: u16,
        key: &[u8],
        value: Value,
        expire: ExpireChange,
        now: Now,
    ) -> bool {
        crate::entry::with_src(value, |src| self.set_src(slot, key, src, expire, now))
    }

    /// [`Db::set`] for a string straight from the request (SET, MSET, SETEX): kept as an
    /// integer when it spells one, otherwise copied once, into the entry's block.
    pub fn set_bytes(
        &mut self,
        slot: u16,
        key: &[u8],
        value: &[u8],
        expire: ExpireChange,
        now: Now,
    ) -> bool {
        let src = match crate::value::parse_canonical_i64(value) {
            Some(i) => Src::Int(i),
            None => Src::Bytes(value),
        };
        self.set_src(slot, key, src, expire, now)
    }

    /// Writes `value` under `key` and returns the value it replaced (GETSET, SET GET).
    pub fn replace(
        &mut self,
        slot: u16,
        key: &[u8],
        value: Value,
        expire: ExpireChange,
        now: Now,
    ) -> Option<Value> {
        let old = self.live(slot, key, now).map(|e| e.value().to_owned());
        self.set(slot, key, value, expire, now);
        old
    }

    fn set_src(
        &mut self,
        slot: u16,
        key: &[u8],
        value: Src<'_>,
        expire: ExpireChange,
        now: Now,
    ) -> bool {
        self.changed(key, Change::Written);
        let hash = self.hasher.hash_one(key);
        self.record_write(hash);
        let hasher = self.hasher.clone();
        let lfu = self.lfu;
        let new_ttl = match expire {
            ExpireChange::At(t) => t,
            _ => 0,
        };
        self.ensure_slots();
        let local = self.local(slot);
        let st = &mut self.slots[local];
        let table_before = st.table.allocation_size();
        let mut delta: isize = 0;
        let (replaced, was_volatile, is_volatile, expired) = match st.table.find(hash, key) {
            Some(i) => {
                let e = st.table.get_mut(i);
                delta -= e.mem_usage() as isize;
                let expired = e.is_expired(now.ms);
                let was_volatile = e.has_ttl();
                let deadline = match expire {
                    ExpireChange::Keep if !expired => e.deadline(),
                    _ => new_ttl,
                };
                if expired {
                    // A dead key's metadata does not carry over to its successor.
                    e.replace(Entry::new(key, value, deadline, now.s));
                } else if was_volatile == (deadline != 0) {
                    e.set_deadline(deadline);
                    e.set_src(value);
                    e.touch(now.s, lfu);
                } else {
                    // The block changes shape anyway: build it once.
                    let meta = e.meta();
                    e.replace(Entry::build(key, value, deadline, meta));
                    e.touch(now.s, lfu);
                }
                if self.sketch.is_some() {
                    e.set_bits(self.recorded);
                }
                delta += e.mem_usage() as isize;
                if let Some(j) = &self.journal {
                    j.record(self.index, Effect::Set(e));
                }
                note_volatile_hash(&mut self.volatile_hashes, e);
                (!expired, was_volatile, deadline != 0, expired)
            }
            None => {
                let mut e = Entry::new(key, value, new_ttl, now.s);
                if self.sketch.is_some() {
                    e.set_bits(self.recorded);
                }
                delta += e.mem_usage() as isize;
                if let Some(j) = &self.journal {
                    j.record(self.index, Effect::Set(&e));
                }
                note_volatile_hash(&mut self.volatile_hashes, &e);
                st.table.insert_new(hash, e, |e| hasher.hash_one(e.key()));
                (false, false, new_ttl != 0, false)
            }
        };
        delta += st.table.allocation_size() as isize - table_before as isize;
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
        if expired {
            self.stats.expired += 1;
        } else if !replaced {
            self.keys += 1;
        }
        self.account(delta);
        if !replaced {
            self.report(key, Change::Created);
        }
        replaced
    }

    /// Allocates the per-slot table headers on the first write.
    fn ensure_slots(&mut self) {
        if self.slots.is_empty() {
            self.slots
                .resize_with(self.slots_per_shard, SlotTable::default);
            self.account((self.slots.capacity() * std::mem::size_of::<SlotTable>()) as isize);
        }
    }

    /// Inserts a whole entry taken from elsewhere (RENAME, MOVE, COPY, RESTORE), replacing
    /// any key of the same name. Returns the entry it replaced, if that one was live.
    pub fn put_entry(&mut self, slot: u16, entry: Entry, now: Now) -> Option<Entry> {
        self.changed(entry.key(), Change::Written);
        let old = self.remove(slot, entry.key(), now);
        if old.is_none() {
            self.report(entry.key(), Change::Created);
        }
        let hash = self.hasher.hash_one(entry.key());
        let hasher = self.hasher.clone();
        self.ensure_slots();
        let local = self.local(slot);
        let st = &mut self.slots[local];
        let table_before = st.table.allocation_size();
        let volatile = entry.has_ttl();
        let mut delta = entry.mem_usage() as isize;
        if let Some(j) = &self.journal {
            j.record(self.index, Effect::Set(&entry));
        }
        note_volatile_hash(&mut self.volatile_hashes, &entry);
        st.table
            .insert_new(hash, entry, |e| hasher.hash_one(e.key()));
        delta += st.table.allocation_size() as isize - table_before as isize;
        if volatile {
            st.volatile += 1;
            self.volatile += 1;
        }
        self.keys += 1;
        self.account(delta);
        old
    }

    /// Removes `key`; returns its entry if it was live.
    pub fn remove(&mut self, slot: u16, key: &[u8], now: Now) -> Option<Entry> {
        let at = self.find(slot, key)?;
        let (entry, _) = self.take_at(at, Change::Deleted);
        if entry.is_expired(now.ms) {
            self.stats.expired += 1;
            return None;
        }
        Some(entry)
    }

    /// Sets or clears the TTL of a live key. Returns false when the key does not exist.
    pub fn set_expire(&mut self, slot: u16, key: &[u8], at: Option<u64>, now: Now) -> bool {
        self.changed(key, Change::Written);
        let Some(e) = self.live(slot, key, now) else {
            return false;
        };
        let was = e.has_ttl();
        let before = e.mem_usage() as isize;
        e.set_deadline(at.unwrap_or(0));
        let is = e.has_ttl();
        let delta = e.mem_usage() as isize - before;
        self.journal(Effect::Expire(key, at));
        self.account(delta);
        if was != is {
            let local = self.local(slot);
            let st = &mut self.slots[local];
            if is {
                st.volatile += 1;
                self.volatile += 1;
            } else {
                st.volatile -= 1;
                self.volatile -= 1;
            }
        }
        true
    }

    /// Takes every key out, leaving the database empty; the caller decides where the
    /// memory is freed (FLUSHDB ASYNC drops it on a background thread).
    pub fn take_all(&mut self) -> Flushed {
        self.touch_watched_present(None);
        let mut freed = self.slots.capacity() * std::mem::size_of::<SlotTable>();
        for st in &self.slots {
            freed += st.table.allocation_size();
            freed += st.table.iter().map(Entry::mem_usage).sum::<usize>();
        }
        self.account(-(freed as isize));
        self.keys = 0;
        self.volatile = 0;
        self.volatile_hashes = Deadlines::default();
        Flushed(std::mem::take(&mut self.slots))
    }

    /// Puts what [`Db::take_all`] took from another database of the same shape (a
    /// replica's full sync, loaded aside) in place of this one's (empty) contents.
    pub fn install(&mut self, taken: Flushed) {
        debug_assert!(self.slots.is_empty(), "install into an emptied database");
        let slots = taken.0;
        let mut bytes = slots.capacity() * std::mem::size_of::<SlotTable>();
        let (mut keys, mut volatile) = (0, 0);
        for st in &slots {
            bytes += st.table.allocation_size();
            bytes += st.table.iter().map(Entry::mem_usage).sum::<usize>();
            keys += st.table.len();
            volatile += st.volatile as usize;
            for e in st.table.iter() {
                note_volatile_hash(&mut self.volatile_hashes, e);
            }
        }
        self.slots = slots;
        self.keys = keys;
        self.volatile = volatile;
        self.account(bytes as isize);
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

    /// Keys stored in hash slot `slot` (CLUSTER COUNTKEYSINSLOT): expired ones not yet
    /// removed count, as in Redis.
    pub fn slot_len(&self, slot: u16) -> usize {
        self.slots
            .get(self.local(slot))
            .map_or(0, |st| st.table.len())
    }

    /// Up to `count` live keys of hash slot `slot` (CLUSTER GETKEYSINSLOT, migration).
    pub fn slot_keys(&self, slot: u16, count: usize, now: Now) -> Vec<Vec<u8>> {
        let Some(st) = self.slots.get(self.local(slot)) else {
            return Vec::new();
        };
        st.table
            .iter()
            .filter(|e| !e.is_expired(now.ms))
            .take(count)
            .map(|e| e.key().to_vec())
            .collect()
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
            let key = self.random_entry(false)?.key().to_vec();
            let slot = crate::key_slot(&key);
            if self.peek(slot, &key, now).is_some() {
                return Some(key);
            }
        }
        None
    }

    /// The entry at `at`, if there is one.
    pub(crate) fn entry_at(&self, at: Position) -> Option<&Entry> {
        self.slots.get(at.local)?.table.bucket(at.bucket)
    }

    /// The entry `identity` (see `Entry::identity`) last seen at `at`: there, or a few
    /// buckets back, where removals before it in its probe run shift it.
    pub(crate) fn relocate(&self, at: Position, identity: usize) -> Option<(Position, &Entry)> {
        let table = &self.slots.get(at.local)?.table;
        let n = table.num_buckets();
        // (A table that grew or shrank since has other bucket numbers: the identity check
        // then fails and the victim is dropped.)
        (0..4.min(n)).find_map(|back| {
            let bucket = (at.bucket % n + n - back) % n;
            table
                .bucket(bucket)
                .filter(|e| e.identity() == identity)
                .map(|e| {
                    (
                        Position {
                            local: at.local,
                            bucket,
                        },
                        e,
                    )
                })
        })
    }

    /// A random entry, live or not; with `volatile`, one that carries a TTL.
    pub fn random_entry(&self, volatile: bool) -> Option<&Entry> {
        self.random_position(volatile)
            .map(|p| self.slots[p.local].table.get(p.bucket))
    }

    /// Where a random entry is (see [`Db::random_entry`]).
    fn random_position(&self, volatile: bool) -> Option<Position> {
        let n = self.slots.len();
        let have = if volatile { self.volatile } else { self.keys };
        if have == 0 || n == 0 {
            return None;
        }
        let nonempty = |st: &SlotTable| {
            if volatile {
                st.volatile > 0
            } else {
                !st.table.is_empty()
            }
        };
        let mut local = fastrand::usize(..n);
        let mut tries = 0;
        while !nonempty(&self.slots[local]) {
            tries += 1;
            local = if tries < 64 {
                fastrand::usize(..n)
            } else {
                (local + 1) % n
            };
        }
        let st = &self.slots[local];
        let table = &st.table;
        let buckets = table.num_buckets();
        for _ in 0..64 {
            let bucket = fastrand::usize(..buckets);
            if table
                .bucket(bucket)
                .is_some_and(|e| !volatile || e.has_ttl())
            {
                return Some(Position { local, bucket });
            }
        }
        let count = if volatile {
            st.volatile as usize
        } else {
            table.len()
        };
        table
            .occupied()
            .filter(|(_, e)| !volatile || e.has_ttl())
            .nth(fastrand::usize(..count.max(1)))
            .map(|(bucket, _)| Position { local, bucket })
    }

    /// Calls `f` with up to `n` random entries (with `volatile`, ones that carry a TTL)
    /// and where they are. Eviction samples a few keys for every write, so entries are
    /// drawn several at a time from one random slot table when the table is big enough for
    /// that to still be a fair sample (a quarter of its keys at most): one bucket array
    /// touched instead of `n`. Small tables give one entry each.
    pub fn sample<'a>(&'a self, volatile: bool, n: usize, mut f: impl FnMut(Position, &'a Entry)) {
        // Positions are drawn first and their blocks prefetched, then scored: each score
        // reads a block header that is rarely in cache, and asking for them all at once
        // overlaps those misses instead of paying them one after another.
        const BATCH: usize = 8;
        let mut batch: [Option<(Position, &'a Entry)>; BATCH] = [None; BATCH];
        let mut found = 0;
        let mut rounds = 0;
        while found < n && rounds < n {
            rounds += 1;
            let Some(first) = self.random_position(volatile) else {
                return;
            };
            let table = &self.slots[first.local].table;
            let mut len = 0;
            let mut push = |at: Position, e: &'a Entry, f: &mut dyn FnMut(Position, &'a Entry)| {
                e.prefetch();
                batch[len] = Some((at, e));
                len += 1;
                if len == BATCH {
                    for (at, e) in batch.iter_mut().filter_map(Option::take) {
                        f(at, e);
                    }
                    len = 0;
                }
            };
            push(first, table.get(first.bucket), &mut f);
            found += 1;
            let more = (table.len() / 4).min(n - found);
            let buckets = table.num_buckets();
            let (mut got, mut tries) = (0, 0);
            while got < more && tries < 4 * more {
                tries += 1;
                let bucket = fastrand::usize(..buckets);
                if let Some(e) = table.bucket(bucket)
                    && (!volatile || e.has_ttl())
                {
                    let at = Position {
                        local: first.local,
                        bucket,
                    };
                    push(at, e, &mut f);
                    got += 1;
                }
            }
            found += got;
            for (at, e) in batch.iter_mut().filter_map(Option::take) {
                f(at, e);
            }
        }
    }

    /// Evicts the entry at `at`, found by [`Db::sample`] under the same lock. Returns the
    /// bytes freed.
    pub fn evict_at(&mut self, at: Position) -> usize {
        let (entry, freed) = self.take_at(at, Change::Evicted);
        self.dispose(entry, Removed::Evicted);
        self.stats.evicted += 1;
        freed
    }

    /// Drops an entry this database removed on its own, or hands it to the disposer when
    /// it is big: a million-field hash evicted or expired costs the request no stall.
    fn dispose(&self, entry: Entry, why: Removed) {
        match &self.disposer {
            Some(d) if entry.value_heap_size() >= LAZYFREE_BYTES => (d.0)(entry, why),
            _ => drop(entry),
        }
    }

    /// Removes a key chosen by the eviction policy. Returns the bytes it freed, or `None`
    /// if the key is no longer there.
    pub fn evict(&mut self, slot: u16, key: &[u8]) -> Option<usize> {
        let at = self.find(slot, key)?;
        Some(self.evict_at(at))
    }

    /// Where `key` is, live or not.
    fn find(&self, slot: u16, key: &[u8]) -> Option<Position> {
        let local = self.local(slot);
        let bucket = self
            .slots
            .get(local)?
            .table
            .find(self.hasher.hash_one(key), key)?;
        Some(Position { local, bucket })
    }

    /// Takes the entry at `at` out, keeping every count (keys, TTL keys, bytes) right.
    /// Returns it and the bytes freed with it (its own and any table shrink).
    fn take_at(&mut self, at: Position, change: Change) -> (Entry, usize) {
        let st = &mut self.slots[at.local];
        let hasher = &self.hasher;
        let table_before = st.table.allocation_size();
        let entry = st.table.remove_at(at.bucket, |e| hasher.hash_one(e.key()));
        let freed = entry.mem_usage() + table_before - st.table.allocation_size();
        if entry.has_ttl() {
            st.volatile -= 1;
            self.volatile -= 1;
        }
        self.keys -= 1;
        self.account(-(freed as isize));
        self.changed(entry.key(), change);
        self.journal(Effect::Del(entry.key()));
        (entry, freed)
    }

    /// Removes up to `max` fields of the hash at `at` whose time has passed, as Redis's
    /// primary does: journaled as one HDEL (replicas and the AOF see a deletion, never a
    /// clock), reported as `hexpired`; the key goes too (reported as deleted) when its last
    /// field went. Returns whether it did.
    fn expire_fields(&mut self, at: Position, now: Now, max: usize) -> bool {
        let entry = self.slots[at.local].table.get_mut(at.bucket);
        let before = entry.mem_usage();
        let Some(h) = entry.object_mut().and_then(Object::as_hash_mut) else {
            return false;
        };
        let mut gone: Vec<Box<[u8]>> = Vec::new();
        while gone.len() < max
            && let Some(f) = h.pop_due(now.ms)
        {
            gone.push(f);
        }
        let emptied = h.is_empty();
        let after = entry.mem_usage();
        let key: Box<[u8]> = entry.key().into();
        self.account(after as isize - before as isize);
        if gone.is_empty() {
            return false;
        }
        self.stats.expired_fields += gone.len() as u64;
        if let Some(j) = &self.journal {
            let mut op: Vec<&[u8]> = Vec::with_capacity(gone.len() + 2);
            op.push(b"HDEL");
            op.push(&key);
            op.extend(gone.iter().map(|f| &f[..]));
            j.record(self.index, Effect::Op(&op));
        }
        self.changed(&key, Change::FieldsExpired);
        if emptied {
            self.volatile_hashes.remove(&key);
            self.take_at(at, Change::Emptied);
        }
        emptied
    }

    /// One step of the active expiry of hash fields: takes the hashes whose earliest
    /// field is due off the index, expires up to `budget` fields among them, and puts each
    /// back under its next field's time. Returns how many fields it expired.
    pub fn sweep_fields(&mut self, budget: usize, now: Now) -> usize {
        let mut expired = 0;
        while expired < budget
            && let Some(key) = self.volatile_hashes.pop_due(now.ms)
        {
            let Some(at) = self.find_by_key(&key) else {
                continue;
            };
            let before = self.stats.expired_fields;
            if !self.expire_fields(at, now, budget - expired) {
                let entry = self.slots[at.local].table.get(at.bucket);
                note_volatile_hash(&mut self.volatile_hashes, entry);
            }
            expired += (self.stats.expired_fields - before) as usize;
        }
        expired
    }

    /// Where `key` is, live or not, by its name alone (the sweep knows keys, not slots).
    fn find_by_key(&self, key: &[u8]) -> Option<Position> {
        self.find(crate::slot::key_slot(key), key)
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
        let mut freed = 0;
        while seen < budget && visited_tables < n {
            let local = *cursor % n;
            *cursor = (local + 1) % n;
            visited_tables += 1;
            let st = &mut self.slots[local];
            if st.volatile == 0 {
                continue;
            }
            seen += st.table.len();
            let hasher = &self.hasher;
            let mut gone = 0;
            let table_before = st.table.allocation_size();
            st.table.extract(
                |e| e.is_expired(now.ms),
                |e| hasher.hash_one(e.key()),
                |e| {
                    gone += 1;
                    freed += e.mem_usage();
                    self.watchers.touch(e.key());
                    report(&self.observer, self.index, e.key(), Change::Expired);
                    if let Some(j) = &self.journal {
                        j.record(self.index, Effect::Del(e.key()));
                    }
                    on_expired(e);
                },
            );
            freed += table_before - st.table.allocation_size();
            st.volatile -= gone;
            removed += gone as usize;
        }
        self.account(-(freed as isize));
        self.volatile -= removed;
        self.keys -= removed;
        self.stats.expired += removed as u64;
        (seen, removed)
    }
}
