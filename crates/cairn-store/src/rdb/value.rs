//! The value a payload holds, in a form owned by nobody's encoding: what RESTORE hands to
//! the keyspace and what a test compares against. Each value type maps its own objects
//! to and from this (`dump.rs`).
//!
//! A stream is the exception: its entries, counters, consumer groups, consumers and
//! pending entries are checked against one another as they are read (an entry delivered
//! to a consumer must be pending in its group, ids must grow), which is the stream's own
//! bookkeeping, so the reader builds a [`Stream`] directly (`stream.rs`) and hands it
//! over whole. Its equality is encoding-neutral too: the same entries, counters and
//! groups, whatever nodes hold them.

use crate::types::stream::Stream;

/// A decoded DUMP payload.
///
/// Collections keep the order the payload listed them in (Redis's listpack order, or its
/// hash table's iteration order); they are never empty, and hashes, sets and sorted sets
/// never hold duplicates, since Redis refuses such payloads and so does the decoder.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RdbValue {
    /// A string, byte for byte (integers come back as their decimal spelling).
    String(Vec<u8>),
    /// A hash: its field/value pairs.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// A hash with volatile fields: field, value, and when it expires (unix ms, 0 for
    /// never).
    HashWithTimes(Vec<(Vec<u8>, Vec<u8>, u64)>),
    /// A set: its members (intset members as their decimal spelling).
    Set(Vec<Vec<u8>>),
    /// A list: its elements in order (repeats allowed; packed integers as their decimal
    /// spelling).
    List(Vec<Vec<u8>>),
    /// A sorted set: member and score pairs, in the payload's order (ascending in a
    /// listpack, descending in Redis's `ZSET_2`). Scores are never NaN.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// A stream with its consumer groups (possibly without entries: Redis keeps empty
    /// streams), nodes cut by the limits the caller read it with.
    Stream(Box<Stream>),
}

/// Equality is an equivalence: the only values a `PartialEq` of `f64` does not equal to
/// themselves are NaN scores, which a sorted set never holds (the decoder refuses them).
/// `0` and `-0` compare equal, as Redis's scores do. Streams compare as [`Stream`] does.
impl Eq for RdbValue {}

impl RdbValue {
    /// Redis's name for the value's type (TYPE), for messages and tests.
    pub fn type_name(&self) -> &'static str {
        match self {
            RdbValue::String(_) => "string",
            RdbValue::Hash(_) | RdbValue::HashWithTimes(_) => "hash",
            RdbValue::Set(_) => "set",
            RdbValue::List(_) => "list",
            RdbValue::ZSet(_) => "zset",
            RdbValue::Stream(_) => "stream",
        }
    }
}
