//! Redis's listpack, byte for byte: the blob inside `HASH_LISTPACK`, `SET_LISTPACK`, the
//! nodes of `LIST_QUICKLIST_2` and `ZSET_LISTPACK`. Cairn's own packed
//! objects need not share this layout; this file only reads and writes Redis's.
//!
//! ```text
//! <total bytes u32 LE> <count u16 LE, 65535 = count them> <entry>* 0xFF
//!
//! entry = <encoding [+ data]> <backlen: the encoding+data size, 1..=5 bytes>
//! 0xxxxxxx                        integer 0..=127
//! 10LLLLLL <L bytes>              string, length < 64
//! 110xxxxx xxxxxxxx               integer, 13-bit two's complement
//! 1110LLLL LLLLLLLL <L bytes>     string, length < 4096
//! 11110000 <u32 LE L> <L bytes>   string
//! 0xF1 / 0xF2 / 0xF3 / 0xF4       integer, 16 / 24 / 32 / 64-bit LE two's complement
//! ```
//!
//! Integers come back as their decimal spelling: a listpack only stores as an integer a
//! string that is the canonical spelling of one, so this gives back exactly what was
//! written. Reading checks what Redis's deep integrity check checks (every entry inside
//! the blob, every backlen equal to its entry's size, the count, the terminator), so a
//! blob read here is one Redis itself would load.

use super::error::{DumpError, Result};
use super::input::{Input, capacity_for};

const HEADER: usize = 6;
const EOF: u8 = 0xff;
const COUNT_UNKNOWN: u16 = u16::MAX;

/// The entries of the listpack `blob`, each as its bytes.
pub fn parse(blob: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut input = Input::new(blob);
    let total = u32::from_le_bytes(input.array()?);
    let count = u16::from_le_bytes(input.array()?);
    if blob.len() < HEADER + 1 || total as usize != blob.len() || blob[blob.len() - 1] != EOF {
        return Err(DumpError::BadFormat);
    }
    let mut entries = Vec::with_capacity(capacity_for(u64::from(count), &input));
    loop {
        let before = input.remaining();
        if input.peek()? == EOF {
            input.u8()?;
            break;
        }
        let entry = entry(&mut input)?;
        let size = before - input.remaining();
        let mut expected = Vec::with_capacity(5);
        push_backlen(&mut expected, size);
        if input.take(expected.len())? != expected.as_slice() {
            return Err(DumpError::BadFormat);
        }
        entries.push(entry);
    }
    input.finish()?;
    if count != COUNT_UNKNOWN && usize::from(count) != entries.len() {
        return Err(DumpError::BadFormat);
    }
    Ok(entries)
}

/// One entry's encoding and data, as bytes.
fn entry(input: &mut Input<'_>) -> Result<Vec<u8>> {
    let first = input.u8()?;
    let int = if first & 0x80 == 0 {
        i64::from(first)
    } else if first & 0xc0 == 0x80 {
        return Ok(input.take(usize::from(first & 0x3f))?.to_vec());
    } else if first & 0xe0 == 0xc0 {
        let u = (i64::from(first & 0x1f) << 8) | i64::from(input.u8()?);
        if u >= 1 << 12 { u - (1 << 13) } else { u }
    } else if first & 0xf0 == 0xe0 {
        let len = (usize::from(first & 0x0f) << 8) | usize::from(input.u8()?);
        return Ok(input.take(len)?.to_vec());
    } else {
        match first {
            0xf0 => {
                let len = u32::from_le_bytes(input.array()?) as usize;
                return Ok(input.take(len)?.to_vec());
            }
            0xf1 => i64::from(i16::from_le_bytes(input.array()?)),
            0xf2 => {
                let [a, b, c] = input.array()?;
                // sign-extend the 24-bit value through the top byte
                i64::from(i32::from_le_bytes([0, a, b, c]) >> 8)
            }
            0xf3 => i64::from(i32::from_le_bytes(input.array()?)),
            0xf4 => i64::from_le_bytes(input.array()?),
            _ => return Err(DumpError::BadFormat),
        }
    };
    Ok(itoa::Buffer::new().format(int).as_bytes().to_vec())
}

/// The listpack holding `entries` in order, each encoded as Redis's `lpAppend` would.
///
/// Meant for the small collections Redis keeps as listpacks (kilobytes): the total must
/// fit the header's 32 bits.
pub fn build<I, B>(entries: I) -> Vec<u8>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut lp = Builder::new();
    for e in entries {
        lp.push(e.as_ref());
    }
    lp.finish()
}

/// A listpack built one entry at a time, knowing its size as it goes: a list's writer
/// decides where a quicklist node ends from the bytes the node already holds, as Redis
/// does.
pub struct Builder {
    /// The header's room, then the entries; the terminator comes at [`Builder::finish`].
    out: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    pub fn new() -> Builder {
        Builder {
            out: vec![0u8; HEADER],
            count: 0,
        }
    }

    /// Appends `entry` as Redis's `lpAppend` would encode it.
    pub fn push(&mut self, entry: &[u8]) {
        let start = self.out.len();
        push_entry(&mut self.out, entry);
        let size = self.out.len() - start;
        push_backlen(&mut self.out, size);
        self.count += 1;
    }

    /// Entries so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The size the listpack has so far, terminator included (Redis's `lpBytes`).
    pub fn bytes(&self) -> usize {
        self.out.len() + 1
    }

    /// The finished listpack with `first` in front of the entries pushed so far: a stream
    /// node's listpack starts with its entry count, known only once the node is full.
    pub fn finish_after(self, first: &[u8]) -> Vec<u8> {
        let mut lp = Builder {
            out: Vec::with_capacity(self.out.len() + 16),
            count: 0,
        };
        lp.out.resize(HEADER, 0);
        lp.push(first);
        lp.out.extend_from_slice(&self.out[HEADER..]);
        lp.count += self.count;
        lp.finish()
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(EOF);
        let total =
            u32::try_from(self.out.len()).expect("a listpack is built for small collections only");
        self.out[..4].copy_from_slice(&total.to_le_bytes());
        // 65535 and more: "count them"
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.out[4..HEADER].copy_from_slice(&count.to_le_bytes());
        self.out
    }
}

/// The bytes `entry` takes in a listpack (encoding, data and backlen), as [`Builder::push`]
/// would write it: a stream writer knows from it how big a node is before it is built.
pub fn entry_size(entry: &[u8]) -> usize {
    let size = match crate::value::parse_canonical_i64(entry) {
        Some(v) if (0..=127).contains(&v) => 1,
        Some(v) if (-4096..=4095).contains(&v) => 2,
        Some(v) if i16::try_from(v).is_ok() => 3,
        Some(v) if (-(1 << 23)..1 << 23).contains(&v) => 4,
        Some(v) if i32::try_from(v).is_ok() => 5,
        Some(_) => 9,
        None if entry.len() < 64 => 1 + entry.len(),
        None if entry.len() < 4096 => 2 + entry.len(),
        None => 5 + entry.len(),
    };
    size + backlen_width(size)
}

/// An entry's encoding and data: the narrowest integer form for the canonical spelling
/// of an integer, else the narrowest string form.
fn push_entry(out: &mut Vec<u8>, bytes: &[u8]) {
    if let Some(v) = crate::value::parse_canonical_i64(bytes) {
        if (0..=127).contains(&v) {
            out.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v & 0x1fff) as u16;
            out.extend_from_slice(&[0xc0 | (u >> 8) as u8, u as u8]);
        } else if let Ok(v) = i16::try_from(v) {
            out.push(0xf1);
            out.extend_from_slice(&v.to_le_bytes());
        } else if (-(1 << 23)..1 << 23).contains(&v) {
            out.push(0xf2);
            out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(v) = i32::try_from(v) {
            out.push(0xf3);
            out.extend_from_slice(&v.to_le_bytes());
        } else {
            out.push(0xf4);
            out.extend_from_slice(&v.to_le_bytes());
        }
        return;
    }
    let len = bytes.len();
    if len < 64 {
        out.push(0x80 | len as u8);
    } else if len < 4096 {
        out.extend_from_slice(&[0xe0 | (len >> 8) as u8, len as u8]);
    } else {
        out.push(0xf0);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(bytes);
}

/// The backlen of an entry of `size` bytes, as `lpEncodeBacklen` writes it: 7 bits a
/// byte, most significant first, every byte after the first with its top bit set (so it
/// reads right to left). The width thresholds are Redis's, off-by-one included.
fn push_backlen(out: &mut Vec<u8>, size: usize) {
    let width = backlen_width(size);
    out.push((size >> (7 * (width - 1))) as u8);
    for k in (0..width - 1).rev() {
        out.push(((size >> (7 * k)) & 127) as u8 | 128);
    }
}

/// How many bytes the backlen of an entry of `size` bytes takes.
fn backlen_width(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn backlen(size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        push_backlen(&mut out, size);
        out
    }

    #[test]
    fn backlen_as_redis_writes_it() {
        assert_eq!(backlen(1), [1]);
        assert_eq!(backlen(127), [127]);
        assert_eq!(backlen(128), [1, 0x80]);
        assert_eq!(backlen(300), [2, 44 | 0x80]);
        assert_eq!(backlen(16382), [127, 126 | 0x80]);
        // Redis moves to three bytes at 16383, one early
        assert_eq!(backlen(16383), [0, 127 | 0x80, 127 | 0x80]);
        assert_eq!(backlen(1 << 28).len(), 5);
    }

    #[test]
    fn a_listpack_redis_wrote() {
        // HSET h a 1 b hello c 300 d -5000 e 100000 (redis-server 7.0.15, DUMP's blob)
        let lp = [
            0x2b, 0, 0, 0, 0x0a, 0, // 43 bytes, 10 entries
            0x81, b'a', 2, 0x01, 1, // "a", 1
            0x81, b'b', 2, 0x85, b'h', b'e', b'l', b'l', b'o', 6, // "b", "hello"
            0x81, b'c', 2, 0xc1, 0x2c, 2, // "c", 300 (13-bit)
            0x81, b'd', 2, 0xf1, 0x78, 0xec, 3, // "d", -5000 (16-bit)
            0x81, b'e', 2, 0xf2, 0xa0, 0x86, 0x01, 4, // "e", 100000 (24-bit)
            0xff,
        ];
        let entries = parse(&lp).unwrap();
        let want: Vec<&[u8]> = vec![
            b"a", b"1", b"b", b"hello", b"c", b"300", b"d", b"-5000", b"e", b"100000",
        ];
        assert_eq!(entries, want);
        // and building the same entries gives the same bytes
        assert_eq!(build(&want), lp);
    }

    #[test]
    fn every_integer_width() {
        let values: Vec<Vec<u8>> = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8388607,
            -8388608,
            8388608,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            1 << 31,
            i64::MAX,
            i64::MIN,
        ]
        .iter()
        .map(|v| v.to_string().into_bytes())
        .collect();
        let lp = build(&values);
        assert_eq!(parse(&lp).unwrap(), values);
    }

    #[test]
    fn every_string_width() {
        let values = vec![
            vec![],
            vec![b'x'; 63],
            vec![b'y'; 64],
            vec![b'z'; 4095],
            vec![b'w'; 4096],
            vec![b'v'; 20000],
            b"007".to_vec(),
            b"-0".to_vec(),
        ];
        let lp = build(&values);
        assert_eq!(parse(&lp).unwrap(), values);
    }

    #[test]
    fn entry_sizes_and_a_first_entry_put_in_front() {
        // every integer width, then strings: empty, not canonical, of every length width
        let ints = "0 127 128 -4096 4096 32767 8388607 2147483647 1099511627776 007 -0";
        let long = [63, 64, 4095, 20000].map(|n| vec![b'x'; n]);
        let entries: Vec<Vec<u8>> = ints
            .split(' ')
            .map(|s| s.as_bytes().to_vec())
            .chain([Vec::new()])
            .chain(long)
            .collect();
        for e in &entries {
            let mut lp = Builder::new();
            let before = lp.bytes();
            lp.push(e);
            assert_eq!(
                lp.bytes() - before,
                entry_size(e),
                "{:?}",
                &e[..e.len().min(8)]
            );
        }
        let mut rest = Builder::new();
        for e in &entries[1..] {
            rest.push(e);
        }
        assert_eq!(rest.finish_after(&entries[0]), build(&entries));
    }

    #[test]
    fn refuses_malformed_blobs() {
        let good = build([&b"a"[..], b"12", b"hello"]);
        assert!(parse(&good).is_ok());
        // too short, wrong total, no terminator
        for bad in [&[][..], &[7, 0, 0, 0, 0, 0][..], &good[..good.len() - 1]] {
            assert_eq!(parse(bad), Err(DumpError::BadFormat));
        }
        let mut wrong_total = good.clone();
        wrong_total[0] += 1;
        assert_eq!(parse(&wrong_total), Err(DumpError::BadFormat));
        // a wrong count (65535 means: count them)
        let mut wrong_count = good.clone();
        wrong_count[4] = 2;
        assert_eq!(parse(&wrong_count), Err(DumpError::BadFormat));
        wrong_count[4] = 0xff;
        wrong_count[5] = 0xff;
        assert_eq!(parse(&wrong_count).unwrap().len(), 3);
        // a wrong backlen
        let mut wrong_backlen = good.clone();
        wrong_backlen[8] = 9;
        assert_eq!(parse(&wrong_backlen), Err(DumpError::BadFormat));
        // a string length running past the end
        let lying = [0x0a, 0, 0, 0, 1, 0, 0x85, b'a', 2, 0xff];
        assert_eq!(parse(&lying), Err(DumpError::BadFormat));
        let lying = [0x0c, 0, 0, 0, 1, 0, 0xf0, 0xff, 0xff, 0xff, 0x7f, 0xff];
        assert_eq!(parse(&lying), Err(DumpError::BadFormat));
        // an encoding byte that means nothing
        let unknown = [0x09, 0, 0, 0, 1, 0, 0xf5, 1, 0xff];
        assert_eq!(parse(&unknown), Err(DumpError::BadFormat));
        // a terminator byte before the end
        let early = [0x09, 0, 0, 0, 0, 0, 0xff, 0x01, 0xff];
        assert_eq!(parse(&early), Err(DumpError::BadFormat));
    }

    proptest! {
        #[test]
        fn round_trip(entries in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..80),
                any::<i64>().prop_map(|i| i.to_string().into_bytes()),
                (-5000i64..5000).prop_map(|i| i.to_string().into_bytes()),
            ],
            0..40,
        )) {
            prop_assert_eq!(parse(&build(&entries)), Ok(entries));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn a_valid_header_on_garbage_never_panics(body in proptest::collection::vec(any::<u8>(), 0..80), count in any::<u16>()) {
            let mut blob = Vec::new();
            blob.extend_from_slice(&((body.len() + 7) as u32).to_le_bytes());
            blob.extend_from_slice(&count.to_le_bytes());
            blob.extend_from_slice(&body);
            blob.push(0xff);
            let _ = parse(&blob);
        }
    }
}
