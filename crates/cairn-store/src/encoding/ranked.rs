//! An order-statistic B+tree: entries kept in order in leaves of up to [`LEAF_MAX`], inner
//! nodes keeping each child's entry count and smallest entry. It answers "how many entries
//! come before this one" and "the entry at rank r" in O(log n), and walks a range from a
//! rank in either direction leaf by leaf.
//!
//! A big sorted set's order (see `crate::types::zset`). Redis keeps that order in a skip
//! list: a node of its own per member (member pointer, score, back pointer, and a forward
//! pointer plus a span for each of its levels, 1.33 levels on average). Here sixteen-byte
//! entries sit side by side in kilobyte leaves: about half the bytes per member, a range
//! read is a sequential scan instead of a pointer chase per member, and a rank is a
//! descent summing a few dozen counts per level.
//!
//! The tree knows nothing of what its entries mean: every search takes a predicate that
//! is true for a prefix of the order (`below`), so the sorted set decides how scores and
//! members compare.

use crate::alloc::alloc_class;

/// Most entries in a leaf; a leaf's buffer is allocated for one more, the overflow an
/// insert holds until it splits, so a leaf never reallocates.
pub const LEAF_MAX: usize = 63;
/// Most children of an inner node (one more allocated, as for leaves).
const INNER_MAX: usize = 31;

enum Node<T> {
    Leaf(Vec<T>),
    Inner(Box<Inner<T>>),
}

struct Inner<T> {
    /// Each child's smallest entry (what an insert or a search compares with).
    mins: Vec<T>,
    /// Entries under each child.
    counts: Vec<usize>,
    kids: Vec<Node<T>>,
}

pub struct RankTree<T> {
    root: Node<T>,
    len: usize,
    leaves: usize,
    inners: usize,
}

impl<T: Copy> Default for RankTree<T> {
    fn default() -> Self {
        RankTree::new()
    }
}

fn leaf<T>() -> Vec<T> {
    Vec::with_capacity(LEAF_MAX + 1)
}

fn inner<T>() -> Box<Inner<T>> {
    Box::new(Inner {
        mins: Vec::with_capacity(INNER_MAX + 1),
        counts: Vec::with_capacity(INNER_MAX + 1),
        kids: Vec::with_capacity(INNER_MAX + 1),
    })
}

impl<T: Copy> Node<T> {
    fn min(&self) -> T {
        match self {
            Node::Leaf(v) => v[0],
            Node::Inner(n) => n.mins[0],
        }
    }

    /// Entries (a leaf) or children (an inner node): what fills it.
    fn width(&self) -> usize {
        match self {
            Node::Leaf(v) => v.len(),
            Node::Inner(n) => n.kids.len(),
        }
    }

    fn max_width(&self) -> usize {
        match self {
            Node::Leaf(_) => LEAF_MAX,
            Node::Inner(_) => INNER_MAX,
        }
    }
}

impl<T: Copy> Inner<T> {
    /// The child an entry after every entry satisfying `below` belongs in: the last one
    /// whose smallest entry satisfies it (the first when none does).
    fn child_for(&self, below: &impl Fn(&T) -> bool) -> usize {
        self.mins.partition_point(below).saturating_sub(1)
    }

    /// The child holding rank `r`, and the rank within it.
    fn child_at(&self, mut r: usize) -> (usize, usize) {
        for (i, &c) in self.counts.iter().enumerate() {
            if r < c {
                return (i, r);
            }
            r -= c;
        }
        unreachable!("rank within the node's count")
    }

    fn push(&mut self, kid: Node<T>, count: usize) {
        self.mins.push(kid.min());
        self.counts.push(count);
        self.kids.push(kid);
    }
}

/// Moves the second half of a full node's contents into a new sibling; returns it and how
/// many entries it holds.
fn split<T: Copy>(node: &mut Node<T>) -> (Node<T>, usize) {
    match node {
        Node::Leaf(v) => {
            let mut right = leaf();
            right.extend(v.drain(v.len() / 2..));
            let n = right.len();
            (Node::Leaf(right), n)
        }
        Node::Inner(n) => {
            let at = n.kids.len() / 2;
            let mut right = inner();
            right.mins.extend(n.mins.drain(at..));
            right.counts.extend(n.counts.drain(at..));
            right.kids.extend(n.kids.drain(at..));
            let count = right.counts.iter().sum();
            (Node::Inner(right), count)
        }
    }
}

impl<T: Copy> RankTree<T> {
    pub fn new() -> RankTree<T> {
        RankTree {
            root: Node::Leaf(leaf()),
            len: 0,
            leaves: 1,
            inners: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes of the nodes (the entries' own allocations are their owner's).
    pub fn heap_bytes(&self) -> usize {
        let t = std::mem::size_of::<T>();
        let per_inner = alloc_class(std::mem::size_of::<Inner<T>>())
            + alloc_class((INNER_MAX + 1) * t)
            + alloc_class((INNER_MAX + 1) * std::mem::size_of::<usize>())
            + alloc_class((INNER_MAX + 1) * std::mem::size_of::<Node<T>>());
        self.leaves * alloc_class((LEAF_MAX + 1) * t) + self.inners * per_inner
    }

    /// How many entries satisfy `below`, which must hold for a prefix of the order.
    pub fn count(&self, below: impl Fn(&T) -> bool) -> usize {
        let mut node = &self.root;
        let mut before = 0;
        loop {
            match node {
                Node::Leaf(v) => return before + v.partition_point(&below),
                Node::Inner(n) => {
                    let j = n.mins.partition_point(&below);
                    if j == 0 {
                        return before;
                    }
                    before += n.counts[..j - 1].iter().sum::<usize>();
                    node = &n.kids[j - 1];
                }
            }
        }
    }

    /// The entry at rank `r` (0: the first).
    pub fn get(&self, r: usize) -> Option<&T> {
        if r >= self.len {
            return None;
        }
        let mut node = &self.root;
        let mut r = r;
        loop {
            match node {
                Node::Leaf(v) => return v.get(r),
                Node::Inner(n) => {
                    let (i, within) = n.child_at(r);
                    r = within;
                    node = &n.kids[i];
                }
            }
        }
    }

    /// Inserts `v` after every entry that satisfies `below` (a prefix of the order).
    pub fn insert(&mut self, v: T, below: impl Fn(&T) -> bool) {
        let (mut leaves, mut inners) = (0, 0);
        if let Some((right, count)) =
            Self::insert_in(&mut self.root, v, &below, &mut leaves, &mut inners)
        {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
            let left_count = self.len + 1 - count;
            let mut root = inner();
            root.push(left, left_count);
            root.push(right, count);
            self.root = Node::Inner(root);
            inners += 1;
        }
        self.len += 1;
        self.leaves += leaves;
        self.inners += inners;
    }

    /// Returns the new right sibling (and its entry count) when `node` split.
    fn insert_in(
        node: &mut Node<T>,
        v: T,
        below: &impl Fn(&T) -> bool,
        leaves: &mut usize,
        inners: &mut usize,
    ) -> Option<(Node<T>, usize)> {
        match node {
            Node::Leaf(entries) => {
                let at = entries.partition_point(below);
                entries.insert(at, v);
                if entries.len() <= LEAF_MAX {
                    return None;
                }
                *leaves += 1;
            }
            Node::Inner(n) => {
                let i = n.child_for(below);
                let split = Self::insert_in(&mut n.kids[i], v, below, leaves, inners);
                n.counts[i] += 1;
                n.mins[i] = n.kids[i].min();
                if let Some((right, count)) = split {
                    n.counts[i] -= count;
                    n.mins.insert(i + 1, right.min());
                    n.counts.insert(i + 1, count);
                    n.kids.insert(i + 1, right);
                }
                if n.kids.len() <= INNER_MAX {
                    return None;
                }
                *inners += 1;
            }
        }
        Some(split(node))
    }

    /// Removes and returns the entry at rank `r`.
    pub fn remove_at(&mut self, r: usize) -> T {
        assert!(r < self.len, "rank {r} past the end ({})", self.len);
        let (mut leaves, mut inners) = (0, 0);
        let v = Self::remove_in(&mut self.root, r, &mut leaves, &mut inners);
        self.len -= 1;
        // A root left with one child gives way to it.
        while let Node::Inner(n) = &mut self.root {
            if n.kids.len() != 1 {
                break;
            }
            let only = n.kids.pop().expect("one child");
            self.root = only;
            inners += 1;
        }
        self.leaves -= leaves;
        self.inners -= inners;
        v
    }

    fn remove_in(node: &mut Node<T>, r: usize, leaves: &mut usize, inners: &mut usize) -> T {
        match node {
            Node::Leaf(entries) => entries.remove(r),
            Node::Inner(n) => {
                let (i, within) = n.child_at(r);
                let v = Self::remove_in(&mut n.kids[i], within, leaves, inners);
                n.counts[i] -= 1;
                Self::rebalance(n, i, leaves, inners);
                v
            }
        }
    }

    /// After a removal under child `i`: a child under a quarter full merges with a
    /// neighbour, or takes entries from it when both would not fit one node.
    fn rebalance(n: &mut Inner<T>, i: usize, leaves: &mut usize, inners: &mut usize) {
        let kid = &n.kids[i];
        if kid.width() * 4 >= kid.max_width() || n.kids.len() == 1 {
            if kid.width() > 0 {
                n.mins[i] = kid.min();
            }
            return;
        }
        let l = if i + 1 < n.kids.len() { i } else { i - 1 };
        let (left, right) = n.kids.split_at_mut(l + 1);
        let (left, right) = (&mut left[l], &mut right[0]);
        if left.width() + right.width() <= left.max_width() {
            match (left, right) {
                (Node::Leaf(a), Node::Leaf(b)) => {
                    a.append(b);
                    *leaves += 1;
                }
                (Node::Inner(a), Node::Inner(b)) => {
                    a.mins.append(&mut b.mins);
                    a.counts.append(&mut b.counts);
                    a.kids.append(&mut b.kids);
                    *inners += 1;
                }
                _ => unreachable!("siblings are at one depth"),
            }
            n.counts[l] += n.counts[l + 1];
            n.mins.remove(l + 1);
            n.counts.remove(l + 1);
            n.kids.remove(l + 1);
            n.mins[l] = n.kids[l].min();
            return;
        }
        // Even the two out.
        let target = (left.width() + right.width()) / 2;
        let moved: usize = match (left, right) {
            (Node::Leaf(a), Node::Leaf(b)) => {
                if a.len() < target {
                    let k = target - a.len();
                    a.extend(b.drain(..k));
                    k
                } else {
                    let k = a.len() - target;
                    let tail: Vec<T> = a.drain(target..).collect();
                    b.splice(0..0, tail);
                    k.wrapping_neg()
                }
            }
            (Node::Inner(a), Node::Inner(b)) => {
                if a.kids.len() < target {
                    let k = target - a.kids.len();
                    let c: usize = b.counts[..k].iter().sum();
                    a.mins.extend(b.mins.drain(..k));
                    a.counts.extend(b.counts.drain(..k));
                    a.kids.extend(b.kids.drain(..k));
                    c
                } else {
                    let c: usize = a.counts[target..].iter().sum();
                    let mins: Vec<T> = a.mins.drain(target..).collect();
                    let counts: Vec<usize> = a.counts.drain(target..).collect();
                    let kids: Vec<Node<T>> = a.kids.drain(target..).collect();
                    b.mins.splice(0..0, mins);
                    b.counts.splice(0..0, counts);
                    b.kids.splice(0..0, kids);
                    c.wrapping_neg()
                }
            }
            _ => unreachable!("siblings are at one depth"),
        };
        // `moved` entries went left (a wrapped negative: they went right).
        n.counts[l] = n.counts[l].wrapping_add(moved);
        n.counts[l + 1] = n.counts[l + 1].wrapping_sub(moved);
        n.mins[l] = n.kids[l].min();
        n.mins[l + 1] = n.kids[l + 1].min();
    }

    /// Calls `f` with the entries from rank `skip` on, in order (`rev`: from the last but
    /// `skip`, backwards), until it returns false.
    pub fn walk(&self, skip: usize, rev: bool, mut f: impl FnMut(&T) -> bool) {
        Self::walk_in(&self.root, skip, rev, &mut f);
    }

    fn walk_in(node: &Node<T>, mut skip: usize, rev: bool, f: &mut impl FnMut(&T) -> bool) -> bool {
        match node {
            Node::Leaf(v) if !rev => v.iter().skip(skip).all(f),
            Node::Leaf(v) => v.iter().rev().skip(skip).all(f),
            Node::Inner(n) => {
                let mut go = |(kid, &count): (&Node<T>, &usize)| {
                    if skip >= count {
                        skip -= count;
                        return true;
                    }
                    let more = Self::walk_in(kid, skip, rev, f);
                    skip = 0;
                    more
                };
                if rev {
                    n.kids.iter().zip(&n.counts).rev().all(&mut go)
                } else {
                    n.kids.iter().zip(&n.counts).all(&mut go)
                }
            }
        }
    }

    /// Every entry, in order.
    pub fn for_each(&self, mut f: impl FnMut(&T)) {
        self.walk(0, false, |e| {
            f(e);
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Copy + Ord + std::fmt::Debug>(t: &RankTree<T>, model: &[T]) {
        let mut all = Vec::new();
        t.for_each(|e| all.push(*e));
        assert_eq!(all, model);
        assert_eq!(t.len(), model.len());
        fn depth<T: Copy + Ord + std::fmt::Debug>(n: &Node<T>, root: bool) -> (usize, usize) {
            match n {
                Node::Leaf(v) => (1, v.len()),
                Node::Inner(i) => {
                    assert!(root || i.kids.len() * 4 >= INNER_MAX, "inner underfull");
                    let mut d = None;
                    let mut total = 0;
                    for (k, kid) in i.kids.iter().enumerate() {
                        let (kd, c) = depth(kid, false);
                        assert_eq!(c, i.counts[k]);
                        assert_eq!(kid.min(), i.mins[k]);
                        assert!(d.is_none() || d == Some(kd), "leaves at one depth");
                        d = Some(kd);
                        total += c;
                    }
                    (d.unwrap() + 1, total)
                }
            }
        }
        depth(&t.root, true);
    }

    #[test]
    fn follows_a_sorted_model_through_inserts_and_removals() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut t = RankTree::new();
        let mut model: Vec<u32> = Vec::new();
        for round in 0..20_000 {
            if model.is_empty() || rng.u8(..) < 150 {
                let v = rng.u32(..5000);
                t.insert(v, |e| *e < v);
                let at = model.partition_point(|e| *e < v);
                model.insert(at, v);
            } else {
                let r = rng.usize(..model.len());
                assert_eq!(t.remove_at(r), model.remove(r));
            }
            if round % 997 == 0 {
                check(&t, &model);
            }
        }
        check(&t, &model);
        for probe in [0, 1, 2500, 4999, 5000] {
            assert_eq!(
                t.count(|e| *e < probe),
                model.partition_point(|e| *e < probe)
            );
        }
        for r in [0, 1, model.len() / 2, model.len() - 1] {
            assert_eq!(t.get(r), Some(&model[r]));
        }
        assert_eq!(t.get(model.len()), None);
        let mut back = Vec::new();
        t.walk(3, true, |e| {
            back.push(*e);
            back.len() < 100
        });
        let want: Vec<u32> = model.iter().rev().skip(3).take(100).copied().collect();
        assert_eq!(back, want);
        while !model.is_empty() {
            let r = rng.usize(..model.len());
            assert_eq!(t.remove_at(r), model.remove(r));
        }
        check(&t, &model);
        assert_eq!((t.leaves, t.inners), (1, 0));
    }
}
