//! Collection values: what a key holds when it is not a string. One boxed [`Object`] per
//! key, behind the entry's value pointer (see `entry.rs`); its encoding changes with its
//! size as Redis's does (OBJECT ENCODING answers Redis's names), and it knows its heap
//! size in O(1), so maxmemory, MEMORY USAGE and INFO stay exact for big collections.

use crate::alloc::alloc_class;
pub use crate::encoding::elem::Elem;
pub use crate::limits::Limits;
use crate::types::hash::Hash;
use crate::types::list::List;
use crate::types::set::Set;
use crate::types::stream::Stream;
use crate::types::zset::ZSet;

/// A collection value.
#[derive(Clone, Debug)]
pub enum Object {
    Hash(Hash),
    Set(Set),
    List(List),
    ZSet(ZSet),
    /// Boxed: a stream's counters and trees would make every object bigger.
    Stream(Box<Stream>),
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
            Object::List(_) => "list",
            Object::ZSet(_) => "zset",
            Object::Stream(_) => "stream",
        }
    }

    /// Redis's name for the encoding (OBJECT ENCODING).
    pub fn encoding(&self) -> &'static str {
        match self {
            Object::Hash(h) => h.encoding(),
            Object::Set(s) => s.encoding(),
            Object::List(l) => l.encoding(),
            Object::ZSet(z) => z.encoding(),
            Object::Stream(_) => "stream",
        }
    }

    /// Elements (fields of a hash, members of a set, a list's elements).
    pub fn len(&self) -> usize {
        match self {
            Object::Hash(h) => h.len(),
            Object::Set(s) => s.len(),
            Object::List(l) => l.len(),
            Object::ZSet(z) => z.len(),
            Object::Stream(s) => s.len() as usize,
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
            Object::List(l) => l.heap_bytes(),
            Object::ZSet(z) => z.heap_bytes(),
            Object::Stream(s) => alloc_class(std::mem::size_of::<Stream>()) + s.heap_bytes(),
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

    pub fn as_list(&self) -> Option<&List> {
        match self {
            Object::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_list_mut(&mut self) -> Option<&mut List> {
        match self {
            Object::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_zset(&self) -> Option<&ZSet> {
        match self {
            Object::ZSet(z) => Some(z),
            _ => None,
        }
    }

    pub fn as_zset_mut(&mut self) -> Option<&mut ZSet> {
        match self {
            Object::ZSet(z) => Some(z),
            _ => None,
        }
    }

    pub fn as_stream(&self) -> Option<&Stream> {
        match self {
            Object::Stream(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_stream_mut(&mut self) -> Option<&mut Stream> {
        match self {
            Object::Stream(s) => Some(s),
            _ => None,
        }
    }
}

impl PartialEq for Object {
    /// The same type and the same elements, whatever the encodings (tests, RESTORE).
    fn eq(&self, other: &Object) -> bool {
        match (self, other) {
            (Object::Hash(a), Object::Hash(b)) => {
                let mut same = a.len() == b.len() && a.volatile_len() == b.volatile_len();
                a.for_each(|f, v| same &= b.get(f) == Some(v) && a.expire_at(f) == b.expire_at(f));
                same
            }
            (Object::Set(a), Object::Set(b)) => {
                let mut same = a.len() == b.len();
                a.for_each(|m| same &= m.with_bytes(|m| b.contains(m)));
                same
            }
            (Object::List(a), Object::List(b)) => a == b,
            (Object::ZSet(a), Object::ZSet(b)) => a == b,
            (Object::Stream(a), Object::Stream(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Object {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key holding a collection pays one `Object` allocation: 48 bytes is a jemalloc
    /// class, 49 would cost 64 (16 bytes more on every hash, set, list and sorted set).
    #[test]
    fn an_object_fits_a_48_byte_allocation() {
        assert!(
            std::mem::size_of::<Object>() <= 48,
            "{}",
            std::mem::size_of::<Object>()
        );
        assert_eq!(crate::alloc::alloc_class(std::mem::size_of::<Object>()), 48);
    }
}
