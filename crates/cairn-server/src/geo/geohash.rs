//! The 52-bit geohash Redis keeps as a sorted-set score: longitude and latitude each cut
//! into 2^26 slices, their slice numbers interleaved bit by bit (latitude in the even
//! bits, longitude in the odd ones), so that points close on Earth tend to be close in
//! score and a cell of any coarser step is one contiguous score range.
//!
//! ```text
//!   bit  51 50 49 48 …  3  2  1  0
//!        lo la lo la … lo la lo la      step 26: 26 longitude + 26 latitude bits
//! ```
//!
//! Latitude spans ±85.05112878 (the Web Mercator limits), not ±90; GEOHASH re-encodes
//! with ±90 to print the standard string.

/// The finest step: 26 bits per axis, 52 bits in all (a double holds them exactly).
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;

/// One geohash cell: the low `2 * step` bits of `bits` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub bits: u64,
    /// Bits per axis, 1 to 32.
    pub step: u8,
}

/// A closed interval of degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    pub min: f64,
    pub max: f64,
}

/// The rectangle of degrees a cell covers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub lon: Span,
    pub lat: Span,
}

/// The eight cells around one, as Redis names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbors {
    pub north: Cell,
    pub south: Cell,
    pub east: Cell,
    pub west: Cell,
    pub north_east: Cell,
    pub north_west: Cell,
    pub south_east: Cell,
    pub south_west: Cell,
}

/// The ranges of degrees a geohash divides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    pub lon: Span,
    pub lat: Span,
}

/// Redis's grid, the one scores are in.
pub const WGS84: Grid = Grid {
    lon: Span {
        min: LON_MIN,
        max: LON_MAX,
    },
    lat: Span {
        min: LAT_MIN,
        max: LAT_MAX,
    },
};

/// The standard geohash grid (latitude ±90), for GEOHASH's strings.
pub const STANDARD: Grid = Grid {
    lon: Span {
        min: -180.0,
        max: 180.0,
    },
    lat: Span {
        min: -90.0,
        max: 90.0,
    },
};

/// Whether Redis accepts (`lon`, `lat`) as a point: within ±180 and ±85.05112878.
pub fn valid(lon: f64, lat: f64) -> bool {
    (LON_MIN..=LON_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat)
}

impl Grid {
    /// The cell of `step` holding (`lon`, `lat`); `None` outside Redis's limits or this
    /// grid. A point on the upper edge of an axis gets slice 2^step, one past the last
    /// (Redis does the same: GEOADD of longitude 180 makes a score above 2^52).
    pub fn encode(&self, lon: f64, lat: f64, step: u8) -> Option<Cell> {
        if step == 0 || step > 32 || !valid(lon, lat) {
            return None;
        }
        if !(self.lat.min..=self.lat.max).contains(&lat)
            || !(self.lon.min..=self.lon.max).contains(&lon)
        {
            return None;
        }
        let slices = (1u64 << step) as f64;
        let lat_offset = (lat - self.lat.min) / (self.lat.max - self.lat.min) * slices;
        let lon_offset = (lon - self.lon.min) / (self.lon.max - self.lon.min) * slices;
        Some(Cell {
            bits: interleave(lat_offset as u32, lon_offset as u32),
            step,
        })
    }

    /// The rectangle `cell` covers.
    pub fn decode(&self, cell: Cell) -> Area {
        let (lat_slice, lon_slice) = deinterleave(cell.bits);
        let slices = (1u64 << cell.step) as f64;
        let lat_scale = self.lat.max - self.lat.min;
        let lon_scale = self.lon.max - self.lon.min;
        // The `+ 1` wraps as C's 32-bit unsigned arithmetic does (only a score that was
        // never a geohash gets there).
        let at = |slice: u32, min: f64, scale: f64| min + (f64::from(slice) / slices) * scale;
        Area {
            lat: Span {
                min: at(lat_slice, self.lat.min, lat_scale),
                max: at(lat_slice.wrapping_add(1), self.lat.min, lat_scale),
            },
            lon: Span {
                min: at(lon_slice, self.lon.min, lon_scale),
                max: at(lon_slice.wrapping_add(1), self.lon.min, lon_scale),
            },
        }
    }
}

impl Area {
    /// The centre, framed to Redis's limits: (longitude, latitude).
    pub fn center(&self) -> (f64, f64) {
        let lon = ((self.lon.min + self.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
        let lat = ((self.lat.min + self.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
        (lon, lat)
    }
}

impl Cell {
    /// The cell's bits as a 52-bit score prefix: shifted up to step 26.
    pub fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }

    /// The scores of the points inside the cell: `min <= score < max`.
    pub fn score_range(self) -> (f64, f64) {
        let next = Cell {
            bits: self.bits.wrapping_add(1),
            step: self.step,
        };
        (self.align52() as f64, next.align52() as f64)
    }

    /// The eight cells around this one (wrapping around at the edges of the grid).
    pub fn neighbors(self) -> Neighbors {
        let at = |dx: i8, dy: i8| self.moved_x(dx).moved_y(dy);
        Neighbors {
            east: at(1, 0),
            west: at(-1, 0),
            south: at(0, -1),
            north: at(0, 1),
            north_west: at(-1, 1),
            north_east: at(1, 1),
            south_east: at(1, -1),
            south_west: at(-1, -1),
        }
    }

    /// One cell east (`d` > 0) or west (`d` < 0): longitude is in the odd bits.
    fn moved_x(self, d: i8) -> Cell {
        self.moved(d, ODD, EVEN)
    }

    /// One cell north or south: latitude is in the even bits.
    fn moved_y(self, d: i8) -> Cell {
        self.moved(d, EVEN, ODD)
    }

    /// Adds or subtracts one on the axis in `axis` bits, carrying through the other
    /// axis's bits (set to ones to carry, `other`), and keeps `2 * step` bits.
    fn moved(self, d: i8, axis: u64, other: u64) -> Cell {
        if d == 0 {
            return self;
        }
        let shift = 64 - u32::from(self.step) * 2;
        let mut v = self.bits & axis;
        let kept = self.bits & other;
        let filler = other >> shift;
        if d > 0 {
            v = v.wrapping_add(filler + 1);
        } else {
            v = (v | filler).wrapping_sub(filler + 1);
        }
        v &= axis >> shift;
        Cell {
            bits: v | kept,
            step: self.step,
        }
    }
}

const EVEN: u64 = 0x5555_5555_5555_5555;
const ODD: u64 = 0xaaaa_aaaa_aaaa_aaaa;

/// `lat` in the even bits, `lon` in the odd ones.
fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | (spread(lon) << 1)
}

/// (latitude, longitude) slice numbers of interleaved bits.
fn deinterleave(bits: u64) -> (u32, u32) {
    (squeeze(bits), squeeze(bits >> 1))
}

/// The 32 bits of `v` into the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & EVEN
}

/// The even bits of `v`, packed into a u32.
fn squeeze(v: u64) -> u32 {
    let mut x = v & EVEN;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// The 52-bit score of a point Redis accepts (GEOADD's).
pub fn score(lon: f64, lat: f64) -> Option<u64> {
    WGS84.encode(lon, lat, STEP_MAX).map(Cell::align52)
}

/// The bits a sorted-set score stands for, converted as Redis's `(uint64_t)score`
/// compiles on x86-64: below 2^63 through a signed 64-bit truncation (so -1 is all ones,
/// and NaN, -inf and anything below -2^63 give 2^63), from 2^63 on by subtracting 2^63
/// first (so +inf and anything from 2^64 give 0).
pub fn score_bits(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    const INDEFINITE: u64 = 1 << 63;
    let truncate = |v: f64| {
        if v > -TWO_63 && v < TWO_63 {
            v as i64 as u64
        } else {
            INDEFINITE
        }
    };
    if score >= TWO_63 {
        truncate(score - TWO_63) ^ INDEFINITE
    } else {
        truncate(score)
    }
}

/// The point a score stands for: (longitude, latitude), the centre of its step-26 cell.
/// Any score decodes (a score that never was a geohash gives some point, framed to the
/// limits), as in Redis.
pub fn decode_score(score: f64) -> (f64, f64) {
    WGS84
        .decode(Cell {
            bits: score_bits(score),
            step: STEP_MAX,
        })
        .center()
}

/// The 11-character standard geohash of the point a score stands for, as GEOHASH prints
/// it: the point re-encoded on the ±90 grid, 52 bits in ten base-32 characters, then a
/// `0` for the bits Redis does not have.
pub fn standard_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let bits = STANDARD.encode(lon, lat, STEP_MAX).map_or(0, |c| c.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::text::coordinate;

    #[test]
    fn interleave_round_trips() {
        for &(a, b) in &[
            (0, 0),
            (1, 0),
            (0, 1),
            (u32::MAX, 0),
            (0x1234_5678, 0x9abc_def0),
        ] {
            assert_eq!(deinterleave(interleave(a, b)), (a, b));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    /// Scores GEOADD gave on redis-server 7.0.15.
    #[test]
    fn scores_match_redis() {
        let cases: &[(f64, f64, u64)] = &[
            (13.361389, 38.115556, 3479099956230698),
            (15.087269, 37.502669, 3479447370796909),
            (0.0, 0.0, 3377699720527872),
            (180.0, 85.05112878, 13510798882111488),
            (-180.0, -85.05112878, 0),
            (179.99, 0.5, 4128321130777210),
            (-179.99, -0.5, 375278496593285),
            (-0.0001, 51.4779, 2163546804370659),
            (151.2093, -33.8688, 3252046221964352),
            (-73.935242, 40.730610, 1791875640195835),
            (0.0000001, 0.0000001, 3377699720527872),
        ];
        for &(lon, lat, want) in cases {
            assert_eq!(score(lon, lat), Some(want), "{lon},{lat}");
        }
    }

    #[test]
    fn limits_are_redis_limits() {
        assert!(valid(180.0, 85.05112878));
        assert!(valid(-180.0, -85.05112878));
        assert!(!valid(180.000001, 0.0));
        assert!(!valid(0.0, 85.05112879));
        assert!(!valid(0.0, -90.0));
        assert_eq!(score(181.0, 0.0), None);
        assert_eq!(score(0.0, 86.0), None);
    }

    /// GEOPOS on redis-server 7.0.15: the text it printed for each coordinate.
    #[test]
    fn decoding_matches_redis() {
        let cases: &[(f64, &str, &str)] = &[
            (
                3479099956230698.0,
                "13.36138933897018433",
                "38.11555639549629859",
            ),
            (
                3479447370796909.0,
                "15.08726745843887329",
                "37.50266842333162032",
            ),
            (
                3377699720527872.0,
                "0.00000268220901489",
                "0.00000126736058093",
            ),
            (13510798882111488.0, "180", "85.0511287799999991"),
            (0.0, "-179.99999731779098511", "-85.05112751263942528"),
            (
                4128321130777210.0,
                "179.98999804258346558",
                "0.50000036325177888",
            ),
            (
                375278496593285.0,
                "-179.98999804258346558",
                "-0.50000036325177888",
            ),
            (
                2163546804370659.0,
                "-0.00009924173355103",
                "51.47789916032779445",
            ),
            (
                3252046221964352.0,
                "151.20929986238479614",
                "-33.86880091934155956",
            ),
            (
                1791875640195835.0,
                "-73.93524438142776489",
                "40.73061047253818145",
            ),
        ];
        for &(s, lon, lat) in cases {
            let (x, y) = decode_score(s);
            assert_eq!(
                (coordinate(x).as_str(), coordinate(y).as_str()),
                (lon, lat),
                "{s}"
            );
        }
    }

    /// Scores that never were geohashes (ZADD then GEOPOS on redis-server 7.0.15).
    #[test]
    fn odd_scores_decode_as_redis_casts_them() {
        assert_eq!(score_bits(-1.0), u64::MAX);
        assert_eq!(score_bits(f64::INFINITY), 0);
        assert_eq!(score_bits(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(score_bits(1e300), 0);
        assert_eq!(score_bits(1.5), 1);
        // What GEOPOS printed for each.
        let at = |s: f64| {
            let (lon, lat) = decode_score(s);
            format!("{} {}", coordinate(lon), coordinate(lat))
        };
        let top = "180 85.0511287799999991";
        let bottom = "-179.99999731779098511 -85.05112751263942528";
        assert_eq!(at(-1.0), top);
        assert_eq!(at(f64::INFINITY), bottom);
        assert_eq!(at(f64::NEG_INFINITY), "180 -85.05112751263942528");
        assert_eq!(at(1e19), top);
        assert_eq!(at(1e300), bottom);
        assert_eq!(at(9.3e18), top);
        assert_eq!(
            at(4503599627370496.0),
            "-179.99999731779098511 85.0511287799999991"
        );
        assert_eq!(at(-5e18), top);
        assert_eq!(at(1.5), "-179.99999731779098511 -85.05112497791824921");
    }

    /// GEOHASH on redis-server 7.0.15.
    #[test]
    fn standard_strings_match_redis() {
        let cases: &[(f64, &str)] = &[
            (3479099956230698.0, "sqc8b49rny0"),
            (3479447370796909.0, "sqdtr74hyu0"),
            (3377699720527872.0, "s0000000000"),
            (13510798882111488.0, "bp05b5048p0"),
            (0.0, "00bh0hbj200"),
            (4128321130777210.0, "xbpfzg08wy0"),
            (375278496593285.0, "2pbj0hzr310"),
            (2163546804370659.0, "gcpuzgrbmx0"),
            (3252046221964352.0, "r3gx2f77bj0"),
            (1791875640195835.0, "dr5rtwccpb0"),
            (f64::NEG_INFINITY, "00bh0hbj200"),
            (1.5, "00bh0hbj210"),
        ];
        for &(s, want) in cases {
            assert_eq!(&standard_string(s), want.as_bytes(), "{s}");
        }
    }

    #[test]
    fn neighbors_wrap_and_step() {
        let c = WGS84.encode(0.0, 0.0, 2).unwrap();
        let n = c.neighbors();
        let area = |c: Cell| WGS84.decode(c);
        let here = area(c);
        assert_eq!(area(n.north).lat.min, here.lat.max);
        assert_eq!(area(n.south).lat.max, here.lat.min);
        assert_eq!(area(n.east).lon.min, here.lon.max);
        assert_eq!(area(n.west).lon.max, here.lon.min);
        assert_eq!(area(n.north_east).lon.min, here.lon.max);
        assert_eq!(area(n.south_west).lat.max, here.lat.min);
        // West of the westmost cell is the eastmost one.
        let edge = WGS84.encode(-180.0, 0.0, 3).unwrap();
        assert_eq!(area(edge.neighbors().west).lon.max, 180.0);
        // Every neighbor keeps the step's bits only.
        for c in [
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ] {
            assert!(c.bits < 1 << 4);
        }
    }

    #[test]
    fn score_range_covers_the_cell() {
        let c = WGS84.encode(13.361389, 38.115556, 10).unwrap();
        let (min, max) = c.score_range();
        let s = score(13.361389, 38.115556).unwrap() as f64;
        assert!(min <= s && s < max);
        assert_eq!(max - min, (1u64 << 32) as f64);
    }
}
