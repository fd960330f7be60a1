//! The keyspace: every key Cairn holds, with its value, expiry and access metadata.
//!
//! Synchronous and free of I/O: the server calls in with the current time and gets answers
//! back; nothing here blocks, sleeps or spawns.
//!
//! # Layout
//!
//! ```text
//! Keyspace
//!  └─ shards[N]            N a power of two; shard = slot mod N; one mutex each
//!      └─ dbs[databases]   SELECT-able databases, all sharing the shard's lock
//!          └─ slots[16384 / N]   one hash table per Redis Cluster hash slot
//!              └─ Entry    8-byte pointer to one block: key, value, expiry, LRU/LFU bits
//! ```
//!
//! - [`slot`] maps a key to its hash slot exactly as Redis Cluster does (CRC16, hash tags).
//! - [`keyspace`] owns the shards and takes their locks in ascending order for commands that
//!   touch several (MSET, RENAME, FLUSHALL), so two such commands can never deadlock.
//! - [`db`] is one database's share of a shard: per-slot tables, lazy expiry on access,
//!   SCAN cursors, random sampling and the active expiry sweep.
//! - [`entry`] and [`value`] are what one key holds, laid out for the fewest bytes a key;
//!   a collection is an [`object`] ([`types`]: hashes, sets) over compact [`encoding`]s.
//! - [`shard`] is one shard: its share of every database, and TinyLFU's current victim.
//! - [`evict`] picks victims when memory is full; [`sketch`] is the access-frequency
//!   history its TinyLFU policy decides with.
//! - [`glob`] is Redis's pattern language (KEYS, SCAN MATCH, later PSUBSCRIBE).
//! - [`journal`] is where every change leaves as its effect (the write stream's source:
//!   the append-only file, later replicas).
//! - [`lease`] is the lease primitive both protocols share (memcached's meta W/Z/X flags,
//!   RESP's LEASE commands), kept in the entry's memcached fields.
//! - [`dump`] is the payload of DUMP / RESTORE for a key's value, in Redis's RDB value
//!   encoding (it still reads Cairn's first format, for rolling upgrades).
//! - [`rdb`] reads and writes values in Redis's RDB value encoding (strings, hashes, sets),
//!   so DUMP payloads move between Redis and Cairn both ways.
//!
//! Keeping one table per hash slot makes slot-level work cheap: COUNTKEYSINSLOT is a length,
//! migrating a slot walks one table, and a SCAN cursor is a slot position that stays valid
//! however the tables grow, so a full iteration returns every key that existed throughout
//! and never returns one twice.

pub mod alloc;
pub mod db;
pub mod dump;
pub mod encoding;
pub mod entry;
pub mod evict;
pub mod glob;
pub mod hll;
pub mod hold;
pub mod journal;
pub mod keyspace;
pub mod lease;
pub mod limits;
pub mod object;
pub mod observe;
pub mod rdb;
pub mod shard;
pub mod sketch;
pub mod slot;
pub mod table;
pub mod types;
pub mod value;

pub use db::{Db, EntryMut, ExpireChange};
pub use encoding::elem::Elem;
pub use entry::{Entry, Lfu, Mc};
pub use evict::{Evicted, Policy};
pub use hold::{Hold, ShardGuard};
pub use keyspace::{Keyspace, KeyspaceStats, Locked};
pub use limits::Limits;
pub use object::Object;
pub use shard::Shard;
pub use slot::{SLOTS, key_slot};
pub use value::{Value, ValueRef};
