//! The orders Redis sorts search results in, reproduced step for step so that points at
//! equal distances (two members at one place) come out as Redis gives them: all of them
//! through glibc's `qsort` (a stable top-down merge sort), only the first COUNT through
//! Redis's `pqsort` (Bentley and McIlroy's quicksort, recursing only into the part that
//! holds the wanted positions).
//!
//! The comparison is C's: a negative, zero or positive `i32`. It need not be a total
//! order (a NaN distance compares as less than anything both ways), which is why these
//! are ports and not `sort_by`.

/// Sorts `v` as glibc's `qsort` does.
pub fn merge_sort<T: Copy>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32) {
    let mut tmp = Vec::with_capacity(v.len());
    merge_sort_with(v, cmp, &mut tmp);
}

fn merge_sort_with<T: Copy>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32, tmp: &mut Vec<T>) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    merge_sort_with(&mut v[..n1], cmp, tmp);
    merge_sort_with(&mut v[n1..], cmp, tmp);
    tmp.clear();
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) <= 0 {
            tmp.push(v[i]);
            i += 1;
        } else {
            tmp.push(v[j]);
            j += 1;
        }
    }
    tmp.extend_from_slice(&v[i..n1]);
    // What is left of the second half is in place already.
    v[..tmp.len()].copy_from_slice(tmp);
}

/// Sorts `v` far enough that positions `first..=last` hold what a full sort would put
/// there, as Redis's `pqsort` does (the rest is left in some order).
pub fn partial_sort<T: Copy>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32, first: usize, last: usize) {
    partial(v, 0, cmp, first, last);
}

/// `pqsort` on `a`, which starts at position `base` of the whole slice.
fn partial<T: Copy>(
    mut a: &mut [T],
    mut base: usize,
    cmp: &impl Fn(&T, &T) -> i32,
    first: usize,
    last: usize,
) {
    // Whether the part [start, start + len) of the whole holds a wanted position.
    let wanted = |start: usize, len: usize| {
        let end = start + len;
        !((first < start && last < start) || (first >= end && last >= end))
    };
    loop {
        let n = a.len();
        if n < 7 {
            for m in 1..n {
                let mut l = m;
                while l > 0 && cmp(&a[l - 1], &a[l]) > 0 {
                    a.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let mut pm = n / 2;
        if n > 7 {
            let mut pl = 0;
            let mut pn = n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(a, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(a, pm - d, pm, pm + d, cmp);
                pn = med3(a, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(a, pl, pm, pn, cmp);
        }
        a.swap(0, pm);
        // [0, pa) and (pd, n) equal the pivot, [pa, pb) less, (pc, pd] greater.
        let (mut pa, mut pb): (isize, isize) = (1, 1);
        let (mut pc, mut pd): (isize, isize) = (n as isize - 1, n as isize - 1);
        loop {
            while pb <= pc {
                let c = cmp(&a[pb as usize], &a[0]);
                if c > 0 {
                    break;
                }
                if c == 0 {
                    a.swap(pa as usize, pb as usize);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&a[pc as usize], &a[0]);
                if c < 0 {
                    break;
                }
                if c == 0 {
                    a.swap(pc as usize, pd as usize);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            a.swap(pb as usize, pc as usize);
            pb += 1;
            pc -= 1;
        }
        let pn = n as isize;
        let r = pa.min(pb - pa);
        swap_runs(a, 0, (pb - r) as usize, r as usize);
        let r = (pd - pc).min(pn - pd - 1);
        swap_runs(a, pb as usize, (pn - r) as usize, r as usize);
        let less = (pb - pa) as usize;
        if less > 1 && wanted(base, less) {
            partial(&mut a[..less], base, cmp, first, last);
        }
        let greater = (pd - pc) as usize;
        if greater <= 1 {
            return;
        }
        let start = n - greater;
        if !wanted(base + start, greater) {
            return;
        }
        a = &mut a[start..];
        base += start;
    }
}

/// The index of the median of three, as `pqsort`'s `med3` picks it.
fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> i32) -> usize {
    if cmp(&v[a], &v[b]) < 0 {
        if cmp(&v[b], &v[c]) < 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) > 0 {
        b
    } else if cmp(&v[a], &v[c]) < 0 {
        a
    } else {
        c
    }
}

/// Swaps the `n` elements from `i` with the `n` from `j`, one pair at a time.
fn swap_runs<T>(v: &mut [T], i: usize, j: usize, n: usize) {
    for k in 0..n {
        v.swap(i + k, j + k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's comparison of two distances.
    fn asc(a: &(f64, usize), b: &(f64, usize)) -> i32 {
        if a.0 > b.0 {
            1
        } else if a.0 == b.0 {
            0
        } else {
            -1
        }
    }

    fn items(n: usize, seed: u64) -> Vec<(f64, usize)> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n).map(|i| (f64::from(rng.u8(0..20)), i)).collect()
    }

    #[test]
    fn merge_sort_is_stable() {
        for n in [0, 1, 2, 7, 41, 300] {
            let mut v = items(n, n as u64);
            let mut want = v.clone();
            want.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            merge_sort(&mut v, &asc);
            assert_eq!(v, want);
        }
    }

    #[test]
    fn partial_sort_places_the_wanted_positions() {
        for n in [1, 5, 7, 8, 40, 41, 100, 1000] {
            for count in [1, 2, 3, 10, 50] {
                if count >= n {
                    continue;
                }
                let mut v = items(n, (n * 31 + count) as u64);
                partial_sort(&mut v, &asc, 0, count - 1);
                let mut full: Vec<f64> = v.iter().map(|x| x.0).collect();
                full.sort_by(|a, b| a.partial_cmp(b).unwrap());
                let got: Vec<f64> = v[..count].iter().map(|x| x.0).collect();
                assert_eq!(got, full[..count], "n {n} count {count}");
                // Nothing lost, nothing doubled.
                let mut ids: Vec<usize> = v.iter().map(|x| x.1).collect();
                ids.sort_unstable();
                assert_eq!(ids, (0..n).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn nan_does_not_panic() {
        let mut v: Vec<(f64, usize)> = (0..50)
            .map(|i| (if i % 3 == 0 { f64::NAN } else { i as f64 }, i))
            .collect();
        let mut w = v.clone();
        merge_sort(&mut v, &asc);
        partial_sort(&mut w, &asc, 0, 4);
        assert_eq!(v.len(), 50);
        assert_eq!(w.len(), 50);
    }
}
