//! A whole RESP2/RESP3 value as a tree: what a client reads back from a server.
//!
//! The server itself writes replies through [`super::reply::Reply`]; this type exists for
//! the other direction (tests, replica links, the client library) and to check that both
//! agree: encoding a frame and parsing it back gives the same frame.

use super::parse_i64;

/// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Vec<u8>),
    /// RESP2's `$-1`.
    NullBulk,
    /// RESP2's `*-1`.
    NullArray,
    /// RESP3's `_`.
    Null,
    Array(Vec<Frame>),
    Double(f64),
    Boolean(bool),
    BigNumber(Vec<u8>),
    BulkError(Vec<u8>),
    Verbatim {
        format: [u8; 3],
        text: Vec<u8>,
    },
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
}

/// Why bytes are not a RESP value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError(pub &'static str);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid RESP: {}", self.0)
    }
}

impl std::error::Error for FrameError {}

impl Frame {
    /// Parses one value from the front of `buf`: `Ok(None)` when more bytes are needed,
    /// otherwise the value and how many bytes it used.
    pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        let mut pos = 0;
        match parse_at(buf, &mut pos, 0)? {
            Some(f) => Ok(Some((f, pos))),
            None => Ok(None),
        }
    }

    /// Appends the encoding of this value to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn head(out: &mut Vec<u8>, kind: u8, n: usize) {
            out.push(kind);
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        fn line(out: &mut Vec<u8>, kind: u8, s: &[u8]) {
            out.push(kind);
            out.extend_from_slice(s);
            out.extend_from_slice(b"\r\n");
        }
        fn blob(out: &mut Vec<u8>, kind: u8, s: &[u8]) {
            head(out, kind, s.len());
            out.extend_from_slice(s);
            out.extend_from_slice(b"\r\n");
        }
        match self {
            Frame::Simple(s) => line(out, b'+', s),
            Frame::Error(s) => line(out, b'-', s),
            Frame::Integer(i) => line(out, b':', i.to_string().as_bytes()),
            Frame::Bulk(b) => blob(out, b'$', b),
            Frame::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Frame::Null => out.extend_from_slice(b"_\r\n"),
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                let kind = match self {
                    Frame::Array(_) => b'*',
                    Frame::Set(_) => b'~',
                    _ => b'>',
                };
                head(out, kind, items.len());
                for f in items {
                    f.encode(out);
                }
            }
            Frame::Double(d) => line(out, b',', super::reply::format_double(*d).as_bytes()),
            Frame::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::BigNumber(n) => line(out, b'(', n),
            Frame::BulkError(e) => blob(out, b'!', e),
            Frame::Verbatim { format, text } => {
                head(out, b'=', text.len() + 4);
                out.extend_from_slice(format);
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Map(pairs) => {
                head(out, b'%', pairs.len());
                for (k, v) in pairs {
                    k.encode(out);
                    v.encode(out);
                }
            }
        }
    }
}

/// The line starting at `*pos` (without its CRLF), advancing past it.
fn read_line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, FrameError> {
    let rest = &buf[*pos..];
    match memchr::memchr(b'\r', rest) {
        Some(cr) if cr + 1 < rest.len() => {
            if rest[cr + 1] != b'\n' {
                return Err(FrameError("CR without LF"));
            }
            *pos += cr + 2;
            Ok(Some(&rest[..cr]))
        }
        _ => Ok(None),
    }
}

fn read_len(line: &[u8]) -> Result<i64, FrameError> {
    parse_i64(line).ok_or(FrameError("bad length"))
}

fn read_blob(buf: &[u8], pos: &mut usize, len: i64) -> Result<Option<Vec<u8>>, FrameError> {
    if len < 0 {
        return Err(FrameError("negative length"));
    }
    let len = len as usize;
    let end = pos.checked_add(len).ok_or(FrameError("length overflow"))?;
    if buf.len() < end.saturating_add(2) {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(FrameError("payload not followed by CRLF"));
    }
    let v = buf[*pos..end].to_vec();
    *pos = end + 2;
    Ok(Some(v))
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Frame>, FrameError> {
    if depth > MAX_DEPTH {
        return Err(FrameError("nested too deeply"));
    }
    let Some(&kind) = buf.get(*pos) else {
        return Ok(None);
    };
    *pos += 1;
    let Some(line) = read_line(buf, pos)? else {
        return Ok(None);
    };
    macro_rules! need {
        ($e:expr) => {
            match $e? {
                Some(v) => v,
                None => return Ok(None),
            }
        };
    }
    let frame = match kind {
        b'+' => Frame::Simple(line.to_vec()),
        b'-' => Frame::Error(line.to_vec()),
        b':' => Frame::Integer(read_len(line)?),
        b'(' => Frame::BigNumber(line.to_vec()),
        b'_' if line.is_empty() => Frame::Null,
        b'#' => match line {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err(FrameError("bad boolean")),
        },
        b',' => {
            let s = std::str::from_utf8(line).map_err(|_| FrameError("bad double"))?;
            Frame::Double(match s {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                _ => s.parse().map_err(|_| FrameError("bad double"))?,
            })
        }
        b'$' | b'!' | b'=' => {
            let len = read_len(line)?;
            if kind == b'$' && len == -1 {
                Frame::NullBulk
            } else {
                let data = need!(read_blob(buf, pos, len));
                match kind {
                    b'$' => Frame::Bulk(data),
                    b'!' => Frame::BulkError(data),
                    _ => {
                        if data.len() < 4 || data[3] != b':' {
                            return Err(FrameError("bad verbatim string"));
                        }
                        Frame::Verbatim {
                            format: [data[0], data[1], data[2]],
                            text: data[4..].to_vec(),
                        }
                    }
                }
            }
        }
        b'*' | b'~' | b'>' | b'%' => {
            let len = read_len(line)?;
            if kind == b'*' && len == -1 {
                return Ok(Some(Frame::NullArray));
            }
            if len < 0 {
                return Err(FrameError("negative length"));
            }
            // Each element takes at least 3 bytes; refuse counts the buffer cannot hold
            // instead of reserving memory for them.
            let elems = len as usize * if kind == b'%' { 2 } else { 1 };
            let mut items = Vec::with_capacity(elems.min((buf.len() - *pos) / 3 + 1));
            for _ in 0..elems {
                items.push(need!(parse_at(buf, pos, depth + 1)));
            }
            match kind {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                b'>' => Frame::Push(items),
                _ => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Frame::Map(pairs)
                }
            }
        }
        _ => return Err(FrameError("unknown type byte")),
    };
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..32)
    }

    fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            any::<u8>().prop_filter("no CR/LF", |c| *c != b'\r' && *c != b'\n'),
            0..16,
        )
    }

    fn frame() -> impl Strategy<Value = Frame> {
        let leaf = prop_oneof![
            line_bytes().prop_map(Frame::Simple),
            line_bytes().prop_map(Frame::Error),
            any::<i64>().prop_map(Frame::Integer),
            bytes().prop_map(Frame::Bulk),
            Just(Frame::NullBulk),
            Just(Frame::NullArray),
            Just(Frame::Null),
            any::<bool>().prop_map(Frame::Boolean),
            (-1e300f64..1e300).prop_map(Frame::Double),
            bytes().prop_map(Frame::BulkError),
            bytes().prop_map(|text| Frame::Verbatim {
                format: *b"txt",
                text
            }),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn encode_then_parse_is_identity(f in frame()) {
            let mut out = Vec::new();
            f.encode(&mut out);
            let (back, used) = Frame::parse(&out).unwrap().unwrap();
            prop_assert_eq!(used, out.len());
            prop_assert_eq!(back, f);
            // Every strict prefix is incomplete, never an error or a different value.
            for cut in 0..out.len() {
                prop_assert_eq!(Frame::parse(&out[..cut]), Ok(None));
            }
        }

        #[test]
        fn parse_never_panics(input in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Frame::parse(&input);
        }
    }
}
