//! The mathematics of Redis's geospatial commands, as pure functions: a point is a
//! sorted-set member whose score is its 52-bit geohash (GEOADD is ZADD of that score),
//! and a search reads the score ranges of a few geohash cells, then keeps the points
//! inside the shape. Everything here computes what Redis 7.0 computes, bit for bit, so
//! that scores, positions, distances and the order of results are Redis's.
//!
//! - [`geohash`]: encoding a point to its score and back, neighbor cells, the standard
//!   base-32 string GEOHASH prints.
//! - [`area`]: search shapes (radius, box), their bounding box, and the cells to read.
//! - [`distance`]: haversine distances on Redis's sphere, units.
//! - [`order`]: the sorts Redis orders results with (ties come out as in Redis).
//! - [`search`]: a search over the sorted set, from the cells to the ordered points.
//! - [`text`]: how distances and coordinates are spelled in replies.
//!
//! The commands themselves are `crate::commands::geo`.

pub mod area;
pub mod distance;
pub mod geohash;
pub mod order;
pub mod search;
pub mod text;
