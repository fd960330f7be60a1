//! Replies, encoded straight into the connection's output buffer.
//!
//! A handler calls `reply.bulk(v)`, `reply.array(n)` and so on; the writer spells each in
//! the protocol the client chose with `HELLO`. RESP3-only types fall back as Redis does:
//! maps become flat arrays, sets arrays, doubles bulk strings, booleans integers, the null
//! `_` becomes `$-1` (or `*-1` for a null array), verbatim strings bulk strings, and pushes
//! arrays.

/// Protocol version negotiated by `HELLO` (2 until the client asks for 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// An output buffer plus the protocol to encode in.
#[derive(Debug, Default)]
pub struct Reply {
    buf: Vec<u8>,
    proto: Protocol,
}

impl Reply {
    pub fn new(proto: Protocol) -> Self {
        Reply::with_capacity(proto, 16 * 1024)
    }

    /// A reply buffer of `cap` bytes to start with (one small reply built apart from a
    /// connection's, such as a blocked client's).
    pub fn with_capacity(proto: Protocol, cap: usize) -> Self {
        Reply {
            buf: Vec::with_capacity(cap),
            proto,
        }
    }

    /// The bytes, taken out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn protocol(&self) -> Protocol {
        self.proto
    }

    pub fn set_protocol(&mut self, proto: Protocol) {
        self.proto = proto;
    }

    pub fn is_resp3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    /// The encoded bytes waiting to be written.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets what was written (after the socket took it), keeping a bounded capacity so a
    /// single huge reply does not pin its buffer forever.
    pub fn clear(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > 1024 * 1024 {
            self.buf.shrink_to(64 * 1024);
        }
    }

    /// Drops everything written after `mark` (a position from [`Reply::len`]).
    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(mark);
    }

    /// `+OK`
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string; must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.line(b'+', s.as_bytes());
    }

    /// An error line: `msg` starts with its code (`ERR`, `WRONGTYPE`, ...). CR and LF would
    /// break the framing, so they become spaces, as Redis does.
    pub fn error(&mut self, msg: &str) {
        self.buf.push(b'-');
        self.buf.extend(
            msg.bytes()
                .map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, v: i64) {
        self.buf.push(b':');
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk(&mut self, v: &[u8]) {
        self.header(b'$', v.len());
        self.buf.extend_from_slice(v);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding the decimal spelling of `v`.
    pub fn bulk_int(&mut self, v: i64) {
        self.bulk(itoa::Buffer::new().format(v).as_bytes());
    }

    /// The null bulk string (`$-1`; `_` in RESP3).
    pub fn null(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.buf.extend_from_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// The null array (`*-1`; `_` in RESP3).
    pub fn null_array(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.buf.extend_from_slice(b"*-1\r\n"),
            Protocol::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    pub fn array(&mut self, len: usize) {
        self.header(b'*', len);
    }

    /// A map of `len` pairs: `%len` in RESP3, an array of `2 * len` in RESP2.
    pub fn map(&mut self, len: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', len * 2),
            Protocol::Resp3 => self.header(b'%', len),
        }
    }

    /// A set: `~len` in RESP3, an array in RESP2.
    pub fn set(&mut self, len: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', len),
            Protocol::Resp3 => self.header(b'~', len),
        }
    }

    /// An out-of-band push: `>len` in RESP3, an array in RESP2.
    pub fn push(&mut self, len: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', len),
            Protocol::Resp3 => self.header(b'>', len),
        }
    }

    /// A double: `,` in RESP3, a bulk string in RESP2, spelled as Redis spells it.
    pub fn double(&mut self, v: f64) {
        self.double_text(&format_double(v));
    }

    /// A double already spelled (`text`): `,` in RESP3, a bulk string in RESP2. For the
    /// spellings Redis uses besides the two below (GEOPOS's coordinates).
    pub fn double_text(&mut self, text: &str) {
        match self.proto {
            Protocol::Resp2 => self.bulk(text.as_bytes()),
            Protocol::Resp3 => self.line(b',', text.as_bytes()),
        }
    }

    /// A sorted-set score: `,` in RESP3, a bulk string in RESP2, spelled as Redis 7.0's
    /// `addReplyDouble` spells it (`%.17g`, see [`format_score`]).
    pub fn score(&mut self, v: f64) {
        self.double_text(&format_score(v));
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, v: bool) {
        match self.proto {
            Protocol::Resp2 => self.int(v as i64),
            Protocol::Resp3 => self
                .buf
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" }),
        }
    }

    /// Human-readable text (INFO, CLIENT LIST): a verbatim string `=len\r\ntxt:...` in RESP3,
    /// a bulk string in RESP2.
    pub fn verbatim(&mut self, text: &[u8]) {
        match self.proto {
            Protocol::Resp2 => self.bulk(text),
            Protocol::Resp3 => {
                self.header(b'=', text.len() + 4);
                self.buf.extend_from_slice(b"txt:");
                self.buf.extend_from_slice(text);
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Bytes already encoded (a reply computed elsewhere).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn header(&mut self, kind: u8, len: usize) {
        self.buf.push(kind);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    fn line(&mut self, kind: u8, s: &[u8]) {
        self.buf.push(kind);
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }
}

/// Spells a double the way Redis's `%.17g` does after trimming: the shortest text that
/// reads back to the same value, with `inf`, `-inf` and `nan` for the specials.
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else if v == v.trunc() && v.abs() < 1e17 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:e}");
        let plain = format!("{v}");
        // Redis prints exponents only for very large or small magnitudes (%.17g rules).
        let exp: i32 = s
            .split('e')
            .nth(1)
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        if (-5..17).contains(&exp) {
            plain
        } else {
            let (mant, _) = s.split_once('e').unwrap_or((&s, ""));
            format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        }
    }
}

/// Spells a double as C's `%.17g` does (what Redis 7.0 replies scores with): 17
/// significant digits, trailing zeros dropped, an exponent (`e+XX`) below 1e-4 and from
/// 1e17; `inf`, `-inf` and `nan` for the specials.
pub fn format_score(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // An integer of at most 17 digits prints as itself (timestamps, counters, ranks).
    if v == v.trunc() && v.abs() < 1e17 {
        return itoa::Buffer::new().format(v as i64).to_string();
    }
    let sci = format!("{v:.16e}");
    let (mant, exp) = sci.split_once('e').expect("an exponent");
    let exp: i32 = exp.parse().expect("a decimal exponent");
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    } else {
        trim(&format!("{:.*}", (16 - exp) as usize, v))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scores_spell_as_printf_g17() {
        for (v, want) in [
            (0.1, "0.10000000000000001"),
            (1e300, "1.0000000000000001e+300"),
            (1.5e-7, "1.4999999999999999e-07"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (3.0, "3"),
            (-2.5, "-2.5"),
            (1e16, "10000000000000000"),
            (1733600000000000.0, "1733600000000000"),
            (99999999999999999.0, "1e+17"),
            (-12345.0, "-12345"),
            (0.0001, "0.0001"),
            (1.0 / 3.0, "0.33333333333333331"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(super::format_score(v), want, "{v}");
        }
    }

    use super::*;

    #[test]
    fn resp2_fallbacks() {
        let mut r = Reply::new(Protocol::Resp2);
        r.map(1);
        r.bulk(b"k");
        r.double(1.5);
        r.null();
        r.boolean(true);
        r.int(i64::MIN);
        assert_eq!(
            r.bytes(),
            b"*2\r\n$1\r\nk\r\n$3\r\n1.5\r\n$-1\r\n:1\r\n:-9223372036854775808\r\n"
        );
    }

    #[test]
    fn resp3_types() {
        let mut r = Reply::new(Protocol::Resp3);
        r.map(1);
        r.simple("a");
        r.double(2.0);
        r.null();
        r.verbatim(b"hi");
        assert_eq!(r.bytes(), b"%1\r\n+a\r\n,2\r\n_\r\n=6\r\ntxt:hi\r\n");
    }

    #[test]
    fn doubles_read_like_redis() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(10.6), "10.6");
        assert_eq!(format_double(-0.5), "-0.5");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(1e300), "1e+300");
        assert_eq!(format_double(1.5e-7), "1.5e-07");
    }

    #[test]
    fn errors_cannot_break_framing() {
        let mut r = Reply::default();
        r.error("ERR bad\r\nthing");
        assert_eq!(r.bytes(), b"-ERR bad  thing\r\n");
    }
}
