//! RDB object type ids: the first byte of a DUMP payload, the same numbers as in Redis's
//! `rdb.h` (the `RDB_TYPE_` prefix dropped). Every id Redis has assigned is listed, read or
//! not, so the decoder can name what it refuses and a reader sees where the next types go.

/// A string: an RDB string (`string.rs`).
pub const STRING: u8 = 0;
/// A list as a length and its elements (before quicklists).
pub const LIST: u8 = 1;
/// A set as a length and its members; Redis writes it for sets in hash-table form.
pub const SET: u8 = 2;
/// A sorted set with scores as text.
pub const ZSET: u8 = 3;
/// A hash as a length and its field/value pairs; Redis writes it for hashes in hash-table
/// form.
pub const HASH: u8 = 4;
/// A sorted set with binary double scores.
pub const ZSET_2: u8 = 5;
/// Module values (never readable here: they need the module).
pub const MODULE_PRE_GA: u8 = 6;
pub const MODULE_2: u8 = 7;
/// A hash as a zipmap blob (Redis before 2.6).
pub const HASH_ZIPMAP: u8 = 9;
/// A list as one ziplist blob (Redis before 3.2).
pub const LIST_ZIPLIST: u8 = 10;
/// A set of integers as an intset blob (`intset.rs`).
pub const SET_INTSET: u8 = 11;
/// A sorted set as a ziplist blob (Redis before 7.0).
pub const ZSET_ZIPLIST: u8 = 12;
/// A hash as a ziplist blob (Redis before 7.0).
pub const HASH_ZIPLIST: u8 = 13;
/// A list as a quicklist of ziplists (Redis 3.2 to 6.2).
pub const LIST_QUICKLIST: u8 = 14;
/// Streams, in the successive layouts of 5.0, 7.0 and 7.2 (`stream.rs`): 7.0 added the
/// stream's first id, greatest deleted id and entries added, and each group's read
/// counter; 7.2 each consumer's active time.
pub const STREAM_LISTPACKS: u8 = 15;
/// A hash as a listpack blob (`listpack.rs`); Redis 7.0 writes it for small hashes.
pub const HASH_LISTPACK: u8 = 16;
/// A sorted set as a listpack blob.
pub const ZSET_LISTPACK: u8 = 17;
/// A list as a quicklist of listpacks (Redis 7.0).
pub const LIST_QUICKLIST_2: u8 = 18;
pub const STREAM_LISTPACKS_2: u8 = 19;
/// A set as a listpack blob; Redis 7.2 writes it for small sets of strings.
pub const SET_LISTPACK: u8 = 20;
pub const STREAM_LISTPACKS_3: u8 = 21;
/// Hashes with per-field TTLs (Redis 7.4).
pub const HASH_METADATA_PRE_GA: u8 = 22;
pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
pub const HASH_METADATA: u8 = 24;
pub const HASH_LISTPACK_EX: u8 = 25;
