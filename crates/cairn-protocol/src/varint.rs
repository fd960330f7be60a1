//! Unsigned LEB128 varints, the workspace's one variable-length integer codec: seven bits
//! a byte, low bits first, the high bit set on every byte but the last. Entry blocks keep
//! key and value lengths this way (`cairn_store::entry`), DUMP payloads their string
//! lengths (`cairn_store::dump`).

/// The longest encoding of a `u64`.
pub const MAX_LEN: usize = 10;

/// How many bytes `n` takes.
pub fn len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Writes `n` into `buf`; returns how many bytes it took.
pub fn encode(mut n: u64, buf: &mut [u8; MAX_LEN]) -> usize {
    let mut i = 0;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf[i] = byte;
            return i + 1;
        }
        buf[i] = byte | 0x80;
        i += 1;
    }
}

/// Appends `n` to `out`.
pub fn push(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; MAX_LEN];
    let len = encode(n, &mut buf);
    out.extend_from_slice(&buf[..len]);
}

/// Reads a varint whose `i`-th byte `byte(i)` gives (`None` past the end of the input);
/// returns the value and the bytes it took, or `None` when it is cut short or does not fit
/// a `u64`.
pub fn read(mut byte: impl FnMut(usize) -> Option<u8>) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for i in 0..MAX_LEN {
        let b = byte(i)?;
        let bits = (b & 0x7f) as u64;
        // The tenth byte holds the top bit only.
        if i == MAX_LEN - 1 && bits > 1 {
            return None;
        }
        v |= bits << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Reads a varint from the front of `b`.
#[inline]
pub fn decode(b: &[u8]) -> Option<(u64, usize)> {
    // One byte (below 128) is what small collections' lengths nearly always take.
    match b.first() {
        Some(&first) if first < 0x80 => Some((u64::from(first), 1)),
        _ => read(|i| b.get(i).copied()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let enc = |n| {
            let mut out = Vec::new();
            push(&mut out, n);
            out
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(300), [0xac, 0x02]);
        assert_eq!(enc(u64::MAX).len(), MAX_LEN);
        assert_eq!(decode(&[0x80]), None, "cut short");
        assert_eq!(decode(&[0xff; 10]), None, "does not fit");
        assert_eq!(decode(&[0xac, 0x02, 0x55]), Some((300, 2)));
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(n: u64, tail: Vec<u8>) {
            let mut out = Vec::new();
            push(&mut out, n);
            prop_assert_eq!(out.len(), len(n));
            out.extend_from_slice(&tail);
            prop_assert_eq!(decode(&out), Some((n, len(n))));
        }

        #[test]
        fn any_bytes_decode_without_panic(b: Vec<u8>) {
            let _ = decode(&b);
        }
    }
}
