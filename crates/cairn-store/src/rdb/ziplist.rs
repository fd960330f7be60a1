//! Redis's ziplist, read only: the blob inside `HASH_ZIPLIST` (and `ZSET_ZIPLIST`,
//! `LIST_ZIPLIST`, the nodes of `LIST_QUICKLIST`), which Redis wrote before 7.0 and 7.x
//! still loads. Only the tests here write one: Redis 7 reads listpacks in its place.
//!
//! ```text
//! <total bytes u32 LE> <offset of the last entry u32 LE> <count u16 LE, 65535 = count them>
//! <entry>* 0xFF
//!
//! entry = <prevlen> <encoding> [data]
//! prevlen: the previous entry's size; 1 byte when < 254, else 0xFE <u32 LE>
//! 00LLLLLL <L bytes>                      string, 6-bit length
//! 01LLLLLL LLLLLLLL <L bytes>             string, 14-bit length, big-endian
//! 10______ <u32 BE L> <L bytes>           string, 32-bit length
//! 0xC0 / 0xD0 / 0xE0 / 0xF0 / 0xFE        integer, 16 / 32 / 64 / 24 / 8-bit LE
//! 0xF1..=0xFD                             integer 0..=12 (the low 4 bits minus one)
//! ```
//!
//! Integers come back as their decimal spelling. Reading checks what Redis's deep
//! integrity check checks: every entry inside the blob, every prevlen equal to the size
//! of the entry before it, the tail offset, the count and the terminator.

use super::error::{DumpError, Result};
use super::input::{Input, capacity_for};

const HEADER: usize = 10;
const END: u8 = 0xff;
const BIG_PREVLEN: u8 = 0xfe;
const COUNT_UNKNOWN: u16 = u16::MAX;

/// The entries of the ziplist `blob`, each as its bytes.
pub fn parse(blob: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut input = Input::new(blob);
    let total = u32::from_le_bytes(input.array()?) as usize;
    let tail = u32::from_le_bytes(input.array()?) as usize;
    let count = u16::from_le_bytes(input.array()?);
    if blob.len() < HEADER + 1 || total != blob.len() || blob[blob.len() - 1] != END {
        return Err(DumpError::BadFormat);
    }
    let mut entries = Vec::with_capacity(capacity_for(u64::from(count), &input));
    let (mut prev_size, mut last_at) = (0usize, None);
    loop {
        let at = blob.len() - input.remaining();
        if input.peek()? == END {
            input.u8()?;
            break;
        }
        let prevlen = match input.u8()? {
            BIG_PREVLEN => u32::from_le_bytes(input.array()?) as usize,
            b => usize::from(b),
        };
        if prevlen != prev_size {
            return Err(DumpError::BadFormat);
        }
        entries.push(entry(&mut input)?);
        prev_size = blob.len() - input.remaining() - at;
        last_at = Some(at);
    }
    input.finish()?;
    if last_at.is_some_and(|at| at != tail)
        || (count != COUNT_UNKNOWN && usize::from(count) != entries.len())
    {
        return Err(DumpError::BadFormat);
    }
    Ok(entries)
}

/// One entry's encoding and data, as bytes.
fn entry(input: &mut Input<'_>) -> Result<Vec<u8>> {
    let enc = input.u8()?;
    let int = match enc >> 6 {
        0 => return Ok(input.take(usize::from(enc & 0x3f))?.to_vec()),
        1 => {
            let len = (usize::from(enc & 0x3f) << 8) | usize::from(input.u8()?);
            return Ok(input.take(len)?.to_vec());
        }
        2 => {
            let len = u32::from_be_bytes(input.array()?) as usize;
            return Ok(input.take(len)?.to_vec());
        }
        _ => match enc {
            0xc0 => i64::from(i16::from_le_bytes(input.array()?)),
            0xd0 => i64::from(i32::from_le_bytes(input.array()?)),
            0xe0 => i64::from_le_bytes(input.array()?),
            0xf0 => {
                let [a, b, c] = input.array()?;
                i64::from(i32::from_le_bytes([0, a, b, c]) >> 8)
            }
            0xfe => i64::from(i8::from_le_bytes(input.array()?)),
            0xf1..=0xfd => i64::from(enc & 0x0f) - 1,
            _ => return Err(DumpError::BadFormat),
        },
    };
    Ok(itoa::Buffer::new().format(int).as_bytes().to_vec())
}

/// A ziplist as Redis 6.2's `ziplistPush` would build it, to test the readers with (this
/// file's and those of the types stored in ziplists): integers in the narrowest form
/// (`zipTryEncoding`), strings in the narrowest.
#[cfg(test)]
pub fn build<B: AsRef<[u8]>>(entries: &[B]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER];
    let (mut prev, mut tail) = (0usize, HEADER);
    for e in entries {
        let e = e.as_ref();
        let start = out.len();
        tail = start;
        if prev < 254 {
            out.push(prev as u8);
        } else {
            out.push(BIG_PREVLEN);
            out.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        let int = (e.len() < 32)
            .then(|| crate::value::parse_canonical_i64(e))
            .flatten();
        match int {
            Some(v @ 0..=12) => out.push(0xf1 + v as u8),
            Some(v) if i8::try_from(v).is_ok() => out.extend_from_slice(&[0xfe, v as u8]),
            Some(v) if i16::try_from(v).is_ok() => {
                out.push(0xc0);
                out.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) if (-(1 << 23)..1 << 23).contains(&v) => {
                out.push(0xf0);
                out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v) if i32::try_from(v).is_ok() => {
                out.push(0xd0);
                out.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                out.push(0xe0);
                out.extend_from_slice(&v.to_le_bytes());
            }
            None if e.len() <= 0x3f => {
                out.push(e.len() as u8);
                out.extend_from_slice(e);
            }
            None if e.len() <= 0x3fff => {
                out.extend_from_slice(&[0x40 | (e.len() >> 8) as u8, e.len() as u8]);
                out.extend_from_slice(e);
            }
            None => {
                out.push(0x80);
                out.extend_from_slice(&(e.len() as u32).to_be_bytes());
                out.extend_from_slice(e);
            }
        }
        prev = out.len() - start;
    }
    out.push(END);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    out[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    out[8..10].copy_from_slice(&(entries.len().min(65535) as u16).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_example_in_redis_s_ziplist_c() {
        // "2" and "5" as immediate integers
        let zl = [
            0x0f, 0, 0, 0, 0x0c, 0, 0, 0, 2, 0, 0x00, 0xf3, 0x02, 0xf6, 0xff,
        ];
        assert_eq!(parse(&zl).unwrap(), vec![b"2".to_vec(), b"5".to_vec()]);
        assert_eq!(build(&[b"2".to_vec(), b"5".to_vec()]), zl);
    }

    #[test]
    fn every_encoding() {
        let entries: Vec<Vec<u8>> = [
            "0",
            "12",
            "13",
            "-1",
            "127",
            "-128",
            "128",
            "32767",
            "-32769",
            "8388607",
            "-8388608",
            "8388608",
            "2147483647",
            "-2147483649",
            "9223372036854775807",
            "-9223372036854775808",
            "",
            "007",
            "hello",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain([vec![b'x'; 64], vec![b'y'; 300], vec![b'z'; 16384]])
        .collect();
        let zl = build(&entries);
        assert_eq!(parse(&zl).unwrap(), entries);
    }

    #[test]
    fn a_large_prevlen_is_read_even_when_it_was_not_needed() {
        // Redis's cascade updates may leave a 5-byte prevlen holding a small size
        let mut zl = vec![0u8; HEADER];
        zl.extend_from_slice(&[0x00, 0x01, b'a']); // "a", 3 bytes
        zl.extend_from_slice(&[BIG_PREVLEN, 3, 0, 0, 0, 0x01, b'b']);
        zl.push(END);
        let total = zl.len() as u32;
        zl[..4].copy_from_slice(&total.to_le_bytes());
        zl[4..8].copy_from_slice(&13u32.to_le_bytes());
        zl[8..10].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(parse(&zl).unwrap(), vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn refuses_malformed_blobs() {
        let good = build(&[b"field".to_vec(), b"300".to_vec(), b"x".to_vec()]);
        assert!(parse(&good).is_ok());
        let mutate = |at: usize, b: u8| {
            let mut z = good.clone();
            z[at] = b;
            parse(&z)
        };
        assert_eq!(mutate(0, good[0] + 1), Err(DumpError::BadFormat)); // total
        assert_eq!(mutate(4, good[4] + 1), Err(DumpError::BadFormat)); // tail
        assert_eq!(mutate(8, 2), Err(DumpError::BadFormat)); // count
        assert_eq!(mutate(10, 1), Err(DumpError::BadFormat)); // first prevlen not 0
        assert_eq!(mutate(11, 0x3f), Err(DumpError::BadFormat)); // a length past the end
        assert_eq!(mutate(11, 0xc5), Err(DumpError::BadFormat)); // no such encoding
        assert_eq!(parse(&good[..good.len() - 1]), Err(DumpError::BadFormat));
        assert_eq!(parse(&[]), Err(DumpError::BadFormat));
        // 65535 means: count them
        let mut unknown = good.clone();
        unknown[8..10].copy_from_slice(&[0xff, 0xff]);
        assert_eq!(parse(&unknown).unwrap().len(), 3);
    }

    proptest! {
        #[test]
        fn reads_what_ziplist_push_writes(entries in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300),
                any::<i64>().prop_map(|i| i.to_string().into_bytes()),
                (-20i64..20).prop_map(|i| i.to_string().into_bytes()),
            ],
            0..30,
        )) {
            prop_assert_eq!(parse(&build(&entries)), Ok(entries));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn flipped_bytes_never_panic(entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..8), at in any::<prop::sample::Index>(), b in any::<u8>()) {
            let mut zl = build(&entries);
            let i = at.index(zl.len());
            zl[i] = b;
            let _ = parse(&zl);
        }
    }
}
