//! A hash: field → value. A listpack of `field, value` pairs while it has at most
//! `hash-max-listpack-entries` fields and every field and value is at most
//! `hash-max-listpack-value` bytes, else a dict whose elements are
//! `field length | field | value` in one allocation each (one allocation per field, not
//! two). Converts upwards only, as Redis's does.

use cairn_protocol::varint;

use crate::alloc::alloc_class;
use crate::encoding::dict::Dict;
use crate::encoding::listpack::Listpack;
use crate::limits::Limits;

#[derive(Clone, Debug)]
pub enum Hash {
    Packed(Listpack),
    Table(Dict),
}

impl Default for Hash {
    fn default() -> Hash {
        Hash::Packed(Listpack::new())
    }
}

/// A dict element's field and value.
fn split(e: &[u8]) -> (&[u8], &[u8]) {
    let (len, n) = varint::decode(e).expect("hash elements start with their field's length");
    let end = n + len as usize;
    (&e[n..end], &e[end..])
}

fn field_of(e: &[u8]) -> &[u8] {
    split(e).0
}

fn element(field: &[u8], value: &[u8]) -> Box<[u8]> {
    let mut e = Vec::with_capacity(varint::len(field.len() as u64) + field.len() + value.len());
    varint::push(&mut e, field.len() as u64);
    e.extend_from_slice(field);
    e.extend_from_slice(value);
    e.into_boxed_slice()
}

impl Hash {
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Packed(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        match self {
            Hash::Packed(l) => l.len() / 2,
            Hash::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Hash::Packed(l) => alloc_class(l.capacity()),
            Hash::Table(d) => d.heap_bytes(),
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Packed(l) => l.find(field, 2).map(|at| l.get(l.next(at)).0),
            Hash::Table(d) => d.get(field).map(|e| split(e).1),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: &Limits) -> bool {
        if let Hash::Packed(l) = self {
            let fits = field.len() <= lim.hash_value && value.len() <= lim.hash_value;
            match l.find(field, 2) {
                Some(at) if fits => {
                    let v = l.next(at);
                    l.replace(v, value);
                    return false;
                }
                None if fits && l.len() / 2 < lim.hash_entries => {
                    l.push(field);
                    l.push(value);
                    return true;
                }
                _ => self.convert_to_table(),
            }
        }
        match self {
            Hash::Table(d) => d.insert(element(field, value)).is_none(),
            Hash::Packed(_) => unreachable!("converted to a table above"),
        }
    }

    fn convert_to_table(&mut self) {
        let Hash::Packed(l) = self else { return };
        let mut d = Dict::new(field_of);
        let mut it = l.iter();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            d.insert(element(f, v));
        }
        *self = Hash::Table(d);
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(l) => match l.find(field, 2) {
                Some(at) => {
                    l.remove(at, 2);
                    true
                }
                None => false,
            },
            Hash::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Calls `f` with every field and its value.
    pub fn for_each<'s>(&'s self, mut f: impl FnMut(&'s [u8], &'s [u8])) {
        match self {
            Hash::Packed(l) => {
                let mut it = l.iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    f(k, v);
                }
            }
            Hash::Table(d) => d.iter().for_each(|e| {
                let (k, v) = split(e);
                f(k, v)
            }),
        }
    }

    /// A random field and its value.
    pub fn random(&self, rng: &mut fastrand::Rng) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Packed(l) if !l.is_empty() => {
                let at = l.offset_of(rng.usize(..l.len() / 2) * 2)?;
                let (k, next) = l.get(at);
                Some((k, l.get(next).0))
            }
            Hash::Table(d) => d.random(rng).map(split),
            _ => None,
        }
    }

    /// The field at index `i` of a listpack hash, in order (HRANDFIELD with a count walks
    /// small hashes by index).
    pub fn nth(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Packed(l) => {
                let at = l.offset_of(i * 2)?;
                let (k, next) = l.get(at);
                Some((k, l.get(next).0))
            }
            Hash::Table(d) => d.iter().nth(i).map(split),
        }
    }

    /// One HSCAN step (see [`Dict::scan`]); a listpack hash is returned whole, with
    /// cursor 0, as Redis does.
    pub fn scan<'s>(
        &'s self,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&'s [u8], &'s [u8]),
    ) -> u64 {
        match self {
            Hash::Table(d) => d.scan(cursor, count, |e| {
                let (k, v) = split(e);
                f(k, v)
            }),
            Hash::Packed(_) => {
                self.for_each(f);
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_survive_the_conversion_to_a_table() {
        let lim = Limits {
            hash_entries: 4,
            hash_value: 8,
            ..Limits::default()
        };
        let mut h = Hash::default();
        assert!(h.set(b"a", b"1", &lim));
        assert!(!h.set(b"a", b"22", &lim));
        assert!(h.set(b"b", b"", &lim));
        assert_eq!(h.get(b"a"), Some(&b"22"[..]));
        assert_eq!((h.encoding(), h.len()), ("listpack", 2));
        // A long value converts it.
        h.set(b"c", b"0123456789", &lim);
        assert_eq!((h.encoding(), h.len()), ("hashtable", 3));
        assert_eq!(h.get(b"a"), Some(&b"22"[..]));
        assert_eq!(h.get(b"b"), Some(&b""[..]));
        assert!(h.remove(b"a") && !h.remove(b"a"));
        let mut all = Vec::new();
        h.for_each(|k, v| all.push((k.to_vec(), v.to_vec())));
        all.sort();
        assert_eq!(
            all,
            vec![
                (b"b".to_vec(), vec![]),
                (b"c".to_vec(), b"0123456789".to_vec())
            ]
        );
        // Too many fields convert it too.
        let mut many = Hash::default();
        for i in 0..5 {
            many.set(format!("f{i}").as_bytes(), b"v", &lim);
        }
        assert_eq!(many.encoding(), "hashtable");
        assert_eq!(many.len(), 5);
    }
}
