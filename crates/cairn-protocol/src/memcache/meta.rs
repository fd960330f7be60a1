//! The flags of memcached's meta commands (`mg`, `ms`, `md`, `ma`), read as memcached's
//! `_meta_flag_preparse` reads them: one letter per token, each letter at most once,
//! numeric arguments checked, and the error lines memcached answers.
//!
//! The reply echoes some flags in the order the request gave them, so the flag tokens are
//! kept as given ([`MetaFlags::tokens`]) next to their parsed meaning.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{parse_flags, parse_i32, parse_u64};

/// Longest opaque (`O`) token echoed back, letter included.
pub const OPAQUE_MAX: usize = 32;
/// Most tokens a meta command may have, command and key included.
pub const TOKENS_MAX: usize = 19;

#[derive(Debug, Default)]
pub struct MetaFlags<'a> {
    /// The key, base64-decoded when `b` was given.
    pub key: Cow<'a, [u8]>,
    /// The flag tokens in request order.
    pub tokens: Vec<&'a [u8]>,
    /// `b`: the key travels base64-encoded.
    pub base64: bool,
    /// `N<ttl>`: create a placeholder on a miss, with this expiry time.
    pub vivify: Option<i32>,
    /// `T<ttl>`: set the expiry time.
    pub ttl: Option<i32>,
    /// `R<ttl>`: win a refill if the remaining TTL is below this.
    pub recache: Option<i32>,
    /// `v`: return the value.
    pub value: bool,
    /// `u`: do not bump the access time.
    pub no_update: bool,
    /// `q`: quiet mode (nominal replies are not sent).
    pub quiet: bool,
    /// `I`: invalidate (md: mark stale; ms: store a stale value if the CAS is older).
    pub invalidate: bool,
    /// `F<flags>`: client flags to store.
    pub client_flags: u32,
    /// `C<cas>`: compare against this CAS unique.
    pub cas: Option<u64>,
    /// `M<mode>`: mode switch of ms / ma.
    pub mode: Option<u8>,
    /// `J<n>`: ma's initial value on autovivify.
    pub initial: u64,
    /// `D<n>`: ma's delta.
    pub delta: Option<u64>,
}

/// Reads the flag tokens `flags` of a meta command on `key`. Errors are memcached's error
/// lines.
pub fn parse<'a>(key: &'a [u8], flags: &[&'a [u8]]) -> Result<MetaFlags<'a>, &'static str> {
    let mut m = MetaFlags {
        key: Cow::Borrowed(key),
        tokens: flags.to_vec(),
        ..MetaFlags::default()
    };
    let mut seen = [false; 128];
    let mut error = None;
    let bad_token = "CLIENT_ERROR bad token in command line format";
    for t in flags {
        let letter = t[0];
        if letter >= 127 || seen[letter as usize] {
            return Err("CLIENT_ERROR duplicate flag");
        }
        seen[letter as usize] = true;
        let arg = &t[1..];
        match letter {
            b'b' => match STANDARD.decode(key) {
                Ok(k) if !k.is_empty() => {
                    m.key = Cow::Owned(k);
                    m.base64 = true;
                }
                _ => error = Some("CLIENT_ERROR error decoding key"),
            },
            b'N' => match parse_i32(arg) {
                Some(n) => m.vivify = Some(n),
                None => error = Some(bad_token),
            },
            b'T' => match parse_i32(arg) {
                Some(n) => m.ttl = Some(n),
                None => error = Some(bad_token),
            },
            b'R' => match parse_i32(arg) {
                Some(n) => m.recache = Some(n),
                None => error = Some(bad_token),
            },
            b'F' => match parse_flags(arg) {
                Some(f) => m.client_flags = f,
                None => error = Some("CLIENT_ERROR bad command line format"),
            },
            b'C' => match parse_u64(arg) {
                Some(c) => m.cas = Some(c),
                None => error = Some(bad_token),
            },
            b'M' => {
                if t.len() != 2 {
                    error = Some("CLIENT_ERROR incorrect length for M token");
                } else {
                    m.mode = Some(arg[0]);
                }
            }
            b'J' => match parse_u64(arg) {
                Some(n) => m.initial = n,
                None => error = Some("CLIENT_ERROR invalid numeric initial value"),
            },
            b'D' => match parse_u64(arg) {
                Some(n) => m.delta = Some(n),
                None => error = Some("CLIENT_ERROR invalid numeric delta value"),
            },
            b'v' => m.value = true,
            b'u' => m.no_update = true,
            b'q' => m.quiet = true,
            b'I' => m.invalidate = true,
            b'O' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' | b'l' | b'h' => {}
            _ => return Err("CLIENT_ERROR invalid flag"),
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(m),
    }
}

/// The key as a reply echoes it (`k`): base64 again, followed by ` b`, when the request
/// sent it so.
pub fn echo_key(out: &mut Vec<u8>, key: &[u8], base64: bool) {
    out.extend_from_slice(b" k");
    if base64 {
        out.extend_from_slice(STANDARD.encode(key).as_bytes());
        out.extend_from_slice(b" b");
    } else {
        out.extend_from_slice(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_with_memcached_errors() {
        let m = parse(b"k", &[b"v", b"N30", b"c", b"Oab"]).unwrap();
        assert!(m.value);
        assert_eq!(m.vivify, Some(30));
        assert_eq!(m.tokens.len(), 4);
        assert_eq!(
            parse(b"k", &[b"v", b"v"]).unwrap_err(),
            "CLIENT_ERROR duplicate flag"
        );
        assert_eq!(
            parse(b"k", &[b"!"]).unwrap_err(),
            "CLIENT_ERROR invalid flag"
        );
        assert_eq!(
            parse(b"k", &[b"Nx"]).unwrap_err(),
            "CLIENT_ERROR bad token in command line format"
        );
        assert_eq!(
            parse(b"k", &[b"MSS"]).unwrap_err(),
            "CLIENT_ERROR incorrect length for M token"
        );
    }

    #[test]
    fn base64_keys_decode_and_echo() {
        let m = parse(b"Zm9v", &[b"b", b"k"]).unwrap();
        assert_eq!(&*m.key, b"foo");
        let mut out = Vec::new();
        echo_key(&mut out, &m.key, true);
        assert_eq!(out, b" kZm9v b");
        assert!(parse(b"!!!", &[b"b"]).is_err());
    }
}
