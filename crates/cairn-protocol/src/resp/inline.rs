//! Splitting an inline command line into arguments, as Redis's `sdssplitargs` does.
//!
//! ```text
//! set key "a \"quoted\" value\x21" 'single \' quote'
//! ```
//!
//! Arguments are separated by whitespace. Double quotes understand `\n \r \t \b \a \\ \"`
//! and `\xHH`; single quotes understand only `\'`. A closing quote must be followed by
//! whitespace or the end of the line.

use std::ops::Range;

/// Appends each argument's bytes to `data` and its range to `ranges`. Returns `false` for
/// unbalanced quotes (Redis's "unbalanced quotes in request").
pub fn split_args(line: &[u8], data: &mut Vec<u8>, ranges: &mut Vec<Range<usize>>) -> bool {
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return true;
        }
        let start = data.len();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return false;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3]))
                {
                    data.push(h * 16 + l);
                    i += 4;
                    continue;
                }
                if c == b'\\' && i + 1 < n {
                    data.push(match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    i += 2;
                } else if c == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return false;
                    }
                    i += 1;
                    break;
                } else {
                    data.push(c);
                    i += 1;
                }
            } else if in_sq {
                if i >= n {
                    return false;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    data.push(b'\'');
                    i += 2;
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return false;
                    }
                    i += 1;
                    break;
                } else {
                    data.push(c);
                    i += 1;
                }
            } else {
                if i >= n || is_space(line[i]) {
                    break;
                }
                match line[i] {
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => data.push(c),
                }
                i += 1;
            }
        }
        ranges.push(start..data.len());
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Option<Vec<Vec<u8>>> {
        let (mut data, mut ranges) = (Vec::new(), Vec::new());
        split_args(line, &mut data, &mut ranges)
            .then(|| ranges.iter().map(|r| data[r.clone()].to_vec()).collect())
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(
            split(br#"set  k "a\x41\n\"" 'it\'s'"#).unwrap(),
            vec![
                b"set".to_vec(),
                b"k".to_vec(),
                b"aA\n\"".to_vec(),
                b"it's".to_vec()
            ]
        );
        assert_eq!(
            split(b"a\"b c\" d").unwrap(),
            vec![b"ab c".to_vec(), b"d".to_vec()]
        );
        assert_eq!(split(b"\"\"").unwrap(), vec![Vec::<u8>::new()]);
        assert_eq!(split(b"   ").unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn unbalanced() {
        assert!(split(b"\"abc").is_none());
        assert!(split(b"'abc").is_none());
        assert!(split(b"\"abc\"x").is_none());
    }
}
