//! Short byte strings kept inside the entry instead of in their own allocation.
//!
//! Most cache keys (`user:1234:profile`) and many values are a few dozen bytes. Keeping
//! them inline saves an allocation per key and, more importantly for speed, a cache miss per
//! lookup: the key is compared where the table already is.

/// Bytes that fit inline (with a length byte and an enum tag, 24 bytes in all).
pub const INLINE_CAP: usize = 22;

/// Up to [`INLINE_CAP`] bytes, stored in place.
#[derive(Clone, Copy)]
pub struct InlineBytes {
    len: u8,
    data: [u8; INLINE_CAP],
}

impl InlineBytes {
    pub fn new(b: &[u8]) -> Option<InlineBytes> {
        if b.len() > INLINE_CAP {
            return None;
        }
        let mut data = [0u8; INLINE_CAP];
        data[..b.len()].copy_from_slice(b);
        Some(InlineBytes {
            len: b.len() as u8,
            data,
        })
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

impl std::fmt::Debug for InlineBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

impl PartialEq for InlineBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for InlineBytes {}

/// A key: inline when short, one exact-size allocation otherwise.
#[derive(Clone, PartialEq, Eq)]
pub enum Key {
    Inline(InlineBytes),
    Heap(Box<[u8]>),
}

impl Key {
    pub fn new(b: &[u8]) -> Key {
        match InlineBytes::new(b) {
            Some(i) => Key::Inline(i),
            None => Key::Heap(b.into()),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline(i) => i.as_slice(),
            Key::Heap(b) => b,
        }
    }

    /// Bytes allocated outside the entry.
    pub fn heap_size(&self) -> usize {
        match self {
            Key::Inline(_) => 0,
            Key::Heap(b) => b.len(),
        }
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
        for len in [0, 1, INLINE_CAP, INLINE_CAP + 1, 100] {
            let b: Vec<u8> = (0..len as u8).collect();
            let k = Key::new(&b);
            assert_eq!(k.as_slice(), &b[..]);
            assert_eq!(matches!(k, Key::Inline(_)), len <= INLINE_CAP);
        }
    }
}
