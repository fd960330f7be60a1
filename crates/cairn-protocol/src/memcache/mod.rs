//! Memcached's text protocol (classic and meta): request lines split and numbers read the
//! way memcached 1.6 reads them, so that a client sees the same answer to the same bytes.
//!
//! - A request is one line ending in `\n` (a `\r` before it is dropped); storage commands
//!   are followed by a data block of the announced length plus `\r\n`, which the
//!   connection reads itself.
//! - Tokens are separated by single spaces only; runs of spaces are skipped; a tab is part
//!   of a token (memcached's `tokenize_command`). Keys are limited to [`KEY_MAX`] bytes;
//!   like memcached's text protocol, other control characters in a key are accepted.
//! - Numbers follow memcached's `safe_strto*` helpers: a leading `+` is accepted, a minus
//!   sign on an unsigned field is refused, trailing garbage is refused, and 32-bit client
//!   flags are taken modulo 2^32 as `strtoul` into a `uint32_t` does.
//!
//! [`meta`] reads the flags of the meta commands (mg, ms, md, ma).

pub mod meta;

/// Longest key memcached accepts.
pub const KEY_MAX: usize = 250;
/// A line longer than this without a newline is junk (unless it is a long multi-get),
/// and memcached closes the connection.
pub const LINE_MAX: usize = 2048;
/// Relative expiry times above this many seconds (30 days) are absolute Unix times.
pub const RELATIVE_MAX: i64 = 60 * 60 * 24 * 30;

/// The next request line in `buf`.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line without its `\r\n` or `\n`, and the bytes it took.
    Complete { line: &'a [u8], consumed: usize },
    /// No newline yet; read more.
    Incomplete,
    /// No newline within [`LINE_MAX`] bytes and not a multi-get: close the connection.
    Junk,
}

pub fn next_line(buf: &[u8]) -> Line<'_> {
    match memchr::memchr(b'\n', buf) {
        Some(nl) => {
            let mut end = nl;
            if end > 0 && buf[end - 1] == b'\r' {
                end -= 1;
            }
            Line::Complete {
                line: &buf[..end],
                consumed: nl + 1,
            }
        }
        None if buf.len() > LINE_MAX => {
            let start = buf.iter().take_while(|&&b| b == b' ').count();
            let rest = &buf[start..];
            if start <= 100 && (rest.starts_with(b"get ") || rest.starts_with(b"gets ")) {
                Line::Incomplete
            } else {
                Line::Junk
            }
        }
        None => Line::Incomplete,
    }
}

/// Splits a request line into its tokens.
pub fn tokens(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .collect()
}

fn digits(t: &[u8]) -> Option<(bool, &[u8])> {
    let (neg, rest) = match t.first()? {
        b'+' => (false, &t[1..]),
        b'-' => (true, &t[1..]),
        _ => (false, t),
    };
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((neg, rest))
}

/// An unsigned 64-bit number (`safe_strtoull`): CAS uniques, deltas.
pub fn parse_u64(t: &[u8]) -> Option<u64> {
    let (neg, d) = digits(t)?;
    let v: u64 = std::str::from_utf8(d).ok()?.parse().ok()?;
    // strtoull negates "-N"; memcached refuses a minus sign when the result looks negative.
    if neg {
        let wrapped = v.wrapping_neg();
        return (v == 0 || (wrapped as i64) >= 0).then_some(wrapped);
    }
    Some(v)
}

/// Client flags (`safe_strtoul` into a `uint32_t`): refused if negative, else kept modulo
/// 2^32.
pub fn parse_flags(t: &[u8]) -> Option<u32> {
    parse_u64(t).map(|v| v as u32)
}

/// A signed 32-bit number (`safe_strtol`): expiry times, lengths. Like memcached, which
/// reads a `long` and stores it into an `int32_t`, a number beyond 32 bits wraps.
pub fn parse_i32(t: &[u8]) -> Option<i32> {
    let (neg, d) = digits(t)?;
    let v: i64 = std::str::from_utf8(d).ok()?.parse().ok()?;
    let v = if neg { -v } else { v };
    Some(v as i32)
}

/// Memcached's reading of an expiry time, as an absolute deadline in Unix milliseconds:
/// `None` for no expiry (0), `Some(0)`-like past deadlines for negative times or absolute
/// times already past. Up to 30 days the number is relative to `now_ms`, above it is an
/// absolute Unix time in seconds.
pub fn deadline(exptime: i64, now_ms: u64) -> Option<u64> {
    match exptime {
        0 => None,
        t if t < 0 => Some(1),
        t if t > RELATIVE_MAX => Some((t as u64 * 1000).max(1)),
        t => Some(now_ms + t as u64 * 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_at_newline_with_or_without_cr() {
        assert_eq!(
            next_line(b"get a\r\nrest"),
            Line::Complete {
                line: b"get a",
                consumed: 7
            }
        );
        assert_eq!(
            next_line(b"get a\n"),
            Line::Complete {
                line: b"get a",
                consumed: 6
            }
        );
        assert_eq!(next_line(b"get a"), Line::Incomplete);
        let long = [b'x'; LINE_MAX + 1];
        assert_eq!(next_line(&long), Line::Junk);
        let mut multiget = b"get ".to_vec();
        multiget.extend_from_slice(&[b'k'; LINE_MAX]);
        assert_eq!(next_line(&multiget), Line::Incomplete);
    }

    #[test]
    fn tokens_split_on_spaces_only() {
        assert_eq!(
            tokens(b"  set  k\t 0"),
            vec![&b"set"[..], &b"k\t"[..], &b"0"[..]]
        );
    }

    #[test]
    fn numbers_read_as_memcached_reads_them() {
        assert_eq!(parse_u64(b"+5"), Some(5));
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"-0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"1x"), None);
        assert_eq!(parse_flags(b"4294967297"), Some(1));
        assert_eq!(parse_i32(b"-1"), Some(-1));
        assert_eq!(parse_i32(b"99999999999"), Some(99999999999i64 as i32));
        assert_eq!(parse_i32(b"99999999999999999999"), None);
    }

    #[test]
    fn expiry_follows_the_thirty_day_rule() {
        let now = 1_700_000_000_000;
        assert_eq!(deadline(0, now), None);
        assert_eq!(deadline(10, now), Some(now + 10_000));
        assert_eq!(
            deadline(RELATIVE_MAX, now),
            Some(now + RELATIVE_MAX as u64 * 1000)
        );
        assert_eq!(
            deadline(RELATIVE_MAX + 1, now),
            Some((RELATIVE_MAX as u64 + 1) * 1000)
        );
        assert!(deadline(-1, now).unwrap() <= now);
    }
}
