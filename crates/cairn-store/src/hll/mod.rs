//! HyperLogLog as Redis keeps it: a plain string whose bytes are Redis's own, so a value
//! moves between Redis and Cairn with GET/SET or DUMP/RESTORE and counts the same on
//! both sides (same hash, same registers, same estimator, same number).
//!
//! # Layout
//!
//! ```text
//!  0      4     5        8                16
//! +------+-----+--------+----------------+---------------------------------------+
//! | HYLL | enc | unused | cardinality    | registers                             |
//! +------+-----+--------+----------------+---------------------------------------+
//!          0 dense       8 bytes LE; bit 7 of byte 15 set: stale (recompute)
//!          1 sparse
//!
//! dense:  16384 registers of 6 bits, packed from the low bit of each byte up:
//!         |11000000|22221111|33333322|44444433| ... 12288 bytes, 12304 in all
//! sparse: run-length opcodes over the same 16384 registers, in register order:
//!         00xxxxxx           ZERO   xxxxxx+1 (1..64) registers at 0
//!         01xxxxxx yyyyyyyy  XZERO  xxxxxxyyyyyyyy+1 (1..16384) registers at 0
//!         1vvvvvxx           VAL    xx+1 (1..4) registers at value vvvvv+1 (1..32)
//! ```
//!
//! A new HLL is sparse (`XZERO:16384`, 18 bytes). It turns dense for good when a
//! register needs a value above 32, or when an update would make it longer than
//! `hll-sparse-max-bytes` ([`add`] and [`set_register`] take that limit).
//!
//! An element is hashed with MurmurHash64A (seed `0xadc83b19`, [`murmur64a`]): the low
//! 14 bits pick the register, the run of zeros above them plus one (at most 51) is the
//! value offered to it ([`pattern`]). The count is Otmar Ertl's improved estimator over
//! the registers' histogram, as Redis 5 and later compute it ([`estimate`]).
//!
//! Nothing here trusts the bytes: a string that is not an HLL is refused by
//! [`encoding_of`] (Redis's `isHLLObjectOrReply`), and sparse data whose opcodes do not
//! cover exactly 16384 registers is [`Corrupt`] (Redis's `INVALIDOBJ`), never a panic.
//! Like Redis, an opcode whose second byte is missing at the very end reads that byte
//! as 0 (Redis reads the string's terminating NUL).
//!
//! - [`dense`]: the 6-bit register array.
//! - [`sparse`]: the opcodes: walking them, changing one register in place, promotion.
//! - [`estimate`]: the histogram → cardinality step.

pub mod dense;
pub mod estimate;
pub mod sparse;

/// Registers: 2^14.
pub const REGISTERS: usize = 1 << P;
/// Bits of the hash that pick the register.
pub const P: u32 = 14;
/// Bits of the hash left for the run of zeros (64 - P).
pub const Q: u32 = 64 - P;
/// Bits per dense register.
pub const BITS: usize = 6;
/// The largest value a register holds (6 bits).
pub const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// The header both encodings start with.
pub const HEADER: usize = 16;
/// A dense HLL's exact length.
pub const DENSE_LEN: usize = HEADER + (REGISTERS * BITS).div_ceil(8);
/// Redis's default `hll-sparse-max-bytes`.
pub const SPARSE_MAX_BYTES: usize = 3000;
/// The seed Redis hashes elements with.
pub const SEED: u32 = 0xadc8_3b19;

const MAGIC: &[u8; 4] = b"HYLL";
/// Offset of the encoding byte.
const ENCODING_AT: usize = 4;
/// Offset of the cached cardinality.
const CARD_AT: usize = 8;
const ENC_DENSE: u8 = 0;
const ENC_SPARSE: u8 = 1;

/// How an HLL's registers are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

impl Encoding {
    /// PFDEBUG ENCODING's word.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Dense => "dense",
            Encoding::Sparse => "sparse",
        }
    }
}

/// The string is no HyperLogLog (too short, no magic, unknown encoding, or a dense one of
/// the wrong length): Redis answers `WRONGTYPE Key is not a valid HyperLogLog string
/// value.`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotHll;

/// The sparse opcodes do not describe exactly 16384 registers: Redis answers
/// `INVALIDOBJ Corrupted HLL object detected`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

/// What the string holds, checked as Redis's `isHLLObjectOrReply` checks it: at least a
/// header, the magic, encoding 0 or 1, and a dense one exactly [`DENSE_LEN`] long. The
/// sparse opcodes are not walked here (a count or an update finds them [`Corrupt`]).
pub fn encoding_of(s: &[u8]) -> Result<Encoding, NotHll> {
    if s.len() < HEADER || &s[..4] != MAGIC {
        return Err(NotHll);
    }
    match s[ENCODING_AT] {
        ENC_DENSE if s.len() == DENSE_LEN => Ok(Encoding::Dense),
        ENC_SPARSE => Ok(Encoding::Sparse),
        _ => Err(NotHll),
    }
}

/// The encoding byte of anything at least a header long (the functions below work on
/// values [`encoding_of`] accepted, but refuse anything else rather than panic).
fn encoding_byte(s: &[u8]) -> Option<&u8> {
    if s.len() < HEADER {
        return None;
    }
    s.get(ENCODING_AT)
}

/// An empty HLL as Redis creates one: sparse, every register in XZERO opcodes, the cached
/// cardinality a valid 0.
pub fn empty() -> Vec<u8> {
    let mut s = Vec::with_capacity(HEADER + 2);
    s.extend_from_slice(MAGIC);
    s.extend_from_slice(&[ENC_SPARSE, 0, 0, 0]);
    s.extend_from_slice(&[0; 8]);
    // One XZERO covers them all.
    const { assert!(sparse::XZERO_MAX_LEN == REGISTERS) };
    s.extend_from_slice(&sparse::xzero(REGISTERS));
    s
}

/// The cached cardinality, if it is still valid.
pub fn cached_count(s: &[u8]) -> Option<u64> {
    let card: [u8; 8] = s.get(CARD_AT..HEADER)?.try_into().ok()?;
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

/// Stores `n` as the cached cardinality (valid).
pub fn set_cached_count(s: &mut [u8], n: u64) {
    if let Some(card) = s.get_mut(CARD_AT..HEADER) {
        card.copy_from_slice(&n.to_le_bytes());
    }
}

/// Marks the cached cardinality stale (the registers changed).
pub fn invalidate_cache(s: &mut [u8]) {
    if let Some(b) = s.get_mut(HEADER - 1) {
        *b |= 0x80;
    }
}

/// MurmurHash2, 64-bit version (MurmurHash64A), as Redis's copy computes it (bytes read
/// little-endian whatever the machine).
pub fn murmur64a(key: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = u64::from(seed) ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register `element` falls in and the value it offers it: the position of the first
/// 1 bit above the register bits, counting from 1 (at most Q + 1 = 51).
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Adds `element`: true when a register grew (the cached count is then stale, though only
/// the sparse path marks it so: the caller invalidates it once for a batch, as PFADD
/// does). May promote a sparse HLL to dense (see [`set_register`]).
pub fn add(s: &mut Vec<u8>, element: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, value) = pattern(element);
    set_register(s, index, value, sparse_max)
}

/// Raises register `index` (below 16384) to `value` (1..=63) if it is lower: true when
/// it did. A sparse HLL turns dense when `value` is above 32 or the update would make it
/// longer than `sparse_max` bytes; sparse data that cannot be walked to `index` is
/// [`Corrupt`].
pub fn set_register(
    s: &mut Vec<u8>,
    index: usize,
    value: u8,
    sparse_max: usize,
) -> Result<bool, Corrupt> {
    if index >= REGISTERS || value == 0 {
        // Nothing to raise (Redis never asks for either).
        return register(s, index.min(REGISTERS - 1)).map(|_| false);
    }
    let value = value.min(REGISTER_MAX);
    match encoding_byte(s) {
        Some(&ENC_DENSE) if s.len() >= DENSE_LEN => {
            Ok(dense::raise(&mut s[HEADER..], index, value))
        }
        Some(&ENC_SPARSE) => sparse::set(s, index, value, sparse_max),
        _ => Err(Corrupt),
    }
}

/// Register `index`'s value, found as [`set_register`] would find it ([`Corrupt`] when a
/// sparse HLL's opcodes end before it). Lets a caller see that an update would change
/// nothing without taking the value for writing.
pub fn register(s: &[u8], index: usize) -> Result<u8, Corrupt> {
    if index >= REGISTERS {
        return Err(Corrupt);
    }
    match encoding_byte(s) {
        Some(&ENC_DENSE) if s.len() >= DENSE_LEN => Ok(dense::get(&s[HEADER..], index)),
        Some(&ENC_SPARSE) => sparse::register(s, index),
        _ => Err(Corrupt),
    }
}

/// The registers' value histogram (index: register value; 64 slots, as Redis sizes it so
/// that any 6-bit value lands somewhere).
pub type Histogram = [u32; 64];

/// The estimated cardinality (the cached one is not consulted).
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let mut histo: Histogram = [0; 64];
    match encoding_byte(s) {
        Some(&ENC_DENSE) if s.len() >= DENSE_LEN => dense::histogram(&s[HEADER..], &mut histo),
        Some(&ENC_SPARSE) => sparse::histogram(&s[HEADER..], &mut histo)?,
        _ => return Err(Corrupt),
    }
    Ok(estimate::cardinality(&histo))
}

/// The estimated cardinality of registers held one per byte (the union PFCOUNT computes
/// over several keys).
pub fn count_registers(max: &[u8; REGISTERS]) -> u64 {
    let mut histo: Histogram = [0; 64];
    for &r in max {
        histo[usize::from(r & 63)] += 1;
    }
    estimate::cardinality(&histo)
}

/// Raises every `max[i]` to register `i` of `s` (PFMERGE's and PFCOUNT's union). On
/// [`Corrupt`] sparse data `max` may be partly raised.
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Corrupt> {
    match encoding_byte(s) {
        Some(&ENC_DENSE) if s.len() >= DENSE_LEN => {
            let regs = &s[HEADER..];
            for (i, m) in max.iter_mut().enumerate() {
                *m = (*m).max(dense::get(regs, i));
            }
            Ok(())
        }
        Some(&ENC_SPARSE) => sparse::for_each_register(&s[HEADER..], |i, v| {
            if v > max[i] {
                max[i] = v;
            }
        }),
        _ => Err(Corrupt),
    }
}

/// Turns a sparse HLL dense (the header, cached count included, carries over): true when
/// it converted, false when it was dense already.
pub fn to_dense(s: &mut Vec<u8>) -> Result<bool, Corrupt> {
    match encoding_byte(s) {
        Some(&ENC_DENSE) => Ok(false),
        Some(&ENC_SPARSE) => {
            *s = sparse::to_dense(s)?;
            Ok(true)
        }
        _ => Err(Corrupt),
    }
}

/// Every register of a dense HLL, one per byte (PFDEBUG GETREG); `None` if it is not
/// dense.
pub fn dense_registers(s: &[u8]) -> Option<Vec<u8>> {
    if encoding_byte(s) != Some(&ENC_DENSE) || s.len() < DENSE_LEN {
        return None;
    }
    let regs = &s[HEADER..];
    Some((0..REGISTERS).map(|i| dense::get(regs, i)).collect())
}

/// A sparse HLL's opcodes as PFDEBUG DECODE spells them (`Z:8581 v:1,1 z:9`); `None` if
/// it is not sparse. Corrupt data is decoded as far as it goes, as Redis does.
pub fn decode(s: &[u8]) -> Option<String> {
    if encoding_byte(s) != Some(&ENC_SPARSE) {
        return None;
    }
    Some(sparse::decode(&s[HEADER..]))
}

/// PFSELFTEST: the dense register array keeps every value without disturbing its
/// neighbours, and a sparse and a dense HLL fed the same `elements` distinct elements
/// agree and stay within six standard errors of the truth at every power of ten (the
/// sparse one sparse while small). `Err` carries Redis's `TESTFAILED ...` text.
pub fn self_test(elements: u64, sparse_max: usize, seed: u64) -> Result<(), String> {
    const CYCLES: usize = 1000;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut bits = vec![0u8; DENSE_LEN];
    let mut bytes = vec![0u8; REGISTERS];
    for _ in 0..CYCLES {
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = rng.u8(..) & REGISTER_MAX;
            dense::put(&mut bits[HEADER..], i, *b);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let got = dense::get(&bits[HEADER..], i);
            if got != b {
                return Err(format!(
                    "TESTFAILED Register {i} should be {b} but is {got}"
                ));
            }
        }
    }
    // The same elements into a dense and a sparse HLL.
    let mut dense_hll = vec![0u8; DENSE_LEN];
    dense_hll[..4].copy_from_slice(MAGIC);
    let mut sparse_hll = empty();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let salt = rng.u64(..);
    let mut checkpoint = 1u64;
    for j in 1..=elements {
        let ele = (j ^ salt).to_le_bytes();
        let (index, value) = pattern(&ele);
        dense::raise(&mut dense_hll[HEADER..], index, value);
        set_register(&mut sparse_hll, index, value, sparse_max)
            .map_err(|_| "TESTFAILED sparse HLL corrupted".to_string())?;
        if j != checkpoint {
            continue;
        }
        if j < (sparse_max / 2) as u64 && encoding_of(&sparse_hll) != Ok(Encoding::Sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let d = count(&dense_hll).map_err(|_| "TESTFAILED dense HLL corrupted".to_string())?;
        if count(&sparse_hll) != Ok(d) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = checkpoint.abs_diff(d);
        // Cardinality 10 sees collisions often enough to allow for one.
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_hll_is_redis_s() {
        let e = empty();
        assert_eq!(
            e,
            b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff".to_vec()
        );
        assert_eq!(encoding_of(&e), Ok(Encoding::Sparse));
        assert_eq!(cached_count(&e), Some(0));
        assert_eq!(count(&e), Ok(0));
        assert_eq!(decode(&e).as_deref(), Some("Z:16384"));
    }

    #[test]
    fn murmur_matches_the_reference() {
        // Redis 7.0's MurmurHash64A (hyperloglog.c, compiled as C) with Redis's seed: no
        // tail, a tail only, one whole block, whole blocks and a tail.
        for (key, want) in [
            (&b""[..], 0xd8df_ea65_85bc_9732),
            (b"hello", 0x0f65_6f01_eecf_e400),
            (b"abcdefgh", 0xf3a6_5df5_5991_4567),
            (b"abcdefghijklmnopqrst", 0x1776_ebf5_9386_0ac8),
        ] {
            assert_eq!(
                murmur64a(key, SEED),
                want,
                "{:?}",
                key.escape_ascii().to_string()
            );
        }
        // The registers redis-server 7.0.15 sets for them (PFADD k <e>, PFDEBUG DECODE k:
        // `Z:5938 v:2,1 Z:10445`, `Z:9216 v:1,1 Z:7167`, `Z:1383 v:1,1 Z:15000`,
        // `Z:2760 v:4,1 Z:13623`).
        assert_eq!(pattern(b""), (5938, 2));
        assert_eq!(pattern(b"hello"), (9216, 1));
        assert_eq!(pattern(b"abcdefgh"), (1383, 1));
        assert_eq!(pattern(b"abcdefghijklmnopqrst"), (2760, 4));
        // An element offering more than a sparse VAL holds (the integration test's).
        assert_eq!(pattern(&3_130_853_818u64.to_le_bytes()), (3655, 33));
    }

    #[test]
    fn patterns_are_redis_s() {
        // Registers Redis sets for these elements (PFDEBUG DECODE after PFADD c x y z,
        // as redis-server 7.0 shows it: Z:8581 v:1,1 Z:6350 v:3,1 Z:1441 v:2,1 z:9).
        let mut s = empty();
        for e in [&b"x"[..], b"y", b"z"] {
            assert_eq!(add(&mut s, e, SPARSE_MAX_BYTES), Ok(true));
        }
        assert_eq!(
            decode(&s).unwrap(),
            "Z:8581 v:1,1 Z:6350 v:3,1 Z:1441 v:2,1 z:9"
        );
        assert_eq!(count(&s), Ok(3));
    }

    #[test]
    fn validation_follows_is_hll_object() {
        assert_eq!(encoding_of(b""), Err(NotHll));
        assert_eq!(encoding_of(b"HYLL\x01\x00\x00"), Err(NotHll));
        assert_eq!(
            encoding_of(b"HYLX\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
            Err(NotHll)
        );
        assert_eq!(
            encoding_of(b"HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
            Err(NotHll)
        );
        // A header alone is a sparse HLL (corrupt, found so when walked).
        let bare = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
        assert_eq!(encoding_of(bare), Ok(Encoding::Sparse));
        assert_eq!(count(bare), Err(Corrupt));
        let mut v = bare.to_vec();
        assert_eq!(add(&mut v, b"a", SPARSE_MAX_BYTES), Err(Corrupt));
        // Dense: the exact length only.
        let mut d = empty();
        to_dense(&mut d).unwrap();
        assert_eq!(d.len(), DENSE_LEN);
        assert_eq!(encoding_of(&d), Ok(Encoding::Dense));
        d.push(0);
        assert_eq!(encoding_of(&d), Err(NotHll));
        d.truncate(DENSE_LEN - 1);
        assert_eq!(encoding_of(&d), Err(NotHll));
    }

    #[test]
    fn the_cache_is_the_top_bit_of_byte_15() {
        let mut s = empty();
        set_cached_count(&mut s, 12345);
        assert_eq!(cached_count(&s), Some(12345));
        invalidate_cache(&mut s);
        assert_eq!(cached_count(&s), None);
        assert_eq!(s[15], 0x80);
        assert_eq!(cached_count(b"HYLL"), None);
    }

    #[test]
    fn sparse_and_dense_count_alike_through_promotion() {
        let mut sparse = empty();
        let mut dense_hll = empty();
        to_dense(&mut dense_hll).unwrap();
        let mut promoted_at = None;
        for i in 0..20_000u32 {
            let e = i.to_string();
            let a = add(&mut sparse, e.as_bytes(), SPARSE_MAX_BYTES).unwrap();
            let b = add(&mut dense_hll, e.as_bytes(), SPARSE_MAX_BYTES).unwrap();
            assert_eq!(a, b, "element {i}");
            if promoted_at.is_none() && encoding_of(&sparse) == Ok(Encoding::Dense) {
                promoted_at = Some(i);
            }
            if encoding_of(&sparse) == Ok(Encoding::Sparse) {
                assert!(sparse.len() <= SPARSE_MAX_BYTES);
            }
            if i % 997 == 0 {
                assert_eq!(count(&sparse), count(&dense_hll));
            }
        }
        assert!(promoted_at.is_some());
        // Once promoted, both hold the same bytes but the cache.
        assert_eq!(sparse[HEADER..], dense_hll[HEADER..]);
        let n = count(&sparse).unwrap();
        assert!((19_000..21_000).contains(&n), "{n}");
    }

    #[test]
    fn a_small_limit_promotes_early() {
        let mut s = empty();
        let mut i = 0u32;
        while encoding_of(&s) == Ok(Encoding::Sparse) {
            assert!(i < 30, "still sparse after {i}");
            add(&mut s, &i.to_le_bytes(), 40).unwrap();
            i += 1;
        }
        assert!(i < 30, "promoted after {i}");
        assert_eq!(s.len(), DENSE_LEN);
    }

    #[test]
    fn merging_takes_the_larger_register() {
        let (mut a, mut b) = (empty(), empty());
        for i in 0..500u32 {
            add(&mut a, format!("a{i}").as_bytes(), SPARSE_MAX_BYTES).unwrap();
            add(&mut b, format!("b{i}").as_bytes(), SPARSE_MAX_BYTES).unwrap();
        }
        let mut both = empty();
        to_dense(&mut both).unwrap();
        for i in 0..500u32 {
            add(&mut both, format!("a{i}").as_bytes(), SPARSE_MAX_BYTES).unwrap();
            add(&mut both, format!("b{i}").as_bytes(), SPARSE_MAX_BYTES).unwrap();
        }
        let mut max = [0u8; REGISTERS];
        merge_into(&mut max, &a).unwrap();
        merge_into(&mut max, &b).unwrap();
        assert_eq!(count_registers(&max), count(&both).unwrap());
        assert_eq!(dense_registers(&both).unwrap(), max.to_vec());
    }

    #[test]
    fn the_self_test_passes() {
        self_test(20_000, SPARSE_MAX_BYTES, 7).unwrap();
    }

    proptest::proptest! {
        /// Any bytes at all, and any bytes after either encoding's header: every
        /// function answers or refuses, never panics, and a sparse value that counts also
        /// converts, merges and decodes.
        #[test]
        fn no_bytes_make_it_panic(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            enc in 0u8..3,
            prefix in 0usize..20,
            index in 0usize..20_000,
            value in proptest::prelude::any::<u8>(),
        ) {
            let mut s = b"HYLL".to_vec();
            s.extend_from_slice(&[enc, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 0x80]);
            s.extend_from_slice(&tail);
            for v in [s.clone(), s[..prefix.min(s.len())].to_vec(), tail.clone()] {
                let counted = count(&v);
                let _ = encoding_of(&v);
                let _ = cached_count(&v);
                let _ = decode(&v);
                let _ = dense_registers(&v);
                let _ = register(&v, index);
                let mut max = [0u8; REGISTERS];
                let merged = merge_into(&mut max, &v);
                let mut c = v.clone();
                let converted = to_dense(&mut c);
                if counted.is_ok() && encoding_of(&v) == Ok(Encoding::Sparse) {
                    proptest::prop_assert!(merged.is_ok() && converted.is_ok());
                    proptest::prop_assert_eq!(count(&c), counted);
                }
                let mut c = v.clone();
                let _ = set_register(&mut c, index, value, 40);
                let _ = add(&mut c, &tail, 40);
                set_cached_count(&mut c, 9);
                invalidate_cache(&mut c);
            }
        }
    }

    /// Any bytes after a valid header: counting, adding, merging, converting and
    /// decoding answer or refuse, never panic.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = fastrand::Rng::with_seed(42);
        for round in 0..3000 {
            let mut s = empty();
            let len = rng.usize(0..64);
            s.truncate(HEADER);
            s.extend((0..len).map(|_| rng.u8(..)));
            if round % 3 == 0 {
                // Near-valid: a valid HLL with a few bytes flipped.
                s = empty();
                for i in 0..rng.u32(0..200) {
                    add(&mut s, &i.to_le_bytes(), SPARSE_MAX_BYTES).unwrap();
                }
                for _ in 0..rng.usize(1..4) {
                    let at = rng.usize(HEADER..s.len());
                    s[at] = rng.u8(..);
                }
            }
            let _ = count(&s);
            let _ = decode(&s);
            let mut max = [0u8; REGISTERS];
            let _ = merge_into(&mut max, &s);
            let mut c = s.clone();
            let _ = to_dense(&mut c);
            let mut c = s.clone();
            for i in 0..20u32 {
                let _ = add(&mut c, &i.to_le_bytes(), 60);
            }
            let mut c = s.clone();
            let _ = set_register(&mut c, rng.usize(..REGISTERS), rng.u8(1..=51), 3000);
        }
    }
}
