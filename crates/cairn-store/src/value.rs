//! What a key holds. Every Cairn value today is a Redis string; integers that read back
//! exactly as they were written are kept as numbers, as Redis's `int` encoding does, so
//! INCR does not parse and format on every call.

use std::borrow::Cow;

use crate::inline::InlineBytes;

/// Strings of at most this many bytes are reported as `embstr`, as Redis does.
const EMBSTR_MAX: usize = 44;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string whose bytes are the canonical decimal spelling of this integer.
    Int(i64),
    /// A short string, stored in the entry itself.
    Inline(InlineBytes),
    /// A longer string, written whole.
    Str(Vec<u8>),
    /// A string changed in place (APPEND, SETRANGE, SETBIT, BITOP): Redis's `raw`
    /// encoding. A `Vec` so repeated appends grow it in amortised O(1).
    Raw(Vec<u8>),
}

impl Value {
    /// A string value, stored as an integer when its bytes are a canonical `i64`.
    pub fn from_bytes(b: &[u8]) -> Value {
        if b.len() <= 20
            && let Some(i) = parse_canonical_i64(b)
        {
            return Value::Int(i);
        }
        match InlineBytes::new(b) {
            Some(i) => Value::Inline(i),
            None => Value::Str(b.to_vec()),
        }
    }

    /// The string's bytes.
    pub fn as_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Value::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Value::Inline(i) => Cow::Borrowed(i.as_slice()),
            Value::Str(s) | Value::Raw(s) => Cow::Borrowed(s),
        }
    }

    /// Calls `f` with the string's bytes without allocating for integers.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Value::Int(i) => f(itoa::Buffer::new().format(*i).as_bytes()),
            Value::Inline(i) => f(i.as_slice()),
            Value::Str(s) | Value::Raw(s) => f(s),
        }
    }

    /// Length of the string in bytes (STRLEN).
    pub fn len(&self) -> usize {
        match self {
            Value::Int(i) => itoa::Buffer::new().format(*i).len(),
            Value::Inline(i) => i.as_slice().len(),
            Value::Str(s) | Value::Raw(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The integer this string spells, if it spells one (INCR and friends).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            // INCR accepts what string2ll accepts, which is exactly the canonical form.
            Value::Inline(i) => parse_canonical_i64(i.as_slice()),
            Value::Str(s) | Value::Raw(s) => parse_canonical_i64(s),
        }
    }

    /// Mutable bytes for an in-place change (APPEND, SETRANGE, SETBIT); the value becomes
    /// [`Value::Raw`], as Redis's string does.
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        let bytes = match self {
            Value::Int(i) => i.to_string().into_bytes(),
            Value::Inline(i) => i.as_slice().to_vec(),
            Value::Str(s) => std::mem::take(s),
            Value::Raw(_) => Vec::new(),
        };
        if !matches!(self, Value::Raw(_)) {
            *self = Value::Raw(bytes);
        }
        match self {
            Value::Raw(s) => s,
            _ => unreachable!("converted above"),
        }
    }

    /// Redis's name for the value's type (TYPE, SCAN TYPE).
    pub fn type_name(&self) -> &'static str {
        "string"
    }

    /// Redis's name for the value's encoding (OBJECT ENCODING).
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Inline(_) => "embstr",
            Value::Str(s) if s.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) | Value::Raw(_) => "raw",
        }
    }

    /// Bytes this value holds on the heap beyond the entry itself.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) | Value::Inline(_) => 0,
            Value::Str(s) | Value::Raw(s) => s.capacity(),
        }
    }
}

/// `Some(i)` when `b` is exactly how `i` is written in decimal (no `+`, no leading zeros,
/// no `-0`), the same rule as Redis's `string2ll`.
pub fn parse_canonical_i64(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    match digits {
        [] => return None,
        [b'0'] => return (!neg).then_some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    if digits.len() > 19 {
        return None;
    }
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
    use super::*;

    #[test]
    fn integers_are_kept_as_numbers_only_when_exact() {
        assert_eq!(Value::from_bytes(b"123"), Value::Int(123));
        assert_eq!(Value::from_bytes(b"-5"), Value::Int(-5));
        assert_eq!(Value::from_bytes(b"0123").as_bytes().as_ref(), b"0123");
        assert_eq!(Value::from_bytes(b"+1").as_i64(), None);
        assert_eq!(Value::from_bytes(b"1.0").encoding(), "embstr");
        assert!(matches!(Value::from_bytes(&[b'x'; 23]), Value::Str(_)));
        assert_eq!(
            Value::Int(i64::MIN).as_bytes().as_ref(),
            b"-9223372036854775808"
        );
        assert_eq!(Value::Int(-42).len(), 3);
    }

    #[test]
    fn encodings() {
        assert_eq!(Value::from_bytes(b"7").encoding(), "int");
        assert_eq!(Value::from_bytes(b"abc").encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'x'; 45]).encoding(), "raw");
    }
}
