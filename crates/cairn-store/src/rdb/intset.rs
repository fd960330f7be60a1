//! Redis's intset, byte for byte: the blob inside `SET_INTSET`, a set whose members are
//! all integers, sorted, each as wide as the widest needs.
//!
//! ```text
//! <width u32 LE: 2, 4 or 8> <count u32 LE> <count integers, width bytes each, LE, ascending>
//! ```
//!
//! Reading checks what Redis's deep integrity check checks: a known width, a size that
//! is exactly header + count × width (compared before anything is allocated), and strictly
//! ascending members (no duplicates).

use super::error::{DumpError, Result};
use super::input::Input;

/// The members of the intset `blob`, ascending.
pub fn parse(blob: &[u8]) -> Result<Vec<i64>> {
    let mut input = Input::new(blob);
    let width = u32::from_le_bytes(input.array()?) as usize;
    let count = u32::from_le_bytes(input.array()?) as usize;
    if !matches!(width, 2 | 4 | 8) || count.checked_mul(width) != Some(input.remaining()) {
        return Err(DumpError::BadFormat);
    }
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let v = match width {
            2 => i64::from(i16::from_le_bytes(input.array()?)),
            4 => i64::from(i32::from_le_bytes(input.array()?)),
            _ => i64::from_le_bytes(input.array()?),
        };
        if members.last().is_some_and(|&last| last >= v) {
            return Err(DumpError::BadFormat);
        }
        members.push(v);
    }
    input.finish()?;
    Ok(members)
}

/// The intset holding `members` (any order; a duplicate is kept once), as wide as the
/// widest member needs, as Redis's `intsetAdd` leaves it.
pub fn build(members: &[i64]) -> Vec<u8> {
    let mut sorted = members.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let width: usize = if sorted.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if sorted.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + sorted.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_intset_redis_wrote() {
        // SADD st 1 2 3 -70000 (redis-server 7.0.15, DUMP's blob)
        let blob = [
            4, 0, 0, 0, 4, 0, 0, 0, 0x90, 0xee, 0xfe, 0xff, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,
        ];
        assert_eq!(parse(&blob), Ok(vec![-70000, 1, 2, 3]));
        assert_eq!(build(&[3, 1, -70000, 2]), blob);
    }

    #[test]
    fn widths() {
        assert_eq!(build(&[5, -5])[0], 2);
        assert_eq!(build(&[32768])[0], 4);
        assert_eq!(build(&[i64::from(i32::MIN) - 1])[0], 8);
        for set in [vec![i64::MIN, 0, i64::MAX], vec![-32768, 32767], vec![7]] {
            assert_eq!(parse(&build(&set)), Ok(set));
        }
    }

    #[test]
    fn refuses_malformed_blobs() {
        let good = build(&[1, 2, 3]);
        assert!(parse(&good).is_ok());
        // an unknown width
        let mut bad = good.clone();
        bad[0] = 3;
        assert_eq!(parse(&bad), Err(DumpError::BadFormat));
        // a count that lies, up or down, or that overflows when multiplied
        for count in [2u32, 4, u32::MAX] {
            let mut bad = good.clone();
            bad[4..8].copy_from_slice(&count.to_le_bytes());
            assert_eq!(parse(&bad), Err(DumpError::BadFormat));
        }
        // out of order, or a duplicate
        assert_eq!(
            parse(&[2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0]),
            Err(DumpError::BadFormat)
        );
        assert_eq!(
            parse(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 1, 0]),
            Err(DumpError::BadFormat)
        );
        // truncated header
        assert_eq!(parse(&[2, 0, 0, 0, 1]), Err(DumpError::BadFormat));
    }

    proptest! {
        #[test]
        fn round_trip(mut set in proptest::collection::vec(any::<i64>(), 0..50)) {
            let blob = build(&set);
            set.sort_unstable();
            set.dedup();
            prop_assert_eq!(parse(&blob), Ok(set));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse(&bytes);
        }
    }
}
