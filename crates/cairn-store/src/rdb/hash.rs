//! Hashes in a payload. Redis 7.0 writes a hash in the form it holds it in: a listpack
//! blob (`HASH_LISTPACK`) while it has at most `hash-max-listpack-entries` pairs and no
//! field or value longer than `hash-max-listpack-value` bytes, else a count and its pairs
//! as RDB strings (`HASH`). Cairn writes the same from the same defaults, whatever form
//! it holds the hash in; Redis converts on load when its own settings differ. Redis before
//! 7.0 wrote ziplist blobs (`HASH_ZIPLIST`), which are read too.

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

/// Fields and values alternate in a packed hash.
fn pair_up(entries: Vec<Vec<u8>>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
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
