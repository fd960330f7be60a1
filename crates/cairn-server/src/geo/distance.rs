//! Distances on a sphere of Redis's radius (the haversine formula), and the units a
//! request may give them in.

/// Redis's Earth radius: the quadratic mean radius of WGS-84, in meters.
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;

/// Redis's `D_R`: radians per degree.
const D_R: f64 = std::f64::consts::PI / 180.0;

pub fn deg_rad(deg: f64) -> f64 {
    deg * D_R
}

pub fn rad_deg(rad: f64) -> f64 {
    rad / D_R
}

/// The distance in meters between two latitudes on one meridian.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// The great-circle distance in meters between (`lon1`, `lat1`) and (`lon2`, `lat2`), by
/// the haversine formula; along a meridian (equal longitudes, to the last bit of the
/// sine) the plain difference of latitudes, as Redis computes it.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(lon2) - deg_rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// The distance between the two points when it is at most `radius` meters. A distance
/// that is NaN (nearly antipodal points, where rounding takes the haversine past 1) is
/// not more than the radius: Redis keeps such a point, and so do we.
pub fn distance_if_in_radius(
    lon1: f64,
    lat1: f64,
    lon2: f64,
    lat2: f64,
    radius: f64,
) -> Option<f64> {
    let d = distance(lon1, lat1, lon2, lat2);
    if d > radius { None } else { Some(d) }
}

/// Meters per unit for a unit argument (`m`, `km`, `ft`, `mi`, any case).
pub fn unit(arg: &[u8]) -> Option<f64> {
    const UNITS: &[(&[u8], f64)] = &[
        (b"m", 1.0),
        (b"km", 1000.0),
        (b"ft", 0.3048),
        (b"mi", 1609.34),
    ];
    UNITS
        .iter()
        .find(|(name, _)| arg.eq_ignore_ascii_case(name))
        .map(|&(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::geohash::decode_score;

    /// GEODIST on redis-server 7.0.15 between points stored by GEOADD (their scores).
    #[test]
    fn distances_match_redis() {
        let palermo = decode_score(3479099956230698.0);
        let catania = decode_score(3479447370796909.0);
        let east = decode_score(4128321130777210.0);
        let west = decode_score(375278496593285.0);
        let ne = decode_score(13510798882111488.0);
        let sw = decode_score(0.0);
        let greenwich = decode_score(2163546804370659.0);
        let sydney = decode_score(3252046221964352.0);
        let nyc = decode_score(1791875640195835.0);
        let d = |a: (f64, f64), b: (f64, f64)| distance(a.0, a.1, b.0, b.1);
        let text = |m: f64| crate::geo::text::distance(m);
        assert_eq!(text(d(palermo, catania)), "166274.1516");
        assert_eq!(text(d(palermo, catania) / 1000.0), "166.2742");
        assert_eq!(text(d(east, west) / 1609.34), "69.1269");
        assert_eq!(text(d(ne, sw) / 0.3048), "62072980.9353");
        assert_eq!(text(d(greenwich, nyc) / 1000.0), "5575.3299");
        assert_eq!(text(d(sydney, nyc)), "15999353.1876");
        assert_eq!(text(d(palermo, palermo)), "0.0000");
    }

    #[test]
    fn a_meridian_is_plain_latitude() {
        assert_eq!(distance(10.0, 0.0, 10.0, 1.0), lat_distance(0.0, 1.0));
        let one_degree = EARTH_RADIUS_IN_METERS * D_R;
        assert!((distance(10.0, 0.0, 10.0, 1.0) - one_degree).abs() < 1e-6);
        assert_eq!(lat_distance(1.0, 0.0), lat_distance(0.0, 1.0));
    }

    #[test]
    fn radius_is_inclusive() {
        let d = distance(0.0, 0.0, 0.001, 0.0);
        assert_eq!(distance_if_in_radius(0.0, 0.0, 0.001, 0.0, d), Some(d));
        assert_eq!(distance_if_in_radius(0.0, 0.0, 0.001, 0.0, d - 1e-9), None);
    }

    #[test]
    fn units() {
        assert_eq!(unit(b"m"), Some(1.0));
        assert_eq!(unit(b"KM"), Some(1000.0));
        assert_eq!(unit(b"Ft"), Some(0.3048));
        assert_eq!(unit(b"mi"), Some(1609.34));
        assert_eq!(unit(b"meters"), None);
        assert_eq!(unit(b""), None);
    }
}
