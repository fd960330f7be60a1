//! RESP2 / RESP3: the Redis serialization protocol.

pub mod frame;
pub mod inline;
pub mod reply;
pub mod request;

/// Appends an aggregate of bulk strings, `kind` its type byte: `*` for an array (a command
/// as clients send it, a RESP2 Pub/Sub message), `>` for a RESP3 push. The one encoder of
/// requests in the workspace: the write stream, replica and cluster links, Pub/Sub frames.
pub fn write_bulks<A: AsRef<[u8]>>(out: &mut Vec<u8>, kind: u8, parts: &[A]) {
    let mut n = itoa::Buffer::new();
    out.push(kind);
    out.extend_from_slice(n.format(parts.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for p in parts {
        let p = p.as_ref();
        out.push(b'$');
        out.extend_from_slice(n.format(p.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends a command, as a client sends it: an array of bulk strings.
pub fn write_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    write_bulks(out, b'*', args);
}

/// Parses a RESP integer the way Redis's `string2ll` does: an optional `-`, then digits with
/// no leading zero (except `0` itself), no sign `+`, no spaces, within `i64`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] => return if neg { None } else { Some(0) },
        [b'0', ..] => return None,
        _ => {}
    }
    if digits.len() > 19 {
        return None;
    }
    // Accumulate negatively so that i64::MIN parses.
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub((c - b'0') as i64)?;
    }
    if neg { Some(v) } else { v.checked_neg() }
}

#[cfg(test)]
mod tests {
    use super::parse_i64;

    #[test]
    fn commands_encode_as_arrays_of_bulks() {
        let mut out = Vec::new();
        super::write_command(&mut out, &[&b"SET"[..], b"k", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        out.clear();
        super::write_bulks(&mut out, b'>', &["message"]);
        assert_eq!(out, b">1\r\n$7\r\nmessage\r\n");
    }

    #[test]
    fn integers_follow_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [&b""[..], b"-", b"01", b"-0", b"+1", b" 1", b"1 ", b"1a"] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }
}
