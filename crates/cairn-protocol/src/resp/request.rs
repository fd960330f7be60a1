//! Requests: RESP multibulk frames and inline commands, parsed into byte ranges.
//!
//! The parser never copies a multibulk argument: it records where each argument lies in the
//! caller's read buffer, and the caller hands out [`Args`] views over that buffer until the
//! command has run. Parsing is resumable: a frame split across many reads (a 512 MB value, a
//! multibulk with a million arguments) is scanned once, not once per read.
//!
//! ```text
//! *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n      multibulk
//! SET k "hello world"\r\n                        inline
//! ```

use std::ops::Range;

use super::{inline, parse_i64};

/// Size limits on what a client may send. Values come from configuration
/// (`proto-max-bulk-len`, and Redis's fixed limits for the rest).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest single argument (`proto-max-bulk-len`, 512 MB by default).
    pub max_bulk_len: usize,
    /// Most arguments in one multibulk (Redis: INT_MAX; the query buffer limit is what
    /// really bounds a command's size).
    pub max_multibulk_len: usize,
    /// Longest inline command line, and longest `*N` / `$N` header line (Redis: 64 KB).
    pub max_inline_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as usize,
            max_inline_len: 64 * 1024,
        }
    }
}

/// A request the client sent that cannot be parsed. Redis answers with
/// `-ERR Protocol error: ...` and closes the connection; so does Cairn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    TooBigInline,
    UnbalancedQuotes,
    TooBigMultibulkCount,
    InvalidMultibulkLength,
    TooBigBulkCount,
    InvalidBulkLength,
    ExpectedDollar(u8),
}

impl ProtocolError {
    /// The error line Redis sends, without the leading `-` and trailing CRLF.
    pub fn message(&self) -> String {
        match self {
            ProtocolError::TooBigInline => "ERR Protocol error: too big inline request".into(),
            ProtocolError::UnbalancedQuotes => {
                "ERR Protocol error: unbalanced quotes in request".into()
            }
            ProtocolError::TooBigMultibulkCount => {
                "ERR Protocol error: too big mbulk count string".into()
            }
            ProtocolError::InvalidMultibulkLength => {
                "ERR Protocol error: invalid multibulk length".into()
            }
            ProtocolError::TooBigBulkCount => {
                "ERR Protocol error: too big bulk count string".into()
            }
            ProtocolError::InvalidBulkLength => "ERR Protocol error: invalid bulk length".into(),
            ProtocolError::ExpectedDollar(c) => {
                format!("ERR Protocol error: expected '$', got '{}'", *c as char)
            }
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ProtocolError {}

/// The outcome of one successful [`RequestParser::parse`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command spanning the first `len` bytes of the buffer. Its arguments are in
    /// [`RequestParser::args`]; for inline commands they point into
    /// [`RequestParser::inline_data`] instead of the buffer.
    Command { len: usize, inline: bool },
    /// `len` bytes that carry no command (an empty inline line, `*0`): drop them.
    Nothing { len: usize },
    /// More bytes are needed; `need` is a lower bound on the frame's total size when known,
    /// so the caller can reserve it in one step.
    Incomplete { need: usize },
}

/// Resumable request parser; one per connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    limits: Limits,
    /// Where each argument lies: in the read buffer for multibulk, in `inline` for inline.
    ranges: Vec<Range<usize>>,
    /// Unescaped arguments of the last inline command.
    inline: Vec<u8>,
    /// Progress inside a multibulk frame that was incomplete at the last call.
    pending: Option<Pending>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    /// Arguments the frame announced.
    count: usize,
    /// Where parsing resumes (just after the last whole argument).
    pos: usize,
}

impl RequestParser {
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            ..Default::default()
        }
    }

    /// Changes the limits; takes effect from the next frame.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Parses the command at the start of `buf`. The caller must not change the bytes
    /// already seen between calls that return [`Parsed::Incomplete`] (appending is fine), and
    /// must drop the frame's bytes from the front of `buf` after a `Command` or `Nothing`.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        if buf.is_empty() {
            return Ok(Parsed::Incomplete { need: 1 });
        }
        if self.pending.is_some() || buf[0] == b'*' {
            self.parse_multibulk(buf)
        } else {
            self.parse_inline(buf)
        }
    }

    /// Arguments of the command the last `parse` returned.
    pub fn args<'a>(&'a self, buf: &'a [u8], inline: bool) -> Args<'a> {
        Args {
            data: if inline { &self.inline } else { buf },
            ranges: &self.ranges,
        }
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let Some(nl) = memchr::memchr(b'\n', buf) else {
            if buf.len() > self.limits.max_inline_len {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(Parsed::Incomplete {
                need: buf.len() + 1,
            });
        };
        if nl > self.limits.max_inline_len {
            return Err(ProtocolError::TooBigInline);
        }
        let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
        self.ranges.clear();
        self.inline.clear();
        if !inline::split_args(line, &mut self.inline, &mut self.ranges) {
            return Err(ProtocolError::UnbalancedQuotes);
        }
        if self.ranges.is_empty() {
            return Ok(Parsed::Nothing { len: nl + 1 });
        }
        Ok(Parsed::Command {
            len: nl + 1,
            inline: true,
        })
    }

    fn parse_multibulk(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let mut st = match self.pending.take() {
            Some(p) => p,
            None => {
                let Some((count, pos)) =
                    self.header(buf, 0, ProtocolError::TooBigMultibulkCount)?
                else {
                    return Ok(Parsed::Incomplete {
                        need: buf.len() + 1,
                    });
                };
                let count = match parse_i64(count) {
                    Some(n) if n <= self.limits.max_multibulk_len as i64 => n,
                    _ => return Err(ProtocolError::InvalidMultibulkLength),
                };
                if count <= 0 {
                    return Ok(Parsed::Nothing { len: pos });
                }
                self.ranges.clear();
                Pending {
                    count: count as usize,
                    pos,
                }
            }
        };
        while self.ranges.len() < st.count {
            if st.pos >= buf.len() {
                self.pending = Some(st);
                return Ok(Parsed::Incomplete { need: st.pos + 1 });
            }
            if buf[st.pos] != b'$' {
                return Err(ProtocolError::ExpectedDollar(buf[st.pos]));
            }
            let Some((len, start)) = self.header(buf, st.pos, ProtocolError::TooBigBulkCount)?
            else {
                self.pending = Some(st);
                return Ok(Parsed::Incomplete {
                    need: buf.len() + 1,
                });
            };
            let len = match parse_i64(len) {
                Some(n) if n >= 0 && n as u64 <= self.limits.max_bulk_len as u64 => n as usize,
                _ => return Err(ProtocolError::InvalidBulkLength),
            };
            let end = start + len;
            if buf.len() < end + 2 {
                self.pending = Some(st);
                return Ok(Parsed::Incomplete { need: end + 2 });
            }
            self.ranges.push(start..end);
            // Like Redis, the two bytes after the payload are skipped, not checked.
            st.pos = end + 2;
        }
        Ok(Parsed::Command {
            len: st.pos,
            inline: false,
        })
    }

    /// Reads a `*N\r\n` or `$N\r\n` header line starting at `at`: returns the digits and the
    /// position after the line, or `None` when the line is not complete yet.
    fn header<'b>(
        &self,
        buf: &'b [u8],
        at: usize,
        too_big: ProtocolError,
    ) -> Result<Option<(&'b [u8], usize)>, ProtocolError> {
        let rest = &buf[at..];
        match memchr::memchr(b'\r', rest) {
            Some(cr) if cr > self.limits.max_inline_len => Err(too_big),
            Some(cr) if cr + 1 < rest.len() => Ok(Some((&rest[1..cr], at + cr + 2))),
            Some(_) => Ok(None),
            None if rest.len() > self.limits.max_inline_len => Err(too_big),
            None => Ok(None),
        }
    }
}

/// The arguments of one command (the command name is argument 0), borrowed from the
/// connection's buffers for as long as the command runs.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    data: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    /// Arguments over owned storage, for commands built by the server itself.
    pub fn from_parts(data: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        Args { data, ranges }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i`. Panics when out of range: the command table checks arity first.
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.data[self.ranges[i].clone()]
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let data = self.data;
        self.ranges.iter().map(move |r| &data[r.clone()])
    }

    /// The arguments from `from` on.
    pub fn tail(&self, from: usize) -> Args<'a> {
        Args {
            data: self.data,
            ranges: &self.ranges[from.min(self.ranges.len())..],
        }
    }

    /// Total bytes of argument payload (for CLIENT LIST's `argv-mem`).
    pub fn payload_len(&self) -> usize {
        self.ranges.iter().map(|r| r.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::new(Limits::default());
        let mut buf = input.to_vec();
        let mut out = Vec::new();
        loop {
            match p.parse(&buf)? {
                Parsed::Command { len, inline } => {
                    out.push(p.args(&buf, inline).iter().map(|a| a.to_vec()).collect());
                    buf.drain(..len);
                }
                Parsed::Nothing { len } => {
                    buf.drain(..len);
                }
                Parsed::Incomplete { .. } => return Ok(out),
            }
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\nset a \"b c\"\n").unwrap();
        assert_eq!(
            cmds,
            vec![
                vec![b"GET".to_vec(), b"k".to_vec()],
                vec![b"PING".to_vec()],
                vec![b"set".to_vec(), b"a".to_vec(), b"b c".to_vec()],
            ]
        );
    }

    #[test]
    fn binary_payloads_are_taken_by_length() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$4\r\n\r\n\0\n\r\n").unwrap();
        assert_eq!(cmds[0][1], b"\r\n\0\n");
    }

    #[test]
    fn resumes_byte_by_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$11\r\nhello world\r\n";
        let mut p = RequestParser::new(Limits::default());
        for cut in 0..input.len() {
            match p.parse(&input[..cut]).unwrap() {
                Parsed::Incomplete { need } => assert!(need > cut),
                other => panic!("complete at {cut}: {other:?}"),
            }
        }
        assert_eq!(
            p.parse(input).unwrap(),
            Parsed::Command {
                len: input.len(),
                inline: false
            }
        );
        assert_eq!(p.args(input, false).get(2), b"hello world");
    }

    #[test]
    fn errors_use_redis_words() {
        let err = |b: &[u8]| parse_all(b).unwrap_err().message();
        assert_eq!(
            err(b"*x\r\n"),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*2147483648\r\n"),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*1\r\n+x\r\n"),
            "ERR Protocol error: expected '$', got '+'"
        );
        assert_eq!(
            err(b"*1\r\n$-1\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            err(b"set \"a\n"),
            "ERR Protocol error: unbalanced quotes in request"
        );
        let long = vec![b'a'; 70_000];
        assert_eq!(err(&long), "ERR Protocol error: too big inline request");
        let mut long_count = b"*".to_vec();
        long_count.extend(vec![b'1'; 70_000]);
        assert_eq!(
            err(&long_count),
            "ERR Protocol error: too big mbulk count string"
        );
    }

    #[test]
    fn bulk_limit_is_configurable() {
        let mut p = RequestParser::new(Limits {
            max_bulk_len: 4,
            ..Limits::default()
        });
        assert_eq!(
            p.parse(b"*1\r\n$5\r\n").unwrap_err(),
            ProtocolError::InvalidBulkLength
        );
    }

    #[test]
    fn empty_multibulk_is_skipped() {
        assert_eq!(
            parse_all(b"*0\r\n*-1\r\nPING\r\n").unwrap(),
            vec![vec![b"PING".to_vec()]]
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = parse_all(&input);
            }

            #[test]
            fn multibulk_round_trips(cmds in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..5), 1..5)) {
                let mut wire = Vec::new();
                for cmd in &cmds {
                    wire.extend_from_slice(format!("*{}\r\n", cmd.len()).as_bytes());
                    for arg in cmd {
                        wire.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                        wire.extend_from_slice(arg);
                        wire.extend_from_slice(b"\r\n");
                    }
                }
                prop_assert_eq!(parse_all(&wire).unwrap(), cmds);
            }
        }
    }
}
