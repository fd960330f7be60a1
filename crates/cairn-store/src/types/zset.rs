//! A sorted set: members ordered by (score, member bytes). A listpack of `member, score`
//! pairs kept in that order while small (`zset-max-listpack-entries` members of at most
//! `zset-max-listpack-value` bytes), then a member → score [`Dict`] beside an
//! order-statistic [`RankTree`] of the same members. As in Redis, it converts upwards
//! only, except that a set built whole (a *STORE result, a load) starts in the encoding
//! its size calls for.
//!
//! The big form keeps each member once: the dict's element is `score (8 bytes) | member`,
//! and the tree's entry is the score again (so comparisons rarely leave the leaf) and a
//! pointer to that element. Every change removes a member from the tree before the dict
//! lets go of its element, which is what keeps those pointers valid.
//!
//! Scores in the listpack are stored compactly: an integral score below 2^53 in magnitude
//! as the fewest little-endian bytes that hold it (none for 0), any other as its 8 IEEE
//! bytes; the length tells them apart. Scores are never NaN (commands refuse it).

use std::cmp::Ordering;
use std::ptr::NonNull;

use crate::alloc::alloc_class;
use crate::encoding::dict::Dict;
use crate::encoding::listpack::Listpack;
use crate::encoding::ranked::RankTree;
use crate::encoding::thin::Thin;
use crate::limits::Limits;

/// Scores from `min` to `max`, each end inclusive unless its `_ex` says otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_ex: bool,
    pub max_ex: bool,
}

impl ScoreRange {
    fn above_min(&self, s: f64) -> bool {
        if self.min_ex {
            s > self.min
        } else {
            s >= self.min
        }
    }

    fn below_max(&self, s: f64) -> bool {
        if self.max_ex {
            s < self.max
        } else {
            s <= self.max
        }
    }

    /// Whether no score can be in it (Redis answers those without looking).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_ex || self.max_ex))
    }
}

/// One end of a lexicographic range (ZRANGEBYLEX's `-`, `+`, `[a`, `(a`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

/// Members from `min` to `max` in byte order (meaningful when all scores are equal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    fn above_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(b) => m >= b.as_slice(),
            LexBound::Excl(b) => m > b.as_slice(),
        }
    }

    fn below_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(b) => m <= b.as_slice(),
            LexBound::Excl(b) => m < b.as_slice(),
        }
    }

    /// Whether no member can be in it.
    pub fn is_empty(&self) -> bool {
        use LexBound::*;
        match (&self.min, &self.max) {
            (PosInf, _) | (_, NegInf) => true,
            (Incl(a), Incl(b)) => a > b,
            (Incl(a), Excl(b)) | (Excl(a), Incl(b)) | (Excl(a), Excl(b)) => a >= b,
            _ => false,
        }
    }
}

/// A score as the listpack keeps it (see the module doc); returns the bytes used.
fn pack_score(v: f64, buf: &mut [u8; 8]) -> &[u8] {
    if v == v.trunc() && v.abs() < (1u64 << 53) as f64 {
        let i = v as i64;
        *buf = i.to_le_bytes();
        // The fewest bytes that sign-extend back to `i`.
        let mut n = 0;
        if i != 0 {
            n = 1;
            while n < 7 && (i << (64 - 8 * n)) >> (64 - 8 * n) != i {
                n += 1;
            }
        }
        &buf[..n]
    } else {
        *buf = v.to_le_bytes();
        &buf[..]
    }
}

fn unpack_score(b: &[u8]) -> f64 {
    if b.len() == 8 {
        return f64::from_le_bytes(b.try_into().expect("8 bytes"));
    }
    if b.is_empty() {
        return 0.0;
    }
    let mut raw = [0u8; 8];
    raw[..b.len()].copy_from_slice(b);
    let shift = 64 - 8 * b.len() as u32;
    ((i64::from_le_bytes(raw) << shift) >> shift) as f64
}

/// The order: by score, then by member bytes.
fn cmp(a_score: f64, a: &[u8], b_score: f64, b: &[u8]) -> Ordering {
    a_score
        .partial_cmp(&b_score)
        .expect("scores are never NaN")
        .then_with(|| a.cmp(b))
}

/// A member of the big form, in the tree: its score, and the dict element it lives in.
#[derive(Clone, Copy)]
struct Ent {
    score: f64,
    elem: NonNull<u8>,
}

impl Ent {
    fn member<'a>(&self) -> &'a [u8] {
        // SAFETY: an entry is in the tree only while the dict holds its element (see
        // the module doc), and the returned bytes are used only while the set is borrowed.
        let elem = unsafe { Thin::bytes_at(self.elem) };
        &elem[8..]
    }
}

/// A dict element's key: the member after the 8 score bytes.
fn member_of(elem: &[u8]) -> &[u8] {
    &elem[8..]
}

fn score_of(elem: &[u8]) -> f64 {
    f64::from_le_bytes(
        elem[..8]
            .try_into()
            .expect("an element starts with its score"),
    )
}

/// The big form: member → score, and the order.
pub struct Sorted {
    dict: Dict,
    order: RankTree<Ent>,
}

// SAFETY: the tree's pointers point only into elements the dict beside it owns; a
// `Sorted` is moved and shared as one value, like the `Box`es those elements are.
unsafe impl Send for Sorted {}
// SAFETY: shared access only reads.
unsafe impl Sync for Sorted {}

impl Sorted {
    fn new() -> Sorted {
        Sorted {
            dict: Dict::new(member_of),
            order: RankTree::new(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        self.dict.get(m).map(score_of)
    }

    /// Rank of (score, member) among the entries: how many come before it.
    fn rank_of(&self, score: f64, m: &[u8]) -> usize {
        self.order
            .count(|e| cmp(e.score, e.member(), score, m) == Ordering::Less)
    }

    fn insert(&mut self, m: &[u8], score: f64) -> Option<f64> {
        let old = self.score(m);
        if let Some(o) = old {
            if o.to_bits() == score.to_bits() {
                return old;
            }
            // Out of the tree before the dict replaces the element it points at.
            self.order.remove_at(self.rank_of(o, m));
        }
        self.dict.insert(&[&score.to_le_bytes(), m]);
        let elem = self.dict.get_elem(m).expect("just inserted").as_raw();
        self.order.insert(Ent { score, elem }, |e| {
            cmp(e.score, e.member(), score, m) == Ordering::Less
        });
        old
    }

    fn remove(&mut self, m: &[u8]) -> Option<f64> {
        let old = self.score(m)?;
        self.order.remove_at(self.rank_of(old, m));
        self.dict.remove(m);
        Some(old)
    }

    fn remove_at(&mut self, rank: usize) -> (Vec<u8>, f64) {
        let e = self.order.remove_at(rank);
        let m = e.member().to_vec();
        self.dict.remove(&m);
        (m, e.score)
    }
}

impl Clone for Sorted {
    /// The dict's clone makes new elements: the order is rebuilt to point at them.
    fn clone(&self) -> Sorted {
        let dict = self.dict.clone();
        let mut order = RankTree::new();
        self.order.for_each(|e| {
            let elem = dict
                .get_elem(e.member())
                .expect("the same members")
                .as_raw();
            // In order already: each goes after every one before it.
            order.insert(
                Ent {
                    score: e.score,
                    elem,
                },
                |_| true,
            );
        });
        Sorted { dict, order }
    }
}

#[derive(Clone)]
pub enum ZSet {
    /// `member, score` pairs in order.
    Packed(Listpack),
    /// Boxed: the big form's header is several words, and most sorted sets are small.
    Tree(Box<Sorted>),
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet::new()
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_list();
        self.for_each(|m, s| {
            l.entry(&(String::from_utf8_lossy(m), s));
        });
        l.finish()
    }
}

impl PartialEq for ZSet {
    /// The same members with the same scores, whatever the encodings.
    fn eq(&self, other: &ZSet) -> bool {
        let mut same = self.len() == other.len();
        self.for_each(|m, s| same &= other.score(m) == Some(s));
        same
    }
}

/// Calls `f(offset of the member, member, score, offset after the pair)` for each pair of
/// a packed set, in order, until it returns false.
fn pairs<'a>(l: &'a Listpack, mut f: impl FnMut(usize, &'a [u8], f64, usize) -> bool) {
    let mut at = 0;
    while at < l.end() {
        let (m, s_at) = l.get(at);
        let (s, next) = l.get(s_at);
        if !f(at, m, unpack_score(s), next) {
            return;
        }
        at = next;
    }
}

impl ZSet {
    /// An empty sorted set in its small form.
    pub fn new() -> ZSet {
        ZSet::Packed(Listpack::new())
    }

    /// A sorted set of `items` (member, score; members distinct), in the encoding their
    /// number and lengths call for.
    pub fn from_items<'a>(items: impl IntoIterator<Item = (&'a [u8], f64)>, lim: &Limits) -> ZSet {
        let mut z = ZSet::new();
        for (m, s) in items {
            z.insert(m, s, lim);
        }
        z
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Packed(_) => "listpack",
            ZSet::Tree(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Packed(l) => l.len() / 2,
            ZSet::Tree(t) => t.order.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            ZSet::Packed(l) => alloc_class(l.capacity()),
            ZSet::Tree(t) => {
                alloc_class(std::mem::size_of::<Sorted>())
                    + t.dict.heap_bytes()
                    + t.order.heap_bytes()
            }
        }
    }

    /// The packed pair of `m`: (offset of the member, score, rank).
    fn find_packed(l: &Listpack, m: &[u8]) -> Option<(usize, f64, usize)> {
        let mut found = None;
        let mut rank = 0;
        pairs(l, |at, member, s, _| {
            if member == m {
                found = Some((at, s, rank));
                return false;
            }
            rank += 1;
            true
        });
        found
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(l) => Self::find_packed(l, m).map(|(_, s, _)| s),
            ZSet::Tree(t) => t.score(m),
        }
    }

    /// The rank of `m`, from the lowest score (0).
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        match self {
            ZSet::Packed(l) => Self::find_packed(l, m).map(|(_, _, r)| r),
            ZSet::Tree(t) => {
                let s = t.score(m)?;
                Some(t.rank_of(s, m))
            }
        }
    }

    /// Sets `m`'s score; the old score if it was a member.
    pub fn insert(&mut self, m: &[u8], score: f64, lim: &Limits) -> Option<f64> {
        debug_assert!(!score.is_nan());
        if let ZSet::Packed(l) = self {
            match Self::find_packed(l, m) {
                Some((_, s, _)) if s == score => return Some(s),
                Some((at, s, _)) => {
                    l.remove(at, 2);
                    Self::place(l, m, score);
                    return Some(s);
                }
                None => {}
            }
        }
        match self {
            ZSet::Tree(t) => t.insert(m, score),
            ZSet::Packed(_) => {
                self.insert_new(m, score, lim);
                None
            }
        }
    }

    /// Adds `m`, which the caller has just found is no member (ZADD looks a member's
    /// score up before it decides): the small form does not look for it again.
    pub fn insert_new(&mut self, m: &[u8], score: f64, lim: &Limits) {
        debug_assert!(!score.is_nan() && self.score(m).is_none());
        if let ZSet::Packed(l) = self {
            if l.len() / 2 < lim.zset_entries && m.len() <= lim.zset_value {
                Self::place(l, m, score);
                return;
            }
            self.convert();
        }
        if let ZSet::Tree(t) = self {
            t.insert(m, score);
        }
    }

    /// Puts the pair in its place in a listpack that does not hold `m`.
    fn place(l: &mut Listpack, m: &[u8], score: f64) {
        let mut at = l.end();
        pairs(l, |here, member, s, _| {
            if cmp(s, member, score, m) == Ordering::Greater {
                at = here;
                return false;
            }
            true
        });
        let mut buf = [0u8; 8];
        l.insert(at, &[m, pack_score(score, &mut buf)]);
    }

    /// The listpack becomes the big form.
    fn convert(&mut self) {
        let ZSet::Packed(l) = self else { return };
        let mut t = Sorted::new();
        pairs(l, |_, m, s, _| {
            t.insert(m, s);
            true
        });
        *self = ZSet::Tree(Box::new(t));
    }

    /// Removes `m`; its score if it was a member.
    pub fn remove(&mut self, m: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(l) => {
                let (at, s, _) = Self::find_packed(l, m)?;
                l.remove(at, 2);
                Some(s)
            }
            ZSet::Tree(t) => t.remove(m),
        }
    }

    /// The member and score at rank `r`.
    pub fn get(&self, r: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Packed(l) => {
                let mut found = None;
                let mut i = 0;
                pairs(l, |_, m, s, _| {
                    if i == r {
                        found = Some((m, s));
                        return false;
                    }
                    i += 1;
                    true
                });
                found
            }
            ZSet::Tree(t) => t.order.get(r).map(|e| (e.member(), e.score)),
        }
    }

    /// How many members come before the first whose (score, member) is not `below`: a
    /// predicate true for a prefix of the order.
    fn count(&self, below: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Packed(l) => {
                let mut n = 0;
                pairs(l, |_, m, s, _| {
                    if below(s, m) {
                        n += 1;
                        return true;
                    }
                    false
                });
                n
            }
            ZSet::Tree(t) => t.order.count(|e| below(e.score, e.member())),
        }
    }

    /// The ranks `start..end` of the members whose score is in `range`.
    pub fn score_span(&self, range: &ScoreRange) -> (usize, usize) {
        if range.is_empty() {
            return (0, 0);
        }
        let start = self.count(|s, _| !range.above_min(s));
        let end = self.count(|s, _| range.below_max(s));
        (start, end.max(start))
    }

    /// The ranks `start..end` of the members in the lexicographic `range`.
    pub fn lex_span(&self, range: &LexRange) -> (usize, usize) {
        if range.is_empty() {
            return (0, 0);
        }
        let start = self.count(|_, m| !range.above_min(m));
        let end = self.count(|_, m| range.below_max(m));
        (start, end.max(start))
    }

    /// Calls `f(member, score)` from rank `skip` on (`rev`: from the last but `skip`,
    /// backwards) until it returns false.
    pub fn walk<'s>(&'s self, skip: usize, rev: bool, mut f: impl FnMut(&'s [u8], f64) -> bool) {
        match self {
            ZSet::Packed(l) => {
                if rev {
                    let mut all = Vec::with_capacity(l.len() / 2);
                    pairs(l, |_, m, s, _| {
                        all.push((m, s));
                        true
                    });
                    for &(m, s) in all.iter().rev().skip(skip) {
                        if !f(m, s) {
                            return;
                        }
                    }
                } else {
                    let mut i = 0;
                    pairs(l, |_, m, s, _| {
                        i += 1;
                        i <= skip || f(m, s)
                    });
                }
            }
            ZSet::Tree(t) => t.order.walk(skip, rev, |e| f(e.member(), e.score)),
        }
    }

    /// Members whose score is in `range`, ascending (descending if `rev`), calling
    /// `f(member, score)` until it returns false.
    pub fn range_by_score<'s>(
        &'s self,
        range: &ScoreRange,
        rev: bool,
        mut f: impl FnMut(&'s [u8], f64) -> bool,
    ) {
        let (start, end) = self.score_span(range);
        let n = end - start;
        let skip = if rev { self.len() - end } else { start };
        let mut seen = 0;
        self.walk(skip, rev, |m, s| {
            seen += 1;
            seen <= n && f(m, s)
        });
    }

    /// Every member with its score, in order.
    pub fn for_each<'s>(&'s self, mut f: impl FnMut(&'s [u8], f64)) {
        self.walk(0, false, |m, s| {
            f(m, s);
            true
        });
    }

    /// Removes the members at ranks `start..end`, handing each to `f` (in order).
    pub fn remove_ranks(&mut self, start: usize, end: usize, mut f: impl FnMut(&[u8], f64)) {
        if start >= end {
            return;
        }
        match self {
            ZSet::Packed(l) => {
                let (mut from, mut to, mut i) = (None, l.end(), 0);
                pairs(l, |at, m, s, _| {
                    if i == start {
                        from = Some(at);
                    }
                    if i == end {
                        to = at;
                        return false;
                    }
                    if i >= start {
                        f(m, s);
                    }
                    i += 1;
                    true
                });
                if let Some(from) = from {
                    let count = 2 * (end.min(i) - start);
                    debug_assert!(to >= from);
                    l.remove(from, count);
                }
            }
            ZSet::Tree(t) => {
                for _ in start..end.min(t.order.len()) {
                    let (m, s) = t.remove_at(start);
                    f(&m, s);
                }
            }
        }
    }

    /// A random member with its score (uniform).
    pub fn random(&self, rng: &mut fastrand::Rng) -> Option<(&[u8], f64)> {
        if self.is_empty() {
            return None;
        }
        self.get(rng.usize(..self.len()))
    }

    /// One ZSCAN step (see [`Dict::scan`]); the small form is returned whole, with cursor
    /// 0, as Redis does.
    pub fn scan<'s>(&'s self, cursor: u64, count: usize, mut f: impl FnMut(&'s [u8], f64)) -> u64 {
        match self {
            ZSet::Tree(t) => t.dict.scan(cursor, count, |e| f(member_of(e), score_of(e))),
            ZSet::Packed(_) => {
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
    fn packed_scores_read_back() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            127.0,
            128.0,
            -128.0,
            -129.0,
            65535.0,
            1e15,
            -1e15,
            9007199254740991.0,
            9007199254740992.0,
            1.5,
            -2.25,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ] {
            let mut buf = [0u8; 8];
            let b = pack_score(v, &mut buf).to_vec();
            let back = unpack_score(&b);
            if v == 0.0 {
                // -0 too: the small form keeps it as 0, as Redis's listpack does.
                assert!(b.is_empty() && back.to_bits() == 0);
                continue;
            }
            assert_eq!(back.to_bits(), v.to_bits(), "{v} via {b:?}");
            if v == 1.0 {
                assert_eq!(b.len(), 1);
            }
        }
    }

    fn model_check(z: &ZSet, model: &[(Vec<u8>, f64)]) {
        let mut all = Vec::new();
        z.for_each(|m, s| all.push((m.to_vec(), s)));
        assert_eq!(all, model);
        for (r, (m, s)) in model.iter().enumerate() {
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(z.rank(m), Some(r));
        }
    }

    #[test]
    fn both_forms_follow_a_model() {
        let lim = Limits {
            zset_entries: 16,
            zset_value: 8,
            ..Limits::default()
        };
        let mut rng = fastrand::Rng::with_seed(3);
        let mut z = ZSet::new();
        let mut model: Vec<(Vec<u8>, f64)> = Vec::new();
        for round in 0..4000 {
            let m = format!("m{}", rng.u32(..60)).into_bytes();
            let s = f64::from(rng.i32(-5..5)) / 2.0;
            if rng.bool() {
                let old = model
                    .iter()
                    .position(|(x, _)| *x == m)
                    .map(|i| model.remove(i).1);
                assert_eq!(z.insert(&m, s, &lim), old);
                let at = model.partition_point(|(x, xs)| cmp(*xs, x, s, &m) == Ordering::Less);
                model.insert(at, (m, s));
            } else {
                let old = model
                    .iter()
                    .position(|(x, _)| *x == m)
                    .map(|i| model.remove(i).1);
                assert_eq!(z.remove(&m), old);
            }
            if round % 50 == 0 {
                model_check(&z, &model);
                let r = ScoreRange {
                    min: -1.0,
                    max: 1.0,
                    min_ex: true,
                    max_ex: false,
                };
                let (a, b) = z.score_span(&r);
                let want: Vec<_> = model
                    .iter()
                    .filter(|(_, s)| *s > -1.0 && *s <= 1.0)
                    .collect();
                assert_eq!(b - a, want.len());
                let mut got = Vec::new();
                z.range_by_score(&r, true, |m, s| {
                    got.push((m.to_vec(), s));
                    true
                });
                let want_rev: Vec<_> = want.iter().rev().map(|x| (*x).clone()).collect();
                assert_eq!(got, want_rev);
            }
        }
        assert_eq!(z.encoding(), "skiplist");
        model_check(&z, &model);
        let c = z.clone();
        drop(z);
        model_check(&c, &model);
        let mut z = c;
        let n = model.len();
        let mut removed = Vec::new();
        z.remove_ranks(1, 4, |m, s| removed.push((m.to_vec(), s)));
        assert_eq!(removed, model[1..4]);
        model.drain(1..4);
        model_check(&z, &model);
        assert_eq!(z.len(), n - 3);
    }

    #[test]
    fn lex_ranges() {
        let lim = Limits::default();
        let z = ZSet::from_items(
            ["a", "b", "c", "d"].iter().map(|m| (m.as_bytes(), 0.0)),
            &lim,
        );
        let r = LexRange {
            min: LexBound::Excl(b"a".to_vec()),
            max: LexBound::Incl(b"c".to_vec()),
        };
        assert_eq!(z.lex_span(&r), (1, 3));
        let r = LexRange {
            min: LexBound::NegInf,
            max: LexBound::PosInf,
        };
        assert_eq!(z.lex_span(&r), (0, 4));
        let r = LexRange {
            min: LexBound::Incl(b"c".to_vec()),
            max: LexBound::Excl(b"c".to_vec()),
        };
        assert!(r.is_empty());
    }
}
