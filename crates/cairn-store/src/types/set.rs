//! A set: an intset while every member is an integer (and there are at most
//! `set-max-intset-entries`), a listpack while small (`set-max-listpack-entries` members of
//! at most `set-max-listpack-value` bytes), else a dict. As in Redis, a set converts
//! upwards only.

use crate::alloc::alloc_class;
use crate::encoding::dict::Dict;
use crate::encoding::elem::Elem;
use crate::encoding::intset::Intset;
use crate::encoding::listpack::Listpack;
use crate::limits::Limits;
use cairn_protocol::resp::parse_i64 as parse_canonical_i64;

#[derive(Clone, Debug)]
pub enum Set {
    Ints(Intset),
    Packed(Listpack),
    /// Boxed: a dict's header is twice a small encoding's, and most sets are small.
    Table(Box<Dict>),
}

impl Default for Set {
    fn default() -> Set {
        Set::Ints(Intset::new())
    }
}

fn whole(e: &[u8]) -> &[u8] {
    e
}

impl Set {
    /// A set for `first`, encoded as Redis would start it.
    pub fn for_member(first: &[u8], lim: &Limits) -> Set {
        if parse_canonical_i64(first).is_some() && lim.set_intset_entries > 0 {
            Set::Ints(Intset::new())
        } else if first.len() <= lim.set_value && lim.set_entries > 0 {
            Set::Packed(Listpack::new())
        } else {
            Set::Table(Box::new(Dict::new(whole)))
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Packed(_) => "listpack",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(s) => s.len(),
            Set::Packed(l) => l.len(),
            Set::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Set::Ints(s) => alloc_class(s.capacity()),
            Set::Packed(l) => alloc_class(l.capacity()),
            Set::Table(d) => alloc_class(std::mem::size_of::<Dict>()) + d.heap_bytes(),
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_canonical_i64(m).is_some_and(|i| s.contains(i)),
            Set::Packed(l) => l.find(m, 1).is_some(),
            Set::Table(d) => d.get(m).is_some(),
        }
    }

    /// Adds `m`; false if it was a member.
    pub fn add(&mut self, m: &[u8], lim: &Limits) -> bool {
        if let Set::Ints(s) = self {
            match parse_canonical_i64(m) {
                Some(i) if s.len() < lim.set_intset_entries || s.contains(i) => {
                    return s.insert(i);
                }
                _ => self.convert(lim, self.len() + 1, m.len()),
            }
        }
        if let Set::Packed(l) = self {
            if l.find(m, 1).is_some() {
                return false;
            }
            if l.len() < lim.set_entries && m.len() <= lim.set_value {
                l.push(m);
                return true;
            }
            self.convert_to_table();
        }
        match self {
            Set::Table(d) => d.insert(&[m]),
            _ => unreachable!("converted to a table above"),
        }
    }

    /// Leaves the intset for a listpack (when `len` members, the longest `longest`
    /// bytes, fit one) or a table.
    fn convert(&mut self, lim: &Limits, len: usize, longest: usize) {
        let Set::Ints(ints) = self else { return };
        let ints = std::mem::take(ints);
        if len <= lim.set_entries && longest <= lim.set_value {
            let mut l = Listpack::new();
            for i in ints.iter() {
                l.push(itoa::Buffer::new().format(i).as_bytes());
            }
            *self = Set::Packed(l);
        } else {
            let mut d = Dict::new(whole);
            for i in ints.iter() {
                d.insert(&[itoa::Buffer::new().format(i).as_bytes()]);
            }
            *self = Set::Table(Box::new(d));
        }
    }

    fn convert_to_table(&mut self) {
        let mut d = Dict::new(whole);
        match self {
            Set::Ints(s) => {
                for i in s.iter() {
                    d.insert(&[itoa::Buffer::new().format(i).as_bytes()]);
                }
            }
            Set::Packed(l) => {
                for m in l.iter() {
                    d.insert(&[m]);
                }
            }
            Set::Table(_) => return,
        }
        *self = Set::Table(Box::new(d));
    }

    /// Removes `m`; false if it was not a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_canonical_i64(m).is_some_and(|i| s.remove(i)),
            Set::Packed(l) => match l.find(m, 1) {
                Some(at) => {
                    l.remove(at, 1);
                    true
                }
                None => false,
            },
            Set::Table(d) => d.remove(m),
        }
    }

    /// Calls `f` with every member.
    pub fn for_each<'s>(&'s self, mut f: impl FnMut(Elem<'s>)) {
        match self {
            Set::Ints(s) => s.iter().for_each(|i| f(Elem::Int(i))),
            Set::Packed(l) => l.iter().for_each(|m| f(Elem::Bytes(m))),
            Set::Table(d) => d.iter().for_each(|m| f(Elem::Bytes(m))),
        }
    }

    /// Every member, owned.
    pub fn members(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|e| out.push(e.to_vec()));
        out
    }

    /// A random member.
    pub fn random(&self, rng: &mut fastrand::Rng) -> Option<Elem<'_>> {
        match self {
            Set::Ints(s) if !s.is_empty() => Some(Elem::Int(s.get(rng.usize(..s.len())))),
            Set::Packed(l) if !l.is_empty() => l.nth(rng.usize(..l.len())).map(Elem::Bytes),
            Set::Table(d) => d.random(rng).map(Elem::Bytes),
            _ => None,
        }
    }

    /// One SSCAN step (see [`Dict::scan`]); compact encodings are returned whole, with
    /// cursor 0, as Redis does.
    pub fn scan<'s>(&'s self, cursor: u64, count: usize, mut f: impl FnMut(Elem<'s>)) -> u64 {
        match self {
            Set::Table(d) => d.scan(cursor, count, |m| f(Elem::Bytes(m))),
            _ => {
                self.for_each(f);
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits {
            set_intset_entries: 4,
            set_entries: 3,
            set_value: 5,
            ..Limits::default()
        }
    }

    #[test]
    fn encodings_follow_the_members() {
        let l = lim();
        let mut s = Set::for_member(b"1", &l);
        for m in ["1", "2", "3", "2"] {
            s.add(m.as_bytes(), &l);
        }
        assert_eq!((s.encoding(), s.len()), ("intset", 3));
        // A fifth integer is past set-max-intset-entries (4) and the listpack's 3.
        s.add(b"4", &l);
        assert_eq!(s.encoding(), "intset");
        s.add(b"5", &l);
        assert_eq!((s.encoding(), s.len()), ("hashtable", 5));
        let mut p = Set::for_member(b"a", &l);
        p.add(b"a", &l);
        p.add(b"7", &l);
        assert_eq!(p.encoding(), "listpack");
        assert!(p.contains(b"7") && !p.contains(b"8"));
        p.add(b"longer", &l);
        assert_eq!(p.encoding(), "hashtable");
        let mut ints = Set::for_member(b"1", &l);
        ints.add(b"1", &l);
        ints.add(b"x", &l);
        assert_eq!(ints.encoding(), "listpack");
        assert!(ints.contains(b"1") && ints.contains(b"x"));
        assert!(ints.remove(b"1") && !ints.remove(b"1"));
        let mut m = ints.members();
        m.sort();
        assert_eq!(m, vec![b"x".to_vec()]);
    }
}
