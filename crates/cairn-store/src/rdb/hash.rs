//! Hashes in a payload. Redis 7.0 writes a hash in the form it holds it in: a listpack
//! blob (`HASH_LISTPACK`) while it has at most `hash-max-listpack-entries` pairs and no
//! field or value longer than `hash-max-listpack-value` bytes, else a count and its pairs
//! as RDB strings (`HASH`). Cairn writes the same from the same defaults, whatever form
//! it holds the hash in; Redis converts on load when its own settings differ. Redis before
//! 7.0 wrote ziplist blobs (`HASH_ZIPLIST`), which are read too.
//!
//! A hash with volatile fields (Redis 7.4's HEXPIRE) needs RDB 12's forms: Cairn writes
//! `HASH_METADATA` (the earliest time as 8 bytes, the count, then per field its time as
//! a length, 0 for none or `time - earliest + 1`, the field and the value, as Redis's
//! `rdb.c` writes it) and reads that, its 7.4-RC form (absolute times, no earliest) and
//! the listpack forms (`HASH_LISTPACK_EX`: the earliest, then a listpack of field, value,
//! time triplets, 0 for none).

use std::collections::HashSet;

use super::error::{DumpError, Result};
use super::input::{Input, capacity_for};
use super::{length, listpack, string, types, ziplist};

/// Redis's default `hash-max-listpack-entries`: the most pairs written as a listpack
/// (512 in redis-server 7.0's defaults and redis.conf; 128 is the sorted sets' figure).
pub const MAX_LISTPACK_ENTRIES: usize = 512;
/// Redis's default `hash-max-listpack-value`: the longest field or value in a listpack.
pub const MAX_LISTPACK_VALUE: usize = 64;

/// Reads the body of a hash of object type `kind` (one of `HASH`, `HASH_ZIPLIST`,
/// `HASH_LISTPACK`).
pub fn read(kind: u8, input: &mut Input<'_>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let pairs = match kind {
        types::HASH => {
            let n = length::read_len(input)?;
            let mut pairs = Vec::with_capacity(capacity_for(n, input) / 2);
            for _ in 0..n {
                let field = string::read(input)?;
                let value = string::read(input)?;
                pairs.push((field, value));
            }
            pairs
        }
        types::HASH_ZIPLIST => pair_up(ziplist::parse(&string::read(input)?)?)?,
        types::HASH_LISTPACK => pair_up(listpack::parse(&string::read(input)?)?)?,
        _ => return Err(DumpError::BadFormat),
    };
    // Redis refuses an empty hash ("empty keys skipped") and repeated fields.
    let mut seen = HashSet::with_capacity(pairs.len());
    if pairs.is_empty() || !pairs.iter().all(|(f, _)| seen.insert(f.as_slice())) {
        return Err(DumpError::BadFormat);
    }
    Ok(pairs)
}

/// A field, its value, and when it expires (unix ms; 0 for never).
pub type Triple = (Vec<u8>, Vec<u8>, u64);

/// The latest time a field may expire at (Redis's `EB_EXPIRE_TIME_MAX`, 48 bits).
const MAX_TIME: u64 = (1 << 48) - 1;

/// Reads the body of a hash with field times, of object type `kind` (one of
/// `HASH_METADATA`, `HASH_METADATA_PRE_GA`, `HASH_LISTPACK_EX`, `HASH_LISTPACK_EX_PRE_GA`).
pub fn read_with_times(kind: u8, input: &mut Input<'_>) -> Result<Vec<Triple>> {
    let triples = match kind {
        types::HASH_METADATA | types::HASH_METADATA_PRE_GA => {
            let relative = kind == types::HASH_METADATA;
            let earliest = if relative {
                u64::from_le_bytes(input.array()?)
            } else {
                0
            };
            let n = length::read_len(input)?;
            let mut triples = Vec::with_capacity(capacity_for(n, input) / 3);
            for _ in 0..n {
                let t = length::read_len(input)?;
                let at = match t {
                    0 => 0,
                    t if relative => (t - 1).checked_add(earliest).ok_or(DumpError::BadFormat)?,
                    t => t,
                };
                let field = string::read(input)?;
                let value = string::read(input)?;
                triples.push((field, value, at));
            }
            triples
        }
        types::HASH_LISTPACK_EX | types::HASH_LISTPACK_EX_PRE_GA => {
            if kind == types::HASH_LISTPACK_EX {
                input.array::<8>()?;
            }
            let entries = listpack::parse(&string::read(input)?)?;
            if !entries.len().is_multiple_of(3) {
                return Err(DumpError::BadFormat);
            }
            let mut triples = Vec::with_capacity(entries.len() / 3);
            let mut it = entries.into_iter();
            while let (Some(f), Some(v), Some(t)) = (it.next(), it.next(), it.next()) {
                let at = std::str::from_utf8(&t)
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
                    .ok_or(DumpError::BadFormat)?;
                triples.push((f, v, at));
            }
            triples
        }
        _ => return Err(DumpError::BadFormat),
    };
    let mut seen = HashSet::with_capacity(triples.len());
    if triples.is_empty()
        || !triples
            .iter()
            .all(|(f, _, at)| *at <= MAX_TIME && seen.insert(f.as_slice()))
    {
        return Err(DumpError::BadFormat);
    }
    Ok(triples)
}

/// Writes the object type and body of a hash with field times (distinct fields, at least
/// one; a time of 0 is none), as `HASH_METADATA`.
pub fn write_with_times<F: AsRef<[u8]>, V: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    triples: &[(F, V, u64)],
) {
    out.push(types::HASH_METADATA);
    let earliest = triples
        .iter()
        .map(|t| t.2)
        .filter(|&at| at != 0)
        .min()
        .unwrap_or(0);
    out.extend_from_slice(&earliest.to_le_bytes());
    length::write(out, triples.len() as u64);
    for (f, v, at) in triples {
        length::write(out, if *at == 0 { 0 } else { at - earliest + 1 });
        string::write(out, f.as_ref());
        string::write(out, v.as_ref());
    }
}

/// Fields and values alternate in a packed hash.
pub(super) fn pair_up(entries: Vec<Vec<u8>>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if !entries.len().is_multiple_of(2) {
        return Err(DumpError::BadFormat);
    }
    let mut pairs = Vec::with_capacity(entries.len() / 2);
    let mut it = entries.into_iter();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        pairs.push((f, v));
    }
    Ok(pairs)
}

/// Writes the object type and body of the hash holding `pairs` (distinct fields, at
/// least one pair: Redis refuses an empty hash).
pub fn write<F: AsRef<[u8]>, V: AsRef<[u8]>>(out: &mut Vec<u8>, pairs: &[(F, V)]) {
    let small = pairs.len() <= MAX_LISTPACK_ENTRIES
        && pairs.iter().all(|(f, v)| {
            f.as_ref().len() <= MAX_LISTPACK_VALUE && v.as_ref().len() <= MAX_LISTPACK_VALUE
        });
    if small {
        out.push(types::HASH_LISTPACK);
        let blob = listpack::build(pairs.iter().flat_map(|(f, v)| [f.as_ref(), v.as_ref()]));
        string::write_blob(out, &blob);
    } else {
        out.push(types::HASH);
        length::write(out, pairs.len() as u64);
        for (f, v) in pairs {
            string::write(out, f.as_ref());
            string::write(out, v.as_ref());
        }
    }
}
