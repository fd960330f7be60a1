//! One key and what it holds, in one allocation.
//!
//! Per-key overhead is a product figure (issue 3: at most 84 bytes per key for 16-byte keys
//! and 32-byte values, against Redis's ~140). A fat entry (key, value enum, deadline and
//! access bits side by side, 72 bytes) in a power-of-two hash table pays for every empty
//! bucket in whole entries. So the table holds one 8-byte pointer per key, and the pointer
//! leads to a single block holding everything else:
//!
//! ```text
//! +-------+------+------+-------+-----------+----------------+-------------+-----+-----------------+
//! | flags | freq | bits | mc    | clock u32 | deadline u48   | cas u64,    | key | value           |
//! |  u8   |  u8  |  u8  |  u8   |    LE     | LE, if TTL set | flags u32,  | len | int, ptr or len |
//! |       |      |      |       |           |                | if memcached| +   | + bytes         |
//! +-------+------+------+-------+-----------+----------------+-------------+-----+-----------------+
//!  0       1      2      3       4           8                               varint lengths (LEB128)
//! ```
//!
//! The memcached fields (issue 5) cost nothing for a key that has none: the 12 bytes of
//! CAS unique and client flags are present only when one of them is non-zero (the `mc`
//! byte says so), and the `mc` byte's other bits hold the lease state of memcached's meta
//! protocol (stale, win token sent) and whether the key was read since it was written.
//!
//! `key:%012d` with a 32-byte value is 8 + 1 + 16 + 1 + 32 = 58 bytes (jemalloc's 64-byte
//! class), and a deadline still fits in 64. The value is one of three kinds: an integer
//! (8 bytes, Redis's `int` encoding), bytes stored in the block (`embstr`), or a pointer to
//! a separately allocated `Vec` (`raw`) for strings changed in place (APPEND, SETRANGE,
//! SETBIT), so that growing a string never copies the key and repeated appends stay
//! amortised O(1).
//!
//! This file is the only place in Cairn that touches raw memory; everything outside it sees
//! a safe API.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::ptr::NonNull;

use cairn_protocol::varint;

use crate::alloc::alloc_class;
use crate::object::Object;
use crate::value::{Value, ValueRef};

/// New keys start with this LFU counter, as in Redis (LFU_INIT_VAL), so a fresh key is not
/// the first thing evicted.
pub const LFU_INIT: u8 = 5;

const HEADER: usize = 8;
/// Deadlines are Unix milliseconds; below 2^48 (the year 10889) they take 6 bytes, which is
/// what keeps a key with a TTL in the same 64-byte class as one without.
const DEADLINE_SHORT: usize = 6;
const DEADLINE_WIDE: usize = 8;

const FLAG_TTL: u8 = 0x01;
const FLAG_WIDE_TTL: u8 = 0x08;
const KIND_MASK: u8 = 0x06;
const KIND_STR: u8 = 0x00;
const KIND_INT: u8 = 0x02;
const KIND_RAW: u8 = 0x04;
/// A collection: the value is a pointer to a boxed [`Object`].
const KIND_OBJ: u8 = 0x06;

const OFF_FLAGS: usize = 0;
const OFF_FREQ: usize = 1;
const OFF_BITS: usize = 2;
const OFF_MC: usize = 3;
const OFF_CLOCK: usize = 4;

/// The memcached fields' 12 bytes follow the deadline.
const MC_EXTRA: u8 = 0x01;
const MC_FIELDS: usize = 12;

/// Memcached's per-item fields and lease state, as the meta protocol and RESP leases see
/// them (see `crate::lease`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mc {
    /// The CAS unique; 0 until a client asks for it (assigned lazily, see
    /// [`crate::Keyspace::next_cas`]), and back to 0 at every change of the value.
    pub cas: u64,
    /// Memcached's opaque 32-bit client flags; 0 for a value written over RESP.
    pub flags: u32,
    /// [`Mc::STALE`], [`Mc::WON`], [`Mc::FETCHED`], [`Mc::BINARY_KEY`].
    pub state: u8,
}

impl Mc {
    /// Marked stale by an invalidation (meta `md I`, `LEASE INVALIDATE`): still served,
    /// flagged X, and the next reader is asked to refill it.
    pub const STALE: u8 = 0x02;
    /// A win (lease) token was handed out: the other readers are told someone refills.
    pub const WON: u8 = 0x04;
    /// Read at least once since it was written (meta `h`).
    pub const FETCHED: u8 = 0x08;
    /// Stored by a meta client that sent the key base64-encoded (`b`): replies echo it
    /// encoded again.
    pub const BINARY_KEY: u8 = 0x10;
    const STATE_MASK: u8 = Mc::STALE | Mc::WON | Mc::FETCHED | Mc::BINARY_KEY;

    fn stored(&self) -> bool {
        self.cas != 0 || self.flags != 0
    }
}

/// What a new entry's value is made from.
#[derive(Debug)]
pub(crate) enum Src<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    Raw(Vec<u8>),
    Obj(Box<Object>),
}

impl Src<'_> {
    fn kind(&self) -> u8 {
        match self {
            Src::Int(_) => KIND_INT,
            Src::Bytes(_) => KIND_STR,
            Src::Raw(_) => KIND_RAW,
            Src::Obj(_) => KIND_OBJ,
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            Src::Int(_) | Src::Raw(_) | Src::Obj(_) => 8,
            Src::Bytes(b) => varint_len(b.len()) + b.len(),
        }
    }
}

/// Hands `f` what a block is built from: a plain string is borrowed and copied into the
/// block once; a raw one moves its buffer in.
pub(crate) fn with_src<R>(value: Value, f: impl FnOnce(Src<'_>) -> R) -> R {
    match value {
        Value::Int(i) => f(Src::Int(i)),
        Value::Str(s) => f(Src::Bytes(&s)),
        Value::Raw(s) => f(Src::Raw(s)),
        Value::Obj(o) => f(Src::Obj(o)),
    }
}

/// Access metadata carried from one entry to another (RENAME, RESTORE).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub clock: u32,
    pub freq: u8,
    pub bits: u8,
}

/// A key with its value, deadline and access metadata: an owning pointer to one block.
///
/// The pointer's top byte is free (user-space addresses on x86-64 and AArch64 fit in 48
/// bits), and the slot table keeps a byte of the key's hash there, so a probe can skip a
/// bucket without reading its block. Every access to the block goes through
/// [`Entry::base`], which clears that byte.
pub struct Entry {
    ptr: NonNull<u8>,
}

const TAG_SHIFT: u32 = 56;
const ADDR_MASK: usize = (1 << TAG_SHIFT) - 1;

// SAFETY: an Entry owns its block (and the `Vec` a raw value points to) exclusively, like a
// `Box`; nothing in it is shared or thread-bound.
unsafe impl Send for Entry {}
// SAFETY: `&Entry` only reads the block.
unsafe impl Sync for Entry {}

fn varint_len(n: usize) -> usize {
    varint::len(n as u64)
}

/// Reads a length from the front of `b`; returns (value, bytes read).
fn read_varint(b: &[u8]) -> (usize, usize) {
    let (v, n) = varint::decode(b).expect("blocks are written with complete varints");
    (v as usize, n)
}

fn deadline_width(deadline: u64) -> usize {
    match deadline {
        0 => 0,
        d if d < 1 << 48 => DEADLINE_SHORT,
        _ => DEADLINE_WIDE,
    }
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("entry sizes are far below isize::MAX")
}

/// Where the parts of a block are.
#[derive(Clone, Copy)]
struct Shape {
    key: usize,
    key_len: usize,
    /// Start of the value's encoding (the varint length for strings).
    value: usize,
    size: usize,
}

/// Writes a block byte by byte. Only used on a freshly allocated block of exactly the
/// size computed for its contents.
struct Writer {
    p: *mut u8,
    at: usize,
    size: usize,
}

impl Writer {
    fn put(&mut self, bytes: &[u8]) {
        assert!(self.at + bytes.len() <= self.size, "entry block overflow");
        // SAFETY: the assert keeps the copy inside the allocation; source and destination
        // cannot overlap (the block is new).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.p.add(self.at), bytes.len());
        }
        self.at += bytes.len();
    }

    fn varint(&mut self, n: usize) {
        let mut buf = [0u8; varint::MAX_LEN];
        let len = varint::encode(n as u64, &mut buf);
        self.put(&buf[..len]);
    }
}

impl Entry {
    /// Builds a block. `deadline` is absolute Unix milliseconds, 0 for none.
    pub(crate) fn build(key: &[u8], value: Src<'_>, deadline: u64, meta: Meta) -> Entry {
        Entry::build_mc(key, value, deadline, meta, Mc::default())
    }

    /// [`Entry::build`] with memcached's fields.
    pub(crate) fn build_mc(key: &[u8], value: Src<'_>, deadline: u64, meta: Meta, mc: Mc) -> Entry {
        let ttl = deadline != 0;
        let width = deadline_width(deadline);
        let extra = if mc.stored() { MC_FIELDS } else { 0 };
        let size = HEADER + width + extra + varint_len(key.len()) + key.len() + value.encoded_len();
        let flags = value.kind()
            | match width {
                0 => 0,
                DEADLINE_SHORT => FLAG_TTL,
                _ => FLAG_TTL | FLAG_WIDE_TTL,
            };
        // SAFETY: the layout has a non-zero size (at least the header).
        let p = unsafe { alloc(layout(size)) };
        let Some(ptr) = NonNull::new(p) else {
            handle_alloc_error(layout(size))
        };
        assert!(
            ptr.addr().get() & !ADDR_MASK == 0,
            "allocator returned an address above 2^56"
        );
        let mut w = Writer { p, at: 0, size };
        let mc_byte = (mc.state & Mc::STATE_MASK) | if extra != 0 { MC_EXTRA } else { 0 };
        w.put(&[flags, meta.freq, meta.bits, mc_byte]);
        w.put(&meta.clock.to_le_bytes());
        if ttl {
            w.put(&deadline.to_le_bytes()[..width]);
        }
        if extra != 0 {
            w.put(&mc.cas.to_le_bytes());
            w.put(&mc.flags.to_le_bytes());
        }
        w.varint(key.len());
        w.put(key);
        match value {
            Src::Int(i) => w.put(&i.to_le_bytes()),
            Src::Bytes(b) => {
                w.varint(b.len());
                w.put(b);
            }
            Src::Raw(v) => {
                let boxed = Box::into_raw(Box::new(v)) as usize;
                w.put(&boxed.to_le_bytes());
            }
            Src::Obj(o) => {
                let boxed = Box::into_raw(o) as usize;
                w.put(&boxed.to_le_bytes());
            }
        }
        assert_eq!(w.at, size, "entry block fully written");
        Entry { ptr }
    }

    /// A new key: LRU clock now, LFU counter at its initial value.
    pub(crate) fn new(key: &[u8], value: Src<'_>, deadline: u64, now_s: u32) -> Entry {
        let meta = Meta {
            clock: now_s,
            freq: LFU_INIT,
            bits: 0,
        };
        Entry::build(key, value, deadline, meta)
    }

    /// The block's address, without the tag.
    fn base(&self) -> *mut u8 {
        self.ptr.as_ptr().map_addr(|a| a & ADDR_MASK)
    }

    /// The block's address as a number: which entry this is, for a caller that must tell
    /// later whether a table bucket still holds the same one.
    pub(crate) fn identity(&self) -> usize {
        self.base().addr()
    }

    /// Asks the CPU to start loading the block's header, for a caller about to read many
    /// blocks it found at random (eviction sampling), so their cache misses overlap.
    #[inline]
    pub(crate) fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: SSE is part of x86_64's baseline, and a prefetch is a hint that
            // neither reads into the program nor faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(self.base().cast_const().cast()) };
        }
    }

    /// The hash byte the slot table stored with this entry.
    pub(crate) fn tag(&self) -> u8 {
        (self.ptr.addr().get() >> TAG_SHIFT) as u8
    }

    pub(crate) fn set_tag(&mut self, tag: u8) {
        self.ptr = self.ptr.map_addr(|a| {
            let tagged = (a.get() & ADDR_MASK) | ((tag as usize) << TAG_SHIFT);
            std::num::NonZeroUsize::new(tagged).expect("block addresses are not zero")
        });
    }

    /// Puts `new` in this entry's place (a rebuilt block), keeping the table's tag.
    pub(crate) fn replace(&mut self, mut new: Entry) {
        new.set_tag(self.tag());
        *self = new;
    }

    fn flags(&self) -> u8 {
        // SAFETY: every block starts with an initialised header.
        unsafe { *self.base().add(OFF_FLAGS) }
    }

    fn kind(&self) -> u8 {
        self.flags() & KIND_MASK
    }

    fn shape(&self) -> Shape {
        let p = self.base();
        let key_at = HEADER + self.width() + self.extra_len();
        // A varint is at most 10 bytes and a block always has the key's length and the
        // value after `key_at`, so reading lengths byte by byte stays inside the block.
        let read = |at: usize| {
            // SAFETY: see above; the reader stops at the varint's last byte.
            let (v, n) = varint::read(|i| Some(unsafe { *p.add(at + i) }))
                .expect("blocks are written with complete varints");
            (v as usize, n)
        };
        let (key_len, n) = read(key_at);
        let key = key_at + n;
        let value = key + key_len;
        let size = value
            + match self.kind() {
                KIND_STR => {
                    let (len, n) = read(value);
                    n + len
                }
                _ => 8,
            };
        Shape {
            key,
            key_len,
            value,
            size,
        }
    }

    /// The whole block.
    fn block(&self) -> (&[u8], Shape) {
        let shape = self.shape();
        // SAFETY: the block is `shape.size` initialised bytes owned by `self`.
        let b = unsafe { std::slice::from_raw_parts(self.base(), shape.size) };
        (b, shape)
    }

    fn header_mut(&mut self) -> &mut [u8; HEADER] {
        // SAFETY: every block starts with HEADER initialised bytes, and `&mut self` is
        // exclusive access to them.
        unsafe { &mut *(self.base() as *mut [u8; HEADER]) }
    }

    fn header(&self) -> &[u8; HEADER] {
        // SAFETY: as in `header_mut`, shared.
        unsafe { &*(self.base() as *const [u8; HEADER]) }
    }

    fn raw_ptr(&self, shape: Shape) -> *mut Vec<u8> {
        let (b, _) = self.block();
        let bits = usize::from_le_bytes(b[shape.value..shape.value + 8].try_into().unwrap());
        bits as *mut Vec<u8>
    }

    fn obj_ptr(&self, shape: Shape) -> *mut Object {
        let (b, _) = self.block();
        let bits = usize::from_le_bytes(b[shape.value..shape.value + 8].try_into().unwrap());
        bits as *mut Object
    }

    /// Whether the key holds a string (as opposed to a collection).
    pub fn is_string(&self) -> bool {
        self.kind() != KIND_OBJ
    }

    /// The collection this key holds, if it holds one.
    pub fn object(&self) -> Option<&Object> {
        // SAFETY: an object block holds a pointer from `Box::into_raw`, owned by this
        // entry and alive as long as it is; `&self` keeps it unchanged.
        (self.kind() == KIND_OBJ).then(|| unsafe { &*self.obj_ptr(self.shape()) })
    }

    /// The collection this key holds, to change it. The caller's guard (`EntryMut`)
    /// brings the byte counts up to date when it drops.
    pub fn object_mut(&mut self) -> Option<&mut Object> {
        // SAFETY: as in `object`; `&mut self` makes this the only access.
        (self.kind() == KIND_OBJ).then(|| unsafe { &mut *self.obj_ptr(self.shape()) })
    }

    /// Takes the object's box out of the block, which is left holding the integer 0 (so
    /// dropping the block frees nothing more).
    fn steal_obj(&mut self) -> Box<Object> {
        let s = self.shape();
        // SAFETY: the pointer came from `Box::into_raw`; the block stops owning it below,
        // before anything else can read it.
        let obj = unsafe { Box::from_raw(self.obj_ptr(s)) };
        let at = s.value;
        // SAFETY: an object's encoding is the block's last 8 bytes.
        let tail = unsafe { std::slice::from_raw_parts_mut(self.base().add(at), 8) };
        tail.copy_from_slice(&0i64.to_le_bytes());
        let h = self.header_mut();
        h[OFF_FLAGS] = (h[OFF_FLAGS] & !KIND_MASK) | KIND_INT;
        obj
    }

    pub fn key(&self) -> &[u8] {
        let (b, s) = self.block();
        &b[s.key..s.key + s.key_len]
    }

    pub fn value(&self) -> ValueRef<'_> {
        let (b, s) = self.block();
        match self.kind() {
            KIND_INT => ValueRef::Int(i64::from_le_bytes(
                b[s.value..s.value + 8].try_into().unwrap(),
            )),
            KIND_RAW => {
                // SAFETY: a raw block holds a pointer from `Box::into_raw`, owned by this
                // entry and alive as long as it is; `&self` keeps it unchanged.
                ValueRef::Raw(unsafe { &*self.raw_ptr(s) }.as_slice())
            }
            // SAFETY: as for a raw block.
            KIND_OBJ => ValueRef::Obj(unsafe { &*self.obj_ptr(s) }),
            _ => {
                let (len, n) = read_varint(&b[s.value..]);
                ValueRef::Str(&b[s.value + n..s.value + n + len])
            }
        }
    }

    /// Absolute expiry in Unix milliseconds, if the key has a TTL.
    pub fn expire_at(&self) -> Option<u64> {
        let width = self.width();
        if width == 0 {
            return None;
        }
        let (b, _) = self.block();
        let mut le = [0u8; 8];
        le[..width].copy_from_slice(&b[HEADER..HEADER + width]);
        Some(u64::from_le_bytes(le))
    }

    /// Bytes the deadline takes in this block.
    fn width(&self) -> usize {
        match self.flags() & (FLAG_TTL | FLAG_WIDE_TTL) {
            0 => 0,
            FLAG_TTL => DEADLINE_SHORT,
            _ => DEADLINE_WIDE,
        }
    }

    pub(crate) fn deadline(&self) -> u64 {
        self.expire_at().unwrap_or(0)
    }

    pub fn has_ttl(&self) -> bool {
        self.flags() & FLAG_TTL != 0
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at().is_some_and(|t| t <= now_ms)
    }

    pub fn meta(&self) -> Meta {
        let h = self.header();
        Meta {
            clock: u32::from_le_bytes(h[OFF_CLOCK..OFF_CLOCK + 4].try_into().unwrap()),
            freq: h[OFF_FREQ],
            bits: h[OFF_BITS],
        }
    }

    /// The policy byte (TinyLFU keeps the key's packed sketch estimate there).
    pub(crate) fn set_bits(&mut self, bits: u8) {
        self.header_mut()[OFF_BITS] = bits;
    }

    pub(crate) fn set_meta(&mut self, meta: Meta) {
        let h = self.header_mut();
        h[OFF_FREQ] = meta.freq;
        h[OFF_BITS] = meta.bits;
        h[OFF_CLOCK..OFF_CLOCK + 4].copy_from_slice(&meta.clock.to_le_bytes());
    }

    /// Seconds since the key was last read or written.
    pub fn idle_seconds(&self, now_s: u32) -> u32 {
        now_s.wrapping_sub(self.meta().clock)
    }

    /// The stored LFU counter, before decay.
    pub fn freq(&self) -> u8 {
        self.meta().freq
    }

    /// The LFU counter as Redis reports it (OBJECT FREQ): decremented by one for every
    /// `decay_minutes` the key went unused.
    pub fn freq_decayed(&self, now_s: u32, decay_minutes: u32) -> u8 {
        let meta = self.meta();
        if decay_minutes == 0 {
            return meta.freq;
        }
        let periods = now_s.wrapping_sub(meta.clock) / 60 / decay_minutes;
        meta.freq.saturating_sub(periods.min(255) as u8)
    }

    /// Records an access: the LRU clock, and Redis's LFU update (decay for the time unused,
    /// then a logarithmic increment: with `log_factor` 10 the counter reaches 255 after
    /// about a million hits).
    pub(crate) fn touch(&mut self, now_s: u32, lfu: Lfu) {
        let mut freq = self.freq_decayed(now_s, lfu.decay_minutes);
        if freq < 255 {
            let base = freq.saturating_sub(LFU_INIT) as f64;
            let p = 1.0 / (base * lfu.log_factor as f64 + 1.0);
            if fastrand::f64() < p {
                freq += 1;
            }
        }
        let bits = self.meta().bits;
        self.set_meta(Meta {
            clock: now_s,
            freq,
            bits,
        });
    }

    /// Bytes this key costs: its block rounded up to the allocator's size class, plus a
    /// raw value's own allocation.
    pub fn mem_usage(&self) -> usize {
        let s = self.shape();
        let mut total = alloc_class(s.size);
        if self.kind() == KIND_RAW {
            // SAFETY: see `value`.
            let v = unsafe { &*self.raw_ptr(s) };
            total += alloc_class(std::mem::size_of::<Vec<u8>>()) + alloc_class(v.capacity());
        } else if self.kind() == KIND_OBJ {
            // SAFETY: see `value`.
            let o = unsafe { &*self.obj_ptr(s) };
            total += alloc_class(std::mem::size_of::<Object>()) + o.heap_bytes();
        }
        total
    }

    /// Heap bytes of the value alone (lazy-free decisions).
    pub fn value_heap_size(&self) -> usize {
        match self.kind() {
            // SAFETY: see `value`.
            KIND_RAW => unsafe { &*self.raw_ptr(self.shape()) }.capacity(),
            KIND_STR => self.value().len(),
            // SAFETY: see `value`.
            KIND_OBJ => unsafe { &*self.obj_ptr(self.shape()) }.heap_bytes(),
            _ => 0,
        }
    }

    /// Replaces the value, keeping the key, TTL and access metadata. Rewrites the block in
    /// place when the new value has the same kind and size (an overwrite with a value of
    /// the same length allocates nothing).
    ///
    /// A value written this way is a plain string to memcached: client flags 0, a new CAS,
    /// no lease state (memcached's storage commands set their flags afterwards with
    /// [`Entry::set_mc`]).
    pub(crate) fn set_src(&mut self, value: Src<'_>) {
        let s = self.shape();
        let same_size = self.extra_len() == 0
            && value.kind() == self.kind()
            && value.kind() != KIND_RAW
            && value.kind() != KIND_OBJ
            && s.value + value.encoded_len() == s.size;
        if same_size {
            let at = s.value;
            // SAFETY: same size as the current value's encoding, which ends the block.
            let tail = unsafe { std::slice::from_raw_parts_mut(self.base().add(at), s.size - at) };
            match value {
                Src::Int(i) => tail.copy_from_slice(&i.to_le_bytes()),
                Src::Bytes(b) => {
                    let n = tail.len() - b.len();
                    tail[n..].copy_from_slice(b);
                }
                Src::Raw(_) | Src::Obj(_) => {
                    unreachable!("boxed values are never rewritten in place")
                }
            }
            self.header_mut()[OFF_MC] = 0;
            return;
        }
        let rebuilt = Entry::build(self.key(), value, self.deadline(), self.meta());
        self.replace(rebuilt);
    }

    pub fn set_value(&mut self, value: Value) {
        with_src(value, |src| self.set_src(src))
    }

    /// Sets or clears the deadline (rebuilds the block when one appears or goes away).
    pub(crate) fn set_deadline(&mut self, deadline: u64) {
        if self.width() != deadline_width(deadline) {
            let key = self.key().to_vec();
            let rebuilt = self.rebuild_with(&key, deadline);
            self.replace(rebuilt);
        } else if deadline != 0 {
            let width = self.width();
            // SAFETY: a block with a deadline has `width` bytes of it at HEADER.
            let d = unsafe { std::slice::from_raw_parts_mut(self.base().add(HEADER), width) };
            d.copy_from_slice(&deadline.to_le_bytes()[..width]);
        }
    }

    /// A block with another key and/or deadline and the same value and metadata; a raw
    /// value's `Vec` moves to the new block.
    fn rebuild_with(&mut self, key: &[u8], deadline: u64) -> Entry {
        self.rebuild_mc(key, deadline, self.mc())
    }

    /// A block with another key, deadline and/or memcached fields and the same value and
    /// access metadata; a raw value's `Vec` moves to the new block.
    fn rebuild_mc(&mut self, key: &[u8], deadline: u64, mc: Mc) -> Entry {
        let meta = self.meta();
        let src = match self.value() {
            ValueRef::Int(i) => Src::Int(i),
            ValueRef::Str(b) => {
                return Entry::build_mc(key, Src::Bytes(b), deadline, meta, mc);
            }
            ValueRef::Raw(_) => Src::Raw(self.take_raw()),
            ValueRef::Obj(_) => Src::Obj(self.steal_obj()),
        };
        Entry::build_mc(key, src, deadline, meta, mc)
    }

    fn extra_len(&self) -> usize {
        if self.header()[OFF_MC] & MC_EXTRA != 0 {
            MC_FIELDS
        } else {
            0
        }
    }

    /// Memcached's fields of this key (all zero for a key written over RESP).
    pub fn mc(&self) -> Mc {
        let state = self.header()[OFF_MC] & Mc::STATE_MASK;
        if self.extra_len() == 0 {
            return Mc {
                state,
                ..Mc::default()
            };
        }
        let at = HEADER + self.width();
        // SAFETY: a block flagged MC_EXTRA has MC_FIELDS initialised bytes after its
        // deadline.
        let f = unsafe { std::slice::from_raw_parts(self.base().add(at), MC_FIELDS) };
        Mc {
            cas: u64::from_le_bytes(f[..8].try_into().unwrap()),
            flags: u32::from_le_bytes(f[8..].try_into().unwrap()),
            state,
        }
    }

    /// Sets memcached's fields, in place when the block keeps its shape (the state bits,
    /// or CAS and flags of a key that already stores them), otherwise by rebuilding it.
    pub fn set_mc(&mut self, mc: Mc) {
        let has = self.extra_len() != 0;
        if has == mc.stored() {
            let mc_byte = (mc.state & Mc::STATE_MASK) | if has { MC_EXTRA } else { 0 };
            self.header_mut()[OFF_MC] = mc_byte;
            if has {
                let at = HEADER + self.width();
                // SAFETY: as in `mc`; `&mut self` is exclusive access.
                let f = unsafe { std::slice::from_raw_parts_mut(self.base().add(at), MC_FIELDS) };
                f[..8].copy_from_slice(&mc.cas.to_le_bytes());
                f[8..].copy_from_slice(&mc.flags.to_le_bytes());
            }
            return;
        }
        let key = self.key().to_vec();
        let deadline = self.deadline();
        let rebuilt = self.rebuild_mc(&key, deadline, mc);
        self.replace(rebuilt);
    }

    /// A new entry with client flags, for tests.
    #[cfg(test)]
    pub(crate) fn with_mc(
        key: &[u8],
        value: &[u8],
        deadline: u64,
        now_s: u32,
        flags: u32,
    ) -> Entry {
        let meta = Meta {
            clock: now_s,
            freq: LFU_INIT,
            bits: 0,
        };
        let src = match crate::value::parse_canonical_i64(value) {
            Some(i) => Src::Int(i),
            None => Src::Bytes(value),
        };
        let mc = Mc {
            flags,
            ..Mc::default()
        };
        Entry::build_mc(key, src, deadline, meta, mc)
    }

    /// Records a read for memcached's `h` flag (one byte in the header's cache line,
    /// which the read touches anyway).
    #[inline]
    pub fn mark_fetched(&mut self) {
        let h = self.header_mut();
        h[OFF_MC] |= Mc::FETCHED;
    }

    /// Moves a raw value's `Vec` out, leaving an empty one behind.
    fn take_raw(&mut self) -> Vec<u8> {
        let s = self.shape();
        // SAFETY: see `value`; `&mut self` makes this the only access.
        std::mem::take(unsafe { &mut *self.raw_ptr(s) })
    }

    /// The string's bytes for an in-place change (APPEND, SETRANGE, SETBIT); the value
    /// becomes `raw`, as Redis's string does.
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        debug_assert!(self.is_string(), "string commands check the type first");
        if self.kind() != KIND_RAW || self.extra_len() != 0 {
            let bytes = self.value().with_bytes(|b| b.to_vec());
            self.set_src(Src::Raw(bytes));
        }
        self.header_mut()[OFF_MC] = 0;
        let s = self.shape();
        // SAFETY: see `take_raw`.
        unsafe { &mut *self.raw_ptr(s) }
    }

    pub fn into_value(mut self) -> Value {
        match self.value() {
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Str(b) => Value::Str(b.to_vec()),
            ValueRef::Raw(_) => Value::Raw(self.take_raw()),
            ValueRef::Obj(_) => Value::Obj(self.steal_obj()),
        }
    }

    /// The same value, TTL and access metadata under another name (RENAME, MOVE).
    pub fn renamed(mut self, key: &[u8]) -> Entry {
        let deadline = self.deadline();
        self.rebuild_with(key, deadline)
    }

    /// A copy under another name (COPY).
    pub fn copy_as(&self, key: &[u8]) -> Entry {
        let src = match self.value() {
            ValueRef::Int(i) => Src::Int(i),
            ValueRef::Str(b) => Src::Bytes(b),
            ValueRef::Raw(v) => Src::Raw(v.to_vec()),
            ValueRef::Obj(o) => Src::Obj(Box::new(o.clone())),
        };
        Entry::build(key, src, self.deadline(), self.meta())
    }

    /// Sets the access metadata a RESTORE carries (IDLETIME, FREQ).
    pub fn restore_access(&mut self, clock: u32, freq: Option<u8>) {
        let mut meta = self.meta();
        meta.clock = clock;
        if let Some(f) = freq {
            meta.freq = f;
        }
        self.set_meta(meta);
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let s = self.shape();
        if self.kind() == KIND_RAW {
            // SAFETY: the pointer came from `Box::into_raw` and is dropped exactly once,
            // here, when the block that owns it goes away.
            drop(unsafe { Box::from_raw(self.raw_ptr(s)) });
        } else if self.kind() == KIND_OBJ {
            // SAFETY: as for a raw value.
            drop(unsafe { Box::from_raw(self.obj_ptr(s)) });
        }
        // SAFETY: allocated in `build` with the layout of this same size.
        unsafe { dealloc(self.base(), layout(s.size)) };
    }
}

impl Clone for Entry {
    fn clone(&self) -> Entry {
        self.copy_as(self.key())
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value())
            .field("expire_at", &self.expire_at())
            .field("meta", &self.meta())
            .finish()
    }
}

/// LFU parameters (`lfu-log-factor`, `lfu-decay-time`).
#[derive(Clone, Copy, Debug)]
pub struct Lfu {
    pub log_factor: u32,
    pub decay_minutes: u32,
}

impl Default for Lfu {
    fn default() -> Lfu {
        Lfu {
            log_factor: 10,
            decay_minutes: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            clock: 7,
            freq: LFU_INIT,
            bits: 0,
        }
    }

    #[test]
    fn blocks_round_trip_every_kind() {
        let key = b"key:000000000001";
        for deadline in [0, 1_700_000_000_000] {
            let e = Entry::build(key, Src::Bytes(&[b'x'; 32]), deadline, meta());
            assert_eq!(e.key(), key);
            assert_eq!(e.value(), ValueRef::Str(&[b'x'; 32]));
            assert_eq!(e.deadline(), deadline);
            assert_eq!(e.meta(), meta());
            // The product figure: 16-byte key, 32-byte value, with or without a TTL.
            assert_eq!(e.mem_usage(), 64);

            let e = Entry::build(key, Src::Int(-42), deadline, meta());
            assert_eq!(e.value(), ValueRef::Int(-42));
            let e = Entry::build(key, Src::Raw(b"abc".to_vec()), deadline, meta());
            assert_eq!(e.value().with_bytes(|b| b.to_vec()), b"abc");
            assert_eq!(e.deadline(), deadline);
        }
    }

    #[test]
    fn long_keys_and_values_use_multi_byte_lengths() {
        let key = vec![b'k'; 300];
        let value = vec![b'v'; 70_000];
        let e = Entry::build(&key, Src::Bytes(&value), 5, meta());
        assert_eq!(e.key(), &key[..]);
        assert_eq!(e.value(), ValueRef::Str(&value));
        assert_eq!(e.expire_at(), Some(5));
        let empty = Entry::build(b"", Src::Bytes(b""), 0, meta());
        assert_eq!(empty.key(), b"");
        assert_eq!(empty.value(), ValueRef::Str(b""));
    }

    #[test]
    fn in_place_changes_keep_key_ttl_and_meta() {
        let mut e = Entry::build(b"k", Src::Bytes(b"hello"), 99, meta());
        e.set_src(Src::Bytes(b"world"));
        assert_eq!(e.value(), ValueRef::Str(b"world"));
        e.set_src(Src::Bytes(b"a longer value than before"));
        assert_eq!(e.value(), ValueRef::Str(b"a longer value than before"));
        e.bytes_mut().extend_from_slice(b"!");
        assert_eq!(e.value(), ValueRef::Raw(b"a longer value than before!"));
        e.set_deadline(0);
        assert_eq!(e.expire_at(), None);
        assert_eq!(e.value().with_bytes(|b| b.len()), 27);
        e.set_deadline(123);
        assert_eq!(e.expire_at(), Some(123));
        e.set_deadline(124);
        assert_eq!(e.expire_at(), Some(124));
        e.set_deadline(u64::MAX - 1);
        assert_eq!(e.expire_at(), Some(u64::MAX - 1));
        e.set_deadline(125);
        assert_eq!(e.expire_at(), Some(125));
        assert_eq!(e.key(), b"k");
        assert_eq!(e.meta(), meta());
        let copy = e.copy_as(b"other");
        let renamed = e.renamed(b"third");
        assert_eq!(renamed.key(), b"third");
        assert_eq!(copy.key(), b"other");
        assert_eq!(copy.value(), renamed.value());
        assert_eq!(
            renamed.into_value(),
            Value::Raw(b"a longer value than before!".to_vec())
        );
    }

    #[test]
    fn memcached_fields_cost_nothing_until_set_and_follow_the_rules() {
        let plain = Entry::with_mc(b"key:000000000001", &[b'x'; 32], 0, 0, 0);
        let flagged = Entry::with_mc(b"key:000000000001", &[b'x'; 32], 0, 0, 7);
        assert_eq!(
            plain.mem_usage(),
            64,
            "no flags, no CAS: the same block as RESP's"
        );
        assert_eq!(flagged.mc().flags, 7);
        let mut e = flagged;
        e.set_mc(Mc {
            cas: 99,
            flags: 7,
            state: Mc::WON,
        });
        // A TTL appearing rebuilds the block; the fields come along.
        e.set_deadline(123_456);
        assert_eq!((e.mc().cas, e.mc().flags, e.mc().state), (99, 7, Mc::WON));
        assert_eq!(e.expire_at(), Some(123_456));
        assert_eq!(e.value().as_bytes().as_ref(), &[b'x'; 32]);
        // A RESP write of the value makes it a plain string again.
        e.set_src(Src::Bytes(b"y"));
        assert_eq!(e.mc(), Mc::default());
        assert_eq!(e.expire_at(), Some(123_456));
        // So does an in-place change (APPEND).
        let mut e = Entry::with_mc(b"k", b"ab", 0, 0, 3);
        e.bytes_mut().extend_from_slice(b"c");
        assert_eq!(e.mc(), Mc::default());
        assert_eq!(e.value().as_bytes().as_ref(), b"abc");
    }

    #[test]
    fn size_classes_match_jemalloc() {
        let expect = [
            (1, 8),
            (9, 16),
            (48, 48),
            (58, 64),
            (129, 160),
            (200, 224),
            (513, 640),
            (4097, 5120),
        ];
        for (n, class) in expect {
            assert_eq!(alloc_class(n), class, "{n}");
        }
    }
}
