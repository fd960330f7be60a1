//! How Redis spells the numbers of its geo replies.

/// A distance with four decimals, as Redis's `fixedpoint_d2string(.., 4)`: the value
/// times 10^4 rounded to an integer (half to even), then split at the fourth digit. A
/// value that does not round into a 64-bit integer (NaN among them) spells what x86's
/// `llrint` gives for it, `i64::MIN`.
pub fn distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    const TWO_63: f64 = (1u64 << 63) as f64;
    let scaled = d * 10_000.0;
    let n = if (-TWO_63..TWO_63).contains(&scaled) {
        scaled.round_ties_even() as i64
    } else {
        i64::MIN
    };
    let sign = if n < 0 { "-" } else { "" };
    let v = n.unsigned_abs();
    format!("{sign}{}.{:04}", v / 10_000, v % 10_000)
}

/// A coordinate as Redis's `addReplyHumanLongDouble` spells it: `%.17Lf` (the double's
/// exact value rounded to 17 decimals), trailing zeros and a bare point removed, `-0`
/// as `0`.
pub fn coordinate(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        let kept = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(kept);
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// The error for a point outside Redis's limits: the pair printed with `%f`.
pub fn invalid_pair(lon: f64, lat: f64) -> String {
    format!("ERR invalid longitude,latitude pair {lon:.6},{lat:.6}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_have_four_decimals() {
        assert_eq!(distance(0.0), "0.0000");
        assert_eq!(distance(-0.0), "0.0000");
        assert_eq!(distance(166274.15156960033), "166274.1516");
        assert_eq!(distance(0.00004), "0.0000");
        assert_eq!(distance(0.00005), "0.0000");
        assert_eq!(distance(0.00015), "0.0001");
        assert_eq!(distance(0.00016), "0.0002");
        assert_eq!(distance(0.7750), "0.7750");
        assert_eq!(distance(12.5), "12.5000");
        assert_eq!(distance(-1.25), "-1.2500");
        assert_eq!(distance(f64::NAN), "-922337203685477.5808");
    }

    /// GEOPOS replies of redis-server 7.0.15.
    #[test]
    fn coordinates_are_human_long_doubles() {
        assert_eq!(coordinate(13.361389338970184), "13.36138933897018433");
        assert_eq!(coordinate(45.0 / 16_777_216.0), "0.00000268220901489");
        assert_eq!(coordinate(180.0), "180");
        assert_eq!(coordinate(85.05112878), "85.0511287799999991");
        assert_eq!(coordinate(-179.99999731779099), "-179.99999731779098511");
        assert_eq!(coordinate(0.5), "0.5");
        assert_eq!(coordinate(-1e-30), "0");
        assert_eq!(coordinate(0.0), "0");
        assert_eq!(coordinate(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn invalid_pairs_print_six_decimals() {
        assert_eq!(
            invalid_pair(200.0, 10.0),
            "ERR invalid longitude,latitude pair 200.000000,10.000000"
        );
        assert_eq!(
            invalid_pair(f64::INFINITY, -86.5),
            "ERR invalid longitude,latitude pair inf,-86.500000"
        );
    }
}
