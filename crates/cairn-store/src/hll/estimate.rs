//! From the registers' histogram to a cardinality: the improved raw estimator of Otmar
//! Ertl, "New cardinality estimation algorithms for HyperLogLog sketches"
//! (arXiv:1702.01284), which Redis uses since 5.0. It needs no bias tables and no
//! switch to linear counting; `sigma` accounts for the registers still at 0, `tau` for
//! those at the largest value a 64-bit hash can give (Q + 1).
//!
//! The arithmetic is Redis's, operation for operation, in `f64` (no fused multiply-add,
//! which x86-64 builds of Redis do not use either), so the same histogram gives the same
//! number.

use super::{Histogram, Q, REGISTERS};

/// 1 / (2 ln 2): alpha for m → ∞.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k-1).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

/// τ(x) = (1 - x - Σ_{k≥1} (1 - x^(2^-k))² 2^-k) / 3.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        // Redis writes pow(1 - x, 2), which compilers turn into this product.
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate for a histogram of the 16384 registers' values.
pub fn cardinality(histo: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(histo[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    let e = (ALPHA_INF * m * m / z).round();
    // llroundl rounds half away from zero, as f64::round; past i64 (only crafted
    // registers get there, or z = 0) it gives i64::MIN, which Redis reads as 2^63.
    if e < 9_223_372_036_854_775_808.0 {
        e as u64
    } else {
        1 << 63
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_histogram_counts_zero() {
        let mut h = [0u32; 64];
        h[0] = REGISTERS as u32;
        assert_eq!(cardinality(&h), 0);
    }

    #[test]
    fn one_register_set_counts_one() {
        let mut h = [0u32; 64];
        h[0] = REGISTERS as u32 - 1;
        h[1] = 1;
        assert_eq!(cardinality(&h), 1);
    }

    #[test]
    fn full_registers_count_large() {
        let mut h = [0u32; 64];
        h[20] = REGISTERS as u32;
        let n = cardinality(&h);
        assert!(n > 1 << 30, "{n}");
        let mut h = [0u32; 64];
        h[Q as usize + 1] = REGISTERS as u32;
        assert_eq!(cardinality(&h), 1 << 63);
    }
}
