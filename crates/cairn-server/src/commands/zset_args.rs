//! Arguments the sorted-set commands share, read as Redis reads them: scores with
//! `strtod`'s grammar (hex floats, `inf`), score ranges with `(` for an exclusive end,
//! lexicographic ranges with `[`, `(`, `-` and `+`.

use cairn_store::types::zset::{LexBound, LexRange, ScoreRange};

use crate::error::CmdError;

/// What C's `strtod` reads from all of `s` (leading white space skipped, as strtod does),
/// or None if it stops before the end. Overflow reads as an infinity and underflow as
/// zero, with the flag saying which end went out of range.
fn strtod(s: &[u8]) -> Option<(f64, bool)> {
    let text = std::str::from_utf8(s).ok()?;
    let t = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    if t.is_empty() {
        // No conversion: strtod leaves its end pointer at the start, which is the end
        // only for an empty string (read as 0).
        return text.is_empty().then_some((0.0, false));
    }
    let (neg, body) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let v = if lower == "inf" || lower == "infinity" {
        return Some((
            if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            },
            false,
        ));
    } else if lower == "nan" {
        f64::NAN
    } else if let Some(hex) = lower.strip_prefix("0x") {
        parse_hex(hex)?
    } else {
        if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
            || body.contains(|c: char| !(c.is_ascii_digit() || "eE.+-".contains(c)))
        {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    // Underflow: a mantissa with a non-zero digit that read as zero.
    let mantissa = match lower.strip_prefix("0x") {
        Some(hex) => hex.split('p').next(),
        None => lower.split('e').next(),
    };
    let mantissa_nonzero =
        mantissa.is_some_and(|m| m.bytes().any(|b| b.is_ascii_hexdigit() && b != b'0'));
    let out_of_range = v.is_infinite() || (v == 0.0 && mantissa_nonzero);
    Some((if neg { -v } else { v }, out_of_range))
}

/// A hexadecimal float's digits after `0x`: `h[.h][p[+-]d]`.
fn parse_hex(s: &str) -> Option<f64> {
    let (mant, exp) = match s.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// A score argument (ZADD, ZINCRBY): Redis's `getDoubleFromObject` refuses leading white
/// space, trailing bytes, NaN, and what overflows or underflows to zero.
pub fn score_arg(b: &[u8]) -> Result<f64, CmdError> {
    let not_float = || CmdError::new("ERR value is not a valid float");
    if b.first().is_some_and(u8::is_ascii_whitespace) || b.is_empty() {
        return Err(not_float());
    }
    match strtod(b) {
        Some((v, false)) if !v.is_nan() => Ok(v),
        _ => Err(not_float()),
    }
}

/// One end of a score range: `(` makes it exclusive; the rest is read by strtod, which
/// (as in Redis's `zslParseRange`) must consume it all and not make NaN.
fn range_end(b: &[u8]) -> Option<(f64, bool)> {
    let (ex, text) = match b.first() {
        Some(b'(') => (true, &b[1..]),
        _ => (false, b),
    };
    match strtod(text) {
        Some((v, _)) if !v.is_nan() => Some((v, ex)),
        _ => None,
    }
}

/// `min max` of ZRANGEBYSCORE, ZCOUNT, ZREMRANGEBYSCORE.
pub fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let bad = || CmdError::new("ERR min or max is not a float");
    let (min, min_ex) = range_end(min).ok_or_else(bad)?;
    let (max, max_ex) = range_end(max).ok_or_else(bad)?;
    Ok(ScoreRange {
        min,
        max,
        min_ex,
        max_ex,
    })
}

fn lex_end(b: &[u8]) -> Option<LexBound> {
    match b.first()? {
        b'+' if b.len() == 1 => Some(LexBound::PosInf),
        b'-' if b.len() == 1 => Some(LexBound::NegInf),
        b'[' => Some(LexBound::Incl(b[1..].to_vec())),
        b'(' => Some(LexBound::Excl(b[1..].to_vec())),
        _ => None,
    }
}

/// `min max` of ZRANGEBYLEX, ZLEXCOUNT, ZREMRANGEBYLEX.
pub fn lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    let bad = || CmdError::new("ERR min or max not valid string range item");
    Ok(LexRange {
        min: lex_end(min).ok_or_else(bad)?,
        max: lex_end(max).ok_or_else(bad)?,
    })
}

/// ZRANGE's `start stop` by rank (negative from the end) over `len` members: the ranks
/// `from..to`, empty when they select nothing.
pub fn rank_span(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let len = len as i64;
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        stop + len
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        return (0, 0);
    }
    (start as usize, stop as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_read_as_strtod_reads_them() {
        let ok = |s: &str| score_arg(s.as_bytes()).ok();
        assert_eq!(ok("1.5"), Some(1.5));
        assert_eq!(ok("0x10"), Some(16.0));
        assert_eq!(ok("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(ok("Infinity"), Some(f64::INFINITY));
        assert_eq!(ok(".5"), Some(0.5));
        assert_eq!(ok("1e5"), Some(1e5));
        assert_eq!(ok("-0").map(f64::is_sign_negative), Some(true));
        for bad in [
            "", " 1", "1 ", "nan", "1e400", "1e-400", "1.5.5", "x", "1x", "+",
        ] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
        assert!(score_range(b"(1", b"+inf").is_ok());
        assert!(score_range(b"", b"(1e400").is_ok());
        assert!(score_range(b"x", b"1").is_err());
        assert!(lex_range(b"[a", b"+").is_ok());
        assert!(lex_range(b"a", b"+").is_err());
        assert!(lex_range(b"-x", b"+").is_err());
        assert_eq!(rank_span(0, -1, 3), (0, 3));
        assert_eq!(rank_span(-100, 100, 3), (0, 3));
        assert_eq!(rank_span(2, 1, 3), (0, 0));
        assert_eq!(rank_span(5, 10, 3), (0, 0));
        assert_eq!(rank_span(0, -4, 3), (0, 0));
    }
}
