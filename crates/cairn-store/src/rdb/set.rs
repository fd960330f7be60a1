//! Sets in a payload. Redis 7.0 writes a set in the form it holds it in: an intset blob
//! (`SET_INTSET`) while every member is an integer and there are at most
//! `set-max-intset-entries` of them, else a count and its members as RDB strings (`SET`).
//! Cairn writes the same from the same default, whatever form it holds the set in; Redis
//! converts on load when its own settings differ. Redis 7.2 adds listpack blobs for small
//! sets of strings (`SET_LISTPACK`), which are read but not written (7.0 refuses them).

use std::collections::HashSet;

use super::error::{DumpError, Result};
use super::input::{Input, capacity_for};
use super::{intset, length, listpack, string, types};

/// Redis's default `set-max-intset-entries`: the most members written as an intset.
pub const MAX_INTSET_ENTRIES: usize = 512;

/// Reads the body of a set of object type `kind` (one of `SET`, `SET_INTSET`,
/// `SET_LISTPACK`).
pub fn read(kind: u8, input: &mut Input<'_>) -> Result<Vec<Vec<u8>>> {
    let members = match kind {
        types::SET => {
            let n = length::read_len(input)?;
            let mut members = Vec::with_capacity(capacity_for(n, input));
            for _ in 0..n {
                members.push(string::read(input)?);
            }
            members
        }
        types::SET_INTSET => intset::parse(&string::read(input)?)?
            .into_iter()
            .map(|i| itoa::Buffer::new().format(i).as_bytes().to_vec())
            .collect(),
        types::SET_LISTPACK => listpack::parse(&string::read(input)?)?,
        _ => return Err(DumpError::BadFormat),
    };
    // Redis refuses an empty set ("empty keys skipped") and repeated members.
    let mut seen = HashSet::with_capacity(members.len());
    if members.is_empty() || !members.iter().all(|m| seen.insert(m.as_slice())) {
        return Err(DumpError::BadFormat);
    }
    Ok(members)
}

/// Writes the object type and body of the set holding `members` (distinct, at least
/// one: Redis refuses an empty set).
pub fn write<M: AsRef<[u8]>>(out: &mut Vec<u8>, members: &[M]) {
    let ints: Option<Vec<i64>> = (members.len() <= MAX_INTSET_ENTRIES)
        .then(|| {
            members
                .iter()
                .map(|m| crate::value::parse_canonical_i64(m.as_ref()))
                .collect()
        })
        .flatten();
    match ints {
        Some(ints) => {
            out.push(types::SET_INTSET);
            string::write_blob(out, &intset::build(&ints));
        }
        None => {
            out.push(types::SET);
            length::write(out, members.len() as u64);
            for m in members {
                string::write(out, m.as_ref());
            }
        }
    }
}
