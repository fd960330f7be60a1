//! A hash: field → value. A listpack of `field, value` pairs while it has at most
//! `hash-max-listpack-entries` fields and every field and value is at most
//! `hash-max-listpack-value` bytes, else a dict whose elements are
//! `field length | field | value` in one allocation each (one allocation per field, not
//! two). Converts upwards only, as Redis's does.
//!
//! Fields may expire one by one (HEXPIRE): their times live beside the encoding in a
//! [`Deadlines`], present only while some field is volatile. The hash itself never looks
//! at the clock: the database takes due fields out ([`Hash::pop_due`]) before a command
//! sees the hash, and in its active expiry sweep.

use cairn_protocol::varint;

use crate::alloc::alloc_class;
use crate::encoding::deadlines::Deadlines;
use crate::encoding::dict::Dict;
use crate::encoding::listpack::Listpack;
use crate::limits::Limits;

#[derive(Clone, Debug)]
pub struct Hash {
    enc: Enc,
    ttl: Option<Box<Deadlines>>,
}

#[derive(Clone, Debug)]
enum Enc {
    Packed(Listpack),
    /// Boxed: a dict's header is twice a listpack's, and most hashes are small.
    Table(Box<Dict>),
}

impl Default for Hash {
    fn default() -> Hash {
        Hash {
            enc: Enc::Packed(Listpack::new()),
            ttl: None,
        }
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

/// Puts `field` and `value` in `d` as one element, `field length | field | value`; true if
/// the field is new.
fn insert_pair(d: &mut Dict, field: &[u8], value: &[u8]) -> bool {
    let mut head = [0u8; varint::MAX_LEN];
    let n = varint::encode(field.len() as u64, &mut head);
    d.insert(&[&head[..n], field, value])
}

impl Hash {
    /// Redis's names: a listpack with volatile fields is a `listpackex`.
    pub fn encoding(&self) -> &'static str {
        match (&self.enc, &self.ttl) {
            (Enc::Packed(_), None) => "listpack",
            (Enc::Packed(_), Some(_)) => "listpackex",
            (Enc::Table(_), _) => "hashtable",
        }
    }

    /// Whether it is still one packed buffer (small hashes are walked whole).
    pub fn is_packed(&self) -> bool {
        matches!(self.enc, Enc::Packed(_))
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        match &self.enc {
            Enc::Packed(l) => l.len() / 2,
            Enc::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn heap_bytes(&self) -> usize {
        let ttl = self.ttl.as_ref().map_or(0, |t| {
            alloc_class(std::mem::size_of::<Deadlines>()) + t.heap_bytes()
        });
        ttl + match &self.enc {
            Enc::Packed(l) => alloc_class(l.capacity()),
            Enc::Table(d) => alloc_class(std::mem::size_of::<Dict>()) + d.heap_bytes(),
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.enc {
            Enc::Packed(l) => l.find(field, 2).map(|at| l.get(l.next(at)).0),
            Enc::Table(d) => d.get(field).map(|e| split(e).1),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true if the field is new. A volatile field becomes
    /// persistent (HSET's rule; see [`Hash::set_keep_ttl`]).
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: &Limits) -> bool {
        self.persist(field);
        self.set_keep_ttl(field, value, lim)
    }

    /// Sets `field` to `value` and leaves its expiry time as it was (HINCRBY's rule).
    pub fn set_keep_ttl(&mut self, field: &[u8], value: &[u8], lim: &Limits) -> bool {
        if let Enc::Packed(l) = &mut self.enc {
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
        match &mut self.enc {
            Enc::Table(d) => insert_pair(d, field, value),
            Enc::Packed(_) => unreachable!("converted to a table above"),
        }
    }

    fn convert_to_table(&mut self) {
        let Enc::Packed(l) = &self.enc else { return };
        let mut d = Dict::new(field_of);
        let mut it = l.iter();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            insert_pair(&mut d, f, v);
        }
        self.enc = Enc::Table(Box::new(d));
    }

    /// Removes `field` (and its expiry time); true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        self.persist(field);
        match &mut self.enc {
            Enc::Packed(l) => match l.find(field, 2) {
                Some(at) => {
                    l.remove(at, 2);
                    true
                }
                None => false,
            },
            Enc::Table(d) => d.remove(field),
        }
    }

    /// Calls `f` with every field and its value.
    pub fn for_each<'s>(&'s self, mut f: impl FnMut(&'s [u8], &'s [u8])) {
        match &self.enc {
            Enc::Packed(l) => {
                let mut it = l.iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    f(k, v);
                }
            }
            Enc::Table(d) => d.iter().for_each(|e| {
                let (k, v) = split(e);
                f(k, v)
            }),
        }
    }

    /// A random field and its value.
    pub fn random(&self, rng: &mut fastrand::Rng) -> Option<(&[u8], &[u8])> {
        match &self.enc {
            Enc::Packed(l) if !l.is_empty() => {
                let at = l.offset_of(rng.usize(..l.len() / 2) * 2)?;
                let (k, next) = l.get(at);
                Some((k, l.get(next).0))
            }
            Enc::Table(d) => d.random(rng).map(split),
            _ => None,
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
        match &self.enc {
            Enc::Table(d) => d.scan(cursor, count, |e| {
                let (k, v) = split(e);
                f(k, v)
            }),
            Enc::Packed(_) => {
                self.for_each(f);
                0
            }
        }
    }

    /// When `field` expires, if it is volatile.
    pub fn expire_at(&self, field: &[u8]) -> Option<u64> {
        self.ttl.as_ref()?.get(field)
    }

    /// Sets when `field` (which must be there) expires.
    pub fn set_expire(&mut self, field: &[u8], at: u64) {
        debug_assert!(self.contains(field));
        self.ttl.get_or_insert_default().set(field, at);
    }

    /// Makes `field` persistent; its old expiry time, if it had one.
    pub fn persist(&mut self, field: &[u8]) -> Option<u64> {
        let t = self.ttl.as_mut()?;
        let at = t.remove(field);
        if t.is_empty() {
            self.ttl = None;
        }
        at
    }

    /// The earliest time a field expires, if any is volatile.
    pub fn next_expiry(&self) -> Option<u64> {
        self.ttl.as_ref()?.next()
    }

    /// How many fields are volatile.
    pub fn volatile_len(&self) -> usize {
        self.ttl.as_ref().map_or(0, |t| t.len())
    }

    /// Every volatile field and when it expires, earliest first.
    pub fn volatile_fields(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.ttl.iter().flat_map(|t| t.iter())
    }

    /// Removes the earliest field due at `now_ms`, returning its name.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<Box<[u8]>> {
        let t = self.ttl.as_mut()?;
        let field = t.pop_due(now_ms)?;
        if t.is_empty() {
            self.ttl = None;
        }
        self.remove(&field);
        Some(field)
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

    #[test]
    fn volatile_fields_expire_one_by_one() {
        let lim = Limits::default();
        let mut h = Hash::default();
        h.set(b"a", b"1", &lim);
        h.set(b"b", b"2", &lim);
        h.set(b"c", b"3", &lim);
        let plain = h.heap_bytes();
        h.set_expire(b"a", 100);
        h.set_expire(b"b", 50);
        assert_eq!(h.encoding(), "listpackex");
        assert!(h.heap_bytes() > plain);
        assert_eq!((h.next_expiry(), h.volatile_len()), (Some(50), 2));
        // HINCRBY keeps a field's time, HSET drops it.
        h.set_keep_ttl(b"a", b"11", &lim);
        assert_eq!(h.expire_at(b"a"), Some(100));
        h.set(b"a", b"111", &lim);
        assert_eq!(h.expire_at(b"a"), None);
        assert_eq!(h.pop_due(49), None);
        assert_eq!(h.pop_due(50).as_deref(), Some(&b"b"[..]));
        assert_eq!((h.len(), h.get(b"b")), (2, None));
        assert_eq!((h.encoding(), h.next_expiry()), ("listpack", None));
        // Removing a field forgets its time.
        h.set_expire(b"c", 10);
        assert!(h.remove(b"c"));
        assert_eq!(h.volatile_len(), 0);
    }
}
