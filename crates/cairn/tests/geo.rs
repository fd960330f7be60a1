//! The geospatial commands against the real binary, held against a real redis-server's
//! replies byte for byte: GEOADD and its options, GEOPOS, GEOHASH, GEODIST, every search
//! form (GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and the _RO forms) with
//! their options and every error, in RESP2 and RESP3; points at the poles' limits and on
//! the antimeridian; searches from a meter to the whole Earth, by radius and by box; a
//! generated data set searched many ways; the store forms read back; keyspace events;
//! and GEOADD replayed from the append-only file.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use cairn_protocol::Frame;
use common::events::keyevents;
use common::versus::{Both, RedisServer};
use common::{CairnProcess, q};
use redis::{Connection, Value};

/// Cairn and Redis side by side, or `None` (the test passes with a notice) without
/// redis-server.
fn both() -> Option<Both> {
    Both::start(&[], &[])
}

const ADD: &str = "
    GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
    GEOADD Sicily 13.361389 38.115556 Palermo
    GEOADD Sicily CH 13.361389 38.115556 Palermo 13.4 38.1 Palermo
    GEOADD Sicily CH 13.361389 38.115556 Palermo
    GEOADD Sicily NX 0 0 Palermo 1 1 newone
    GEOADD Sicily XX 3 3 newone 4 4 absent
    GEOADD Sicily XX CH 2 2 newone 4 4 absent
    GEOADD Sicily nx ch 5 5 newtwo 6 6 newtwo
    GEOADD Sicily 7 7 twice 8 8 twice
    GEOADD Sicily ch 9 9 twice 9 9 twice
    ZRANGE Sicily 0 -1 WITHSCORES
    GEOADD Sicily XX NX 1 1 a
    GEOADD Sicily nx xx ch 1 1 a
    GEOADD Sicily CH CH CH
    GEOADD Sicily 1 1
    GEOADD Sicily ch 1 1
    GEOADD Sicily 1 1 a 2
    GEOADD Sicily GT 1 1 a
    GEOADD nokey XX 1 1 a
    GEOADD nokey XX CH 1 1 a
    EXISTS nokey
    GEOADD Sicily 200 10 bad
    GEOADD Sicily 10 86 bad
    GEOADD Sicily -180.000001 0 bad
    GEOADD Sicily 180.0000001 -85.05112879 bad
    GEOADD Sicily abc 0 bad
    GEOADD Sicily 0 abc bad
    GEOADD Sicily 1e400 0 bad
    GEOADD Sicily 1e-400 0 bad
    GEOADD Sicily nan 0 bad
    GEOADD Sicily inf 0 bad
    GEOADD Sicily -inf -inf bad
    GEOADD Sicily -0 100 bad
    GEOADD Sicily 0x10 100 bad
    GEOADD Sicily 1e3 1e2 bad
    GEOADD Sicily 1. -.5 odd
    GEOADD Sicily +1 +0 odd2
    GEOADD Sicily 1 1 fine 200 0 bad
    EXISTS bad fine
    ZCARD Sicily
    SET str x
    GEOADD str 1 1 a
    GEOADD str 200 1 a
    GEOADD str XX 1 1 a
    GEOADD str XX NX 1 1 a
    GEOADD
    GEOADD k
    GEOADD k 1 1
    GEOADD edges 180 85.05112878 ne -180 -85.05112878 sw 179.9999 0 e -179.9999 0 w 0 85.05 n 0 -85.05 s 180 0 e180 -180 0 w180 -180 85.05112878 nw 180 -85.05112878 se
    ZRANGE edges 0 -1 WITHSCORES
    ZADD odd -1 a inf b -inf c 1e19 d 1e300 e 1.5 f 9.3e18 g -5e18 h
    GEOADD anti 0 30 n30 180 -30 s30 0 70 n70 180 -70 s70 -90 45 w45 90 -45 e45
    OBJECT ENCODING Sicily
    GEOADD long 1 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    OBJECT ENCODING long
";

const READ: &str = "
    GEOPOS Sicily Palermo Catania nosuch newone
    GEOPOS Sicily
    GEOPOS nokey a b
    GEOPOS str a
    GEOPOS edges ne sw e w n s e180 w180 nw se
    GEOPOS odd a b c d e f g h
    GEOHASH Sicily Palermo Catania nosuch
    GEOHASH Sicily
    GEOHASH nokey a
    GEOHASH str a
    GEOHASH edges ne sw e w n s e180 w180 nw se
    GEOHASH odd a b c d e f g h
    GEODIST Sicily Palermo Catania
    GEODIST Sicily Palermo Catania m
    GEODIST Sicily Palermo Catania km
    GEODIST Sicily Palermo Catania KM
    GEODIST Sicily Palermo Catania mi
    GEODIST Sicily Palermo Catania Ft
    GEODIST Sicily Palermo Catania meters
    GEODIST Sicily Palermo Catania km extra
    GEODIST Sicily Palermo nosuch
    GEODIST Sicily nosuch Palermo km
    GEODIST Sicily Palermo Palermo
    GEODIST nokey a b
    GEODIST nokey a b parsecs
    GEODIST str a b
    GEODIST str a b parsecs
    GEODIST edges e w
    GEODIST edges e w ft
    GEODIST edges ne sw km
    GEODIST edges n s mi
    GEODIST edges e180 w180
    GEODIST edges nw ne
    GEODIST edges sw se km
    GEODIST odd a f
    GEODIST odd b c km
    GEODIST anti n30 s30
    GEODIST anti n70 s70 km
    GEODIST anti w45 e45 mi
";

#[test]
fn add_pos_hash_and_dist_match_redis() {
    let Some(mut b) = both() else { return };
    b.script(ADD);
    b.script(READ);
}

#[test]
fn add_pos_hash_and_dist_match_redis_in_resp3() {
    let Some(mut b) = both() else { return };
    b.resp3();
    b.script(ADD);
    b.script(READ);
}

const SICILY: &str = "
    GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
    GEOADD Sicily 12.758489 38.788135 edge1 17.241510 38.788135 edge2
    GEOADD Sicily 14.015482 37.511971 Caltanissetta 15.554970 38.193830 Messina
    GEOADD Sicily 15.554970 38.193830 Messina2 15.554970 38.193830 Messina3
    SET str x
";

const SEARCH: &str = "
    # The documentation's examples.
    GEORADIUS Sicily 15 37 200 km WITHDIST
    GEORADIUS Sicily 15 37 200 km WITHCOORD
    GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD
    GEORADIUS Sicily 15 37 200 km WITHHASH WITHCOORD WITHDIST
    GEORADIUS Sicily 15 37 200 km
    GEORADIUS Sicily 15 37 200 km ASC
    GEORADIUS Sicily 15 37 200 km DESC WITHDIST
    GEORADIUS Sicily 15 37 200 km COUNT 1
    GEORADIUS Sicily 15 37 200 km COUNT 2 DESC
    GEORADIUS Sicily 15 37 200 km COUNT 1 ANY
    GEORADIUS Sicily 15 37 200 km COUNT 3 ANY ASC WITHDIST
    GEORADIUS Sicily 15 37 200 km COUNT 100
    GEORADIUS Sicily 15 37 200 KM COUNT 2 WITHDIST
    GEORADIUS Sicily 15 37 124274 mi WITHDIST
    GEORADIUS Sicily 15 37 0 m
    GEORADIUS Sicily 15.554970 38.193830 0 m
    GEORADIUS Sicily 15.554970 38.193830 1 m COUNT 2
    GEORADIUS_RO Sicily 15 37 200 km WITHDIST WITHCOORD ASC
    GEORADIUS_RO Sicily 15 37 200000 m COUNT 2 ANY
    GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST
    GEORADIUSBYMEMBER Sicily Messina 0 km WITHDIST
    GEORADIUSBYMEMBER Sicily Messina2 100 km DESC COUNT 2 WITHHASH
    GEORADIUSBYMEMBER_RO Sicily Palermo 656168 ft ASC
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST WITHHASH
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 100 km DESC
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 100 400 km DESC
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 0 0 km
    GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 100 km WITHDIST
    GEOSEARCH Sicily FROMMEMBER Messina BYBOX 1 1 m WITHDIST
    GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 500 300 mi COUNT 3 WITHDIST
    GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 500 300 mi COUNT 3 ANY WITHDIST
    GEOSEARCH Sicily frommember Palermo byradius 1000 KM desc count 4 withdist withhash withcoord
    GEOSEARCH Sicily WITHDIST FROMLONLAT 15 37 COUNT 2 BYRADIUS 300 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 km BYRADIUS 300 km
    GEOSEARCH Sicily FROMLONLAT 0 0 FROMLONLAT 15 37 BYRADIUS 300 km
    GEOSEARCH Sicily FROMMEMBER Palermo FROMMEMBER Catania BYRADIUS 100 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 300 km COUNT 5 COUNT 1
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 300 km ASC DESC
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 300 km ANY COUNT 2
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 m
    GEOSEARCH Sicily FROMLONLAT -0 -0 BYRADIUS 1 m
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS inf km ASC WITHDIST
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX inf 10 km ASC WITHDIST
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1e300 1e300 m DESC
    GEOSEARCH anti FROMMEMBER n30 BYRADIUS 30000 km WITHDIST
    GEOSEARCH anti FROMMEMBER w45 BYRADIUS 20020 km ASC WITHDIST
    # Errors, each where Redis finds it.
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km BYBOX 1 1 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 km BYRADIUS 200 km
    GEOSEARCH Sicily FROMLONLAT 15 37 ASC
    geosearch Sicily FROMLONLAT 15 37 ASC
    GeoSearch Sicily BYRADIUS 10 km ASC
    GEOSEARCH Sicily BYRADIUS 10 km
    GEOSEARCH Sicily FROMMEMBER nosuch BYRADIUS 10 km
    GEOSEARCH Sicily BYRADIUS abc km FROMMEMBER nosuch
    GEOSEARCH Sicily FROMMEMBER nosuch BYRADIUS abc km
    GEOSEARCH Sicily FROMLONLAT 200 0 BYRADIUS 10 km
    GEOSEARCH Sicily FROMLONLAT 0 -86 BYRADIUS 10 km
    GEOSEARCH Sicily FROMLONLAT x 0 BYRADIUS 10 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS -1 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS abc km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS nan km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 parsec
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 meters
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX abc 1 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 abc km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX abc abc km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX -1 1 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 -1 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 lightyears
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km COUNT 0
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km COUNT -1
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km COUNT abc
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km COUNT 99999999999999999999
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km COUNT
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km ANY
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km STORE x
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km STOREDIST x
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km STOREDIST
    GEOSEARCH Sicily FROMMEMBER Palermo FROMLONLAT 15 37 BYRADIUS 10 km
    GEOSEARCH Sicily FROMLONLAT 15 37 FROMMEMBER Palermo BYRADIUS 10 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 10 10
    GEOSEARCH Sicily FROMLONLAT 15 BYRADIUS 10 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km NOPE
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km WITHDIST WITHDIST
    GEOSEARCH nokey FROMMEMBER x BYRADIUS 10 km
    GEOSEARCH nokey FROMLONLAT 15 37 BYRADIUS 10 km
    GEOSEARCH nokey FROMMEMBER x BYRADIUS abc km
    GEOSEARCH nokey FROMMEMBER x BYRADIUS 10 km ANY
    GEOSEARCH nokey FROMMEMBER x
    GEOSEARCH str FROMLONLAT 15 37 BYRADIUS 10 km
    GEOSEARCH str FROMLONLAT 200 37 BYRADIUS 10 km
    GEORADIUS Sicily 15 37 200 km STORE
    GEORADIUS Sicily 15 37 200 km STORE dst WITHDIST
    GEORADIUS Sicily 15 37 200 km WITHHASH STOREDIST dst
    GEORADIUS Sicily 200 37 200 km
    GEORADIUS Sicily 15 37 -200 km
    GEORADIUS Sicily 15 37 200 parsecs
    GEORADIUS Sicily 15 37 abc km COUNT 0
    GEORADIUS Sicily 15 37 200 km COUNT 0
    GEORADIUS Sicily 15 37 200 km ANY
    GEORADIUS Sicily 15 37 200 km FROMMEMBER Palermo
    GEORADIUS Sicily 15 37 200 km BYRADIUS 10 km
    GEORADIUS_RO Sicily 15 37 200 km STORE dst
    GEORADIUS_RO Sicily 15 37 200 km STOREDIST dst
    GEORADIUSBYMEMBER Sicily nosuch 200 km
    GEORADIUSBYMEMBER Sicily nosuch abc km
    GEORADIUSBYMEMBER Sicily Palermo abc km
    GEORADIUSBYMEMBER Sicily Palermo 200 furlongs
    GEORADIUSBYMEMBER nokey nosuch abc km
    GEORADIUSBYMEMBER nokey nosuch 200 km WITHDIST
    GEORADIUSBYMEMBER nokey nosuch 200 km NOPE
    GEORADIUSBYMEMBER nokey nosuch 200 km ANY
    GEORADIUSBYMEMBER_RO Sicily Palermo 200 km STORE dst
    GEORADIUSBYMEMBER str Palermo 200 km
    GEORADIUS str 15 37 200 km
    GEORADIUS nokey 15 37 200 km
    GEORADIUS nokey 15 37 200 km STORE dst
    GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST
    GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km STORE x
    GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 ASC
    GEOSEARCHSTORE dst str FROMLONLAT 15 37 BYRADIUS 200 km
    GEOSEARCHSTORE str Sicily FROMLONLAT 15 37 BYRADIUS 200 km ANY
";

const STORE: &str = "
    SET dst x
    GEORADIUS Sicily 15 37 200 km STORE dst
    TYPE dst
    ZRANGE dst 0 -1 WITHSCORES
    GEORADIUS Sicily 15 37 200 km STOREDIST dst
    ZRANGE dst 0 -1 WITHSCORES
    GEORADIUS Sicily 15 37 200 km store dst2 storedist dst
    ZRANGE dst 0 -1 WITHSCORES
    EXISTS dst2
    GEORADIUS Sicily 15 37 200 km STOREDIST dst STORE dst3
    ZRANGE dst3 0 -1 WITHSCORES
    GEORADIUS Sicily 15 37 200 km COUNT 2 DESC STOREDIST dst
    ZRANGE dst 0 -1 WITHSCORES
    GEORADIUS Sicily 15 37 200 mi COUNT 1 ANY STOREDIST dst
    ZRANGE dst 0 -1 WITHSCORES
    GEORADIUSBYMEMBER Sicily Palermo 100 km STORE dst COUNT 1
    ZRANGE dst 0 -1 WITHSCORES
    GEORADIUSBYMEMBER Sicily Messina 10 km STOREDIST dst
    ZRANGE dst 0 -1 WITHSCORES
    GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC COUNT 3 STOREDIST
    ZRANGE dst 0 -1 WITHSCORES
    GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km
    ZRANGE dst 0 -1 WITHSCORES
    OBJECT ENCODING dst
    GEOSEARCHSTORE dst Sicily FROMMEMBER Catania BYRADIUS 400 ft STOREDIST
    ZRANGE dst 0 -1 WITHSCORES
    GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1 m
    EXISTS dst
    SET dst x
    GEOSEARCHSTORE dst nokey FROMLONLAT 0 0 BYRADIUS 1 m
    EXISTS dst
    SET dst x
    GEORADIUSBYMEMBER nokey nosuch 200 km STORE dst
    EXISTS dst
    SET dst x
    GEORADIUS Sicily 0 0 1 m STOREDIST dst
    EXISTS dst
    GEOSEARCHSTORE copy Sicily FROMMEMBER Palermo BYRADIUS 1000 km
    GEOSEARCHSTORE copy copy FROMMEMBER Palermo BYRADIUS 100 km
    ZRANGE copy 0 -1 WITHSCORES
    GEORADIUS copy 13 38 1000 km STORE copy
    ZRANGE copy 0 -1 WITHSCORES
    GEOPOS dst3 Palermo
    GEODIST dst3 Palermo Catania
";

#[test]
fn searches_match_redis() {
    let Some(mut b) = both() else { return };
    b.script(SICILY);
    b.script(SEARCH);
    b.script(STORE);
}

#[test]
fn searches_match_redis_in_resp3() {
    let Some(mut b) = both() else { return };
    b.resp3();
    b.script(SICILY);
    b.script(SEARCH);
    b.script(STORE);
}

/// Cities over the world, some at the limits of latitude and on both sides of the
/// antimeridian, searched from each of them at every scale.
const WORLD: &[(&str, f64, f64)] = &[
    ("london", -0.1278, 51.5074),
    ("paris", 2.3522, 48.8566),
    ("newyork", -74.006, 40.7128),
    ("tokyo", 139.6917, 35.6895),
    ("sydney", 151.2093, -33.8688),
    ("rio", -43.1729, -22.9068),
    ("moscow", 37.6173, 55.7558),
    ("capetown", 18.4241, -33.9249),
    ("anchorage", -149.9003, 61.2181),
    ("auckland", 174.7633, -36.8485),
    ("suva", 178.4419, -18.1416),
    ("fiji_w", -179.9, -16.5),
    ("fiji_e", 179.9, -16.6),
    ("dateline_e", 180.0, 10.0),
    ("dateline_w", -180.0, 10.0),
    ("greenwich", 0.0, 51.4779),
    ("null_island", 0.0, 0.0),
    ("north", 0.0, 85.0),
    ("north_edge", 179.0, 85.05112878),
    ("north_edge_w", -179.0, 85.05112878),
    ("north2", 1.0, 84.99),
    ("alert", -62.3481, 82.5018),
    ("south", -10.0, -85.0),
    ("south_edge", 90.0, -85.05112878),
    ("mcmurdo", 166.6863, -77.8419),
    ("longyearbyen", 15.6356, 78.2232),
    // Three members at one place, and two a meter apart: ties and the smallest scales.
    ("here1", 2.2945, 48.8584),
    ("here2", 2.2945, 48.8584),
    ("here3", 2.2945, 48.8584),
    ("near1", 2.29451, 48.8584),
    ("near2", 2.2945, 48.85841),
];

fn world_script() -> String {
    let mut s = String::from("GEOADD world");
    for (name, lon, lat) in WORLD {
        s.push_str(&format!(" {lon} {lat} {name}"));
    }
    s.push('\n');
    let scales = [
        "0 m", "1 m", "2 m", "100 m", "1 km", "10 km", "300 km", "1000 km", "2500 km", "5000 km",
        "8000 mi", "10000 km", "15000 km", "20000 km", "25000 km", "40000 km",
    ];
    for (name, lon, lat) in WORLD {
        for r in scales {
            s.push_str(&format!(
                "GEOSEARCH world FROMMEMBER {name} BYRADIUS {r} WITHDIST\n"
            ));
            s.push_str(&format!(
                "GEOSEARCH world FROMLONLAT {lon} {lat} BYRADIUS {r} ASC COUNT 4 WITHDIST WITHHASH\n"
            ));
            let (n, u) = r.split_once(' ').unwrap();
            s.push_str(&format!(
                "GEOSEARCH world FROMMEMBER {name} BYBOX {n} {n} {u} DESC WITHCOORD\n"
            ));
            s.push_str(&format!(
                "GEOSEARCH world FROMLONLAT {lon} {lat} BYBOX {n} 1000 {u} WITHDIST\n"
            ));
        }
        s.push_str(&format!("GEODIST world {name} london km\n"));
        s.push_str(&format!("GEODIST world {name} fiji_e\n"));
    }
    s
}

#[test]
fn world_searches_at_every_scale_match_redis() {
    let Some(mut b) = both() else { return };
    let script = world_script();
    b.script(&script);
    b.resp3();
    b.script(&script);
}

/// A small deterministic generator (xorshift), so the generated data set is the same in
/// every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn float(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

/// Clusters of points (some at one place) around random centres, the poles' limits and
/// the antimeridian, then hundreds of searches around them: every shape, unit, order,
/// COUNT and ANY, compared exactly (ties between points at one place included).
#[test]
fn generated_searches_match_redis() {
    let Some(mut b) = both() else { return };
    const LAT: f64 = 85.05112878;
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut centres: Vec<(f64, f64)> = (0..5)
        .map(|_| (g.float(-180.0, 180.0), g.float(-LAT, LAT)))
        .collect();
    centres.extend([
        (179.999, 0.1),
        (-179.999, -0.2),
        (0.0, 84.9),
        (10.0, -85.0),
        (180.0, LAT),
        (-180.0, -LAT),
    ]);
    let mut script = String::new();
    let mut n = 0;
    for &(clon, clat) in &centres {
        let spread = *g.pick(&[0.0001, 0.01, 1.0, 10.0]);
        let count = 5 + g.next() % 30;
        let mut line = String::from("GEOADD gen");
        for _ in 0..count {
            let lon = (clon + g.float(-spread, spread)).clamp(-180.0, 180.0);
            let lat = (clat + g.float(-spread, spread)).clamp(-LAT, LAT);
            for _ in 0..=(g.next() % 3) {
                line.push_str(&format!(" {lon} {lat} m{n}"));
                n += 1;
            }
        }
        script.push_str(&line);
        script.push('\n');
    }
    for _ in 0..300 {
        let &(clon, clat) = g.pick(&centres);
        let s = *g.pick(&[0.00001, 0.01, 1.0, 20.0]);
        let lon = (clon + g.float(-s, s)).clamp(-180.0, 180.0);
        let lat = (clat + g.float(-s, s)).clamp(-LAT, LAT);
        let (unit, per) = *g.pick(&[("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)]);
        let meters = *g.pick(&[
            0.0,
            3.0,
            1000.0,
            50_000.0,
            800_000.0,
            4_000_000.0,
            12_000_000.0,
        ]);
        let size = format!("{:.3}", meters / per * g.float(0.5, 1.5));
        let shape = if g.next().is_multiple_of(2) {
            format!("BYRADIUS {size} {unit}")
        } else {
            format!(
                "BYBOX {size} {:.3} {unit}",
                meters / per * g.float(0.2, 2.0)
            )
        };
        let order = *g.pick(&["", "ASC", "DESC"]);
        let count = match g.next() % 4 {
            0 => String::new(),
            1 => "COUNT 1".into(),
            2 => format!("COUNT {}", 2 + g.next() % 10),
            _ => format!("COUNT {} ANY", 1 + g.next() % 10),
        };
        script.push_str(&format!(
            "GEOSEARCH gen FROMLONLAT {lon} {lat} {shape} {order} {count} WITHDIST WITHHASH WITHCOORD\n"
        ));
        script.push_str(&format!(
            "GEOSEARCHSTORE out gen FROMLONLAT {lon} {lat} {shape} {order} {count} STOREDIST\n"
        ));
        script.push_str("ZRANGE out 0 -1 WITHSCORES\n");
    }
    script.push_str("OBJECT ENCODING gen\nZCARD gen\n");
    b.script(&script);
}

/// One reply's raw bytes: what is buffered up to the end of one frame.
fn raw_reply(s: &mut TcpStream, req: &[u8]) -> Vec<u8> {
    s.write_all(req).unwrap();
    let mut buf = Vec::new();
    loop {
        if let Some((_, n)) = Frame::parse(&buf).unwrap() {
            assert_eq!(n, buf.len(), "one reply at a time");
            return buf;
        }
        let mut chunk = [0u8; 65536];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn command(line: &str) -> Vec<u8> {
    let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
    let mut req = Vec::new();
    cairn_protocol::resp::write_command(&mut req, &args);
    req
}

/// RESP3 doubles compare by value in the harness; here the bytes themselves: Redis
/// spells coordinates with 17 decimals (`%.17Lf`, trailing zeros trimmed).
#[test]
fn resp3_coordinates_are_spelled_as_redis_spells_them() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let connect = |a: SocketAddr| {
        let s = TcpStream::connect(a).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    let (mut c, mut r) = (connect(cairn.addr), connect(redis.addr));
    for line in [
        "GEOADD k 13.361389 38.115556 Palermo 15.087269 37.502669 Catania 180 85.05112878 ne 0 0 zero",
        "GEOPOS k Palermo Catania ne zero nosuch",
        "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHCOORD WITHDIST WITHHASH",
        "HELLO 3",
        "GEOPOS k Palermo Catania ne zero nosuch",
        "GEOSEARCH k FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHCOORD WITHDIST WITHHASH",
        "GEORADIUSBYMEMBER k ne 1 m WITHCOORD",
        "GEODIST k ne zero km",
        "GEODIST k ne nosuch",
        "GEOHASH k zero nosuch",
    ] {
        let req = command(line);
        let (got, want) = (raw_reply(&mut c, &req), raw_reply(&mut r, &req));
        if line == "HELLO 3" {
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{line}"
        );
    }
}

#[test]
fn geo_events_are_redis_s() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let cairn = CairnProcess::start(&[]);
    let commands: &[&[&str]] = &[
        &["GEOADD", "g", "13.361389", "38.115556", "Palermo"],
        &["GEOADD", "g", "13.361389", "38.115556", "Palermo"],
        &["GEOADD", "g", "XX", "15", "37", "Catania"],
        &[
            "GEOADD", "g", "CH", "15", "37", "Catania", "13", "38", "Palermo",
        ],
        &["GEOADD", "g", "200", "37", "bad"],
        &["GEOADD", "none", "XX", "15", "37", "Catania"],
        &["GEORADIUS", "g", "15", "37", "500", "km", "STORE", "r"],
        &["GEORADIUS", "g", "15", "37", "500", "km", "STOREDIST", "r"],
        &["GEORADIUS", "g", "0", "0", "1", "m", "STORE", "r"],
        &["GEORADIUS", "g", "0", "0", "1", "m", "STORE", "r"],
        &[
            "GEOSEARCHSTORE",
            "s",
            "g",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "500",
            "km",
        ],
        &[
            "GEOSEARCHSTORE",
            "s",
            "nokey",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "500",
            "km",
        ],
        &[
            "GEORADIUSBYMEMBER",
            "g",
            "Palermo",
            "500",
            "km",
            "STORE",
            "t",
        ],
        &[
            "GEORADIUSBYMEMBER",
            "nokey",
            "Palermo",
            "500",
            "km",
            "STORE",
            "t",
        ],
        &[
            "GEOSEARCH",
            "g",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "500",
            "km",
        ],
    ];
    let from_redis = keyevents(|| redis.client(), commands);
    let from_cairn = keyevents(|| cairn.client(), commands);
    assert!(from_redis.len() >= 8, "{from_redis:?}");
    assert_eq!(from_cairn, from_redis);
}

/// GEOADD is journaled as the ZADD of what it set: replayed from the append-only file
/// after a restart, every point is where it was.
#[test]
fn geoadd_replays_from_the_aof() {
    let dir = std::env::temp_dir().join(format!("cairn-geo-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display().to_string();
    let args = [
        "--dir",
        d.as_str(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let read = |c: &mut Connection| -> (Vec<String>, Value, Vec<String>) {
        (
            q(c, &["ZRANGE", "g", "0", "-1", "WITHSCORES"]),
            q(c, &["GEOPOS", "g", "Palermo", "Catania", "ne", "x"]),
            q(c, &["ZRANGE", "s", "0", "-1", "WITHSCORES"]),
        )
    };
    let before;
    {
        let srv = CairnProcess::start(&args);
        let mut c = srv.client();
        let _: i64 = q(
            &mut c,
            &[
                "GEOADD",
                "g",
                "13.361389",
                "38.115556",
                "Palermo",
                "15.087269",
                "37.502669",
                "Catania",
            ],
        );
        let _: i64 = q(
            &mut c,
            &[
                "GEOADD", "g", "XX", "CH", "13.4", "38.1", "Palermo", "1", "1", "x",
            ],
        );
        let _: i64 = q(
            &mut c,
            &[
                "GEOADD",
                "g",
                "NX",
                "180",
                "85.05112878",
                "ne",
                "0",
                "0",
                "Catania",
            ],
        );
        let _: i64 = q(
            &mut c,
            &[
                "GEOSEARCHSTORE",
                "s",
                "g",
                "FROMMEMBER",
                "Palermo",
                "BYRADIUS",
                "300",
                "km",
                "STOREDIST",
            ],
        );
        before = read(&mut c);
        assert_eq!(before.0.len(), 6);
        assert_eq!(before.2.len(), 4);
    }
    let srv = CairnProcess::start(&args);
    let mut c = srv.client();
    assert_eq!(read(&mut c), before);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn command_info_matches_redis() {
    let Some(mut b) = both() else { return };
    b.script(
        "
        COMMAND INFO geoadd geodist geohash geopos geosearch geosearchstore
        COMMAND INFO georadius georadiusbymember georadius_ro georadiusbymember_ro
        COMMAND GETKEYS GEORADIUS src 1 2 3 km STORE dst
        COMMAND GETKEYS GEORADIUS src 1 2 3 km STOREDIST dst
        COMMAND GETKEYS GEORADIUSBYMEMBER src m 3 km STORE dst
        COMMAND GETKEYS GEOSEARCHSTORE dst src FROMMEMBER m BYRADIUS 1 km
        COMMAND GETKEYS GEOADD k 1 1 m
        ",
    );
}
