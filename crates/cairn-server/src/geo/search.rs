//! A search over a sorted set of geohash scores, as Redis's `georadiusGeneric` runs it:
//! read the score range of each cell [`Shape::search_areas`] names, keep the points
//! inside the shape (stopping early for COUNT ANY), then order them by distance. The
//! sorted set is reached through a closure, so this stays free of the store.

use super::area::Shape;
use super::geohash::decode_score;
use super::order::{merge_sort, partial_sort};

/// One point found.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub member: Vec<u8>,
    /// Its score (the geohash WITHHASH prints, the score STORE keeps).
    pub score: f64,
    pub lon: f64,
    pub lat: f64,
    /// From the centre of the shape, in meters.
    pub meters: f64,
}

/// The order asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// As found (cell by cell, by score within a cell).
    None,
    Asc,
    Desc,
}

/// Calls its last argument with each `(member, score)` whose score is in `[min, max)`,
/// by ascending score, until it returns false.
pub type Scan<'a> = dyn FnMut(f64, f64, &mut dyn FnMut(&[u8], f64) -> bool) + 'a;

/// The points inside `shape`, in the order Redis finds them; with `limit` > 0 (COUNT
/// ANY), no more than `limit`, the first found.
pub fn find(shape: &Shape, limit: usize, scan: &mut Scan<'_>) -> Vec<Hit> {
    let mut hits = Vec::new();
    let full = |hits: &Vec<Hit>| limit > 0 && hits.len() >= limit;
    for cell in shape.search_areas().to_read() {
        if full(&hits) {
            break;
        }
        let (min, max) = cell.score_range();
        scan(min, max, &mut |member, score| {
            let (lon, lat) = decode_score(score);
            if let Some(meters) = shape.distance_if_inside(lon, lat) {
                hits.push(Hit {
                    member: member.to_vec(),
                    score,
                    lon,
                    lat,
                    meters,
                });
            }
            !full(&hits)
        });
    }
    hits
}

/// The positions in `hits` of the points to answer, in answer order: all of them, or the
/// first `count` (when `count` > 0), sorted as Redis sorts them.
pub fn ranked(hits: &[Hit], sort: Sort, count: usize) -> Vec<usize> {
    let n = hits.len();
    let returned = if count == 0 || n < count { n } else { count };
    let mut order: Vec<usize> = (0..n).collect();
    let asc = |a: &usize, b: &usize| {
        let (a, b) = (hits[*a].meters, hits[*b].meters);
        if a > b {
            1
        } else if a == b {
            0
        } else {
            -1
        }
    };
    let desc = |a: &usize, b: &usize| -asc(a, b);
    match (sort, returned == n) {
        (Sort::None, _) => {}
        (Sort::Asc, true) => merge_sort(&mut order, &asc),
        (Sort::Desc, true) => merge_sort(&mut order, &desc),
        (Sort::Asc, false) => partial_sort(&mut order, &asc, 0, returned - 1),
        (Sort::Desc, false) => partial_sort(&mut order, &desc, 0, returned - 1),
    }
    order.truncate(returned);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::area::Extent;
    use crate::geo::geohash::score;
    use std::collections::BTreeSet;

    /// A sorted set of (score, member), the score as the double a sorted set keeps (above
    /// 2^53 two geohashes can round to one double).
    struct Points(BTreeSet<(u64, Vec<u8>)>);

    impl Points {
        fn new(points: &[(f64, f64, &str)]) -> Points {
            Points(
                points
                    .iter()
                    .map(|&(lon, lat, m)| {
                        (
                            score(lon, lat).unwrap() as f64 as u64,
                            m.as_bytes().to_vec(),
                        )
                    })
                    .collect(),
            )
        }

        fn find(&self, shape: &Shape, limit: usize) -> Vec<Hit> {
            find(shape, limit, &mut |min, max, f| {
                for (s, m) in self.0.range((min as u64, Vec::new())..) {
                    if *s as f64 >= max || !f(m, *s as f64) {
                        break;
                    }
                }
            })
        }
    }

    fn names(hits: &[Hit], order: &[usize]) -> Vec<String> {
        order
            .iter()
            .map(|&i| String::from_utf8(hits[i].member.clone()).unwrap())
            .collect()
    }

    fn sicily() -> Points {
        Points::new(&[
            (13.361389, 38.115556, "Palermo"),
            (15.087269, 37.502669, "Catania"),
            (12.758489, 38.788135, "edge1"),
            (17.241510, 38.788135, "edge2"),
        ])
    }

    fn around(lon: f64, lat: f64, unit: f64, extent: Extent) -> Shape {
        Shape {
            lon,
            lat,
            unit,
            extent,
        }
    }

    /// The examples of Redis's GEOSEARCH documentation, checked on redis-server 7.0.15.
    #[test]
    fn documentation_examples() {
        let p = sicily();
        let hits = p.find(&around(15.0, 37.0, 1000.0, Extent::Radius(200.0)), 0);
        assert_eq!(
            names(&hits, &ranked(&hits, Sort::Asc, 0)),
            ["Catania", "Palermo"]
        );
        let shape = around(
            15.0,
            37.0,
            1000.0,
            Extent::Box {
                width: 400.0,
                height: 400.0,
            },
        );
        let hits = p.find(&shape, 0);
        let order = ranked(&hits, Sort::Asc, 0);
        assert_eq!(
            names(&hits, &order),
            ["Catania", "Palermo", "edge2", "edge1"]
        );
        let km: Vec<String> = order
            .iter()
            .map(|&i| crate::geo::text::distance(hits[i].meters / 1000.0))
            .collect();
        assert_eq!(km, ["56.4413", "190.4424", "279.7403", "279.7405"]);
    }

    #[test]
    fn count_any_stops_at_the_count() {
        let p = sicily();
        let shape = around(15.0, 37.0, 1000.0, Extent::Radius(1000.0));
        assert_eq!(p.find(&shape, 0).len(), 4);
        assert_eq!(p.find(&shape, 1).len(), 1);
        assert_eq!(p.find(&shape, 3).len(), 3);
    }

    #[test]
    fn count_keeps_the_nearest_and_desc_reverses() {
        let p = sicily();
        let shape = around(15.0, 37.0, 1000.0, Extent::Radius(1000.0));
        let hits = p.find(&shape, 0);
        assert_eq!(
            names(&hits, &ranked(&hits, Sort::Asc, 2)),
            ["Catania", "Palermo"]
        );
        assert_eq!(names(&hits, &ranked(&hits, Sort::Desc, 1)), ["edge1"]);
        assert_eq!(ranked(&hits, Sort::None, 0).len(), 4);
        assert_eq!(ranked(&hits, Sort::Asc, 10).len(), 4);
    }
}
