//! DUMP / RESTORE payloads in Redis's RDB value encoding, so that a value DUMPed by
//! redis-server RESTOREs into Cairn and the reverse (MIGRATE between them included).
//!
//! A payload is one object type byte, the value in that type's RDB form, the RDB version
//! and a CRC-64 (`payload.rs` draws it). Each file holds one idea:
//!
//! | file | holds |
//! |---|---|
//! | `payload.rs` | the footer, and which type reads which body: the entry points |
//! | `file.rs` | whole RDB files (`dump.rdb`): header, opcodes, keys, the checksum at EOF |
//! | `value.rs` | [`RdbValue`], the decoded value, owned and encoding-neutral |
//! | `error.rs` | [`DumpError`], the two refusals RESTORE answers |
//! | `types.rs` | the object type ids of Redis's `rdb.h` |
//! | `input.rs` | the bounds-checked cursor every reader reads through |
//! | `length.rs`, `string.rs`, `lzf.rs` | RDB lengths, RDB strings, LZF decompression |
//! | `listpack.rs`, `ziplist.rs`, `intset.rs` | Redis's packed blobs, byte for byte |
//! | `hash.rs`, `set.rs`, `list.rs`, `zset.rs`, `stream.rs` | the forms each type is read from and written in |
//! | `testdata/` | payloads redis-server wrote, too long to spell in a test |
//!
//! Everything here reads bytes from strangers: no reader indexes past the end, allocates
//! what a length claims before checking it against the bytes present, or loops without
//! consuming input; anything malformed is [`DumpError::BadFormat`].
//!
//! # Adding a value type
//!
//! A type adds a variant to [`RdbValue`], a file with `read(kind, input)` and
//! `write(out, ..)` built from the blobs here (as `list.rs` builds quicklists from
//! listpacks and ziplists in RDB strings, `zset.rs` reads and writes sorted sets, and
//! `stream.rs` streams with their consumer groups), an `encode_` function and an arm in
//! `payload.rs`'s `decode_payload`. The keyspace side maps its objects to and from the
//! variant in `dump.rs`. (A stream's variant holds the keyspace's own [`Stream`]: see
//! `value.rs`.)
//!
//! [`Stream`]: crate::types::stream::Stream

mod error;
pub mod file;
mod hash;
mod input;
mod intset;
mod length;
mod list;
mod listpack;
pub(crate) mod lzf;
mod payload;
mod set;
mod stream;
mod string;
pub mod types;
mod value;
mod ziplist;
mod zset;

pub use error::DumpError;
pub use hash::{
    MAX_LISTPACK_ENTRIES as HASH_MAX_LISTPACK_ENTRIES,
    MAX_LISTPACK_VALUE as HASH_MAX_LISTPACK_VALUE,
};
pub use payload::{
    FOOTER_LEN, RDB_VERSION, RDB_VERSION_FIELD_TIMES, READABLE_VERSIONS, checked_body,
    decode_payload, decode_payload_with, encode_hash, encode_hash_with_times, encode_int,
    encode_list, encode_payload, encode_set, encode_stream, encode_string, encode_zset,
};
pub use set::MAX_INTSET_ENTRIES as SET_MAX_INTSET_ENTRIES;
pub use value::RdbValue;
pub use zset::{
    MAX_LISTPACK_ENTRIES as ZSET_MAX_LISTPACK_ENTRIES,
    MAX_LISTPACK_VALUE as ZSET_MAX_LISTPACK_VALUE,
};
