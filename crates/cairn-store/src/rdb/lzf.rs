//! LZF, for strings Redis stored compressed (`RDB_ENC_LZF`): redis-server compresses
//! every string value over 20 bytes that LZF shrinks by at least 4 bytes, so a payload
//! from Redis holding text is usually compressed. Lists compress their interior nodes
//! with it too (`list-compress-depth`, as Redis's quicklist does).
//!
//! Our own, not the `lzf` crate: that crate is marked deprecated by its author, and the
//! format is a dozen lines. The stream is a sequence of instructions, each starting with a
//! control byte:
//!
//! ```text
//! 000LLLLL <L+1 literal bytes>                 copy the bytes (1..=32)
//! LLLOOOOO OOOOOOOO                            L in 1..=6: copy L+2 bytes from
//!                                              `offset + 1` bytes back in the output
//! 111OOOOO LLLLLLLL OOOOOOOO                   the same with L = 7 + the second byte
//! ```
//!
//! A back reference may overlap what it writes (a run), so it copies byte by byte. The
//! longest instruction writes 264 bytes from 3, so no honest stream expands more than
//! [`MAX_RATIO`] times: a claimed length beyond that is refused before anything is
//! allocated for it.

/// The most output one byte of LZF input can produce (264 bytes from 3).
pub const MAX_RATIO: usize = 88;

/// Decompresses `input`, which must expand to exactly `len` bytes; `None` when it is not
/// a valid LZF stream of that length.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    if len > input.len().saturating_mul(MAX_RATIO) {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 1 << 5 {
            let run = ctrl + 1;
            let literal = input.get(i..i + run)?;
            if out.len() + run > len {
                return None;
            }
            out.extend_from_slice(literal);
            i += run;
        } else {
            let mut run = ctrl >> 5;
            if run == 7 {
                run += usize::from(*input.get(i)?);
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            run += 2;
            if back > out.len() || out.len() + run > len {
                return None;
            }
            let from = out.len() - back;
            for k in 0..run {
                let b = out[from + k];
                out.push(b);
            }
        }
    }
    (out.len() == len).then_some(out)
}

/// Bits of the hash table of 3-byte sequences the compressor remembers.
const HASH_BITS: u32 = 13;
/// The farthest a back reference reaches (13 bits of offset).
const MAX_BACK: usize = 1 << 13;
/// The longest back reference (7 + 255 + 2 bytes).
const MAX_MATCH: usize = 264;
/// The longest literal run one control byte announces.
const MAX_LITERAL: usize = 32;

/// Compresses `input` into the stream [`decompress`] reads (liblzf's format: literal runs
/// and back references found through a hash of the next three bytes); `None` when the
/// result would not be shorter than `input`.
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut table = vec![0u32; 1 << HASH_BITS];
    let hash = |at: usize| {
        let v =
            u32::from(input[at]) << 16 | u32::from(input[at + 1]) << 8 | u32::from(input[at + 2]);
        (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    };
    let mut literal_start = 0;
    let flush = |out: &mut Vec<u8>, from: usize, to: usize| {
        for chunk in input[from..to].chunks(MAX_LITERAL) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    };
    let mut at = 0;
    while at + 2 < input.len() {
        let h = hash(at);
        let candidate = table[h] as usize;
        table[h] = at as u32 + 1;
        if candidate > 0 {
            let from = candidate - 1;
            let back = at - from;
            if back <= MAX_BACK && input[from..from + 3] == input[at..at + 3] {
                let most = MAX_MATCH.min(input.len() - at);
                let mut len = 3;
                while len < most && input[from + len] == input[at + len] {
                    len += 1;
                }
                flush(&mut out, literal_start, at);
                let (l, off) = (len - 2, back - 1);
                if l < 7 {
                    out.push(((l << 5) | (off >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (off >> 8)) as u8);
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                at += len;
                literal_start = at;
                if out.len() >= input.len() {
                    return None;
                }
                continue;
            }
        }
        at += 1;
    }
    flush(&mut out, literal_start, input.len());
    (out.len() < input.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_round_trips_and_shrinks_repetition() {
        let text = b"abcabcabcabcabcabcabcabcabcabcabcabc the quick brown fox the quick brown fox"
            .repeat(50);
        let c = compress(&text).expect("repetitive text shrinks");
        assert!(c.len() * 4 < text.len(), "{} of {}", c.len(), text.len());
        assert_eq!(decompress(&c, text.len()).as_deref(), Some(&text[..]));
        assert_eq!(compress(b"ab"), None);
        let noise: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        if let Some(c) = compress(&noise) {
            assert_eq!(decompress(&c, noise.len()).as_deref(), Some(&noise[..]));
        }
    }

    proptest! {
        #[test]
        fn anything_compressed_decompresses_to_itself(
            data in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..3000),
                prop::collection::vec(0u8..3, 0..3000),
            ]
        ) {
            if let Some(c) = compress(&data) {
                prop_assert!(c.len() < data.len());
                prop_assert_eq!(decompress(&c, data.len()), Some(data));
            }
        }
    }
    use proptest::prelude::*;

    #[test]
    fn literals_and_back_references() {
        // "abc" then a reference 3 back for 6 bytes: "abcabcabc"
        assert_eq!(
            decompress(&[0x02, b'a', b'b', b'c', 0x80, 0x02], 9).as_deref(),
            Some(&b"abcabcabc"[..])
        );
        // a run: "a", then 1 back for 7 + 10 + 2 = 19 bytes
        assert_eq!(
            decompress(&[0x00, b'a', 0xe0, 10, 0x00], 20).as_deref(),
            Some(&[b'a'; 20][..])
        );
        // the example Redis's LZF users check: 200 times 'a' from 9 bytes
        let out = decompress(&[1, 97, 97, 224, 187, 0, 1, 97, 97], 200).unwrap();
        assert_eq!(out, vec![b'a'; 200]);
    }

    #[test]
    fn refuses_what_does_not_add_up() {
        // a reference before the start
        assert_eq!(decompress(&[0x00, b'a', 0x20, 0x05], 4), None);
        // a literal cut short
        assert_eq!(decompress(&[0x05, b'a', b'b'], 6), None);
        // a reference cut short
        assert_eq!(decompress(&[0x00, b'a', 0xe0], 12), None);
        assert_eq!(decompress(&[0x00, b'a', 0xe0, 0x01], 12), None);
        // more output than claimed, or less
        assert_eq!(decompress(&[0x02, b'a', b'b', b'c'], 2), None);
        assert_eq!(decompress(&[0x02, b'a', b'b', b'c'], 4), None);
        // a claim no stream of this size can meet is refused without allocating it
        assert_eq!(decompress(&[0x00, b'a'], usize::MAX), None);
        assert_eq!(decompress(&[], 0).as_deref(), Some(&[][..]));
        assert_eq!(decompress(&[], 1), None);
    }

    proptest! {
        /// Cross-check with an independent compressor: whatever the `lzf` crate (a port of
        /// liblzf, the compressor Redis uses) produces, this reads back.
        #[test]
        fn reads_what_liblzf_writes(
            text in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 2..3000),
        ) {
            if let Ok(packed) = lzf::compress(&text) {
                prop_assert_eq!(decompress(&packed, text.len()), Some(text));
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), len in 0usize..5000) {
            if let Some(out) = decompress(&bytes, len) {
                prop_assert_eq!(out.len(), len);
            }
        }
    }
}
