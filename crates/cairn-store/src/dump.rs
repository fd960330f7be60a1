//! The DUMP / RESTORE payload: Cairn's own format, versioned and checksummed, so a value
//! can travel between Cairn nodes (RESTORE, MIGRATE, slot migration) and damage is
//! detected instead of loaded.
//!
//! ```text
//! +------+----------------+---------+-----------+------------------+
//! | type | varint len     | payload | version   | xxh3-64 checksum |
//! | u8   | LEB128         | bytes   | u16 LE    | u64 LE           |
//! +------+----------------+---------+-----------+------------------+
//! ```
//!
//! As in Redis, the version and checksum trail the payload, and the checksum covers
//! everything before it. The type byte leaves room for the value types still to come.

use cairn_protocol::varint;

use crate::value::{Value, ValueRef};

/// Bumped whenever the payload layout changes; older versions stay readable.
pub const DUMP_VERSION: u16 = 1;

const TYPE_STRING: u8 = 0;

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpError {
    /// Wrong version or checksum (Redis: "DUMP payload version or checksum are wrong").
    VersionOrChecksum,
    /// Checksum fine but the body is not a value we know (Redis: "Bad data format").
    BadFormat,
}

/// Serializes a value for DUMP.
pub fn serialize(value: ValueRef<'_>) -> Vec<u8> {
    value.with_bytes(|bytes| {
        let mut out = Vec::with_capacity(bytes.len() + 20);
        out.push(TYPE_STRING);
        varint::push(&mut out, bytes.len() as u64);
        out.extend_from_slice(bytes);
        out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
        let sum = xxhash_rust::xxh3::xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    })
}

/// Reads a payload made by [`serialize`].
pub fn deserialize(payload: &[u8]) -> Result<Value, DumpError> {
    if payload.len() < 11 {
        return Err(DumpError::VersionOrChecksum);
    }
    let (body, sum) = payload.split_at(payload.len() - 8);
    let sum = u64::from_le_bytes(sum.try_into().expect("8 bytes"));
    let version = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    if version == 0 || version > DUMP_VERSION || xxhash_rust::xxh3::xxh3_64(body) != sum {
        return Err(DumpError::VersionOrChecksum);
    }
    let body = &body[..body.len() - 2];
    if body[0] != TYPE_STRING {
        return Err(DumpError::BadFormat);
    }
    let (len, n) = varint::decode(&body[1..]).ok_or(DumpError::BadFormat)?;
    let i = 1 + n;
    if (body.len() - i) as u64 != len {
        return Err(DumpError::BadFormat);
    }
    Ok(Value::from_bytes(&body[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let v = Value::from_bytes(&bytes);
            prop_assert_eq!(deserialize(&serialize(v.as_ref())), Ok(v.clone()));
        }

        #[test]
        fn any_single_byte_flip_is_detected(bytes in proptest::collection::vec(any::<u8>(), 0..64), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut payload = serialize(Value::from_bytes(&bytes).as_ref());
            let i = at.index(payload.len());
            payload[i] ^= 1 << bit;
            prop_assert!(deserialize(&payload).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = deserialize(&bytes);
        }
    }
}
