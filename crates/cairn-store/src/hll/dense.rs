//! The dense encoding: 16384 registers of 6 bits, each starting at bit `6 * i` of the
//! array and filled from the low bit of a byte up, spilling into the next byte:
//!
//! ```text
//! byte:   0        1        2
//!       +--------+--------+--------+
//!       |11000000|22221111|33333322|   register 0 = bits 0..6 of byte 0,
//!       +--------+--------+--------+   register 1 = bits 6..8 of byte 0 + 0..4 of byte 1
//! ```
//!
//! The last register ends inside the array; like Redis's macros these read the byte
//! after a register's first byte and treat it as 0 when the array ends there.

use super::{BITS, Histogram, REGISTER_MAX, REGISTERS};

/// Register `i` of `regs` (the bytes after the header).
#[inline]
pub fn get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = u32::from(regs.get(byte).copied().unwrap_or(0));
    let b1 = u32::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u32::from(REGISTER_MAX)) as u8
}

/// Sets register `i` to `v` (at most 63).
#[inline]
pub fn put(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = u32::from(v & REGISTER_MAX);
    let max = u32::from(REGISTER_MAX);
    if let Some(b) = regs.get_mut(byte) {
        *b &= !((max << fb) as u8);
        *b |= (v << fb) as u8;
    }
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((max >> (8 - fb)) as u8);
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// Raises register `i` to `v` if it is lower: true when it did.
#[inline]
pub fn raise(regs: &mut [u8], i: usize, v: u8) -> bool {
    if v > get(regs, i) {
        put(regs, i, v);
        true
    } else {
        false
    }
}

/// Adds every register's value to `histo`: four registers per three bytes. `regs` holds
/// all of them (at least 12288 bytes; shorter panics).
pub fn histogram(regs: &[u8], histo: &mut Histogram) {
    let whole = REGISTERS * BITS / 8;
    for c in regs[..whole].chunks_exact(3) {
        let (b0, b1, b2) = (usize::from(c[0]), usize::from(c[1]), usize::from(c[2]));
        histo[b0 & 63] += 1;
        histo[(b0 >> 6 | b1 << 2) & 63] += 1;
        histo[(b1 >> 4 | b2 << 4) & 63] += 1;
        histo[(b2 >> 2) & 63] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_keep_their_values_and_leave_neighbours_alone() {
        let mut regs = vec![0u8; REGISTERS * BITS / 8];
        let mut rng = fastrand::Rng::with_seed(1);
        let want: Vec<u8> = (0..REGISTERS).map(|_| rng.u8(..) & 63).collect();
        for (i, &v) in want.iter().enumerate() {
            put(&mut regs, i, v);
        }
        for (i, &v) in want.iter().enumerate() {
            assert_eq!(get(&regs, i), v, "register {i}");
        }
        let mut histo = [0u32; 64];
        histogram(&regs, &mut histo);
        for (v, &n) in histo.iter().enumerate() {
            assert_eq!(
                n as usize,
                want.iter().filter(|&&w| usize::from(w) == v).count()
            );
        }
    }

    #[test]
    fn the_layout_is_redis_s() {
        let mut regs = vec![0u8; 3];
        put(&mut regs, 0, 0b000011);
        put(&mut regs, 1, 0b111111);
        assert_eq!(regs, [0b1100_0011, 0b0000_1111, 0]);
        put(&mut regs, 3, 0b101010);
        assert_eq!(regs[2], 0b1010_1000);
        assert!(!raise(&mut regs, 1, 5));
        assert!(raise(&mut regs, 2, 5));
        assert_eq!(get(&regs, 2), 5);
        // The last register of a full array.
        let mut full = vec![0u8; REGISTERS * BITS / 8];
        put(&mut full, REGISTERS - 1, 63);
        assert_eq!(get(&full, REGISTERS - 1), 63);
        assert_eq!(full[full.len() - 1], 0b1111_1100);
    }
}
