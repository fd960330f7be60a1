//! What a key holds: a Redis string, or a collection ([`Object`]: a hash, a set). Integers
//! that read back exactly as they were written are kept as numbers, as Redis's `int`
//! encoding does, so INCR does not parse and format on every call. [`Value`] is the owned
//! form that travels in and out of the keyspace; [`ValueRef`] is a view of one in place
//! (see `entry.rs` for how entries are laid out).
//!
//! The string accessors (`with_bytes`, `len`, ...) see a collection as an empty string:
//! string commands answer WRONGTYPE before they read one (`Entry::is_string`).

use std::borrow::Cow;

use crate::object::Object;

/// Strings of at most this many bytes are reported as `embstr`, as Redis does.
const EMBSTR_MAX: usize = 44;

/// An owned value, on its way into or out of the keyspace (GETDEL, RESTORE, BITOP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string whose bytes are the canonical decimal spelling of this integer.
    Int(i64),
    /// A string written whole.
    Str(Vec<u8>),
    /// A string changed in place (APPEND, SETRANGE, SETBIT, BITOP): Redis's `raw`
    /// encoding, kept in its own growable allocation.
    Raw(Vec<u8>),
    /// A collection.
    Obj(Box<Object>),
}

impl Value {
    /// A string value, stored as an integer when its bytes are a canonical `i64`.
    pub fn from_bytes(b: &[u8]) -> Value {
        match parse_canonical_i64(b) {
            Some(i) => Value::Int(i),
            None => Value::Str(b.to_vec()),
        }
    }

    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Int(i) => ValueRef::Int(*i),
            Value::Str(s) => ValueRef::Str(s),
            Value::Raw(s) => ValueRef::Raw(s),
            Value::Obj(o) => ValueRef::Obj(o),
        }
    }

    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        self.as_ref().with_bytes(f)
    }

    pub fn as_bytes(&self) -> Cow<'_, [u8]> {
        self.as_ref().as_bytes()
    }

    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A value as it sits in the keyspace, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueRef<'a> {
    Int(i64),
    /// Bytes stored in the entry's own block (`embstr`, or `raw` when long).
    Str(&'a [u8]),
    /// Bytes in a separately allocated, growable buffer (`raw`).
    Raw(&'a [u8]),
    /// A collection.
    Obj(&'a Object),
}

impl<'a> ValueRef<'a> {
    /// The string's bytes.
    pub fn as_bytes(&self) -> Cow<'a, [u8]> {
        match *self {
            ValueRef::Int(i) => Cow::Owned(itoa::Buffer::new().format(i).as_bytes().to_vec()),
            ValueRef::Str(s) | ValueRef::Raw(s) => Cow::Borrowed(s),
            ValueRef::Obj(_) => Cow::Borrowed(&[]),
        }
    }

    /// Calls `f` with the string's bytes without allocating for integers.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            ValueRef::Int(i) => f(itoa::Buffer::new().format(i).as_bytes()),
            ValueRef::Str(s) | ValueRef::Raw(s) => f(s),
            ValueRef::Obj(_) => f(&[]),
        }
    }

    /// Length of the string in bytes (STRLEN).
    pub fn len(&self) -> usize {
        match *self {
            ValueRef::Int(i) => itoa::Buffer::new().format(i).len(),
            ValueRef::Str(s) | ValueRef::Raw(s) => s.len(),
            ValueRef::Obj(_) => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The integer this string spells, if it spells one (INCR and friends).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            ValueRef::Int(i) => Some(i),
            // INCR accepts what string2ll accepts, which is exactly the canonical form.
            ValueRef::Str(s) | ValueRef::Raw(s) => parse_canonical_i64(s),
            ValueRef::Obj(_) => None,
        }
    }

    pub fn to_owned(&self) -> Value {
        match *self {
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Str(s) => Value::Str(s.to_vec()),
            ValueRef::Raw(s) => Value::Raw(s.to_vec()),
            ValueRef::Obj(o) => Value::Obj(Box::new(o.clone())),
        }
    }

    /// Redis's name for the value's type (TYPE, SCAN TYPE).
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueRef::Obj(o) => o.type_name(),
            _ => "string",
        }
    }

    /// The collection, if this is one.
    pub fn object(&self) -> Option<&'a Object> {
        match *self {
            ValueRef::Obj(o) => Some(o),
            _ => None,
        }
    }

    /// Redis's name for the value's encoding (OBJECT ENCODING).
    pub fn encoding(&self) -> &'static str {
        match *self {
            ValueRef::Int(_) => "int",
            ValueRef::Str(s) if s.len() <= EMBSTR_MAX => "embstr",
            ValueRef::Str(_) | ValueRef::Raw(_) => "raw",
            ValueRef::Obj(o) => o.encoding(),
        }
    }
}

/// `Some(i)` when `b` is exactly how `i` is written in decimal (no `+`, no leading zeros,
/// no `-0`), the same rule as Redis's `string2ll`: the protocol's one integer parser.
pub use cairn_protocol::resp::parse_i64 as parse_canonical_i64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_kept_as_numbers_only_when_exact() {
        assert_eq!(Value::from_bytes(b"123"), Value::Int(123));
        assert_eq!(Value::from_bytes(b"-5"), Value::Int(-5));
        assert_eq!(Value::from_bytes(b"0123").as_bytes().as_ref(), b"0123");
        assert_eq!(Value::from_bytes(b"+1").as_ref().as_i64(), None);
        assert_eq!(Value::from_bytes(b"1.0").as_ref().encoding(), "embstr");
        assert!(matches!(Value::from_bytes(&[b'x'; 23]), Value::Str(_)));
        assert_eq!(
            Value::Int(i64::MIN).as_bytes().as_ref(),
            b"-9223372036854775808"
        );
        assert_eq!(Value::Int(-42).len(), 3);
    }

    #[test]
    fn encodings() {
        assert_eq!(Value::from_bytes(b"7").as_ref().encoding(), "int");
        assert_eq!(Value::from_bytes(b"abc").as_ref().encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'x'; 45]).as_ref().encoding(), "raw");
    }
}
