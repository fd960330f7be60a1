//! What a search covers: the shape asked for (a circle or a box around a point), and the
//! geohash cells to read from the sorted set to find every point inside it, chosen as
//! Redis's `geohashCalculateAreasByShapeWGS84` chooses them: a step whose cells are about
//! the size of the shape, the cell of the centre and its eight neighbors, one step coarser
//! when a neighbor would not reach the edge of the bounding box, and without the
//! neighbors the bounding box does not reach.

use super::distance::{
    EARTH_RADIUS_IN_METERS, deg_rad, distance, distance_if_in_radius, lat_distance, rad_deg,
};
use super::geohash::{Cell, WGS84};

/// What a search looks for around its centre, in the unit of the request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Extent {
    /// BYRADIUS (and GEORADIUS): within `radius`.
    Radius(f64),
    /// BYBOX: inside the axis-aligned `width` x `height` rectangle centred on the point.
    Box { width: f64, height: f64 },
}

/// A search shape: Redis's `GeoShape`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub lon: f64,
    pub lat: f64,
    /// Meters per unit of the request (1 for m, 1000 for km).
    pub unit: f64,
    pub extent: Extent,
}

/// The bounding box of a shape, in degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
}

impl Shape {
    /// Half the shape's height and half its width, in meters.
    fn half_sizes(&self) -> (f64, f64) {
        match self.extent {
            Extent::Radius(r) => (self.unit * r, self.unit * r),
            Extent::Box { width, height } => {
                (self.unit * (height / 2.0), self.unit * (width / 2.0))
            }
        }
    }

    /// The distance from the centre to the farthest corner, in meters: what sizes the
    /// cells searched.
    fn reach_meters(&self) -> f64 {
        let r = match self.extent {
            Extent::Radius(r) => r,
            Extent::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        r * self.unit
    }

    /// The degrees the shape spans. The longitude span is taken at the latitude of the
    /// edge nearer the pole (where a meter is more degrees), as Redis does.
    pub fn bounding_box(&self) -> Bounds {
        let (height, width) = self.half_sizes();
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let lon_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat + lat_delta).cos());
        let lon_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat - lat_delta).cos());
        let lon_delta = if self.lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        Bounds {
            min_lon: self.lon - lon_delta,
            max_lon: self.lon + lon_delta,
            min_lat: self.lat - lat_delta,
            max_lat: self.lat + lat_delta,
        }
    }

    /// The distance in meters from the centre to the point (`lon`, `lat`) when the point
    /// is inside the shape. A box checks its latitude and its longitude extent first (the
    /// longitude one along the point's parallel), as Redis's
    /// `geohashGetDistanceIfInRectangle` does.
    pub fn distance_if_inside(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.extent {
            Extent::Radius(r) => distance_if_in_radius(self.lon, self.lat, lon, lat, r * self.unit),
            Extent::Box { width, height } => {
                let (width, height) = (width * self.unit, height * self.unit);
                if lat_distance(lat, self.lat) > height / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > width / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }

    /// The cells to read to find every point of the shape.
    pub fn search_areas(&self) -> SearchAreas {
        let bounds = self.bounding_box();
        let mut steps = estimate_steps(self.reach_meters(), self.lat);
        let mut center = encode(self.lon, self.lat, steps);
        let mut neighbors = center.neighbors();
        // A step estimated too fine near a cell edge: a neighbor would stop short of the
        // bounding box, so go one step coarser.
        let short = WGS84.decode(neighbors.north).lat.max < bounds.max_lat
            || WGS84.decode(neighbors.south).lat.min > bounds.min_lat
            || WGS84.decode(neighbors.east).lon.max < bounds.max_lon
            || WGS84.decode(neighbors.west).lon.min > bounds.min_lon;
        if steps > 1 && short {
            steps -= 1;
            center = encode(self.lon, self.lat, steps);
            neighbors = center.neighbors();
        }
        let area = WGS84.decode(center);
        let n = neighbors;
        let mut cells = [
            Some(center),
            Some(n.north),
            Some(n.south),
            Some(n.east),
            Some(n.west),
            Some(n.north_east),
            Some(n.north_west),
            Some(n.south_east),
            Some(n.south_west),
        ];
        // Neighbors the bounding box does not reach are not searched (and at step 1 all
        // of them are: the grid is four cells).
        if steps >= 2 {
            let mut drop = |which: &[usize]| which.iter().for_each(|&i| cells[i] = None);
            if area.lat.min < bounds.min_lat {
                drop(&[SOUTH, SOUTH_WEST, SOUTH_EAST]);
            }
            if area.lat.max > bounds.max_lat {
                drop(&[NORTH, NORTH_EAST, NORTH_WEST]);
            }
            if area.lon.min < bounds.min_lon {
                drop(&[WEST, SOUTH_WEST, NORTH_WEST]);
            }
            if area.lon.max > bounds.max_lon {
                drop(&[EAST, SOUTH_EAST, NORTH_EAST]);
            }
        }
        SearchAreas { steps, cells }
    }
}

const NORTH: usize = 1;
const SOUTH: usize = 2;
const EAST: usize = 3;
const WEST: usize = 4;
const NORTH_EAST: usize = 5;
const NORTH_WEST: usize = 6;
const SOUTH_EAST: usize = 7;
const SOUTH_WEST: usize = 8;

/// The cell of a centre Redis accepted: it always has one.
fn encode(lon: f64, lat: f64, step: u8) -> Cell {
    WGS84
        .encode(lon, lat, step)
        .expect("a search centre is within the limits")
}

/// The cells one search reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchAreas {
    /// The step the cells are at.
    pub steps: u8,
    /// In the order Redis reads them: centre, north, south, east, west, north-east,
    /// north-west, south-east, south-west; `None` for those left out.
    pub cells: [Option<Cell>; 9],
}

impl SearchAreas {
    /// The cells to read, in order. A cell equal to the one read just before is read once
    /// (at very large radii neighbors repeat); as in Redis this never compares with the
    /// centre, so a neighbor equal to it is read again.
    pub fn to_read(&self) -> Vec<Cell> {
        let mut out = Vec::with_capacity(9);
        let mut last = 0;
        for (i, c) in self.cells.iter().enumerate() {
            let Some(c) = *c else { continue };
            if last != 0 && Some(c) == self.cells[last] {
                continue;
            }
            out.push(c);
            last = i;
        }
        out
    }
}

/// Redis's `MERCATOR_MAX`: half the Equator in Web Mercator meters.
const MERCATOR_MAX: f64 = 20037726.37;

/// The step whose cells are about `range_meters` across at latitude `lat`: doubling the
/// range until it reaches half the Equator, two steps coarser to be safe, one or two more
/// near the poles, framed to 1..=26. A zero range is the finest step.
pub fn estimate_steps(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::geohash::{LAT_MAX, LAT_MIN, LON_MAX, LON_MIN};

    fn circle(lon: f64, lat: f64, meters: f64) -> Shape {
        Shape {
            lon,
            lat,
            unit: 1.0,
            extent: Extent::Radius(meters),
        }
    }

    #[test]
    fn steps_follow_the_radius() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(1.0, 0.0), 24);
        assert_eq!(estimate_steps(1000.0, 0.0), 14);
        assert_eq!(estimate_steps(100_000.0, 0.0), 7);
        assert_eq!(estimate_steps(1000.0, 70.0), 13);
        assert_eq!(estimate_steps(1000.0, -85.0), 12);
        assert_eq!(estimate_steps(5_000_000.0, 0.0), 2);
        assert_eq!(estimate_steps(1e9, 0.0), 1);
        // NaN never stops doubling and never passes the latitude test: Redis's loop
        // would not end either, but no caller passes one.
        assert_eq!(estimate_steps(f64::INFINITY, 0.0), 1);
    }

    #[test]
    fn bounding_box_widens_toward_the_pole() {
        let b = circle(0.0, 60.0, 100_000.0).bounding_box();
        let lat_delta = rad_deg(100_000.0 / EARTH_RADIUS_IN_METERS);
        assert_eq!(b.min_lat, 60.0 - lat_delta);
        assert_eq!(b.max_lat, 60.0 + lat_delta);
        // Taken at the northern edge in the northern hemisphere...
        let top = rad_deg(100_000.0 / EARTH_RADIUS_IN_METERS / deg_rad(60.0 + lat_delta).cos());
        assert_eq!(b.max_lon, top);
        // ...and at the southern one in the southern.
        let s = circle(0.0, -60.0, 100_000.0).bounding_box();
        assert_eq!(s.max_lon, top);
        assert!(top > 2.0 * rad_deg(100_000.0 / EARTH_RADIUS_IN_METERS));
    }

    #[test]
    fn areas_cover_the_bounding_box() {
        for &(lon, lat, r) in &[
            (13.36, 38.11, 200_000.0),
            (0.0, 0.0, 1.0),
            (179.99, 0.0, 50_000.0),
            (-179.99, 84.9, 10_000.0),
            (2.35, 48.85, 3000.0),
            (-73.9, 40.7, 1_000_000.0),
        ] {
            let shape = circle(lon, lat, r);
            let a = shape.search_areas();
            // The centre cell holds the centre.
            let c = WGS84.decode(a.cells[0].unwrap());
            assert!(c.lon.min <= lon && lon <= c.lon.max);
            assert!(c.lat.min <= lat && lat <= c.lat.max);
            // Every corner of the bounding box (within the latitude limits) lies in a
            // cell that is read, where the box does not cross the antimeridian.
            let b = shape.bounding_box();
            if b.min_lon < LON_MIN || b.max_lon > LON_MAX {
                continue;
            }
            let read: Vec<_> = a.to_read().into_iter().map(|c| WGS84.decode(c)).collect();
            for (x, y) in [
                (b.min_lon, b.min_lat),
                (b.min_lon, b.max_lat),
                (b.max_lon, b.min_lat),
                (b.max_lon, b.max_lat),
            ] {
                let y = y.clamp(LAT_MIN, LAT_MAX);
                assert!(
                    read.iter().any(|c| c.lon.min <= x
                        && x <= c.lon.max
                        && c.lat.min <= y
                        && y <= c.lat.max),
                    "({x}, {y}) of {lon},{lat} r={r} is in no cell read"
                );
            }
        }
    }

    #[test]
    fn a_tiny_radius_keeps_only_the_cells_it_reaches() {
        // 10 cm around the middle of a step-26 cell (about 30 cm by 45 cm there): the
        // cell reaches past the bounding box on every side, so only it is read.
        let cell = WGS84.encode(13.361389, 38.115556, 26).unwrap();
        let (lon, lat) = WGS84.decode(cell).center();
        let a = circle(lon, lat, 0.1).search_areas();
        assert_eq!(a.steps, 26);
        assert_eq!(a.to_read(), vec![cell]);
        // 1 m around the same point needs the neighbors as well.
        assert!(circle(lon, lat, 1.0).search_areas().to_read().len() > 1);
    }

    #[test]
    fn huge_radii_use_step_one_and_skip_repeats() {
        let a = circle(0.0, 0.0, 10_000_000.0).search_areas();
        assert_eq!(a.steps, 1);
        assert!(a.cells.iter().all(Option::is_some));
        let read = a.to_read();
        assert!(read.len() < 9);
        for w in read.windows(2).skip(1) {
            assert_ne!(w[0], w[1]);
        }
    }

    #[test]
    fn boxes_check_latitude_then_the_parallel() {
        let b = Shape {
            lon: 0.0,
            lat: 0.0,
            unit: 1000.0,
            extent: Extent::Box {
                width: 200.0,
                height: 100.0,
            },
        };
        assert!(b.distance_if_inside(0.0, 0.4).is_some());
        assert!(b.distance_if_inside(0.0, 0.5).is_none());
        assert!(b.distance_if_inside(0.85, 0.0).is_some());
        assert!(b.distance_if_inside(0.95, 0.0).is_none());
        // A corner is farther than either half side.
        let d = b.distance_if_inside(0.85, 0.4).unwrap();
        assert!(d > 100_000.0);
    }
}
