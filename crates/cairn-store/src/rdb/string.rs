//! RDB strings: how every string inside a payload is stored (a string value, a hash field,
//! a set member, the blob holding a listpack). Redis writes a string that is a canonical
//! integer fitting 32 bits as the integer (`ENC_INT8/16/32`), one over 20 bytes that LZF
//! shrinks compressed (`ENC_LZF`), and any other as its length and bytes.
//!
//! ```text
//! <length> <bytes>                                    plain
//! 0xC0 <i8>   0xC1 <i16 LE>   0xC2 <i32 LE>           an integer, spelled in decimal
//! 0xC3 <compressed length> <length> <LZF bytes>       compressed
//! ```
//!
//! Cairn writes the first two forms; it reads all of them. (Not compressing costs payload
//! size, never compatibility: Redis reads plain strings of any length.)

use super::error::{DumpError, Result};
use super::input::Input;
use super::length::{self, Length};
use super::lzf;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Reads one RDB string.
pub fn read(input: &mut Input<'_>) -> Result<Vec<u8>> {
    match length::read(input)? {
        Length::Len(n) => {
            let n = usize::try_from(n).map_err(|_| DumpError::BadFormat)?;
            Ok(input.take(n)?.to_vec())
        }
        Length::Special(ENC_INT8) => Ok(decimal(i64::from(i8::from_le_bytes(input.array()?)))),
        Length::Special(ENC_INT16) => Ok(decimal(i64::from(i16::from_le_bytes(input.array()?)))),
        Length::Special(ENC_INT32) => Ok(decimal(i64::from(i32::from_le_bytes(input.array()?)))),
        Length::Special(ENC_LZF) => {
            let packed = length::read_len(input)?;
            let len = length::read_len(input)?;
            let packed = usize::try_from(packed).map_err(|_| DumpError::BadFormat)?;
            let len = usize::try_from(len).map_err(|_| DumpError::BadFormat)?;
            lzf::decompress(input.take(packed)?, len).ok_or(DumpError::BadFormat)
        }
        Length::Special(_) => Err(DumpError::BadFormat),
    }
}

/// Writes `bytes` as Redis would without compression: as an integer when it is the
/// canonical spelling of one that fits 32 bits, else length-prefixed.
pub fn write(out: &mut Vec<u8>, bytes: &[u8]) {
    // Redis tries the integer forms only up to 11 bytes ("-2147483648").
    match (bytes.len() <= 11)
        .then(|| crate::value::parse_canonical_i64(bytes))
        .flatten()
    {
        Some(i) if write_int(out, i) => {}
        _ => {
            length::write(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
    }
}

/// Writes a blob (a listpack, an intset) as a plain length-prefixed string: a blob is
/// never the spelling of an integer, so this is what [`write`] would do, said plainly.
pub fn write_blob(out: &mut Vec<u8>, blob: &[u8]) {
    length::write(out, blob.len() as u64);
    out.extend_from_slice(blob);
}

/// Writes the string spelling `i` (as [`write`] would write its decimal spelling).
pub fn write_i64(out: &mut Vec<u8>, i: i64) {
    if !write_int(out, i) {
        write(out, itoa::Buffer::new().format(i).as_bytes());
    }
}

/// The integer forms; `false` (nothing written) when `i` does not fit 32 bits.
fn write_int(out: &mut Vec<u8>, i: i64) -> bool {
    if let Ok(i) = i8::try_from(i) {
        out.extend_from_slice(&[0xc0 | ENC_INT8, i as u8]);
    } else if let Ok(i) = i16::try_from(i) {
        out.push(0xc0 | ENC_INT16);
        out.extend_from_slice(&i.to_le_bytes());
    } else if let Ok(i) = i32::try_from(i) {
        out.push(0xc0 | ENC_INT32);
        out.extend_from_slice(&i.to_le_bytes());
    } else {
        return false;
    }
    true
}

fn decimal(i: i64) -> Vec<u8> {
    itoa::Buffer::new().format(i).as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn written(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, bytes);
        out
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<u8>> {
        let mut input = Input::new(bytes);
        let s = read(&mut input)?;
        input.finish()?;
        Ok(s)
    }

    #[test]
    fn integers_take_the_narrowest_form_redis_uses() {
        assert_eq!(written(b"0"), [0xc0, 0]);
        assert_eq!(written(b"-1"), [0xc0, 0xff]);
        assert_eq!(written(b"127"), [0xc0, 0x7f]);
        assert_eq!(written(b"128"), [0xc1, 0x80, 0x00]);
        assert_eq!(written(b"-32768"), [0xc1, 0x00, 0x80]);
        assert_eq!(written(b"12345"), [0xc1, 0x39, 0x30]);
        assert_eq!(written(b"32768"), [0xc2, 0x00, 0x80, 0, 0]);
        assert_eq!(written(b"-2147483648"), [0xc2, 0, 0, 0, 0x80]);
        // beyond 32 bits, or not canonical: plain
        assert_eq!(written(b"2147483648"), b"\x0a2147483648");
        assert_eq!(written(b"007"), b"\x03007");
        assert_eq!(written(b"-0"), b"\x02-0");
        assert_eq!(written(b"+1"), b"\x02+1");
        assert_eq!(written(b""), [0x00]);
    }

    #[test]
    fn write_i64_matches_writing_the_spelling() {
        for i in [
            0,
            -1,
            127,
            128,
            -129,
            40000,
            i64::from(i32::MIN),
            1 << 31,
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            write_i64(&mut out, i);
            assert_eq!(out, written(i.to_string().as_bytes()), "{i}");
        }
    }

    #[test]
    fn reads_every_form() {
        assert_eq!(read_all(&[0xc0, 0x85]).unwrap(), b"-123");
        assert_eq!(read_all(&[0xc1, 0x39, 0x30]).unwrap(), b"12345");
        assert_eq!(
            read_all(&[0xc2, 0xff, 0xff, 0xff, 0x7f]).unwrap(),
            b"2147483647"
        );
        assert_eq!(read_all(b"\x05hello").unwrap(), b"hello");
        // LZF: compressed length 9, length 200
        let lzf = [0xc3, 9, 0x40, 200, 1, 97, 97, 224, 187, 0, 1, 97, 97];
        assert_eq!(read_all(&lzf).unwrap(), vec![b'a'; 200]);
    }

    #[test]
    fn refuses_lies_and_truncation() {
        // a length beyond the bytes present is refused before it is allocated
        assert_eq!(
            read_all(&[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(DumpError::BadFormat)
        );
        assert_eq!(
            read_all(&[0x80, 0x7f, 0xff, 0xff, 0xff, b'x']),
            Err(DumpError::BadFormat)
        );
        assert_eq!(read_all(b"\x05hell"), Err(DumpError::BadFormat));
        assert_eq!(read_all(&[0xc1, 0x39]), Err(DumpError::BadFormat));
        assert_eq!(read_all(&[0xc4]), Err(DumpError::BadFormat));
        // LZF whose uncompressed length lies, or whose compressed bytes are missing
        assert_eq!(
            read_all(&[0xc3, 9, 0x40, 199, 1, 97, 97, 224, 187, 0, 1, 97, 97]),
            Err(DumpError::BadFormat)
        );
        assert_eq!(
            read_all(&[0xc3, 9, 0x40, 200, 1, 97, 97]),
            Err(DumpError::BadFormat)
        );
        assert_eq!(
            read_all(&[
                0xc3, 0x81, 0, 0, 0, 0, 0, 0, 0, 2, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0xff, 0, 0
            ]),
            Err(DumpError::BadFormat)
        );
        // a special encoding where a length must be
        assert_eq!(read_all(&[0xc3, 0xc0, 1, 0]), Err(DumpError::BadFormat));
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(read_all(&written(&bytes)), Ok(bytes));
        }

        #[test]
        fn integers_round_trip(i in any::<i64>()) {
            let spelled = i.to_string().into_bytes();
            prop_assert_eq!(read_all(&written(&spelled)), Ok(spelled));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = read_all(&bytes);
        }
    }
}
