//! INCRBYFLOAT arithmetic exactly as Redis does it on x86-64: both operands read with
//! `strtold` into an 80-bit `long double` (64-bit mantissa), added, and printed with
//! `%.17Lf` (trailing zeros trimmed). An f64 sum cannot reproduce its results (Redis gives
//! 0.1 + 0.2 = 0.3 and 1.1 + 1000 = 1001.09999999999999998), so the arithmetic is done
//! exactly on small big integers and rounded the way the FPU rounds.

use std::cmp::Ordering;

/// Unsigned big integer, little-endian 32-bit limbs, no high zero limbs.
#[derive(Clone, Debug, Default)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bits(&self) -> i64 {
        self.0.last().map_or(0, |&top| {
            (self.0.len() as i64 - 1) * 32 + 32 - i64::from(top.leading_zeros())
        })
    }

    fn bit(&self, i: i64) -> bool {
        i >= 0
            && self
                .0
                .get((i / 32) as usize)
                .is_some_and(|l| l >> (i % 32) & 1 == 1)
    }

    /// Whether any of the lowest `n` bits is set.
    fn any_below(&self, n: i64) -> bool {
        let full = (n.max(0) / 32) as usize;
        self.0.iter().take(full).any(|&l| l != 0)
            || (n % 32 != 0
                && self
                    .0
                    .get(full)
                    .is_some_and(|&l| l & ((1 << (n % 32)) - 1) != 0))
    }

    fn mul_add(&mut self, m: u32, add: u32) {
        let mut carry = u64::from(add);
        for l in &mut self.0 {
            let v = u64::from(*l) * u64::from(m) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    /// Divides in place by `d`, returning the remainder.
    fn div_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for l in self.0.iter_mut().rev() {
            let v = rem << 32 | u64::from(*l);
            *l = (v / u64::from(d)) as u32;
            rem = v % u64::from(d);
        }
        self.trim();
        rem as u32
    }

    fn mul_pow10(&mut self, mut n: u32) {
        while n >= 9 {
            self.mul_add(1_000_000_000, 0);
            n -= 9;
        }
        self.mul_add(10u32.pow(n), 0);
    }

    fn shl(&self, n: i64) -> Big {
        let (limbs, bits) = ((n / 32) as usize, (n % 32) as u32);
        let mut out = vec![0u32; limbs];
        let mut carry = 0u32;
        for &l in &self.0 {
            out.push(l << bits | carry);
            carry = if bits == 0 { 0 } else { l >> (32 - bits) };
        }
        out.push(carry);
        let mut b = Big(out);
        b.trim();
        b
    }

    fn shr(&self, n: i64) -> Big {
        let (limbs, bits) = ((n / 32) as usize, (n % 32) as u32);
        let src = self.0.get(limbs..).unwrap_or(&[]);
        let mut out = Vec::with_capacity(src.len());
        for (i, &l) in src.iter().enumerate() {
            let hi = if bits == 0 {
                0
            } else {
                src.get(i + 1).map_or(0, |&h| h << (32 - bits))
            };
            out.push(l >> bits | hi);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn cmp(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    fn add(&self, o: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len().max(o.0.len()) + 1);
        let mut carry = 0u64;
        for i in 0..self.0.len().max(o.0.len()) {
            let v = u64::from(*self.0.get(i).unwrap_or(&0))
                + u64::from(*o.0.get(i).unwrap_or(&0))
                + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        out.push(carry as u32);
        let mut b = Big(out);
        b.trim();
        b
    }

    /// `self - o`, for `self >= o`.
    fn sub(&self, o: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for (i, &l) in self.0.iter().enumerate() {
            let mut v = i64::from(l) - i64::from(*o.0.get(i).unwrap_or(&0)) - borrow;
            borrow = i64::from(v < 0);
            if v < 0 {
                v += 1 << 32;
            }
            out.push(v as u32);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    /// Quotient and remainder, by shift and subtract (callers keep the quotient short).
    fn div_rem(&self, d: &Big) -> (Big, Big) {
        if self.cmp(d) == Ordering::Less {
            return (Big::default(), self.clone());
        }
        let shift = self.bits() - d.bits();
        let mut q = vec![0u32; (shift / 32 + 1) as usize];
        let mut r = self.clone();
        let mut dd = d.shl(shift);
        for i in (0..=shift).rev() {
            if r.cmp(&dd) != Ordering::Less {
                r = r.sub(&dd);
                q[(i / 32) as usize] |= 1 << (i % 32);
            }
            dd = dd.shr(1);
        }
        let mut q = Big(q);
        q.trim();
        (q, r)
    }

    fn to_u64(&self) -> u64 {
        u64::from(*self.0.first().unwrap_or(&0)) | u64::from(*self.0.get(1).unwrap_or(&0)) << 32
    }
}

impl Ld {
    pub const ZERO: Ld = Ld {
        neg: false,
        mant: 0,
        exp: 0,
    };
}

/// Exponent of the smallest subnormal `long double`, 2^-16445.
const MIN_LSB: i64 = -16445;
/// Every finite `long double` is below 2^16384.
const MAX_BITS: i64 = 16384;

/// A finite `long double`: ±mant × 2^exp.
#[derive(Clone, Copy, Debug)]
pub struct Ld {
    neg: bool,
    mant: u64,
    exp: i64,
}

/// Rounds ±n × 2^e2 to a `long double` (nearest, ties to even, as the FPU does); `None`
/// when it overflows.
fn round(neg: bool, n: &Big, e2: i64) -> Option<Ld> {
    if n.is_zero() {
        return Some(Ld {
            neg,
            mant: 0,
            exp: 0,
        });
    }
    let bits = n.bits();
    let mut lsb = (e2 + bits - 64).max(MIN_LSB);
    let mut mant = if lsb <= e2 {
        n.shl(e2 - lsb).to_u64()
    } else {
        let shift = lsb - e2;
        let q = n.shr(shift).to_u64();
        let half = n.bit(shift - 1);
        let sticky = n.any_below(shift - 1);
        if half && (sticky || q & 1 == 1) {
            match q.checked_add(1) {
                Some(v) => v,
                None => {
                    lsb += 1;
                    1 << 63
                }
            }
        } else {
            q
        }
    };
    if mant == 0 {
        lsb = 0;
        mant = 0;
    }
    if mant != 0 && lsb + 64 - i64::from(mant.leading_zeros()) > MAX_BITS {
        return None;
    }
    Some(Ld {
        neg,
        mant,
        exp: lsb,
    })
}

/// What `strtold` made of a string that Redis's `string2ld` accepts.
pub enum Parsed {
    Num(Ld),
    /// Infinity, of either sign: any sum with it is refused.
    Inf,
}

/// Redis's `string2ld`: the whole string must be a number for `strtold`, without leading
/// space, not NaN, and neither overflowing nor underflowing to zero.
pub fn parse(s: &[u8]) -> Option<Parsed> {
    if s.is_empty() || s.len() >= 5 * 1024 {
        return None;
    }
    let (neg, body) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if lower == b"inf" || lower == b"infinity" {
        return Some(Parsed::Inf);
    }
    let hex = lower.starts_with(b"0x")
        && lower.len() > 2
        && (lower[2].is_ascii_hexdigit()
            || lower[2] == b'.' && lower.get(3).is_some_and(u8::is_ascii_hexdigit));
    let (radix, digits_at, exp_char) = if hex { (16u32, 2, b'p') } else { (10, 0, b'e') };
    let mut n = Big::default();
    let (mut seen_digit, mut seen_point, mut frac_digits, mut sig) = (false, false, 0i64, 0usize);
    let mut i = digits_at;
    while i < lower.len() {
        let c = lower[i];
        if c == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(d) = (c as char).to_digit(radix) {
            seen_digit = true;
            if sig > 0 || d != 0 {
                sig += 1;
            }
            n.mul_add(radix, d);
            if seen_point {
                frac_digits += 1;
            }
        } else {
            break;
        }
        i += 1;
    }
    if !seen_digit {
        return None;
    }
    let mut exp = 0i64;
    if i < lower.len() && lower[i] == exp_char {
        let mut j = i + 1;
        let eneg = match lower.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let start = j;
        while j < lower.len() && lower[j].is_ascii_digit() {
            exp = (exp * 10 + i64::from(lower[j] - b'0')).min(1 << 40);
            j += 1;
        }
        if j == start {
            return None;
        }
        if eneg {
            exp = -exp;
        }
        i = j;
    }
    if i != lower.len() {
        return None;
    }
    if n.is_zero() {
        return Some(Parsed::Num(Ld {
            neg,
            mant: 0,
            exp: 0,
        }));
    }
    let ld = if hex {
        let e2 = exp - 4 * frac_digits;
        if e2 + n.bits() > MAX_BITS + 1 || e2 + n.bits() < MIN_LSB - 1 {
            return None;
        }
        round(neg, &n, e2)?
    } else {
        let e10 = exp - frac_digits;
        // The value lies in [10^(mag-1), 10^mag).
        let mag = e10 + sig as i64;
        if mag > 4933 {
            return None;
        }
        if mag < -4952 {
            return None;
        }
        if e10 >= 0 {
            let mut v = n;
            v.mul_pow10(e10 as u32);
            round(neg, &v, 0)?
        } else {
            let mut den = Big::from_u64(1);
            den.mul_pow10((-e10) as u32);
            // Enough quotient bits for 64 mantissa bits, a rounding bit and more, then
            // the remainder as a sticky bit below them.
            let k = (66 + den.bits() - n.bits() + 1).max(0);
            let (q, r) = n.shl(k).div_rem(&den);
            let mut v = q.shl(1);
            if !r.is_zero() {
                v.mul_add(1, 1);
            }
            round(neg, &v, -k - 1)?
        }
    };
    if ld.mant == 0 {
        // Underflow to zero: strtold reports ERANGE, which string2ld refuses.
        return None;
    }
    Some(Parsed::Num(ld))
}

/// The exact sum, rounded once; `None` on overflow.
pub fn add(a: Ld, b: Ld) -> Option<Ld> {
    let e = a.exp.min(b.exp);
    let x = Big::from_u64(a.mant).shl(a.exp - e);
    let y = Big::from_u64(b.mant).shl(b.exp - e);
    if a.neg == b.neg {
        return round(a.neg, &x.add(&y), e);
    }
    match x.cmp(&y) {
        Ordering::Equal => Some(Ld {
            neg: false,
            mant: 0,
            exp: 0,
        }),
        Ordering::Greater => round(a.neg, &x.sub(&y), e),
        Ordering::Less => round(b.neg, &y.sub(&x), e),
    }
}

/// `%.17Lf` with the trailing zeros (and a bare point) removed, `-0` as `0`: Redis's
/// `ld2string(..., LD_STR_HUMAN)`.
pub fn human(v: Ld) -> String {
    let mut x = Big::from_u64(v.mant);
    x.mul_pow10(17);
    let x = if v.exp >= 0 {
        x.shl(v.exp)
    } else {
        let shift = -v.exp;
        let mut q = x.shr(shift);
        if x.bit(shift - 1) && (x.any_below(shift - 1) || q.bit(0)) {
            q.mul_add(1, 1);
        }
        q
    };
    let mut digits = Vec::new();
    let mut x = x;
    while !x.is_zero() {
        let mut chunk = x.div_small(1_000_000_000);
        for _ in 0..9 {
            digits.push(b'0' + (chunk % 10) as u8);
            chunk /= 10;
        }
    }
    while digits.len() > 18 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    digits.resize(digits.len().max(18), b'0');
    digits.reverse();
    let (int, frac) = digits.split_at(digits.len() - 17);
    let frac = std::str::from_utf8(frac)
        .expect("digits")
        .trim_end_matches('0');
    let mut s = String::new();
    if v.neg {
        s.push('-');
    }
    s.push_str(std::str::from_utf8(int).expect("digits"));
    if !frac.is_empty() {
        s.push('.');
        s.push_str(frac);
    }
    if s == "-0" { "0".into() } else { s }
}

#[cfg(test)]
mod tests {
    /// Pairs and results produced by Redis's own code path compiled with gcc on x86-64
    /// (string2ld, long double addition, ld2string human mode).
    #[test]
    fn incrbyfloat_matches_long_double() {
        let sum = |a: &str, b: &str| -> Option<String> {
            match (super::parse(a.as_bytes())?, super::parse(b.as_bytes())?) {
                (super::Parsed::Num(x), super::Parsed::Num(y)) => {
                    Some(super::add(x, y).map_or("inf".into(), super::human))
                }
                _ => Some("inf".into()),
            }
        };
        for (a, b, want) in [
            ("0.1", "0.2", "0.3"),
            ("10.50", "0.1", "10.6"),
            ("5.0e3", "2.0e2", "5200"),
            ("1.1", "1000", "1001.09999999999999998"),
            ("1", "1e20", "100000000000000000000"),
            ("1", "1e17", "100000000000000001"),
            ("0x10", "1", "17"),
            ("1e-5", "0", "0.00001"),
            ("0.0000057220458984375", "0", "0.00000572204589844"),
            ("0.00002002716064453125", "-0.00004", "-0.00001997283935547"),
            ("18446744073709551621", "0", "18446744073709551620"),
            ("295147905179352825857", "-1", "295147905179352825856"),
            ("9223372036854775853", "22.5", "9223372036854775876"),
            ("-1e-30", "0", "0"),
            ("1.5", "-1.5", "0"),
            ("1e4932", "1e4932", "inf"),
            ("inf", "1", "inf"),
        ] {
            assert_eq!(sum(a, b).as_deref(), Some(want), "{a} + {b}");
        }
        for bad in [
            "", " 1", "1 ", "nan", "1e", "0x", ".", "1e5000", "1e-5000", "1_0",
        ] {
            assert!(super::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
    }
}
