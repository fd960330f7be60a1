//! A stream: entries of field-value pairs ordered by id, as Redis's streams are, with
//! their consumer groups ([`super::stream_group`]).
//!
//! Entries live in packed nodes kept in a B-tree keyed by each node's *master id* (the
//! first id it ever held), as Redis keeps listpacks in a radix tree. A node holds at most
//! `stream-node-max-entries` entries (live and deleted) and grows up to
//! `stream-node-max-bytes`; then the next entry starts a new node. Inside a node an
//! entry is:
//!
//! ```text
//! flags (1 byte: DELETED, SAME_FIELDS) | ms - master.ms (varint) | seq (varint; minus
//! master.seq when ms equals master.ms) | values, when SAME_FIELDS (the node's master
//! fields, in order) | else: count (varint) and field, value pairs
//! ```
//!
//! each string as a varint length and its bytes, and the node's master fields at its
//! head. A stream of small events whose entries share their field names (the usual case)
//! so costs its values and about four bytes per entry. XDEL marks an entry deleted in
//! place (Redis's tombstones); a node whose entries are all deleted goes, so a stream
//! never holds more than one partly dead node per deletion run.
//!
//! The counters Redis 7 keeps for consumer-group lag are kept the same way:
//! `entries_added` (every XADD ever), `max_deleted` (the highest id XDEL removed) and the
//! first live id, with Redis's rules for when a group's read counter is exact.

use std::collections::BTreeMap;

use cairn_protocol::varint;

use crate::alloc::alloc_class;
use crate::types::stream_group::Group;
pub use crate::types::stream_id::StreamId;

/// How XADD and XTRIM trim: down to a length, or below an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// `stream-node-max-bytes` and `stream-node-max-entries` (0: no bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: usize,
}

impl Default for NodeLimits {
    fn default() -> NodeLimits {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

const DELETED: u8 = 1;
const SAME_FIELDS: u8 = 2;

/// A packed run of entries (see the module doc).
#[derive(Clone, Debug, Default)]
struct Node {
    /// Entries not deleted.
    live: u32,
    /// Entries marked deleted.
    deleted: u32,
    /// Bytes of the master-fields head of `data`.
    head: u32,
    /// The last id the node holds, live or not (appends check against the stream's).
    last: StreamId,
    data: Vec<u8>,
}

/// One decoded entry of a node: where it starts, its flags and id, and where its fields
/// start.
#[derive(Clone, Copy)]
struct Slot {
    at: usize,
    flags: u8,
    id: StreamId,
    body: usize,
}

fn read_varint(data: &[u8], at: &mut usize) -> u64 {
    let (n, used) = varint::decode(&data[*at..]).expect("a varint this node wrote");
    *at += used;
    n
}

fn read_str<'a>(data: &'a [u8], at: &mut usize) -> &'a [u8] {
    let len = read_varint(data, at) as usize;
    let s = &data[*at..*at + len];
    *at += len;
    s
}

fn push_str(out: &mut Vec<u8>, s: &[u8]) {
    varint::push(out, s.len() as u64);
    out.extend_from_slice(s);
}

impl Node {
    fn new(fields: &[&[u8]]) -> Node {
        let mut data = Vec::new();
        let n = fields.len() / 2;
        varint::push(&mut data, n as u64);
        for i in 0..n {
            push_str(&mut data, fields[2 * i]);
        }
        Node {
            head: data.len() as u32,
            data,
            ..Node::default()
        }
    }

    fn count(&self) -> usize {
        (self.live + self.deleted) as usize
    }

    /// The master field names.
    fn master_fields(&self) -> Vec<&[u8]> {
        let mut at = 0;
        let n = read_varint(&self.data, &mut at) as usize;
        (0..n).map(|_| read_str(&self.data, &mut at)).collect()
    }

    fn same_fields(&self, fields: &[&[u8]]) -> bool {
        let mut at = 0;
        let n = read_varint(&self.data, &mut at) as usize;
        n * 2 == fields.len() && (0..n).all(|i| read_str(&self.data, &mut at) == fields[2 * i])
    }

    /// Appends an entry (ids grow: `id` is past every id in the node).
    fn push(&mut self, master: StreamId, id: StreamId, fields: &[&[u8]]) {
        let same = self.same_fields(fields);
        let d = &mut self.data;
        d.push(if same { SAME_FIELDS } else { 0 });
        let ms = id.ms - master.ms;
        varint::push(d, ms);
        varint::push(d, if ms == 0 { id.seq - master.seq } else { id.seq });
        if same {
            for i in 0..fields.len() / 2 {
                push_str(d, fields[2 * i + 1]);
            }
        } else {
            varint::push(d, (fields.len() / 2) as u64);
            for f in fields {
                push_str(d, f);
            }
        }
        self.live += 1;
        self.last = id;
    }

    /// Every entry, deleted or not, in order.
    fn slots(&self, master: StreamId) -> Vec<Slot> {
        let mut out = Vec::with_capacity(self.count());
        let mut at = self.head as usize;
        let nmaster = {
            let mut h = 0;
            read_varint(&self.data, &mut h) as usize
        };
        while at < self.data.len() {
            let start = at;
            let flags = self.data[at];
            at += 1;
            let ms_delta = read_varint(&self.data, &mut at);
            let seq = read_varint(&self.data, &mut at);
            let id = if ms_delta == 0 {
                StreamId::new(master.ms, master.seq + seq)
            } else {
                StreamId::new(master.ms + ms_delta, seq)
            };
            let body = at;
            let strings = if flags & SAME_FIELDS != 0 {
                nmaster
            } else {
                2 * read_varint(&self.data, &mut at) as usize
            };
            for _ in 0..strings {
                read_str(&self.data, &mut at);
            }
            out.push(Slot {
                at: start,
                flags,
                id,
                body,
            });
        }
        out
    }

    /// The field-value pairs of the entry at `s`, flat, into `out`; `names` are the
    /// node's master fields (read once per node, not per entry).
    fn fields<'a>(&'a self, s: &Slot, names: &[&'a [u8]], out: &mut Vec<&'a [u8]>) {
        out.clear();
        let mut at = s.body;
        if s.flags & SAME_FIELDS != 0 {
            for &name in names {
                out.push(name);
                out.push(read_str(&self.data, &mut at));
            }
        } else {
            let n = read_varint(&self.data, &mut at) as usize;
            for _ in 0..2 * n {
                out.push(read_str(&self.data, &mut at));
            }
        }
    }

    fn heap(&self) -> usize {
        alloc_class(self.data.capacity())
    }
}

/// What one B-tree element costs beside its node's data (key, node, tree overhead).
const NODE_OVERHEAD: usize = 96;

/// A stream (see the module doc).
#[derive(Clone, Debug, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    len: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
    /// Node data and tree overhead, in allocator classes.
    heap: usize,
    pub(crate) groups: BTreeMap<Vec<u8>, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Live entries.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The greatest id ever added (or set by XSETID).
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// The first live entry's id (0-0 when empty).
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    /// The greatest id XDEL removed (0-0 if none).
    pub fn max_deleted(&self) -> StreamId {
        self.max_deleted
    }

    /// Entries ever added.
    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    /// Packed nodes (XINFO STREAM's radix-tree-keys and -nodes).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Heap bytes beyond the `Stream` itself, in O(groups).
    pub fn heap_bytes(&self) -> usize {
        self.heap + self.groups.values().map(Group::heap_bytes).sum::<usize>()
    }

    /// The id XADD `*` gives at wall time `ms`: `ms-0`, or the last id's successor when
    /// the clock is not past it; `None` when the last id is the greatest possible.
    pub fn auto_id(&self, ms: u64) -> Option<StreamId> {
        if ms > self.last_id.ms {
            Some(StreamId::new(ms, 0))
        } else {
            self.last_id.next()
        }
    }

    /// The id XADD `ms-*` gives: the next sequence at `ms`; `None` when `ms-*` cannot be
    /// past the last id.
    pub fn auto_seq(&self, ms: u64) -> Option<StreamId> {
        match ms.cmp(&self.last_id.ms) {
            std::cmp::Ordering::Greater => Some(StreamId::new(ms, 0)),
            std::cmp::Ordering::Equal => self
                .last_id
                .seq
                .checked_add(1)
                .map(|s| StreamId::new(ms, s)),
            std::cmp::Ordering::Less => None,
        }
    }

    /// Appends an entry: `id` must be past [`Stream::last_id`] (the caller checked), and
    /// `fields` flat field-value pairs (at least one pair).
    pub fn append(&mut self, id: StreamId, fields: &[&[u8]], lim: NodeLimits) {
        debug_assert!(id > self.last_id || (self.entries_added == 0 && self.len == 0));
        debug_assert!(!fields.is_empty() && fields.len().is_multiple_of(2));
        let size: usize = 1 + 20 + fields.iter().map(|f| f.len() + 2).sum::<usize>();
        let fits = self.nodes.last_key_value().is_some_and(|(_, n)| {
            (lim.max_bytes == 0 || n.data.len() + size < lim.max_bytes)
                && (lim.max_entries == 0 || n.count() < lim.max_entries)
        });
        if fits {
            let mut last = self.nodes.last_entry().expect("a last node");
            let master = *last.key();
            let node = last.get_mut();
            let before = node.heap();
            node.push(master, id, fields);
            self.heap = self.heap + node.heap() - before;
        } else {
            let mut node = Node::new(fields);
            node.push(id, id, fields);
            self.heap += node.heap() + NODE_OVERHEAD;
            self.nodes.insert(id, node);
        }
        if self.len == 0 {
            self.first_id = id;
        }
        self.len += 1;
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Live entries from `start` to `end` (inclusive), forwards or backwards, handed to
    /// `f` as `(id, flat field-value pairs)` until it returns `false` or `count` (0: no
    /// bound) were handed over. Returns how many were.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
        mut f: impl FnMut(StreamId, &[&[u8]]) -> bool,
    ) -> usize {
        if start > end {
            return 0;
        }
        let mut handed = 0;
        // The node holding `start` begins at or before it.
        let from = self
            .nodes
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(StreamId::MIN);
        let mut visit = |master: StreamId, node: &Node| -> bool {
            if node.live == 0 {
                return true;
            }
            let slots = node.slots(master);
            let names = node.master_fields();
            let mut fields: Vec<&[u8]> = Vec::new();
            let mut one = |s: &Slot| -> bool {
                if s.flags & DELETED != 0 || s.id < start || s.id > end {
                    return true;
                }
                node.fields(s, &names, &mut fields);
                let go = f(s.id, &fields);
                handed += 1;
                go && (count == 0 || handed < count)
            };
            if rev {
                slots.iter().rev().all(&mut one)
            } else {
                slots.iter().all(&mut one)
            }
        };
        if rev {
            for (&m, n) in self.nodes.range(from..=end).rev() {
                if !visit(m, n) {
                    break;
                }
            }
        } else {
            for (&m, n) in self.nodes.range(from..=end) {
                if !visit(m, n) {
                    break;
                }
            }
        }
        handed
    }

    /// The entry with id `id`, if it is live, as owned flat pairs.
    pub fn get(&self, id: StreamId) -> Option<Vec<Vec<u8>>> {
        let mut out = None;
        self.range(id, id, false, 1, |_, f| {
            out = Some(f.iter().map(|s| s.to_vec()).collect());
            false
        });
        out
    }

    /// Whether a live entry comes after `id` (a consumer group's `>` has something).
    pub fn has_after(&self, id: StreamId) -> bool {
        if self.len == 0 || self.last_id <= id {
            return false;
        }
        id.next()
            .is_some_and(|start| self.range(start, StreamId::MAX, false, 1, |_, _| false) == 1)
    }

    /// Whether the entry `id` is live.
    pub fn contains(&self, id: StreamId) -> bool {
        self.range(id, id, false, 1, |_, _| false) == 1
    }

    /// The first (or last, `rev`) live entry.
    pub fn edge(&self, rev: bool) -> Option<(StreamId, Vec<Vec<u8>>)> {
        let mut out = None;
        self.range(StreamId::MIN, StreamId::MAX, rev, 1, |id, f| {
            out = Some((id, f.iter().map(|s| s.to_vec()).collect()));
            false
        });
        out
    }

    fn refresh_first(&mut self) {
        self.first_id = self.edge(false).map(|(id, _)| id).unwrap_or(StreamId::MIN);
    }

    /// XDEL of one id: whether it was live. Records the greatest deleted id.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(s) = node
            .slots(master)
            .into_iter()
            .find(|s| s.id == id && s.flags & DELETED == 0)
        else {
            return false;
        };
        node.data[s.at] |= DELETED;
        node.live -= 1;
        node.deleted += 1;
        if node.live == 0 {
            let gone = node.heap() + NODE_OVERHEAD;
            self.nodes.remove(&master);
            self.heap -= gone;
        }
        self.len -= 1;
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        if id == self.first_id {
            self.refresh_first();
        }
        true
    }

    /// Trims from the oldest end as Redis's `streamTrim` does: whole nodes while they are
    /// all past the bound (at most `limit` entries when not 0), then, unless `approx`,
    /// entry by entry inside the next node. Returns the entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut removed = 0u64;
        while let Some((&master, node)) = self.nodes.first_key_value() {
            if let Trim::MaxLen(max) = how
                && self.len <= max
            {
                break;
            }
            let live = u64::from(node.live);
            let whole = match how {
                Trim::MaxLen(max) => self.len - live >= max,
                Trim::MinId(min) => node.last < min,
            };
            if whole {
                if limit != 0 && removed + live > limit {
                    break;
                }
                let node = self.nodes.remove(&master).expect("the first node");
                self.heap -= node.heap() + NODE_OVERHEAD;
                self.len -= live;
                removed += live;
                continue;
            }
            if approx {
                break;
            }
            let node = self.nodes.get_mut(&master).expect("the first node");
            for s in node.slots(master) {
                if s.flags & DELETED != 0 {
                    continue;
                }
                let go = match how {
                    Trim::MaxLen(max) => self.len > max,
                    Trim::MinId(min) => s.id < min,
                };
                if !go || (limit != 0 && removed >= limit) {
                    break;
                }
                node.data[s.at] |= DELETED;
                node.live -= 1;
                node.deleted += 1;
                self.len -= 1;
                removed += 1;
            }
            break;
        }
        if removed > 0 {
            self.refresh_first();
        }
        removed
    }

    /// XSETID: the last id, and optionally the entries-added counter and greatest deleted
    /// id (the caller checked them against the stream).
    pub fn set_id(
        &mut self,
        last: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) {
        self.last_id = last;
        if let Some(n) = entries_added {
            self.entries_added = n;
        }
        if let Some(id) = max_deleted {
            self.max_deleted = id;
        }
    }

    /// Restores the counters a loaded stream had (RDB, snapshots).
    pub fn set_counters(&mut self, last: StreamId, entries_added: u64, max_deleted: StreamId) {
        self.last_id = last;
        self.entries_added = entries_added;
        self.max_deleted = max_deleted;
    }

    /// Whether ids from `start` to `end` may hold a deleted entry (Redis's
    /// `streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.len == 0 || self.max_deleted.is_zero() || self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// How many entries were ever added up to `id` (its logical read counter), when that
    /// can be known (Redis's `streamEstimateDistanceFromFirstEverEntry`); `None` otherwise.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.len == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return Some(self.entries_added - self.len),
                std::cmp::Ordering::Equal => return Some(self.entries_added - self.len + 1),
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// A group's lag: entries added and not yet delivered to it, when known. Negative
    /// when a group was told (ENTRIESREAD) it read more than was ever added, as in Redis.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let lag = |read: u64| self.entries_added as i64 - read as i64;
        if let Some(read) = g.entries_read
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(lag(read));
        }
        self.estimate_distance(g.last_id).map(lag)
    }

    /// Moves a group's last-delivered id forward to `id` as it reads, keeping its read
    /// counter exact when it can be (Redis's rule in `streamReplyWithRange`).
    pub fn advance_group(&mut self, name: &[u8], id: StreamId) {
        let tomb = self.range_has_tombstones(id, StreamId::MAX);
        let estimate = self.estimate_distance(id);
        let added = self.entries_added;
        let Some(g) = self.groups.get_mut(name) else {
            return;
        };
        if id <= g.last_id {
            return;
        }
        match g.entries_read {
            Some(n) if !tomb => g.entries_read = Some(n + 1),
            _ if added != 0 => g.entries_read = estimate,
            _ => {}
        }
        g.last_id = id;
    }

    /// The consumer groups, by name in byte order.
    pub fn groups(&self) -> impl Iterator<Item = (&[u8], &Group)> {
        self.groups.iter().map(|(k, g)| (k.as_slice(), g))
    }

    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.get(name)
    }

    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.groups.get_mut(name)
    }

    /// XGROUP CREATE: `false` when the name is taken.
    pub fn create_group(&mut self, name: &[u8], last: StreamId, entries_read: Option<u64>) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.groups
            .insert(name.to_vec(), Group::new(name, last, entries_read));
        true
    }

    /// XGROUP DESTROY: whether there was such a group.
    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        self.groups.remove(name).is_some()
    }

    /// Node shapes, for tests and DEBUG: `(master id, live, deleted)`.
    pub fn node_shapes(&self) -> Vec<(StreamId, u32, u32)> {
        self.nodes
            .iter()
            .map(|(k, n)| (*k, n.live, n.deleted))
            .collect()
    }
}

impl PartialEq for Stream {
    /// The same entries, counters and groups, whatever the node boundaries.
    fn eq(&self, other: &Stream) -> bool {
        if self.len != other.len
            || self.last_id != other.last_id
            || self.entries_added != other.entries_added
            || self.max_deleted != other.max_deleted
            || self.groups != other.groups
        {
            return false;
        }
        let mut mine = Vec::new();
        self.range(StreamId::MIN, StreamId::MAX, false, 0, |id, f| {
            mine.push((id, f.iter().map(|s| s.to_vec()).collect::<Vec<_>>()));
            true
        });
        let mut i = 0;
        let mut same = true;
        other.range(StreamId::MIN, StreamId::MAX, false, 0, |id, f| {
            same = mine.get(i).is_some_and(|(mid, mf)| {
                *mid == id && mf.iter().map(Vec::as_slice).eq(f.iter().copied())
            });
            i += 1;
            same
        });
        same && i == mine.len()
    }
}

impl Eq for Stream {}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    fn ids(s: &Stream, rev: bool) -> Vec<StreamId> {
        let mut out = Vec::new();
        s.range(StreamId::MIN, StreamId::MAX, rev, 0, |id, _| {
            out.push(id);
            true
        });
        out
    }

    fn filled(n: u64, lim: NodeLimits) -> Stream {
        let mut s = Stream::new();
        for i in 1..=n {
            let v = i.to_string();
            s.append(id(i, 0), &[b"f", v.as_bytes()], lim);
        }
        s
    }

    #[test]
    fn entries_read_back_with_shared_and_own_fields() {
        let lim = NodeLimits::default();
        let mut s = Stream::new();
        s.append(id(1, 0), &[b"a", b"1", b"b", b"2"], lim);
        s.append(id(1, 1), &[b"a", b"3", b"b", b"4"], lim);
        s.append(id(5, 0), &[b"x", b"y"], lim);
        s.append(id(5, 7), &[b"a", b"", b"b", b"long value"], lim);
        assert_eq!(s.len(), 4);
        assert_eq!(s.node_count(), 1);
        assert_eq!(s.get(id(5, 0)).unwrap(), vec![b"x".to_vec(), b"y".to_vec()]);
        assert_eq!(
            s.get(id(5, 7)).unwrap(),
            vec![
                b"a".to_vec(),
                b"".to_vec(),
                b"b".to_vec(),
                b"long value".to_vec()
            ]
        );
        assert_eq!(ids(&s, true), vec![id(5, 7), id(5, 0), id(1, 1), id(1, 0)]);
        let mut got = Vec::new();
        s.range(id(1, 1), id(5, 0), false, 0, |i, _| {
            got.push(i);
            true
        });
        assert_eq!(got, vec![id(1, 1), id(5, 0)]);
    }

    #[test]
    fn nodes_split_at_the_entry_bound_and_approximate_trims_keep_whole_nodes() {
        let lim = NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        };
        let mut s = filled(1000, lim);
        assert_eq!(s.node_count(), 10);
        // Redis's test: MAXLEN ~ 555 over 100-entry nodes leaves 600.
        assert_eq!(s.trim(Trim::MaxLen(555), true, 0), 400);
        assert_eq!(s.len(), 600);
        assert_eq!(s.first_id(), id(401, 0));
        assert_eq!(s.trim(Trim::MaxLen(555), false, 0), 45);
        assert_eq!(s.len(), 555);
        assert_eq!(ids(&s, false)[0], id(446, 0));
        assert_eq!(s.trim(Trim::MinId(id(700, 0)), false, 0), 254);
        assert_eq!(s.first_id(), id(700, 0));
        // LIMIT bounds an approximate trim to whole nodes within it.
        let mut t = filled(1000, lim);
        assert_eq!(t.trim(Trim::MaxLen(0), true, 250), 200);
    }

    #[test]
    fn deletes_leave_tombstones_and_empty_nodes_go() {
        let lim = NodeLimits {
            max_bytes: 0,
            max_entries: 2,
        };
        let mut s = filled(5, lim);
        assert_eq!(s.node_count(), 3);
        assert!(s.delete(id(1, 0)));
        assert!(!s.delete(id(1, 0)));
        assert_eq!(s.first_id(), id(2, 0));
        assert!(s.delete(id(2, 0)));
        assert_eq!(s.node_count(), 2);
        assert_eq!(s.max_deleted(), id(2, 0));
        assert!(s.delete(id(4, 0)));
        assert_eq!(ids(&s, false), vec![id(3, 0), id(5, 0)]);
        assert_eq!(s.len(), 2);
        assert!(s.range_has_tombstones(id(3, 0), StreamId::MAX));
        assert_eq!(s.estimate_distance(id(3, 0)), None);
        assert_eq!(s.estimate_distance(id(5, 0)), Some(5));
    }

    #[test]
    fn memory_grows_and_shrinks_with_the_entries() {
        let lim = NodeLimits::default();
        let mut s = filled(10_000, lim);
        let full = s.heap_bytes();
        // A few bytes of id and flags per entry beside its value.
        assert!(full < 10_000 * 16, "{full}");
        s.trim(Trim::MaxLen(0), false, 0);
        assert_eq!(s.heap_bytes(), 0);
        assert!(s.is_empty());
    }

    #[test]
    fn ids_step_and_auto_ids_follow_the_clock_and_the_last_id() {
        assert_eq!(id(1, u64::MAX).next(), Some(id(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(id(2, 0).prev(), Some(id(1, u64::MAX)));
        let mut s = Stream::new();
        s.append(id(10, 5), &[b"f", b"v"], NodeLimits::default());
        assert_eq!(s.auto_id(9), Some(id(10, 6)));
        assert_eq!(s.auto_id(11), Some(id(11, 0)));
        assert_eq!(s.auto_seq(10), Some(id(10, 6)));
        assert_eq!(s.auto_seq(9), None);
        assert_eq!(id(10, 6).to_string(), "10-6");
    }
}
