//! Names with deadlines: name → unix ms, and the same pairs ordered by time, so the names
//! due are found without walking anything else. A hash keeps its volatile fields' expiry
//! times in one (HEXPIRE: a million-name hash with a few volatile fields pays for those
//! few), and a database the hashes that have volatile fields, by their earliest (the
//! active expiry sweep's index, as Redis's `hexpires`).

use std::collections::{BTreeSet, HashMap};

use crate::alloc::alloc_class;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deadlines {
    by_name: HashMap<Box<[u8]>, u64>,
    by_time: BTreeSet<(u64, Box<[u8]>)>,
    /// Heap bytes of the name copies both indexes hold.
    name_bytes: usize,
}

/// Bookkeeping per name beyond its two copies: a map slot (pointer, length,
/// time, control byte) and a B-tree slot (the same), rounded up.
const PER_FIELD: usize = 64;

impl Deadlines {
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The deadline of `name`, if it has one.
    pub fn get(&self, name: &[u8]) -> Option<u64> {
        self.by_name.get(name).copied()
    }

    /// Sets (or moves) the deadline of `name`.
    pub fn set(&mut self, name: &[u8], at: u64) {
        match self.by_name.get_mut(name) {
            Some(old) => {
                let before = *old;
                *old = at;
                let (_, n) = self
                    .by_time
                    .take(&(before, name.into()))
                    .expect("both indexes hold every name");
                self.by_time.insert((at, n));
            }
            None => {
                self.by_name.insert(name.into(), at);
                self.by_time.insert((at, name.into()));
                self.name_bytes += 2 * alloc_class(name.len());
            }
        }
    }

    /// Forgets `name`; its deadline, if it had one.
    pub fn remove(&mut self, name: &[u8]) -> Option<u64> {
        let at = self.by_name.remove(name)?;
        self.by_time.remove(&(at, name.into()));
        self.name_bytes -= 2 * alloc_class(name.len());
        Some(at)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<u64> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Takes out the earliest name due at `now_ms` (its deadline is at or before it).
    pub fn pop_due(&mut self, now_ms: u64) -> Option<Box<[u8]>> {
        if self.next()? > now_ms {
            return None;
        }
        let (_, name) = self.by_time.pop_first()?;
        self.by_name.remove(&name);
        self.name_bytes -= 2 * alloc_class(name.len());
        Some(name)
    }

    /// Every name with its deadline, earliest first.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.by_time.iter().map(|(at, f)| (&f[..], *at))
    }

    pub fn heap_bytes(&self) -> usize {
        self.name_bytes + self.by_name.capacity() * PER_FIELD / 2 + self.len() * PER_FIELD / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_indexes_agree() {
        let mut t = Deadlines::default();
        t.set(b"a", 30);
        t.set(b"b", 10);
        t.set(b"c", 20);
        t.set(b"a", 5);
        assert_eq!(t.next(), Some(5));
        assert_eq!(t.remove(b"c"), Some(20));
        assert_eq!(t.remove(b"c"), None);
        assert_eq!(t.pop_due(4), None);
        assert_eq!(t.pop_due(10).as_deref(), Some(&b"a"[..]));
        assert_eq!(t.pop_due(10).as_deref(), Some(&b"b"[..]));
        assert_eq!(t.pop_due(u64::MAX), None);
        assert!(t.is_empty());
        assert_eq!(t.heap_bytes(), t.by_name.capacity() * PER_FIELD / 2);
    }
}
