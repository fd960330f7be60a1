//! An intset: a set of integers as one sorted array, all of the narrowest width that holds
//! every member (2, 4 or 8 bytes, little-endian), as Redis keeps sets of integers. A set
//! of small ids costs 2 bytes a member; membership is a binary search.
//!
//! The width only grows: a member that does not fit rewrites the array wider (Redis
//! calls it an upgrade), and removing it does not narrow it again.

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Intset {
    /// Bytes per member: 2, 4 or 8 (0 while empty and never written).
    width: u8,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Intset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

fn width_of(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl Intset {
    pub fn new() -> Intset {
        Intset::default()
    }

    pub fn len(&self) -> usize {
        if self.width == 0 {
            0
        } else {
            self.buf.len() / self.width as usize
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes of its buffer.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The member at index `i` (members are sorted).
    pub fn get(&self, i: usize) -> i64 {
        let w = self.width as usize;
        let b = &self.buf[i * w..i * w + w];
        match w {
            2 => i16::from_le_bytes([b[0], b[1]]) as i64,
            4 => i32::from_le_bytes(b.try_into().expect("4 bytes")) as i64,
            _ => i64::from_le_bytes(b.try_into().expect("8 bytes")),
        }
    }

    fn put(out: &mut Vec<u8>, w: u8, v: i64) {
        match w {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }

    /// Where `v` is (`Ok`) or would go (`Err`).
    fn search(&self, v: i64) -> Result<usize, usize> {
        if self.width == 0 || width_of(v) > self.width {
            // Wider than every member: below all of them or above.
            return Err(if v < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    /// Adds `v`; false if it was there.
    pub fn insert(&mut self, v: i64) -> bool {
        let at = match self.search(v) {
            Ok(_) => return false,
            Err(at) => at,
        };
        let need = width_of(v).max(self.width);
        if need != self.width {
            let mut wider = Vec::with_capacity((self.len() + 1) * need as usize);
            for i in 0..self.len() {
                Intset::put(&mut wider, need, self.get(i));
            }
            self.buf = wider;
            self.width = need;
        }
        let w = self.width as usize;
        let mut one = Vec::with_capacity(w);
        Intset::put(&mut one, self.width, v);
        self.buf.reserve_exact(w);
        self.buf.splice(at * w..at * w, one);
        true
    }

    /// Removes `v`; false if it was not there.
    pub fn remove(&mut self, v: i64) -> bool {
        let Ok(at) = self.search(v) else {
            return false;
        };
        let w = self.width as usize;
        self.buf.drain(at * w..at * w + w);
        if self.buf.capacity() > 64 && self.buf.capacity() > 2 * self.buf.len() {
            self.buf.shrink_to_fit();
        }
        true
    }

    /// The members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The largest member's width in bytes (OBJECT ENCODING does not show it; tests do).
    pub fn width(&self) -> u8 {
        self.width
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_upgraded_as_members_need() {
        let mut s = Intset::new();
        for v in [5, -3, 100, 5, 0] {
            s.insert(v);
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![-3, 0, 5, 100]);
        assert_eq!(s.width(), 2);
        assert!(s.insert(1 << 40));
        assert!(s.insert(-(1 << 20)));
        assert_eq!(s.width(), 8);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![-(1 << 20), -3, 0, 5, 100, 1 << 40]
        );
        assert!(s.contains(1 << 40) && !s.contains(6) && !s.contains(i64::MAX));
        assert!(s.remove(5) && !s.remove(5));
        assert_eq!(s.len(), 5);
        let mut m = Intset::new();
        m.insert(i64::MIN);
        m.insert(i64::MAX);
        m.insert(0);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![i64::MIN, 0, i64::MAX]);
    }
}
