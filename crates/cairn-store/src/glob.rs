//! Redis's glob patterns (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes.
//!
//! Matching backtracks only to the most recent `*`, so it runs in O(pattern × text) time
//! even for patterns like `*a*a*a*a*b` that make naive recursion exponential.

/// Does `text` match `pattern`?
pub fn matches(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: the pattern after it and the text position it
    // has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            if pattern[p] == b'*' {
                while p < pattern.len() && pattern[p] == b'*' {
                    p += 1;
                }
                if p == pattern.len() {
                    return true;
                }
                star = Some((p, t));
                continue;
            }
            if let Some(next) = match_one(pattern, p, text[t], nocase) {
                p = next;
                t += 1;
                continue;
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches one text byte against the pattern element at `p`; returns the position after
/// the element when it matches.
fn match_one(pat: &[u8], p: usize, c: u8, nocase: bool) -> Option<usize> {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    match pat[p] {
        b'?' => Some(p + 1),
        b'[' => {
            let mut i = p + 1;
            let negate = i < pat.len() && pat[i] == b'^';
            if negate {
                i += 1;
            }
            let mut hit = false;
            loop {
                if i >= pat.len() {
                    // Unterminated class: Redis treats the end of the pattern as its end.
                    break;
                }
                match pat[i] {
                    b']' => {
                        i += 1;
                        break;
                    }
                    b'\\' if i + 1 < pat.len() => {
                        if eq(pat[i + 1], c) {
                            hit = true;
                        }
                        i += 2;
                    }
                    lo if i + 2 < pat.len() && pat[i + 1] == b'-' => {
                        let hi = pat[i + 2];
                        let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
                        let in_range = |x: u8| x >= lo && x <= hi;
                        if in_range(c)
                            || (nocase
                                && (in_range(c.to_ascii_lowercase())
                                    || in_range(c.to_ascii_uppercase())))
                        {
                            hit = true;
                        }
                        i += 3;
                    }
                    lit => {
                        if eq(lit, c) {
                            hit = true;
                        }
                        i += 1;
                    }
                }
            }
            (hit != negate).then_some(i)
        }
        b'\\' if p + 1 < pat.len() => eq(pat[p + 1], c).then_some(p + 2),
        lit => eq(lit, c).then_some(p + 1),
    }
}

/// True when the pattern matches every string (`*`), so callers can skip matching.
pub fn matches_all(pattern: &[u8]) -> bool {
    !pattern.is_empty() && pattern.iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn redis_glob_cases() {
        let m = |p: &str, t: &str| matches(p.as_bytes(), t.as_bytes(), false);
        assert!(m("*", ""));
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("key:*:x", "key:1:2:x"));
        assert!(!m("key:*:x", "key:1:2:y"));
        assert!(m("*a*a*a*a*a*a*a*a*b", &("a".repeat(60) + "b")));
        assert!(!m("*a*a*a*a*a*a*a*a*b", &"a".repeat(60)));
        assert!(m("a*", "a"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(matches(b"HELLO", b"hello", true));
        assert!(matches(b"[A-C]x", b"bx", true));
    }
}
