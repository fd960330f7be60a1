//! Sorted sets in a payload. Redis 7.0 writes a sorted set in the form it holds it in: a
//! listpack blob (`ZSET_LISTPACK`) of member, score pairs in score order while it has at
//! most `zset-max-listpack-entries` members of at most `zset-max-listpack-value` bytes,
//! else a count and its members with binary scores (`ZSET_2`). Cairn writes the same from
//! the same defaults, whatever form it holds the set in; Redis converts on load when its
//! own settings differ.
//!
//! Byte for byte as Redis 7.0 writes them:
//!
//! - in the listpack, a score is the text `d2string` spells (an integral score up to 2^62
//!   in magnitude as its integer, -0 as `0`; any other as `%.17g` does: 17 significant
//!   digits, trailing zeros dropped, `e+XX` from 1e17 and below 1e-4; `inf`, `-inf`),
//!   appended as `lpAppend` appends any string, so an integral score is an integer entry
//!   (`zzlInsertAt`);
//! - in `ZSET_2`, the members go from the highest score to the lowest (ties: the greatest
//!   member first), since Redis walks its skiplist from the tail, each as an RDB string
//!   and its score as 8 bytes of little-endian IEEE double.
//!
//! Every form Redis has written is read: `ZSET` (a count, then per member its RDB string
//! and its score as text behind a length byte, 253 / 254 / 255 for NaN / +inf / -inf,
//! before 2.8), `ZSET_2`, `ZSET_ZIPLIST` (before 7.0) and `ZSET_LISTPACK`; a packed score
//! is an integer entry or text.
//!
//! Refused as Redis refuses them: an empty set, a repeated member, a NaN score; and, as
//! Redis's deep integrity check does, an odd number of packed entries. A score whose text
//! does not read as a number is refused too (Redis's `sscanf` / `strtod` would read a
//! prefix of it, or 0; no Redis writes one).

use std::cmp::Ordering;
use std::collections::HashSet;

use super::error::{DumpError, Result};
use super::input::{Input, capacity_for};
use super::{length, listpack, string, types, ziplist};

/// Redis's default `zset-max-listpack-entries`: the most members written as a listpack.
pub const MAX_LISTPACK_ENTRIES: usize = 128;
/// Redis's default `zset-max-listpack-value`: the longest member in a listpack.
pub const MAX_LISTPACK_VALUE: usize = 64;

/// `rdbLoadDoubleValue`'s length bytes for the scores that have no digits.
const TEXT_NAN: u8 = 253;
const TEXT_POS_INF: u8 = 254;
const TEXT_NEG_INF: u8 = 255;

/// A member and its score.
pub type Pair = (Vec<u8>, f64);

/// Reads the body of a sorted set of object type `kind` (one of `ZSET`, `ZSET_2`,
/// `ZSET_ZIPLIST`, `ZSET_LISTPACK`): its members and scores in the payload's order.
pub fn read(kind: u8, input: &mut Input<'_>) -> Result<Vec<Pair>> {
    let pairs = match kind {
        types::ZSET | types::ZSET_2 => {
            let n = length::read_len(input)?;
            // A pair takes at least two bytes.
            let mut pairs = Vec::with_capacity(capacity_for(n, input) / 2);
            for _ in 0..n {
                let member = string::read(input)?;
                let score = if kind == types::ZSET_2 {
                    f64::from_le_bytes(input.array()?)
                } else {
                    text_score(input)?
                };
                pairs.push((member, score));
            }
            pairs
        }
        types::ZSET_ZIPLIST => pair_up(ziplist::parse(&string::read(input)?)?)?,
        types::ZSET_LISTPACK => pair_up(listpack::parse(&string::read(input)?)?)?,
        _ => return Err(DumpError::BadFormat),
    };
    // Redis refuses an empty set ("empty keys skipped"), repeated members and NaN.
    let mut seen = HashSet::with_capacity(pairs.len());
    if pairs.is_empty()
        || !pairs
            .iter()
            .all(|(m, s)| !s.is_nan() && seen.insert(m.as_slice()))
    {
        return Err(DumpError::BadFormat);
    }
    Ok(pairs)
}

/// A score as `ZSET` holds it (Redis's `rdbLoadDoubleValue`): a length byte, then that
/// many bytes of text, or one of the three lengths that stand for a value with no digits.
fn text_score(input: &mut Input<'_>) -> Result<f64> {
    match input.u8()? {
        TEXT_NAN => Err(DumpError::BadFormat),
        TEXT_POS_INF => Ok(f64::INFINITY),
        TEXT_NEG_INF => Ok(f64::NEG_INFINITY),
        len => parse_score(input.take(usize::from(len))?),
    }
}

/// A score spelled as text (integer entries of a packed set come back as their decimal
/// spelling); NaN is refused by the caller.
fn parse_score(text: &[u8]) -> Result<f64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or(DumpError::BadFormat)
}

/// Members and scores alternate in a packed sorted set.
fn pair_up(entries: Vec<Vec<u8>>) -> Result<Vec<Pair>> {
    super::hash::pair_up(entries)?
        .into_iter()
        .map(|(m, s)| Ok((m, parse_score(&s)?)))
        .collect()
}

/// The order of a sorted set: by score, then by member bytes (`-0` and `0` tie, as in
/// Redis, which compares scores with `<`).
fn order(a: &[u8], a_score: f64, b: &[u8], b_score: f64) -> Ordering {
    a_score
        .partial_cmp(&b_score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.cmp(b))
}

/// Writes the object type and body of the sorted set holding `pairs` (distinct members,
/// scores never NaN, at least one pair: Redis refuses an empty set), in any order; pairs
/// already in the set's order (as a sorted set walks them) are written without sorting.
pub fn write<M: AsRef<[u8]>>(out: &mut Vec<u8>, pairs: &[(M, f64)]) {
    debug_assert!(pairs.iter().all(|(_, s)| !s.is_nan()));
    let in_order =
        pairs.is_sorted_by(|(a, sa), (b, sb)| order(a.as_ref(), *sa, b.as_ref(), *sb).is_le());
    if in_order {
        write_ordered(out, pairs);
    } else {
        let mut sorted: Vec<(&[u8], f64)> = pairs.iter().map(|(m, s)| (m.as_ref(), *s)).collect();
        sorted.sort_by(|(a, sa), (b, sb)| order(a, *sa, b, *sb));
        write_ordered(out, &sorted);
    }
}

/// [`write`] for pairs in the set's order.
fn write_ordered<M: AsRef<[u8]>>(out: &mut Vec<u8>, pairs: &[(M, f64)]) {
    let small = pairs.len() <= MAX_LISTPACK_ENTRIES
        && pairs
            .iter()
            .all(|(m, _)| m.as_ref().len() <= MAX_LISTPACK_VALUE);
    if small {
        out.push(types::ZSET_LISTPACK);
        let mut lp = listpack::Builder::new();
        for (m, s) in pairs {
            lp.push(m.as_ref());
            lp.push(d2string(*s).as_bytes());
        }
        string::write_blob(out, &lp.finish());
    } else {
        out.push(types::ZSET_2);
        length::write(out, pairs.len() as u64);
        for (m, s) in pairs.iter().rev() {
            string::write(out, m.as_ref());
            out.extend_from_slice(&s.to_le_bytes());
        }
    }
}

/// A score as Redis 7.0's `d2string` spells it (what redis-server 7.0.15 stores in a
/// listpack): an integral score within 2^62 in magnitude as its integer (`double2ll`,
/// which makes -0 `0`), any other as C's `%.17g`: 17 significant digits correctly
/// rounded (ties to even, as glibc's `printf` and Rust's exact formatting both do),
/// trailing zeros and a trailing point dropped, scientific notation with a signed
/// exponent of at least two digits when the exponent is below -4 or from 17.
pub fn d2string(v: f64) -> String {
    /// `(double)(LLONG_MAX / 2)`: 2^62.
    const INTEGER_RANGE: f64 = 4_611_686_018_427_387_904.0;
    if (-INTEGER_RANGE..=INTEGER_RANGE).contains(&v) && v == v.trunc() {
        return itoa::Buffer::new().format(v as i64).to_string();
    }
    cairn_protocol::resp::reply::format_score(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn pairs(p: &[(&str, f64)]) -> Vec<Pair> {
        p.iter().map(|(m, s)| (m.as_bytes().to_vec(), *s)).collect()
    }

    /// Reads a whole body (type byte first), refusing bytes left over.
    fn read_body(body: &[u8]) -> Result<Vec<Pair>> {
        let mut input = Input::new(body);
        let kind = input.u8()?;
        let pairs = read(kind, &mut input)?;
        input.finish()?;
        Ok(pairs)
    }

    fn written<M: AsRef<[u8]>>(pairs: &[(M, f64)]) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, pairs);
        out
    }

    /// The body of a payload (footer dropped, not checked: `payload.rs` tests footers).
    fn body(payload: &[u8]) -> &[u8] {
        &payload[..payload.len() - super::super::FOOTER_LEN]
    }

    /// The listpack blob of a `ZSET_LISTPACK` body, decompressed if Redis compressed it.
    fn blob(body: &[u8]) -> Vec<u8> {
        assert_eq!(body[0], types::ZSET_LISTPACK);
        let mut input = Input::new(&body[1..]);
        let blob = string::read(&mut input).unwrap();
        input.finish().unwrap();
        blob
    }

    // Payloads redis-server 7.0.15 answered DUMP with (ZADD k <score member>..., DUMP k).

    /// `ZADD k 1 a 2 b 3 c -5 d 100000 e 0 f -300 g 5000000000 h`: every integer width
    const REDIS_INTS: &str = "113c3c0000001000816702ded402816402dffb028166020001816102010181620202\
        018163020301816502f2a0860104816802f400f2052a0100000009ff0a009bda7d38c5dad4d0";
    /// `ZADD k 0.1 a 1.5 b -2.25 c 1e300 d`: the blob is LZF-compressed
    const REDIS_FRACTIONS: &str = "11c33a404d174d0000000800816302852d322e32350681610293302e3130e0\
        05000f311481620283312e350481640297312ee0051d083031652b33303018ff0a000f097a8b42960822";
    /// `ZADD k 1.5 a -2.25 b`: too short to compress
    const REDIS_FRACTIONS_PLAIN: &str =
        "1119190000000400816202852d322e32350681610283312e3504ff0a000f49bc5ea22f4741";
    /// `ZADD k inf a -inf b 0 c`
    const REDIS_INFINITIES: &str =
        "111d1d0000000600816202842d696e6605816302000181610283696e6604ff0a00200239d017f07348";
    /// `ZADD k 1 1 2 -7 3 300000 4 007 5 -0 6 9223372036854775807`: members spelling
    /// integers are integer entries, the others strings
    const REDIS_INT_MEMBERS: &str = "1130300000000c0001010101dff9020201f2e0930404030183303037040401\
        822d30030501f4ffffffffffffff7f090601ff0a0072a1c88e698e6fff";
    /// `ZADD k -0 a 4503599627370495 b 4503599627370496 c 1e17 d 0.000005 e 1234.5678 f
    /// -1e-300 g 9007199254740993 h`: `d2string`'s edges (LZF-compressed)
    const REDIS_EDGES: &str = "11c3406340751d750000001000816702872d31652d33303008816102000181650296\
        352e30e005001834652d30361781660289313233342e353637380a816202f4ff6000060f0009816302f4204f20\
        000010200c0068c00c0020200c0064400c078a5d7845630109ff0a00dde42206ffb0a6d3";

    /// `ZADD k 2^62 m0 <the next double> m1 -2^62 m2 <the next one down> m3 1e18 m4
    /// 123456789012345678 m5 -0 m6 9.2233720368547758e18 m7 1e19 m8`: where `d2string`
    /// stops printing integers (LZF-compressed)
    const REDIS_EDGES_2: &str = "11c3408c40a51fa50000001200826d3303972d342e36313136383630313834323733383839652b0731381882\
        6d3203f42026400014c009826d36030001826d3503f450f330a64b9bb6012013003440210564a7b3b6e00d20\
        0d0030400d60000040200d02310396e00d591717826d370396392e3232333337323033363835343737353840\
        75201b0338038531200a023906ff0a000fdccf2374e34180";

    #[test]
    fn listpacks_redis_wrote_read_and_write_the_same_bytes() {
        let cases = [
            (
                REDIS_INTS,
                pairs(&[
                    ("g", -300.0),
                    ("d", -5.0),
                    ("f", 0.0),
                    ("a", 1.0),
                    ("b", 2.0),
                    ("c", 3.0),
                    ("e", 100000.0),
                    ("h", 5e9),
                ]),
            ),
            (REDIS_FRACTIONS_PLAIN, pairs(&[("b", -2.25), ("a", 1.5)])),
            (
                REDIS_INFINITIES,
                pairs(&[("b", f64::NEG_INFINITY), ("c", 0.0), ("a", f64::INFINITY)]),
            ),
            (
                REDIS_INT_MEMBERS,
                pairs(&[
                    ("1", 1.0),
                    ("-7", 2.0),
                    ("300000", 3.0),
                    ("007", 4.0),
                    ("-0", 5.0),
                    ("9223372036854775807", 6.0),
                ]),
            ),
        ];
        for (payload, want) in cases {
            let payload = hex(payload);
            assert_eq!(read_body(body(&payload)), Ok(want.clone()), "{want:?}");
            assert_eq!(written(&want), body(&payload), "{want:?}");
        }
    }

    #[test]
    fn compressed_listpacks_redis_wrote_read_and_are_the_listpacks_cairn_writes() {
        let cases = [
            (
                REDIS_FRACTIONS,
                pairs(&[("c", -2.25), ("a", 0.1), ("b", 1.5), ("d", 1e300)]),
            ),
            (
                REDIS_EDGES,
                pairs(&[
                    ("g", -1e-300),
                    // ZADD's -0, stored as 0 (`d2string`'s integer path)
                    ("a", 0.0),
                    ("e", 0.000005),
                    ("f", 1234.5678),
                    ("b", 4503599627370495.0),
                    ("c", 4503599627370496.0),
                    ("h", 9007199254740992.0),
                    ("d", 1e17),
                ]),
            ),
            (
                REDIS_EDGES_2,
                pairs(&[
                    ("m3", -4611686018427388928.0),
                    ("m2", -4611686018427387904.0),
                    ("m6", 0.0),
                    ("m5", 123456789012345678.0),
                    ("m4", 1e18),
                    ("m0", 4611686018427387904.0),
                    ("m1", 4611686018427388928.0),
                    ("m7", 9223372036854775808.0),
                    ("m8", 1e19),
                ]),
            ),
        ];
        for (payload, want) in cases {
            let payload = hex(payload);
            // Redis compressed the blob (LZF); Cairn writes it plainly, the same listpack
            let got = read_body(body(&payload)).unwrap();
            assert_eq!(got, want);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.1.to_bits() == b.1.to_bits())
            );
            assert_eq!(blob(&written(&want)), blob(body(&payload)));
        }
        // the texts Redis spelled the scores with
        let entries = listpack::parse(&blob(body(&hex(REDIS_EDGES)))).unwrap();
        let scores: Vec<&[u8]> = entries.iter().skip(1).step_by(2).map(|s| &s[..]).collect();
        let want: [&[u8]; 8] = [
            b"-1e-300",
            b"0",
            b"5.0000000000000004e-06",
            b"1234.5678",
            b"4503599627370495",
            b"4503599627370496",
            b"9007199254740992",
            b"100000000000000000",
        ];
        assert_eq!(scores, want);
    }

    /// The pairs of `testdata/redis-7.0-zset-200.hex`: ZADD big with, for i in 0..200,
    /// member `m{i}` and score i, i / 7 (Python's repr), -1000 i or 1.5 as i % 4 says.
    fn redis_fixture_pairs() -> Vec<Pair> {
        (0..200)
            .map(|i| {
                let score = match i % 4 {
                    0 => f64::from(i),
                    1 => f64::from(i) / 7.0,
                    2 => -f64::from(i) * 1000.0,
                    _ => 1.5,
                };
                (format!("m{i}").into_bytes(), score)
            })
            .collect()
    }

    #[test]
    fn a_skiplist_redis_wrote_reads_and_writes_the_same_bytes() {
        let payload = hex(include_str!("testdata/redis-7.0-zset-200.hex"));
        let mut want = redis_fixture_pairs();
        want.sort_by(|(a, sa), (b, sb)| order(b, *sb, a, *sa));
        // from the highest score to the lowest, ties from the greatest member
        let got = read_body(body(&payload)).unwrap();
        assert_eq!(got, want);
        assert_eq!(&got[..2], &pairs(&[("m196", 196.0), ("m192", 192.0)])[..]);
        assert_eq!(written(&redis_fixture_pairs()), body(&payload));
        assert_eq!(written(&got), body(&payload));
    }

    #[test]
    fn the_form_follows_redis_s_defaults() {
        let many: Vec<Pair> = (0..129)
            .map(|i| (format!("m{i:03}").into_bytes(), f64::from(i)))
            .collect();
        assert_eq!(written(&many[..128])[0], types::ZSET_LISTPACK);
        assert_eq!(written(&many)[0], types::ZSET_2);
        let at_limit = [(vec![b'x'; 64], 1.0)];
        assert_eq!(written(&at_limit)[0], types::ZSET_LISTPACK);
        let long = [(vec![b'x'; 65], 1.0)];
        assert_eq!(written(&long)[0], types::ZSET_2);
        // out of order: sorted first
        let shuffled = pairs(&[("b", 2.0), ("a", 2.0), ("c", -1.0)]);
        let sorted = pairs(&[("c", -1.0), ("a", 2.0), ("b", 2.0)]);
        assert_eq!(written(&shuffled), written(&sorted));
        assert_eq!(read_body(&written(&shuffled)), Ok(sorted));
        let mut big = many.clone();
        big.reverse();
        assert_eq!(read_body(&written(&big)), Ok(big));
    }

    #[test]
    fn older_forms() {
        let want = pairs(&[
            ("a", 1.0),
            ("b", -2.5),
            ("c", f64::INFINITY),
            ("d", f64::NEG_INFINITY),
            ("12", 0.1),
        ]);
        // ZSET: scores as text, infinities as length bytes 254 and 255 (rdb.c's
        // rdbSaveDoubleValue, which spells the others with "%.17g")
        let mut body = vec![types::ZSET, 5];
        for (m, s) in &want {
            string::write(&mut body, m);
            if s.is_infinite() {
                body.push(if *s > 0.0 { 254 } else { 255 });
            } else {
                let text = d2string(*s);
                body.push(text.len() as u8);
                body.extend_from_slice(text.as_bytes());
            }
        }
        assert_eq!(read_body(&body), Ok(want.clone()));
        // ZSET_ZIPLIST (Redis 6.2): pairs in a ziplist, integral scores as integers
        let zl = ziplist::build(&[&b"a"[..], b"1", b"b", b"-2.5", b"c", b"inf", b"d", b"-inf"]);
        let mut body = vec![types::ZSET_ZIPLIST];
        string::write_blob(&mut body, &zl);
        assert_eq!(read_body(&body), Ok(want[..4].to_vec()));
        // ZSET_2 in any order
        let mut body = vec![types::ZSET_2, 2, 1, b'x'];
        body.extend_from_slice(&0.5f64.to_le_bytes());
        body.extend_from_slice(&[1, b'y']);
        body.extend_from_slice(&(-0.0f64).to_le_bytes());
        let got = read_body(&body).unwrap();
        assert_eq!(got, pairs(&[("x", 0.5), ("y", 0.0)]));
        assert!(got[1].1.is_sign_negative());
        // ZSET with text Redis 2.x could have written
        let body = [
            types::ZSET,
            1,
            1,
            b'm',
            6,
            b'1',
            b'.',
            b'5',
            b'e',
            b'+',
            b'3',
        ];
        assert_eq!(read_body(&body), Ok(pairs(&[("m", 1500.0)])));
    }

    #[test]
    fn refusals() {
        let lp = |entries: &[&[u8]]| {
            let mut body = vec![types::ZSET_LISTPACK];
            string::write_blob(&mut body, &listpack::build(entries));
            body
        };
        let zl = |entries: &[&[u8]]| {
            let mut body = vec![types::ZSET_ZIPLIST];
            string::write_blob(&mut body, &ziplist::build(entries));
            body
        };
        let binary = |entries: &[(&[u8], f64)]| {
            let mut body = vec![types::ZSET_2, entries.len() as u8];
            for (m, s) in entries {
                string::write(&mut body, m);
                body.extend_from_slice(&s.to_le_bytes());
            }
            body
        };
        let huge: &[u8] = &[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        let bad: Vec<Vec<u8>> = vec![
            // empty, in every form
            vec![types::ZSET, 0],
            vec![types::ZSET_2, 0],
            lp(&[]),
            zl(&[]),
            // repeated members, spelled the same or not
            binary(&[(b"m", 1.0), (b"m", 2.0)]),
            lp(&[b"m", b"1", b"m", b"1"]),
            vec![types::ZSET, 2, 0xc0, 5, 1, b'1', 1, b'5', 1, b'2'],
            // NaN, in every form
            binary(&[(b"m", f64::NAN)]),
            vec![types::ZSET, 1, 1, b'm', TEXT_NAN],
            vec![types::ZSET, 1, 1, b'm', 3, b'n', b'a', b'n'],
            lp(&[b"m", b"nan"]),
            zl(&[b"m", b"NaN"]),
            // odd entry counts
            lp(&[b"m"]),
            lp(&[b"m", b"1", b"n"]),
            zl(&[b"m", b"1", b"n"]),
            // scores that are not numbers
            lp(&[b"m", b"abc"]),
            lp(&[b"m", b""]),
            lp(&[b"m", b"1.5x"]),
            zl(&[b"m", b"\xff"]),
            vec![types::ZSET, 1, 1, b'm', 0],
            vec![types::ZSET, 1, 1, b'm', 2, b'1', b'?'],
            // counts and lengths that lie; cut short
            vec![types::ZSET_2, 2, 1, b'm', 0, 0, 0, 0, 0, 0, 0xf0, 0x3f],
            [
                &[types::ZSET_2][..],
                huge,
                &[1, b'm', 0, 0, 0, 0, 0, 0, 0xf0, 0x3f],
            ]
            .concat(),
            [&[types::ZSET][..], huge, &[1, b'm', 1, b'1']].concat(),
            vec![types::ZSET, 1, 1, b'm', 5, b'1'],
            vec![types::ZSET_2, 1, 1, b'm', 0, 0, 0],
            // a blob that is not a listpack, or not a ziplist
            vec![types::ZSET_LISTPACK, 3, 1, 2, 3],
            [&[types::ZSET_ZIPLIST][..], &lp(&[b"m", b"1"])[1..]].concat(),
        ];
        for body in &bad {
            assert_eq!(read_body(body), Err(DumpError::BadFormat), "{body:02x?}");
        }
    }

    #[test]
    fn scores_spell_as_d2string() {
        for (v, want) in [
            (0.1, "0.10000000000000001"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (1e300, "1.0000000000000001e+300"),
            (1.5e-7, "1.4999999999999999e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (1e16, "10000000000000000"),
            // integers up to 2^62 as integers
            (1e17, "100000000000000000"),
            (-1e17, "-100000000000000000"),
            (123456789012345678.0, "123456789012345680"),
            (4611686018427387904.0, "4611686018427387904"),
            (-4611686018427387904.0, "-4611686018427387904"),
            (4611686018427388928.0, "4.6116860184273889e+18"),
            (-4611686018427388928.0, "-4.6116860184273889e+18"),
            (1e19, "1e+19"),
            (123456789012345678901.0, "1.2345678901234568e+20"),
            (1.0 / 3.0, "0.33333333333333331"),
            (3.0, "3"),
            (-4503599627370495.0, "-4503599627370495"),
            (4503599627370496.0, "4503599627370496"),
            (9007199254740992.0, "9007199254740992"),
            // a tie at the 17th digit (2^50 + 1/4, + 3/4) goes to even, as in glibc
            ((1u64 << 50) as f64 + 0.25, "1125899906842624.2"),
            ((1u64 << 50) as f64 + 0.75, "1125899906842624.8"),
            (5e-324, "4.9406564584124654e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.0, "0"),
            (-0.0, "0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(d2string(v), want, "{v:e}");
        }
    }

    fn any_score() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>().prop_filter("not NaN", |s| !s.is_nan()),
            (-1000i64..1000).prop_map(|i| i as f64),
            (-1000i64..1000).prop_map(|i| i as f64 / 8.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
        ]
    }

    proptest! {
        #[test]
        fn d2string_reads_back_exactly(v in any::<f64>().prop_filter("not NaN", |s| !s.is_nan())) {
            let text = d2string(v);
            let back: f64 = text.parse().unwrap();
            // -0 comes back 0, which it equals
            prop_assert!(back == v, "{}", text);
        }

        #[test]
        fn round_trip(set in proptest::collection::btree_map(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..80),
                any::<i64>().prop_map(|i| i.to_string().into_bytes()),
            ],
            any_score(),
            1..300,
        )) {
            let pairs: Vec<Pair> = set.into_iter().collect();
            let back = read_body(&written(&pairs)).unwrap();
            let mut back_sorted = back.clone();
            back_sorted.sort_by(|(a, _), (b, _)| a.cmp(b));
            prop_assert_eq!(back_sorted.len(), pairs.len());
            for ((m, s), (m2, s2)) in back_sorted.iter().zip(&pairs) {
                prop_assert_eq!(m, m2);
                prop_assert!(s == s2, "{} {}", s, s2);
            }
            // in the set's order, or its reverse
            let forward = back.is_sorted_by(|(a, sa), (b, sb)| order(a, *sa, b, *sb).is_le());
            let backward = back.is_sorted_by(|(a, sa), (b, sb)| order(a, *sa, b, *sb).is_ge());
            prop_assert!(forward || backward);
        }

        #[test]
        fn any_body_never_panics(
            kind in prop_oneof![Just(types::ZSET), Just(types::ZSET_2), Just(types::ZSET_ZIPLIST), Just(types::ZSET_LISTPACK)],
            rest in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut body = vec![kind];
            body.extend_from_slice(&rest);
            let _ = read_body(&body);
        }
    }
}
