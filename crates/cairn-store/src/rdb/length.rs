//! RDB lengths: the variable-width unsigned number in front of every string, collection
//! and blob. The first byte's top two bits say how wide it is; `11` marks not a length but
//! a special string encoding (an integer or LZF), which only `string.rs` accepts.
//!
//! ```text
//! 00xxxxxx                      6-bit length
//! 01xxxxxx xxxxxxxx             14-bit length, big-endian
//! 10000000 + 4 bytes            32-bit length, big-endian
//! 10000001 + 8 bytes            64-bit length, big-endian
//! 11xxxxxx                      special encoding xxxxxx (ENC_INT8/16/32, ENC_LZF)
//! ```

use super::error::{DumpError, Result};
use super::input::Input;

/// A length field as read: a length, or the marker of a specially encoded string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    Len(u64),
    /// `11xxxxxx`: the six low bits name the encoding.
    Special(u8),
}

/// Reads a length field that may be a special string encoding.
pub fn read(input: &mut Input<'_>) -> Result<Length> {
    let first = input.u8()?;
    Ok(match first >> 6 {
        0 => Length::Len(u64::from(first & 0x3f)),
        1 => Length::Len((u64::from(first & 0x3f) << 8) | u64::from(input.u8()?)),
        3 => Length::Special(first & 0x3f),
        _ => match first {
            0x80 => Length::Len(u64::from(u32::from_be_bytes(input.array()?))),
            0x81 => Length::Len(u64::from_be_bytes(input.array()?)),
            _ => return Err(DumpError::BadFormat),
        },
    })
}

/// Reads a plain length (a count or a byte length); a special encoding here is malformed.
pub fn read_len(input: &mut Input<'_>) -> Result<u64> {
    match read(input)? {
        Length::Len(n) => Ok(n),
        Length::Special(_) => Err(DumpError::BadFormat),
    }
}

/// Writes `len` in the narrowest form, as Redis's `rdbSaveLen` does.
pub fn write(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(len: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, len);
        out
    }

    #[test]
    fn each_width_as_redis_writes_it() {
        assert_eq!(encoded(0), [0x00]);
        assert_eq!(encoded(63), [0x3f]);
        assert_eq!(encoded(64), [0x40, 0x40]);
        assert_eq!(encoded(16383), [0x7f, 0xff]);
        assert_eq!(encoded(16384), [0x80, 0, 0, 0x40, 0]);
        assert_eq!(encoded(u64::from(u32::MAX)), [0x80, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(encoded(1 << 32), [0x81, 0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn round_trip_at_every_boundary() {
        for len in [
            0,
            1,
            63,
            64,
            16383,
            16384,
            1 << 31,
            u64::from(u32::MAX),
            1 << 32,
            u64::MAX,
        ] {
            let bytes = encoded(len);
            let mut input = Input::new(&bytes);
            assert_eq!(read_len(&mut input), Ok(len));
            assert_eq!(input.remaining(), 0);
        }
    }

    #[test]
    fn special_encodings_and_malformed_fields() {
        assert_eq!(read(&mut Input::new(&[0xc3])), Ok(Length::Special(3)));
        assert_eq!(
            read_len(&mut Input::new(&[0xc0])),
            Err(DumpError::BadFormat)
        );
        // 10xxxxxx other than 0x80 and 0x81 means nothing
        assert_eq!(read(&mut Input::new(&[0x82])), Err(DumpError::BadFormat));
        assert_eq!(read(&mut Input::new(&[0xbf])), Err(DumpError::BadFormat));
        // truncated
        assert_eq!(read(&mut Input::new(&[])), Err(DumpError::BadFormat));
        assert_eq!(read(&mut Input::new(&[0x40])), Err(DumpError::BadFormat));
        assert_eq!(
            read(&mut Input::new(&[0x80, 0, 0])),
            Err(DumpError::BadFormat)
        );
        assert_eq!(
            read(&mut Input::new(&[0x81, 0, 0, 0, 0, 0, 0, 0])),
            Err(DumpError::BadFormat)
        );
    }
}
