//! The sparse encoding: run-length opcodes covering the 16384 registers in order.
//!
//! ```text
//! 00xxxxxx           ZERO   xxxxxx+1 registers (1..64) at 0
//! 01xxxxxx yyyyyyyy  XZERO  xxxxxxyyyyyyyy+1 registers (1..16384) at 0
//! 1vvvvvxx           VAL    xx+1 registers (1..4) at vvvvv+1 (1..32)
//!
//! registers 1000, 1020 and 1021 at 2, 3, 3:
//!   XZERO:1000  VAL:2,1  ZERO:19  VAL:3,2  XZERO:15362
//! ```
//!
//! [`set`] changes one register in place exactly as Redis's `hllSparseSet` does (the
//! same opcode split, the same merge of equal neighbours, the same promotion points), so
//! that the bytes after any sequence of PFADDs are Redis's bytes.

use super::{Corrupt, DENSE_LEN, HEADER, Histogram, REGISTERS, dense};

/// The longest ZERO run.
pub const ZERO_MAX_LEN: usize = 64;
/// The longest XZERO run.
pub const XZERO_MAX_LEN: usize = 16384;
/// The largest value a VAL opcode holds; a larger register promotes the HLL to dense.
pub const VAL_MAX_VALUE: u8 = 32;
/// The longest VAL run.
pub const VAL_MAX_LEN: usize = 4;

/// One opcode, read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `len` registers at 0 (ZERO).
    Zero(usize),
    /// `len` registers at 0 (XZERO, two bytes).
    XZero(usize),
    /// `len` registers at `value`.
    Val(u8, usize),
}

impl Op {
    /// Registers it covers.
    pub fn run(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    /// Bytes it takes.
    pub fn width(self) -> usize {
        match self {
            Op::XZero(_) => 2,
            _ => 1,
        }
    }
}

fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}

fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}

fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}

/// The opcode at `data[p]` (`p` inside `data`). An XZERO cut short by the end reads its
/// second byte as 0, as Redis reads the string's terminator there.
fn op_at(data: &[u8], p: usize) -> Op {
    let b = data[p];
    if is_zero(b) {
        Op::Zero(usize::from(b & 0x3f) + 1)
    } else if is_xzero(b) {
        let lo = usize::from(data.get(p + 1).copied().unwrap_or(0));
        Op::XZero((usize::from(b & 0x3f) << 8 | lo) + 1)
    } else {
        Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 3) + 1)
    }
}

/// ZERO of `len` (1..=64) registers.
pub fn zero(len: usize) -> u8 {
    (len - 1) as u8
}

/// XZERO of `len` (1..=16384) registers.
pub fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | 0x40, (l & 0xff) as u8]
}

/// VAL of `len` (1..=4) registers at `value` (1..=32).
pub fn val(value: u8, len: usize) -> u8 {
    ((value - 1) << 2) | (len - 1) as u8 | 0x80
}

/// Adds the registers' values to `histo`; [`Corrupt`] unless the opcodes cover exactly
/// 16384 registers.
pub fn histogram(data: &[u8], histo: &mut Histogram) -> Result<(), Corrupt> {
    let mut set = 0u32;
    for_each_register(data, |_, v| {
        histo[usize::from(v)] += 1;
        set += 1;
    })?;
    // The rest are the ZERO and XZERO runs.
    histo[0] += REGISTERS as u32 - set;
    Ok(())
}

/// Calls `f(register, value)` for every register a VAL opcode sets, in order;
/// [`Corrupt`] unless the opcodes cover exactly 16384 registers (a VAL that would run
/// past the end is not applied, as Redis's merge and conversion stop there).
pub fn for_each_register(data: &[u8], mut f: impl FnMut(usize, u8)) -> Result<(), Corrupt> {
    let mut idx = 0usize;
    let mut p = 0;
    while p < data.len() {
        let op = op_at(data, p);
        if let Op::Val(v, n) = op {
            if idx + n > REGISTERS {
                return Err(Corrupt);
            }
            for i in idx..idx + n {
                f(i, v);
            }
        }
        idx += op.run();
        if idx > REGISTERS {
            return Err(Corrupt);
        }
        p += op.width();
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// The dense form of the sparse HLL `s` (header included; the header carries over, with
/// the encoding byte set to dense).
pub fn to_dense(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut out = vec![0u8; DENSE_LEN];
    out[..HEADER].copy_from_slice(s.get(..HEADER).ok_or(Corrupt)?);
    out[4] = 0;
    let regs = &mut out[HEADER..];
    for_each_register(&s[HEADER..], |i, v| dense::put(regs, i, v))?;
    Ok(out)
}

/// Where the opcode covering a register is.
struct Found {
    /// Its offset in the string.
    at: usize,
    /// The first register it covers.
    first: usize,
    /// The offset of the opcode before it, if any.
    prev: Option<usize>,
    op: Op,
}

/// Finds the opcode covering register `index` of the sparse HLL `s` (header included),
/// as Redis's `hllSparseSet` walks to it: [`Corrupt`] when the opcodes end first.
fn locate(s: &[u8], index: usize) -> Result<Found, Corrupt> {
    let mut p = HEADER;
    let mut first = 0usize;
    let mut prev = None;
    while p < s.len() {
        let op = op_at(s, p);
        if index < first + op.run() {
            return Ok(Found {
                at: p,
                first,
                prev,
                op,
            });
        }
        prev = Some(p);
        p += op.width();
        first += op.run();
    }
    Err(Corrupt)
}

/// Register `index` of the sparse HLL `s` (header included), found as [`set`] finds it.
pub fn register(s: &[u8], index: usize) -> Result<u8, Corrupt> {
    Ok(match locate(s, index)?.op {
        Op::Val(v, _) => v,
        _ => 0,
    })
}

/// Raises register `index` of the sparse HLL `s` to `value` if it is lower: true when it
/// did. Redis's `hllSparseSet`, step for step:
///
/// 1. a value above 32 promotes the HLL to dense first;
/// 2. find the opcode covering `index` ([`Corrupt`] if the opcodes end before it);
/// 3. a VAL already at least `value` changes nothing; a VAL or ZERO of one register is
///    rewritten in place; otherwise the opcode is split into up to three (XZERO, VAL,
///    XZERO at worst), promoting to dense instead if that would make `s` longer than
///    `sparse_max` bytes;
/// 4. equal VAL neighbours are merged, looking at up to five opcodes from the one
///    before the change; the cached count is marked stale.
pub fn set(s: &mut Vec<u8>, index: usize, value: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if value > VAL_MAX_VALUE {
        return promote(s, index, value);
    }
    let end = s.len();
    let Found {
        at: p,
        first,
        prev,
        op,
    } = locate(s, index)?;
    match op {
        Op::Val(old, _) if old >= value => return Ok(false),
        Op::Val(_, 1) | Op::Zero(1) => {
            s[p] = val(value, 1);
            merge_neighbours(s, prev);
            return Ok(true);
        }
        _ => {}
    }
    // Split the opcode around `index`.
    let last = first + op.run() - 1;
    let mut seq = [0u8; 5];
    let mut n = 0;
    let mut push = |bytes: &[u8]| {
        seq[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    let zeros = |len: usize, push: &mut dyn FnMut(&[u8])| {
        if len > ZERO_MAX_LEN {
            push(&xzero(len));
        } else {
            push(&[zero(len)]);
        }
    };
    match op {
        Op::Zero(_) | Op::XZero(_) => {
            if index != first {
                zeros(index - first, &mut push);
            }
            push(&[val(value, 1)]);
            if index != last {
                zeros(last - index, &mut push);
            }
        }
        Op::Val(cur, _) => {
            if index != first {
                push(&[val(cur, index - first)]);
            }
            push(&[val(value, 1)]);
            if index != last {
                push(&[val(cur, last - index)]);
            }
        }
    }
    let new_len = (end + n).checked_sub(op.width()).ok_or(Corrupt)?;
    if new_len > end && new_len > sparse_max {
        return promote(s, index, value);
    }
    // An XZERO cut short by the end takes one byte, not two: as in Redis, the string
    // then ends one byte short of the new sequence.
    s.splice(p..(p + op.width()).min(end), seq[..n].iter().copied());
    s.truncate(new_len);
    merge_neighbours(s, prev);
    Ok(true)
}

/// Step 4 of [`set`]: merges adjacent VALs of one value whose runs fit one opcode,
/// scanning up to five opcodes from `prev` (or the first), and marks the count stale.
fn merge_neighbours(s: &mut Vec<u8>, prev: Option<usize>) {
    let mut p = prev.unwrap_or(HEADER);
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        let b = s[p];
        if is_xzero(b) {
            p += 2;
            continue;
        }
        if is_zero(b) {
            p += 1;
            continue;
        }
        if p + 1 < s.len()
            && is_val(s[p + 1])
            && let (Op::Val(v1, l1), Op::Val(v2, l2)) = (op_at(s, p), op_at(s, p + 1))
            && v1 == v2
            && l1 + l2 <= VAL_MAX_LEN
        {
            s[p + 1] = val(v1, l1 + l2);
            s.remove(p);
            // Try the merged opcode with its right neighbour too.
            continue;
        }
        p += 1;
    }
    super::invalidate_cache(s);
}

/// Converts `s` to dense and raises the register there.
fn promote(s: &mut Vec<u8>, index: usize, value: u8) -> Result<bool, Corrupt> {
    *s = to_dense(s)?;
    Ok(dense::raise(&mut s[HEADER..], index, value))
}

/// The opcodes as PFDEBUG DECODE spells them, separated by spaces.
pub fn decode(data: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut p = 0;
    while p < data.len() {
        let op = op_at(data, p);
        let _ = match op {
            Op::Zero(n) => write!(out, "z:{n} "),
            Op::XZero(n) => write!(out, "Z:{n} "),
            Op::Val(v, n) => write!(out, "v:{v},{n} "),
        };
        p += op.width();
    }
    out.truncate(out.trim_end_matches(' ').len());
    out
}

#[cfg(test)]
mod tests {
    use super::super::{SPARSE_MAX_BYTES, count, empty};
    use super::*;

    fn decoded(s: &[u8]) -> String {
        decode(&s[HEADER..])
    }

    #[test]
    fn opcodes_round_trip() {
        for n in 1..=64 {
            assert_eq!(op_at(&[zero(n)], 0), Op::Zero(n));
        }
        for n in [1, 64, 65, 1000, 16383, 16384] {
            assert_eq!(op_at(&xzero(n), 0), Op::XZero(n));
        }
        for v in 1..=32 {
            for n in 1..=4 {
                assert_eq!(op_at(&[val(v, n)], 0), Op::Val(v, n));
            }
        }
        // A cut-short XZERO reads a 0 low byte.
        assert_eq!(op_at(&[0x7f], 0), Op::XZero(0x3f00 + 1));
    }

    #[test]
    fn the_documented_example() {
        let mut s = empty();
        set(&mut s, 1000, 2, SPARSE_MAX_BYTES).unwrap();
        set(&mut s, 1020, 3, SPARSE_MAX_BYTES).unwrap();
        set(&mut s, 1021, 3, SPARSE_MAX_BYTES).unwrap();
        assert_eq!(decoded(&s), "Z:1000 v:2,1 z:19 v:3,2 Z:15362");
        // Lower or equal values change nothing.
        assert_eq!(set(&mut s, 1021, 3, SPARSE_MAX_BYTES), Ok(false));
        assert_eq!(set(&mut s, 1000, 1, SPARSE_MAX_BYTES), Ok(false));
        // A VAL of one is rewritten in place; a ZERO split at its edges.
        set(&mut s, 1000, 5, SPARSE_MAX_BYTES).unwrap();
        set(&mut s, 1001, 5, SPARSE_MAX_BYTES).unwrap();
        assert_eq!(decoded(&s), "Z:1000 v:5,2 z:18 v:3,2 Z:15362");
        set(&mut s, 1020, 4, SPARSE_MAX_BYTES).unwrap();
        assert_eq!(decoded(&s), "Z:1000 v:5,2 z:18 v:4,1 v:3,1 Z:15362");
        set(&mut s, 0, 1, SPARSE_MAX_BYTES).unwrap();
        set(&mut s, 16383, 1, SPARSE_MAX_BYTES).unwrap();
        assert_eq!(
            decoded(&s),
            "v:1,1 Z:999 v:5,2 z:18 v:4,1 v:3,1 Z:15361 v:1,1"
        );
        assert_eq!((register(&s, 1000), register(&s, 1002)), (Ok(5), Ok(0)));
        let mut regs = vec![0u8; REGISTERS];
        for_each_register(&s[HEADER..], |i, v| regs[i] = v).unwrap();
        assert_eq!(
            (
                regs[0],
                regs[1000],
                regs[1001],
                regs[1020],
                regs[1021],
                regs[16383]
            ),
            (1, 5, 5, 4, 3, 1)
        );
    }

    #[test]
    fn values_above_32_promote() {
        let mut s = empty();
        set(&mut s, 7, 12, SPARSE_MAX_BYTES).unwrap();
        assert_eq!(decoded(&s), "z:7 v:12,1 Z:16376");
        assert_eq!(set(&mut s, 9, 33, SPARSE_MAX_BYTES), Ok(true));
        assert_eq!(s.len(), DENSE_LEN);
        assert_eq!(dense::get(&s[HEADER..], 7), 12);
        assert_eq!(dense::get(&s[HEADER..], 9), 33);
    }

    #[test]
    fn corrupt_runs_are_refused() {
        let mut s = empty();
        s.truncate(HEADER);
        s.extend_from_slice(&xzero(16000));
        let mut h = [0u32; 64];
        assert_eq!(histogram(&s[HEADER..], &mut h), Err(Corrupt));
        assert_eq!(count(&s), Err(Corrupt));
        assert_eq!(
            set(&mut s.clone(), 16100, 1, SPARSE_MAX_BYTES),
            Err(Corrupt)
        );
        assert_eq!(register(&s, 16100), Err(Corrupt));
        // Inside the runs that are there, a set still works (Redis does not walk on).
        assert_eq!(set(&mut s, 10, 1, SPARSE_MAX_BYTES), Ok(true));
        // Too many registers.
        let mut s = empty();
        s.push(zero(3));
        assert_eq!(count(&s), Err(Corrupt));
        assert_eq!(to_dense(&s), Err(Corrupt));
        // A VAL running past the end.
        let mut s = empty();
        s.truncate(HEADER);
        s.extend_from_slice(&xzero(16382));
        s.push(val(3, 4));
        assert_eq!(to_dense(&s), Err(Corrupt));
    }
}
