//! Collection values: what a key holds when it is not a string. One boxed [`Object`] per
//! key, behind the entry's value pointer (see `entry.rs`); its encoding changes with its
//! size as Redis's does (OBJECT ENCODING answers Redis's names), and it knows its heap
//! size in O(1), so maxmemory, MEMORY USAGE and INFO stay exact for big collections.

use crate::types::hash::Hash;
use crate::types::set::Set;

/// The size thresholds at which compact encodings convert to tables: settings with
/// Redis's names and defaults (`hash-max-listpack-entries` ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub set_intset_entries: usize,
    pub set_entries: usize,
    pub set_value: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            hash_entries: 128,
            hash_value: 64,
            set_intset_entries: 512,
            set_entries: 128,
            set_value: 64,
        }
    }
}

/// A collection value.
#[derive(Clone, Debug)]
pub enum Object {
    Hash(Hash),
    Set(Set),
}

impl Default for Object {
    /// An empty set: what a moved-out object leaves behind (no allocation).
    fn default() -> Object {
        Object::Set(Set::default())
    }
}

impl Object {
    /// Redis's name for the type (TYPE, SCAN TYPE).
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::Hash(_) => "hash",
            Object::Set(_) => "set",
        }
    }

    /// Redis's name for the encoding (OBJECT ENCODING).
    pub fn encoding(&self) -> &'static str {
        match self {
            Object::Hash(h) => h.encoding(),
            Object::Set(s) => s.encoding(),
        }
    }

    /// Elements (fields of a hash, members of a set).
    pub fn len(&self) -> usize {
        match self {
            Object::Hash(h) => h.len(),
            Object::Set(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes beyond the object itself, in allocator size classes, in O(1).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Object::Hash(h) => h.heap_bytes(),
            Object::Set(s) => s.heap_bytes(),
        }
    }

    pub fn as_hash(&self) -> Option<&Hash> {
        match self {
            Object::Hash(h) => Some(h),
            _ => None,
        }
    }

    pub fn as_hash_mut(&mut self) -> Option<&mut Hash> {
        match self {
            Object::Hash(h) => Some(h),
            _ => None,
        }
    }

    pub fn as_set(&self) -> Option<&Set> {
        match self {
            Object::Set(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_set_mut(&mut self) -> Option<&mut Set> {
        match self {
            Object::Set(s) => Some(s),
            _ => None,
        }
    }
}

impl PartialEq for Object {
    /// The same type and the same elements, whatever the encodings (tests, RESTORE).
    fn eq(&self, other: &Object) -> bool {
        match (self, other) {
            (Object::Hash(a), Object::Hash(b)) => {
                let mut same = a.len() == b.len();
                a.for_each(|f, v| same &= b.get(f) == Some(v));
                same
            }
            (Object::Set(a), Object::Set(b)) => {
                let mut same = a.len() == b.len();
                a.for_each(|m| same &= m.with_bytes(|m| b.contains(m)));
                same
            }
            _ => false,
        }
    }
}

impl Eq for Object {}

/// One element as a collection hands it out: bytes in place, or an integer an intset
/// holds (written out only when asked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Elem<'_> {
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Elem::Int(i) => f(itoa::Buffer::new().format(i).as_bytes()),
            Elem::Bytes(b) => f(b),
        }
    }

    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }
}
