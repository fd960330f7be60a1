//! Bit commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
//!
//! Bit 0 is the most significant bit of the first byte, as in Redis. The bit arithmetic
//! (counting, searching, reading and writing bit fields, overflow rules) lives in small
//! pure functions tested at the bottom of this file; the handlers parse, lock and store.

use cairn_protocol::Args;
use cairn_store::{ExpireChange, Value};

use crate::commands::args::{int_arg, is};
use crate::commands::typed::string;
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::{GENERIC, STRING};
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Spec::new("setbit", 4, "bitmap")
        .flags(WRITE | DENYOOM)
        .acl(acl::BITMAP)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE)])
        .doc("2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.")
        .complexity("O(1)")
        .run(setbit),
    Spec::new("getbit", 3, "bitmap")
        .flags(READONLY | FAST)
        .acl(acl::BITMAP)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .doc("2.2.0", "Returns a bit value by offset.")
        .complexity("O(1)")
        .run(getbit),
    Spec::new("bitcount", -2, "bitmap")
        .flags(READONLY)
        .acl(acl::BITMAP)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .doc("2.6.0", "Counts the number of set bits (population counting) in a string.")
        .complexity("O(N)")
        .run(bitcount),
    Spec::new("bitpos", -3, "bitmap")
        .flags(READONLY)
        .acl(acl::BITMAP)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .doc("2.8.7", "Finds the first set (1) or clear (0) bit in a string.")
        .complexity("O(N)")
        .run(bitpos),
    Spec::new("bitop", -4, "bitmap")
        .flags(WRITE | DENYOOM)
        .acl(acl::BITMAP)
        .keys(&[KeySpec::one(2, key::OW | key::UPDATE), KeySpec::range(3, -1, 1, key::RO | key::ACCESS)])
        .doc("2.6.0", "Performs bitwise operations on multiple strings, and stores the result.")
        .complexity("O(N)")
        .run(bitop),
    Spec::new("bitfield", -2, "bitmap")
        .flags(WRITE | DENYOOM)
        .acl(acl::BITMAP)
        .keys(&[KeySpec::one(1, key::RW | key::UPDATE | key::ACCESS | key::VARIABLE_FLAGS).notes("This command allows both access and modification of the key")])
        .doc("3.2.0", "Performs arbitrary bitfield integer operations on strings.")
        .complexity("O(1) for each subcommand specified")
        .run(bitfield),
    Spec::new("bitfield_ro", -2, "bitmap")
        .flags(READONLY | FAST)
        .acl(acl::BITMAP)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .doc("6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.")
        .complexity("O(1) for each subcommand specified")
        .run(bitfield_ro),
];

fn offset_error() -> CmdError {
    CmdError::new("ERR bit offset is not an integer or out of range")
}

fn bit_value_error() -> CmdError {
    CmdError::new("ERR bit is not an integer or out of range")
}

fn bitfield_type_error() -> CmdError {
    CmdError::new(
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
    )
}

/// Parses a bit offset as Redis's `getBitOffsetFromArgument` does. With `hash_bits`
/// (BITFIELD), `#N` means N times the field width. The offset must not be negative and its
/// byte must lie below `max_bytes` (`proto-max-bulk-len`: offsets below 2^32 by default).
fn parse_bit_offset(arg: &[u8], hash_bits: Option<u32>, max_bytes: usize) -> Option<u64> {
    let (digits, factor) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    // Redis multiplies without an overflow check; wrapping keeps its observable result.
    let n = cairn_protocol::resp::parse_i64(digits)?.wrapping_mul(factor);
    if n < 0 || (n >> 3) as u64 >= max_bytes as u64 {
        return None;
    }
    Some(n as u64)
}

/// Parses a BITFIELD type: `i1`..`i64` or `u1`..`u63`. Returns (signed, bits).
fn parse_bitfield_type(arg: &[u8]) -> Option<(bool, u32)> {
    let signed = match arg.first()? {
        b'i' => true,
        b'u' => false,
        _ => return None,
    };
    // Redis reads the width with strlen(), so it stops at a NUL byte.
    let rest = &arg[1..];
    let rest = &rest[..rest.iter().position(|&c| c == 0).unwrap_or(rest.len())];
    let bits = cairn_protocol::resp::parse_i64(rest)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return None;
    }
    Some((signed, bits as u32))
}

/// BIT or BYTE: true for BIT.
fn unit_arg(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::syntax())
    }
}

// ------------------------------------------------------------------------------------
// Handlers
// ------------------------------------------------------------------------------------

/// ```text
/// SETBIT key offset value
/// ```
fn setbit(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let offset = parse_bit_offset(args.get(2), None, ctx.max_string()).ok_or_else(offset_error)?;
    let on = match int_arg(args.get(3)) {
        Ok(0) => false,
        Ok(1) => true,
        _ => return Err(bit_value_error()),
    };
    let need = (offset / 8) as usize + 1;
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let old = if let Some(mut e) = db.write(slot, key, ctx.now) {
        string(&e)?;
        let bytes = e.bytes_mut();
        if bytes.len() < need {
            bytes.resize(need, 0);
        }
        let old = set_bit(bytes, offset, on);
        let at = itoa::Buffer::new().format(offset).to_owned();
        e.journal_op(&[b"SETBIT", key, at.as_bytes(), if on { b"1" } else { b"0" }]);
        old
    } else {
        let mut bytes = vec![0u8; need];
        set_bit(&mut bytes, offset, on);
        db.set(slot, key, Value::Raw(bytes), ExpireChange::Clear, ctx.now);
        false
    };
    ctx.notify(STRING, "setbit", key);
    ctx.out.int(i64::from(old));
    Ok(())
}

/// ```text
/// GETBIT key offset
/// ```
fn getbit(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let offset = parse_bit_offset(args.get(2), None, ctx.max_string()).ok_or_else(offset_error)?;
    let (mut shard, slot) = ctx.lock(key);
    let bit = shard
        .db(ctx.db())
        .read(slot, key, ctx.now)
        .map_or(Ok(false), |e| {
            string(e).map(|v| v.with_bytes(|b| get_bit(b, offset)))
        })?;
    ctx.out.int(i64::from(bit));
    Ok(())
}

/// ```text
/// BITCOUNT key [start end [BYTE | BIT]]
/// ```
fn bitcount(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let range = match args.len() {
        2 => None,
        4 | 5 => {
            let start = int_arg(args.get(2))?;
            let end = int_arg(args.get(3))?;
            let in_bits = if args.len() == 5 {
                unit_arg(args.get(4))?
            } else {
                false
            };
            Some((start, end, in_bits))
        }
        _ => return Err(CmdError::syntax()),
    };
    let (mut shard, slot) = ctx.lock(key);
    let n = shard
        .db(ctx.db())
        .read(slot, key, ctx.now)
        .map_or(Ok(0), |e| {
            string(e).map(|v| v.with_bytes(|b| count_in_range(b, range)))
        })?;
    ctx.out.int(n as i64);
    Ok(())
}

/// ```text
/// BITPOS key bit [start [end [BYTE | BIT]]]
/// ```
fn bitpos(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let bit = match int_arg(args.get(2))? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::new("ERR The bit argument must be 1 or 0.")),
    };
    let (start, end, in_bits) = match args.len() {
        3 => (None, None, false),
        4..=6 => {
            let start = int_arg(args.get(3))?;
            let in_bits = if args.len() == 6 {
                unit_arg(args.get(5))?
            } else {
                false
            };
            let end = if args.len() >= 5 {
                Some(int_arg(args.get(4))?)
            } else {
                None
            };
            (Some(start), end, in_bits)
        }
        _ => return Err(CmdError::syntax()),
    };
    let (mut shard, slot) = ctx.lock(key);
    let pos = match shard.db(ctx.db()).read(slot, key, ctx.now) {
        Some(e) => string(e)?.with_bytes(|b| find_in_range(b, bit, start, end, in_bits)),
        // A missing key is an endless run of zeros.
        None if bit => -1,
        None => 0,
    };
    ctx.out.int(pos);
    Ok(())
}

/// ```text
/// BITOP <AND | OR | XOR | NOT> destkey key [key ...]
/// ```
/// Every key involved, destination included, is locked before the first read.
fn bitop(ctx: &mut Ctx, args: Args) -> CmdResult {
    let op = match args.get(1) {
        a if is(a, "and") => BitOp::And,
        a if is(a, "or") => BitOp::Or,
        a if is(a, "xor") => BitOp::Xor,
        a if is(a, "not") => BitOp::Not,
        _ => return Err(CmdError::syntax()),
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::new(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let dest = args.get(2);
    let db = ctx.session.db;
    let mut locked = ctx.server.keyspace.lock_keys(args.tail(2).iter());
    let mut acc = Vec::new();
    for key in args.tail(3).iter() {
        let slot = cairn_store::key_slot(key);
        if let Some(e) = locked.db(slot, db).peek(slot, key, ctx.now) {
            string(e)?;
        }
    }
    for (i, key) in args.tail(3).iter().enumerate() {
        let slot = cairn_store::key_slot(key);
        match locked.db(slot, db).read(slot, key, ctx.now) {
            Some(e) => e
                .value()
                .with_bytes(|b| bitop_step(op, &mut acc, b, i == 0)),
            None => bitop_step(op, &mut acc, &[], i == 0),
        }
    }
    let len = acc.len();
    let slot = cairn_store::key_slot(dest);
    let dest_db = locked.db(slot, db);
    if len > 0 {
        dest_db.set(slot, dest, Value::Raw(acc), ExpireChange::Clear, ctx.now);
        ctx.notify(STRING, "set", dest);
    } else if dest_db.remove(slot, dest, ctx.now).is_some() {
        ctx.notify(GENERIC, "del", dest);
    }
    ctx.out.int(len as i64);
    Ok(())
}

/// ```text
/// BITFIELD key [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>]
///     <SET encoding offset value | INCRBY encoding offset increment>
///     [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>]
///     <SET encoding offset value | INCRBY encoding offset increment> ...]]
/// ```
fn bitfield(ctx: &mut Ctx, args: Args) -> CmdResult {
    bitfield_generic(ctx, args, false)
}

/// ```text
/// BITFIELD_RO key [GET encoding offset [GET encoding offset ...]]
/// ```
fn bitfield_ro(ctx: &mut Ctx, args: Args) -> CmdResult {
    bitfield_generic(ctx, args, true)
}

fn bitfield_generic(ctx: &mut Ctx, args: Args, read_only: bool) -> CmdResult {
    let key = args.get(1);
    let max = ctx.max_string();
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    // The highest bit any SET or INCRBY touches; None when there are only GETs.
    let mut highest: Option<u64> = None;
    let mut i = 2;
    while i < args.len() {
        let sub = args.get(i);
        let left = args.len() - i - 1;
        let is_get = is(sub, "get") && left >= 2;
        let is_set = is(sub, "set") && left >= 3;
        let is_incr = is(sub, "incrby") && left >= 3;
        if !(is_get || is_set || is_incr) {
            if is(sub, "overflow") && left >= 1 {
                overflow = match args.get(i + 1) {
                    a if is(a, "wrap") => Overflow::Wrap,
                    a if is(a, "sat") => Overflow::Sat,
                    a if is(a, "fail") => Overflow::Fail,
                    _ => return Err(CmdError::new("ERR Invalid OVERFLOW type specified")),
                };
                i += 2;
                continue;
            }
            return Err(CmdError::syntax());
        }
        let (signed, bits) =
            parse_bitfield_type(args.get(i + 1)).ok_or_else(bitfield_type_error)?;
        let offset = parse_bit_offset(args.get(i + 2), Some(bits), max).ok_or_else(offset_error)?;
        let op = if is_get {
            FieldOp::Get
        } else {
            let last = offset + u64::from(bits) - 1;
            highest = Some(highest.map_or(last, |h| h.max(last)));
            let v = int_arg(args.get(i + 3))?;
            if is_set {
                FieldOp::Set(v)
            } else {
                FieldOp::IncrBy(v)
            }
        };
        fields.push(Field {
            op,
            offset,
            bits,
            signed,
            overflow,
        });
        i += if is_get { 3 } else { 4 };
    }

    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    let Some(highest) = highest else {
        // Only GETs: a read, which never creates the key. The type is checked before
        // the reply's header goes out, so a WRONGTYPE is the whole reply.
        let read = |b: &[u8]| fields.iter().map(|f| field_get(b, f)).collect::<Vec<_>>();
        let values = match db.read(slot, key, ctx.now) {
            Some(e) => string(e)?.with_bytes(read),
            None => read(&[]),
        };
        ctx.out.array(values.len());
        for v in values {
            ctx.out.int(v);
        }
        return Ok(());
    };
    if read_only {
        return Err(CmdError::new(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    // The string is created or zero-padded up to the highest bit written before any
    // operation runs, even when every write then fails an OVERFLOW FAIL check.
    let need = (highest / 8) as usize + 1;
    let run = |bytes: &mut Vec<u8>| -> Vec<Option<i64>> {
        if bytes.len() < need {
            bytes.resize(need, 0);
        }
        fields.iter().map(|f| field_apply(bytes, f)).collect()
    };
    let results = if let Some(mut e) = db.write(slot, key, ctx.now) {
        string(&e)?;
        run(e.bytes_mut())
    } else {
        let mut bytes = Vec::new();
        let results = run(&mut bytes);
        db.set(slot, key, Value::Raw(bytes), ExpireChange::Clear, ctx.now);
        results
    };
    if fields.iter().any(|f| !matches!(f.op, FieldOp::Get)) {
        ctx.notify(STRING, "setbit", key);
    }
    ctx.out.array(results.len());
    for r in results {
        match r {
            Some(v) => ctx.out.int(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------
// Pure bit logic
// ------------------------------------------------------------------------------------

/// The bit at `offset`; bits past the end of the string are 0.
fn get_bit(b: &[u8], offset: u64) -> bool {
    let byte = offset / 8;
    byte < b.len() as u64 && b[byte as usize] & (0x80 >> (offset % 8)) != 0
}

/// Sets the bit at `offset` (which `b` must cover) and returns its previous value.
fn set_bit(b: &mut [u8], offset: u64, on: bool) -> bool {
    let byte = &mut b[(offset / 8) as usize];
    let mask = 0x80u8 >> (offset % 8);
    let old = *byte & mask != 0;
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
    old
}

/// Number of set bits in `b`, eight bytes at a time.
fn popcount(b: &[u8]) -> u64 {
    let mut chunks = b.chunks_exact(32);
    let mut n = 0u64;
    for c in &mut chunks {
        let w = |i: usize| u64::from_ne_bytes(c[i..i + 8].try_into().expect("8 bytes"));
        n += u64::from(
            w(0).count_ones() + w(8).count_ones() + w(16).count_ones() + w(24).count_ones(),
        );
    }
    let mut words = chunks.remainder().chunks_exact(8);
    for c in &mut words {
        n += u64::from(u64::from_ne_bytes(c.try_into().expect("8 bytes")).count_ones());
    }
    n + words
        .remainder()
        .iter()
        .map(|x| u64::from(x.count_ones()))
        .sum::<u64>()
}

/// Set bits from bit `first` to bit `last` inclusive (both inside `b`).
fn count_bits(b: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first / 8) as usize, (last / 8) as usize);
    let mut n = popcount(&b[fb..=lb]);
    // Take out the bits of the edge bytes that lie outside the range.
    let before = !(0xFFu8 >> (first % 8));
    let after = (0xFFu16 >> (last % 8 + 1)) as u8;
    n -= u64::from((b[fb] & before).count_ones());
    n -= u64::from((b[lb] & after).count_ones());
    n
}

/// Redis's index normalisation for BITCOUNT and BITPOS over `total` units: negative
/// indexes count from the end, then both are clamped into the string. The result may be
/// an empty range (start > end).
fn clamp_range(start: i64, end: i64, total: i64) -> (i64, i64) {
    let start = if start < 0 { total + start } else { start }.max(0);
    let mut end = if end < 0 { total + end } else { end }.max(0);
    if end >= total {
        end = total - 1;
    }
    (start, end)
}

/// BITCOUNT over `b`: the whole string, or `(start, end, in_bits)`.
fn count_in_range(b: &[u8], range: Option<(i64, i64, bool)>) -> u64 {
    let Some((start, end, in_bits)) = range else {
        return popcount(b);
    };
    if start < 0 && end < 0 && start > end {
        return 0;
    }
    let total = b.len() as i64 * if in_bits { 8 } else { 1 };
    let (start, end) = clamp_range(start, end, total);
    if start > end {
        return 0;
    }
    if in_bits {
        count_bits(b, start as u64, end as u64)
    } else {
        popcount(&b[start as usize..=end as usize])
    }
}

/// Index of the first byte of `b` that is not `skip`, eight bytes at a time.
fn first_byte_not(b: &[u8], skip: u8) -> Option<usize> {
    let word = u64::from_ne_bytes([skip; 8]);
    let mut i = 0;
    for c in b.chunks_exact(8) {
        if u64::from_ne_bytes(c.try_into().expect("8 bytes")) != word {
            break;
        }
        i += 8;
    }
    b[i..].iter().position(|&x| x != skip).map(|p| i + p)
}

/// The first bit equal to `bit` from bit `first` to bit `last` inclusive (inside `b`).
fn find_bit(b: &[u8], first: u64, last: u64, bit: bool) -> Option<u64> {
    let (fb, lb) = ((first / 8) as usize, (last / 8) as usize);
    // Searching for a 0 is searching for a 1 in the complement.
    let flip = if bit { 0 } else { 0xFF };
    let head = 0xFFu8 >> (first % 8);
    let tail = !((0xFFu16 >> (last % 8 + 1)) as u8);
    let probe = |i: usize, mask: u8| {
        let x = (b[i] ^ flip) & mask;
        (x != 0).then(|| i as u64 * 8 + u64::from(x.leading_zeros()))
    };
    if fb == lb {
        return probe(fb, head & tail);
    }
    if let Some(p) = probe(fb, head) {
        return Some(p);
    }
    if let Some(i) = first_byte_not(&b[fb + 1..lb], flip) {
        return probe(fb + 1 + i, 0xFF);
    }
    probe(lb, tail)
}

/// BITPOS over an existing string. `start` is None for the two-argument form; `end` is
/// the explicit end, if given.
fn find_in_range(b: &[u8], bit: bool, start: Option<i64>, end: Option<i64>, in_bits: bool) -> i64 {
    let len = b.len() as i64;
    let (start, stop) = match start {
        None => (0, len - 1),
        Some(start) => {
            let total = len * if in_bits { 8 } else { 1 };
            clamp_range(start, end.unwrap_or(total - 1), total)
        }
    };
    if start > stop {
        return -1;
    }
    let (first, last) = if in_bits {
        (start as u64, stop as u64)
    } else {
        (start as u64 * 8, stop as u64 * 8 + 7)
    };
    match find_bit(b, first, last, bit) {
        Some(p) => p as i64,
        // Without an explicit end the string counts as padded with zeros on the right, so
        // the first clear bit of a string of ones is the one just past it.
        None if !bit && end.is_none() => last as i64 + 1,
        None => -1,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Folds one BITOP source into the result so far; `first` for the first source. Missing
/// keys are empty strings; shorter strings count as padded with zero bytes.
fn bitop_step(op: BitOp, acc: &mut Vec<u8>, src: &[u8], first: bool) {
    if first {
        acc.extend_from_slice(src);
        if op == BitOp::Not {
            acc.iter_mut().for_each(|x| *x = !*x);
        }
        return;
    }
    if acc.len() < src.len() {
        acc.resize(src.len(), 0);
    }
    match op {
        BitOp::And => {
            acc.iter_mut().zip(src).for_each(|(a, b)| *a &= b);
            acc[src.len()..].fill(0);
        }
        BitOp::Or => acc.iter_mut().zip(src).for_each(|(a, b)| *a |= b),
        BitOp::Xor => acc.iter_mut().zip(src).for_each(|(a, b)| *a ^= b),
        BitOp::Not => unreachable!("BITOP NOT takes a single source"),
    }
}

/// What BITFIELD does when a SET or INCRBY does not fit the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One BITFIELD operation, with the OVERFLOW mode in force where it appeared.
#[derive(Clone, Copy, Debug)]
struct Field {
    op: FieldOp,
    offset: u64,
    bits: u32,
    signed: bool,
    overflow: Overflow,
}

/// The `bits`-bit unsigned integer at bit `offset` (1 <= bits <= 64); bytes past the end
/// of `b` read as zeros.
fn get_unsigned(b: &[u8], offset: u64, bits: u32) -> u64 {
    let byte = offset / 8;
    let mut buf = [0u8; 16];
    if byte < b.len() as u64 {
        let byte = byte as usize;
        let n = (b.len() - byte).min(9);
        buf[..n].copy_from_slice(&b[byte..byte + n]);
    }
    let w = u128::from_be_bytes(buf) << (offset % 8);
    (w >> (128 - bits)) as u64
}

/// The `bits`-bit two's complement integer at bit `offset`.
fn get_signed(b: &[u8], offset: u64, bits: u32) -> i64 {
    let u = get_unsigned(b, offset, bits);
    if bits < 64 && u & (1 << (bits - 1)) != 0 {
        (u | (u64::MAX << bits)) as i64
    } else {
        u as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset`; `b` must cover them.
fn set_field_bits(b: &mut [u8], offset: u64, bits: u32, value: u64) {
    let byte = (offset / 8) as usize;
    let n = (b.len() - byte).min(9);
    let mut buf = [0u8; 16];
    buf[..n].copy_from_slice(&b[byte..byte + n]);
    let shift = 128 - (offset % 8) as u32 - bits;
    let ones = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let mask = u128::from(ones) << shift;
    let w = (u128::from_be_bytes(buf) & !mask) | (u128::from(value & ones) << shift);
    b[byte..byte + n].copy_from_slice(&w.to_be_bytes()[..n]);
}

/// Redis's `checkUnsignedBitfieldOverflow`: None when `value + incr` fits an unsigned
/// field of `bits` bits, otherwise the value to store under `mode` (unused for Fail).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, mode: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrapped = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > max_incr) {
        Some(match mode {
            Overflow::Wrap => wrapped(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        })
    } else if incr < 0 && incr < min_incr {
        Some(match mode {
            Overflow::Wrap => wrapped(),
            Overflow::Sat | Overflow::Fail => 0,
        })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`: None when `value + incr` fits a signed field of
/// `bits` bits, otherwise the value to store under `mode` (unused for Fail).
fn signed_overflow(value: i64, incr: i64, bits: u32, mode: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    // These may wrap exactly as Redis's do; they only matter once `value` is in range.
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let high = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c |= high;
            } else {
                c &= !high;
            }
        }
        c as i64
    };
    let wide = bits != 64;
    if value > max || (wide && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        Some(match mode {
            Overflow::Wrap => wrapped(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        })
    } else if value < min || (wide && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(match mode {
            Overflow::Wrap => wrapped(),
            Overflow::Sat => min,
            Overflow::Fail => 0,
        })
    } else {
        None
    }
}

/// A BITFIELD GET.
fn field_get(b: &[u8], f: &Field) -> i64 {
    if f.signed {
        get_signed(b, f.offset, f.bits)
    } else {
        get_unsigned(b, f.offset, f.bits) as i64
    }
}

/// Runs one BITFIELD operation on `b`, which covers every bit it writes. Returns the
/// reply: the value read (GET), the old value (SET), the new value (INCRBY), or None when
/// OVERFLOW FAIL refused the write.
fn field_apply(b: &mut [u8], f: &Field) -> Option<i64> {
    let (bits, mode) = (f.bits, f.overflow);
    let (new, reply, overflowed) = match (f.op, f.signed) {
        (FieldOp::Get, _) => return Some(field_get(b, f)),
        (FieldOp::IncrBy(incr), true) => {
            let old = get_signed(b, f.offset, bits);
            let over = signed_overflow(old, incr, bits, mode);
            let new = over.unwrap_or(old.wrapping_add(incr));
            (new as u64, new, over.is_some())
        }
        (FieldOp::Set(v), true) => {
            let old = get_signed(b, f.offset, bits);
            let over = signed_overflow(v, 0, bits, mode);
            (over.unwrap_or(v) as u64, old, over.is_some())
        }
        (FieldOp::IncrBy(incr), false) => {
            let old = get_unsigned(b, f.offset, bits);
            let over = unsigned_overflow(old, incr, bits, mode);
            let new = over.unwrap_or(old.wrapping_add(incr as u64));
            (new, new as i64, over.is_some())
        }
        (FieldOp::Set(v), false) => {
            let old = get_unsigned(b, f.offset, bits);
            let over = unsigned_overflow(v as u64, 0, bits, mode);
            (over.unwrap_or(v as u64), old as i64, over.is_some())
        }
    };
    if overflowed && mode == Overflow::Fail {
        return None;
    }
    set_field_bits(b, f.offset, bits, new);
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 512 * 1024 * 1024;

    fn count(b: &[u8], start: i64, end: i64, in_bits: bool) -> u64 {
        count_in_range(b, Some((start, end, in_bits)))
    }

    /// Bit-by-bit reference for popcount and find_bit.
    fn naive_bits(b: &[u8]) -> Vec<bool> {
        (0..b.len() as u64 * 8).map(|i| get_bit(b, i)).collect()
    }

    fn sample(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mix in runs of all-zero and all-one bytes so the word skipping is exercised.
                match x % 5 {
                    0 => 0,
                    1 => 0xFF,
                    _ => (x >> 8) as u8,
                }
            })
            .collect()
    }

    #[test]
    fn offsets_parse_like_redis() {
        assert_eq!(parse_bit_offset(b"0", None, MAX), Some(0));
        assert_eq!(parse_bit_offset(b"4294967295", None, MAX), Some(4294967295));
        assert_eq!(parse_bit_offset(b"4294967296", None, MAX), None);
        assert_eq!(parse_bit_offset(b"-1", None, MAX), None);
        assert_eq!(parse_bit_offset(b"abc", None, MAX), None);
        assert_eq!(parse_bit_offset(b"+1", None, MAX), None);
        assert_eq!(parse_bit_offset(b"#1", None, MAX), None);
        assert_eq!(parse_bit_offset(b"#3", Some(8), MAX), Some(24));
        assert_eq!(parse_bit_offset(b"#-1", Some(8), MAX), None);
        assert_eq!(parse_bit_offset(b"#", Some(8), MAX), None);
        assert_eq!(parse_bit_offset(b"", Some(8), MAX), None);
        // proto-max-bulk-len bounds the byte the offset falls in.
        assert_eq!(parse_bit_offset(b"7999", None, 1000), Some(7999));
        assert_eq!(parse_bit_offset(b"8000", None, 1000), None);
    }

    #[test]
    fn bitfield_types() {
        assert_eq!(parse_bitfield_type(b"i8"), Some((true, 8)));
        assert_eq!(parse_bitfield_type(b"u1"), Some((false, 1)));
        assert_eq!(parse_bitfield_type(b"i64"), Some((true, 64)));
        assert_eq!(parse_bitfield_type(b"u63"), Some((false, 63)));
        for bad in [
            &b"u64"[..],
            b"i65",
            b"i0",
            b"u",
            b"",
            b"x8",
            b"I8",
            b"i08",
            b"i+8",
            b"i-1",
        ] {
            assert_eq!(parse_bitfield_type(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn single_bits() {
        let mut b = vec![0u8; 1];
        assert!(!set_bit(&mut b, 7, true));
        assert_eq!(b, [1]);
        assert!(set_bit(&mut b, 7, false));
        assert_eq!(b, [0]);
        assert!(!get_bit(&b, 100));
        assert!(get_bit(b"1", 2)); // '1' is 0x31 = 0b0011_0001
        assert!(get_bit(b"1", 7));
        assert!(!get_bit(b"1", 1));
    }

    #[test]
    fn bitcount_documented_examples() {
        assert_eq!(count_in_range(b"foobar", None), 26);
        assert_eq!(count(b"foobar", 0, 0, false), 4);
        assert_eq!(count(b"foobar", 1, 1, false), 6);
        assert_eq!(count(b"foobar", 5, 30, true), 17);
    }

    #[test]
    fn bitcount_ranges() {
        assert_eq!(count(b"foobar", -2, -1, false), popcount(b"ar"));
        assert_eq!(count(b"foobar", 0, -1, false), 26);
        assert_eq!(count(b"foobar", -100, 100, false), 26);
        assert_eq!(count(b"foobar", 3, 1, false), 0);
        assert_eq!(count(b"foobar", 6, 10, false), 0);
        // Both negative and reversed: 0 even where clamping would give a range.
        assert_eq!(count(b"f", -1, -5, false), 0);
        assert_eq!(count(b"\xff", 1, 3, true), 3);
        assert_eq!(count(b"\xff\xff", 6, 9, true), 4);
        assert_eq!(count(b"\xff\xff", -3, -1, true), 3);
        assert_eq!(count(b"", 0, -1, false), 0);
        assert_eq!(count(b"", 0, -1, true), 0);
    }

    #[test]
    fn popcount_and_ranges_match_a_naive_count() {
        for len in [0, 1, 7, 8, 9, 31, 32, 33, 64, 100] {
            let b = sample(len, len as u64 + 7);
            let bits = naive_bits(&b);
            assert_eq!(popcount(&b), bits.iter().filter(|&&x| x).count() as u64);
            for first in (0..bits.len()).step_by(5) {
                for last in (first..bits.len()).step_by(7) {
                    let want = bits[first..=last].iter().filter(|&&x| x).count() as u64;
                    assert_eq!(count_bits(&b, first as u64, last as u64), want);
                    for bit in [false, true] {
                        let want = (first..=last).find(|&i| bits[i] == bit).map(|i| i as u64);
                        assert_eq!(find_bit(&b, first as u64, last as u64, bit), want);
                    }
                }
            }
        }
    }

    #[test]
    fn bitpos_documented_examples() {
        let pos = find_in_range;
        assert_eq!(pos(b"\xff\xf0\x00", false, None, None, false), 12);
        let b = b"\x00\xff\xf0";
        assert_eq!(pos(b, true, Some(0), None, false), 8);
        assert_eq!(pos(b, true, Some(2), None, false), 16);
        assert_eq!(pos(b, true, Some(2), Some(-1), false), 16);
        assert_eq!(pos(b, true, Some(7), Some(15), true), 8);
        let z = b"\x00\x00\x00";
        assert_eq!(pos(z, true, None, None, false), -1);
        assert_eq!(pos(z, true, Some(7), Some(-3), true), -1);
    }

    #[test]
    fn bitpos_special_cases() {
        let pos = find_in_range;
        let ones = b"\xff\xff\xff";
        // No explicit end: the bit just past the string.
        assert_eq!(pos(ones, false, None, None, false), 24);
        assert_eq!(pos(ones, false, Some(1), None, false), 24);
        // Explicit end: no clear bit inside the range.
        assert_eq!(pos(ones, false, Some(0), Some(-1), false), -1);
        assert_eq!(pos(ones, false, Some(0), Some(23), true), -1);
        assert_eq!(pos(b"\x00", true, None, None, false), -1);
        assert_eq!(pos(b"\x00", false, None, None, false), 0);
        // Empty ranges.
        assert_eq!(pos(ones, false, Some(2), Some(1), false), -1);
        assert_eq!(pos(ones, true, Some(5), None, false), -1);
        assert_eq!(pos(b"", false, None, None, false), -1);
        assert_eq!(pos(b"", false, Some(0), None, false), -1);
        // BITPOS does not special-case reversed negative ranges as BITCOUNT does.
        assert_eq!(pos(b"\x01", true, Some(-1), Some(-5), false), 7);
        // Bit ranges inside one byte, and across bytes.
        assert_eq!(pos(b"\xf0", false, Some(1), Some(3), true), -1);
        assert_eq!(pos(b"\xf0", false, Some(1), Some(4), true), 4);
        assert_eq!(pos(b"\x00\x00\x01\x80", true, Some(3), Some(30), true), 23);
        assert_eq!(pos(b"\x00\x00\x00\x80", true, Some(3), Some(23), true), -1);
        assert_eq!(pos(b"\x00\x00\x00\x80", true, Some(3), Some(24), true), 24);
        assert_eq!(pos(b"\xff\xff\xff\xfe", false, Some(-9), None, false), 31);
    }

    fn bitop_all(op: BitOp, srcs: &[&[u8]]) -> Vec<u8> {
        let mut acc = Vec::new();
        for (i, s) in srcs.iter().enumerate() {
            bitop_step(op, &mut acc, s, i == 0);
        }
        acc
    }

    #[test]
    fn bitop_operations() {
        assert_eq!(bitop_all(BitOp::And, &[b"foobar", b"abcdef"]), b"`bc`ab");
        assert_eq!(bitop_all(BitOp::Or, &[b"foobar", b"abcdef"]), b"goofev");
        assert_eq!(bitop_all(BitOp::Xor, &[b"\x0f", b"\xff\x01"]), b"\xf0\x01");
        assert_eq!(bitop_all(BitOp::Not, &[b"\x0f\xff"]), b"\xf0\x00");
        // Shorter strings are zero padded: AND clears the tail, OR and XOR keep it.
        assert_eq!(bitop_all(BitOp::And, &[b"\xff\xff", b"\xff"]), b"\xff\x00");
        assert_eq!(bitop_all(BitOp::And, &[b"\xff", b"\xff\xff"]), b"\xff\x00");
        assert_eq!(
            bitop_all(BitOp::Or, &[b"\x01", b"", b"\x10\x02"]),
            b"\x11\x02"
        );
        assert_eq!(bitop_all(BitOp::Xor, &[b"", b"\x01\x02"]), b"\x01\x02");
        assert_eq!(bitop_all(BitOp::And, &[b"", b""]), b"");
        assert_eq!(bitop_all(BitOp::Not, &[b""]), b"");
    }

    fn op(op: FieldOp, signed: bool, bits: u32, offset: u64, overflow: Overflow) -> Field {
        Field {
            op,
            offset,
            bits,
            signed,
            overflow,
        }
    }

    fn run(b: &mut Vec<u8>, fields: &[Field]) -> Vec<Option<i64>> {
        let need = fields
            .iter()
            .filter(|f| f.op != FieldOp::Get)
            .map(|f| (f.offset + u64::from(f.bits) - 1) / 8 + 1)
            .max()
            .unwrap_or(0) as usize;
        if b.len() < need {
            b.resize(need, 0);
        }
        fields.iter().map(|f| field_apply(b, f)).collect()
    }

    use FieldOp::{Get, IncrBy, Set};
    use Overflow::{Fail, Sat, Wrap};

    #[test]
    fn bitfield_documented_examples() {
        // BITFIELD mykey INCRBY i5 100 1 GET u4 0
        let mut b = Vec::new();
        assert_eq!(
            run(
                &mut b,
                &[
                    op(IncrBy(1), true, 5, 100, Wrap),
                    op(Get, false, 4, 0, Wrap)
                ]
            ),
            [Some(1), Some(0)]
        );
        // BITFIELD mystring SET i8 #0 100 SET i8 #1 200
        let mut b = Vec::new();
        assert_eq!(
            run(
                &mut b,
                &[
                    op(Set(100), true, 8, 0, Wrap),
                    op(Set(200), true, 8, 8, Wrap)
                ]
            ),
            [Some(0), Some(0)]
        );
        assert_eq!(b, [100, 200]);
        assert_eq!(run(&mut b, &[op(Get, true, 8, 8, Wrap)]), [Some(-56)]);
        // BITFIELD mykey incrby u2 100 1 OVERFLOW SAT incrby u2 102 1, four times.
        let mut b = Vec::new();
        let twice = [
            op(IncrBy(1), false, 2, 100, Wrap),
            op(IncrBy(1), false, 2, 102, Sat),
        ];
        assert_eq!(run(&mut b, &twice), [Some(1), Some(1)]);
        assert_eq!(run(&mut b, &twice), [Some(2), Some(2)]);
        assert_eq!(run(&mut b, &twice), [Some(3), Some(3)]);
        assert_eq!(run(&mut b, &twice), [Some(0), Some(3)]);
        // BITFIELD mykey OVERFLOW FAIL incrby u2 102 1
        assert_eq!(run(&mut b, &[op(IncrBy(1), false, 2, 102, Fail)]), [None]);
        assert_eq!(run(&mut b, &[op(Get, false, 2, 102, Wrap)]), [Some(3)]);
    }

    #[test]
    fn bitfield_layout_follows_setbit() {
        // A 5-bit 23 at offset 7: 00000001|01110000.
        let mut b = vec![0u8; 2];
        set_field_bits(&mut b, 7, 5, 23);
        assert_eq!(b, [0b0000_0001, 0b0111_0000]);
        assert_eq!(get_unsigned(&b, 7, 5), 23);
        // Unaligned 64-bit fields span nine bytes.
        let mut b = vec![0xAAu8; 10];
        set_field_bits(&mut b, 3, 64, 0x0123_4567_89AB_CDEF);
        assert_eq!(get_unsigned(&b, 3, 64), 0x0123_4567_89AB_CDEF);
        assert_eq!(b[0] >> 5, 0b101);
        assert_eq!(b[8] & 0x1F, 0xAA & 0x1F);
        assert_eq!(b[9], 0xAA);
        assert_eq!(get_signed(&[0x80; 8], 0, 64), i64::from_be_bytes([0x80; 8]));
        // Reads past the end are zeros.
        assert_eq!(get_unsigned(b"\xff", 4, 8), 0xF0);
        assert_eq!(get_unsigned(b"", 1000, 63), 0);
        assert_eq!(get_signed(b"\xf0", 0, 4), -1);
        assert_eq!(get_signed(b"\x70", 0, 4), 7);
    }

    #[test]
    fn signed_overflow_i8() {
        let incr = |start: i64, by: i64, mode| {
            let mut b = Vec::new();
            run(&mut b, &[op(Set(start), true, 8, 0, Wrap)]);
            run(&mut b, &[op(IncrBy(by), true, 8, 0, mode)])[0]
        };
        assert_eq!(incr(100, 27, Wrap), Some(127));
        assert_eq!(incr(100, 28, Wrap), Some(-128));
        assert_eq!(incr(127, 1, Sat), Some(127));
        assert_eq!(incr(127, 1, Fail), None);
        assert_eq!(incr(-128, -1, Wrap), Some(127));
        assert_eq!(incr(-128, -1, Sat), Some(-128));
        assert_eq!(incr(-128, -1, Fail), None);
        assert_eq!(incr(0, i64::MAX, Sat), Some(127));
        assert_eq!(incr(0, i64::MIN, Sat), Some(-128));
        assert_eq!(incr(0, 256 + 5, Wrap), Some(5));
        assert_eq!(incr(-1, i64::MIN, Wrap), Some(-1));
        // SET returns the old value and stores the converted one.
        let mut b = Vec::new();
        assert_eq!(run(&mut b, &[op(Set(200), true, 8, 0, Wrap)]), [Some(0)]);
        assert_eq!(run(&mut b, &[op(Set(200), true, 8, 0, Sat)]), [Some(-56)]);
        assert_eq!(run(&mut b, &[op(Get, true, 8, 0, Wrap)]), [Some(127)]);
        assert_eq!(run(&mut b, &[op(Set(-200), true, 8, 0, Sat)]), [Some(127)]);
        assert_eq!(run(&mut b, &[op(Get, true, 8, 0, Wrap)]), [Some(-128)]);
        assert_eq!(run(&mut b, &[op(Set(128), true, 8, 0, Fail)]), [None]);
        assert_eq!(run(&mut b, &[op(Get, true, 8, 0, Wrap)]), [Some(-128)]);
        assert_eq!(
            run(&mut b, &[op(Set(-200), true, 8, 0, Wrap)]),
            [Some(-128)]
        );
        assert_eq!(run(&mut b, &[op(Get, true, 8, 0, Wrap)]), [Some(56)]);
    }

    #[test]
    fn unsigned_overflow_u2() {
        let incr = |start: i64, by: i64, mode| {
            let mut b = Vec::new();
            run(&mut b, &[op(Set(start), false, 2, 0, Wrap)]);
            run(&mut b, &[op(IncrBy(by), false, 2, 0, mode)])[0]
        };
        assert_eq!(incr(3, 1, Wrap), Some(0));
        assert_eq!(incr(3, 1, Sat), Some(3));
        assert_eq!(incr(3, 1, Fail), None);
        assert_eq!(incr(0, -1, Wrap), Some(3));
        assert_eq!(incr(0, -1, Sat), Some(0));
        assert_eq!(incr(0, -1, Fail), None);
        assert_eq!(incr(1, 6, Wrap), Some(3));
        assert_eq!(incr(2, -1, Fail), Some(1));
        assert_eq!(incr(0, i64::MIN, Sat), Some(0));
        assert_eq!(incr(0, i64::MAX, Sat), Some(3));
        // SET of an out-of-range value: wrapped, saturated (negative values count as huge,
        // as in Redis, so they saturate to the maximum) or refused.
        let mut b = Vec::new();
        assert_eq!(run(&mut b, &[op(Set(5), false, 2, 0, Wrap)]), [Some(0)]);
        assert_eq!(run(&mut b, &[op(Get, false, 2, 0, Wrap)]), [Some(1)]);
        assert_eq!(run(&mut b, &[op(Set(-1), false, 2, 0, Sat)]), [Some(1)]);
        assert_eq!(run(&mut b, &[op(Get, false, 2, 0, Wrap)]), [Some(3)]);
        assert_eq!(run(&mut b, &[op(Set(4), false, 2, 0, Fail)]), [None]);
        assert_eq!(run(&mut b, &[op(Set(0), false, 2, 0, Fail)]), [Some(3)]);
        assert_eq!(b, [0]);
    }

    /// Redis's bit-by-bit getUnsignedBitfield / setUnsignedBitfield, as a reference.
    fn naive_get(b: &[u8], offset: u64, bits: u32) -> u64 {
        (0..u64::from(bits)).fold(0, |v, j| v << 1 | u64::from(get_bit(b, offset + j)))
    }

    fn naive_set(b: &mut [u8], offset: u64, bits: u32, value: u64) {
        for j in 0..u64::from(bits) {
            set_bit(b, offset + j, value >> (u64::from(bits) - 1 - j) & 1 != 0);
        }
    }

    #[test]
    fn fields_match_a_bit_by_bit_reference() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..2000 {
            let bits = (next() % 64) as u32 + 1;
            let offset = next() % 80;
            let len = ((offset + u64::from(bits) - 1) / 8 + 1 + next() % 3) as usize;
            let mut a = sample(len, next());
            let mut b = a.clone();
            assert_eq!(get_unsigned(&a, offset, bits), naive_get(&a, offset, bits));
            // Reads may run past the end of the string.
            assert_eq!(
                get_unsigned(&a[..len / 2], offset, bits),
                naive_get_padded(&a[..len / 2], offset, bits)
            );
            let v = next();
            set_field_bits(&mut a, offset, bits, v);
            naive_set(&mut b, offset, bits, v);
            assert_eq!(a, b, "bits {bits} offset {offset}");
        }
    }

    fn naive_get_padded(b: &[u8], offset: u64, bits: u32) -> u64 {
        let mut padded = b.to_vec();
        padded.resize(((offset + u64::from(bits)) / 8 + 1) as usize, 0);
        naive_get(&padded, offset, bits)
    }

    #[test]
    fn overflow_matches_exact_arithmetic() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20000 {
            let bits = (next() % 64) as u32 + 1;
            // Increments of every magnitude, from tiny to the i64 extremes.
            let incr = (next() as i64) >> (next() % 64);
            let (min, max) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
            let value = (next() as i64 as i128).clamp(min, max) as i64;
            let value = if next() % 2 == 0 {
                value >> (next() % 64)
            } else {
                value
            };
            let exact = i128::from(value) + i128::from(incr);
            let fits = (min..=max).contains(&exact);
            let m = 1i128 << bits;
            let wrapped = {
                let r = exact.rem_euclid(m);
                if r > max { r - m } else { r }
            } as i64;
            let want = |mode| match mode {
                _ if fits => None,
                Wrap => Some(wrapped),
                Sat => Some(exact.clamp(min, max) as i64),
                Fail => Some(0),
            };
            for mode in [Wrap, Sat, Fail] {
                assert_eq!(
                    signed_overflow(value, incr, bits, mode),
                    want(mode),
                    "i{bits} {value} + {incr}"
                );
            }
            if bits == 64 {
                continue;
            }
            let umax = (1i128 << bits) - 1;
            let uvalue = (next() as i128 & umax) >> (next() % 64);
            let exact = uvalue + i128::from(incr);
            let fits = (0..=umax).contains(&exact);
            let want = |mode| match mode {
                _ if fits => None,
                Wrap => Some(exact.rem_euclid(umax + 1) as u64),
                Sat => Some(exact.clamp(0, umax) as u64),
                Fail => Some(0),
            };
            for mode in [Wrap, Sat, Fail] {
                assert_eq!(
                    unsigned_overflow(uvalue as u64, incr, bits, mode),
                    want(mode),
                    "u{bits} {uvalue} + {incr}"
                );
            }
        }
    }

    #[test]
    fn wide_fields() {
        let mut b = Vec::new();
        let f = |o, mode| op(o, true, 64, 0, mode);
        assert_eq!(run(&mut b, &[f(Set(i64::MAX), Wrap)]), [Some(0)]);
        assert_eq!(run(&mut b, &[f(IncrBy(1), Wrap)]), [Some(i64::MIN)]);
        assert_eq!(run(&mut b, &[f(IncrBy(-1), Sat)]), [Some(i64::MIN)]);
        assert_eq!(run(&mut b, &[f(IncrBy(-1), Fail)]), [None]);
        assert_eq!(run(&mut b, &[f(IncrBy(-1), Wrap)]), [Some(i64::MAX)]);
        assert_eq!(run(&mut b, &[f(IncrBy(1), Sat)]), [Some(i64::MAX)]);
        let mut b = Vec::new();
        let u = |o, mode| op(o, false, 63, 1, mode);
        assert_eq!(run(&mut b, &[u(Set(i64::MAX), Wrap)]), [Some(0)]);
        assert_eq!(run(&mut b, &[u(IncrBy(1), Fail)]), [None]);
        assert_eq!(run(&mut b, &[u(IncrBy(1), Wrap)]), [Some(0)]);
        assert_eq!(run(&mut b, &[u(Set(-1), Wrap)]), [Some(0)]);
        assert_eq!(run(&mut b, &[u(Get, Wrap)]), [Some(i64::MAX)]);
        assert_eq!(b[0] & 0x80, 0, "bit 0 is outside the field");
    }
}
