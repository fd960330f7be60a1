//! Geospatial commands over sorted sets, as Redis 7.0 answers them: a point is a member
//! whose score is its 52-bit geohash (`crate::geo` does the mathematics). GEOADD is a
//! ZADD of those scores and journals `ZADD key score member` for what it set, so replicas
//! and the append-only file replay it as a sorted-set write, and fires ZADD's `zadd`
//! event. The searches (GEOSEARCH, GEORADIUS and their forms) read the cells
//! [`crate::geo::search`] names; their store forms replace the destination with the
//! sorted set found (scores the geohashes, or the distances with STOREDIST), firing
//! `geosearchstore` or `georadiusstore`, or delete it when nothing is found.
//!
//! Arguments are checked in Redis's order, the source key first (WRONGTYPE before any
//! argument error), and FROMMEMBER looks its member up where it stands among the options,
//! so every error is the one Redis gives.

use cairn_protocol::{Args, Reply};
use cairn_store::key_slot;
use cairn_store::types::zset::{ScoreRange, ZSet};

use crate::commands::args::{int_arg, is};
use crate::commands::typed::zset;
use crate::commands::zset_args::score_arg;
use crate::commands::zsets::{AddFlags, add_pairs, store_zset};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::geo::area::{Extent, Shape};
use crate::geo::distance::{distance, unit};
use crate::geo::geohash::{decode_score, score, standard_string, valid};
use crate::geo::search::{Hit, Sort, find, ranked};
use crate::geo::text;
use crate::spec::{Find, KeySpec, Spec, acl, flags::*, key};

/// A key spec's keyword-introduced key: the one argument after `word`.
const fn after(word: &'static str, start: i32) -> KeySpec {
    KeySpec::after(
        word,
        start,
        Find::Range {
            last: 0,
            step: 1,
            limit: 0,
        },
        key::OW | key::UPDATE,
    )
}

const RADIUS_COMPLEXITY: &str = "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.";
const SEARCH_COMPLEXITY: &str = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape";

pub static COMMANDS: &[Command] = &[
    Spec::new("geoadd", -5, "geo")
    .flags(WRITE | DENYOOM)
    .acl(acl::GEO)
    .keys(&[KeySpec::one(1, key::RW | key::UPDATE)])
    .doc("3.2.0", "Add one or more geospatial items in the geospatial index represented using a sorted set")
    .complexity("O(log(N)) for each item added, where N is the number of elements in the sorted set.")
    .run(geoadd),
    Spec::new("geodist", -4, "geo")
    .flags(READONLY)
    .acl(acl::GEO)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("3.2.0", "Returns the distance between two members of a geospatial index")
    .complexity("O(log(N))")
    .run(geodist),
    Spec::new("geohash", -2, "geo")
    .flags(READONLY)
    .acl(acl::GEO)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("3.2.0", "Returns members of a geospatial index as standard geohash strings")
    .complexity("O(log(N)) for each member requested, where N is the number of elements in the sorted set.")
    .run(geohash),
    Spec::new("geopos", -2, "geo")
    .flags(READONLY)
    .acl(acl::GEO)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("3.2.0", "Returns longitude and latitude of members of a geospatial index")
    .complexity("O(N) where N is the number of members requested.")
    .run(geopos),
    Spec::new("georadius", -6, "geo")
    .flags(WRITE | DENYOOM)
    .acl(acl::GEO)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS), after("STORE", 6), after("STOREDIST", 6)])
    .doc("3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point")
    .complexity(RADIUS_COMPLEXITY)
    .deprecated("6.2.0", "`GEOSEARCH` and `GEOSEARCHSTORE` with the `BYRADIUS` argument")
    .run(georadius),
    Spec::new("georadiusbymember", -5, "geo")
    .flags(WRITE | DENYOOM)
    .acl(acl::GEO)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS), after("STORE", 5), after("STOREDIST", 5)])
    .doc("3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member")
    .complexity(RADIUS_COMPLEXITY)
    .deprecated("6.2.0", "`GEOSEARCH` and `GEOSEARCHSTORE` with the `BYRADIUS` and `FROMMEMBER` arguments")
    .run(georadiusbymember),
    Spec::new("georadius_ro", -6, "geo")
    .flags(READONLY)
    .acl(acl::GEO)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("3.2.10", "A read-only variant for GEORADIUS")
    .complexity(RADIUS_COMPLEXITY)
    .deprecated("6.2.0", "`GEOSEARCH` with the `BYRADIUS` argument")
    .run(georadius_ro),
    Spec::new("georadiusbymember_ro", -5, "geo")
    .flags(READONLY)
    .acl(acl::GEO)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("3.2.10", "A read-only variant for GEORADIUSBYMEMBER")
    .complexity(RADIUS_COMPLEXITY)
    .deprecated("6.2.0", "`GEOSEARCH` with the `BYRADIUS` and `FROMMEMBER` arguments")
    .run(georadiusbymember_ro),
    Spec::new("geosearch", -7, "geo")
    .flags(READONLY)
    .acl(acl::GEO)
    .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
    .doc("6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.")
    .complexity(SEARCH_COMPLEXITY)
    .run(geosearch),
    Spec::new("geosearchstore", -8, "geo")
    .flags(WRITE | DENYOOM)
    .acl(acl::GEO)
    .keys(&[KeySpec::one(1, key::OW | key::UPDATE), KeySpec::one(2, key::RO | key::ACCESS)])
    .doc("6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.")
    .complexity(SEARCH_COMPLEXITY)
    .run(geosearchstore),
];

// ---------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------

/// A number argument as Redis's `getDoubleFromObjectOrReply` reads it, `msg` its error
/// (`-0` stays negative: Redis prints it so in an invalid pair).
fn number(b: &[u8], msg: &'static str) -> Result<f64, CmdError> {
    score_arg(b).map_err(|_| CmdError::new(msg))
}

/// `longitude latitude` at `args[at..]`: two floats within Redis's limits.
fn lon_lat(args: &Args, at: usize) -> Result<(f64, f64), CmdError> {
    let lon = score_arg(args.get(at))?;
    let lat = score_arg(args.get(at + 1))?;
    if !valid(lon, lat) {
        return Err(CmdError::new(text::invalid_pair(lon, lat)));
    }
    Ok((lon, lat))
}

/// Meters per unit for a unit argument.
fn unit_arg(b: &[u8]) -> Result<f64, CmdError> {
    unit(b).ok_or_else(|| CmdError::new("ERR unsupported unit provided. please use M, KM, FT, MI"))
}

/// `radius unit` at `args[at..]`: (radius, meters per unit).
fn radius_arg(args: &Args, at: usize) -> Result<(f64, f64), CmdError> {
    let r = number(args.get(at), "ERR need numeric radius")?;
    if r < 0.0 {
        return Err(CmdError::new("ERR radius cannot be negative"));
    }
    Ok((r, unit_arg(args.get(at + 1))?))
}

/// `width height unit` at `args[at..]`.
fn box_arg(args: &Args, at: usize) -> Result<(Extent, f64), CmdError> {
    let width = number(args.get(at), "ERR need numeric width")?;
    let height = number(args.get(at + 1), "ERR need numeric height")?;
    if height < 0.0 || width < 0.0 {
        return Err(CmdError::new("ERR height or width cannot be negative"));
    }
    Ok((Extent::Box { width, height }, unit_arg(args.get(at + 2))?))
}

/// The point `member` of `z` stands at, or Redis's error for a member that is not there.
fn member_point(z: &ZSet, member: &[u8]) -> Result<(f64, f64), CmdError> {
    z.score(member)
        .map(decode_score)
        .ok_or_else(|| CmdError::new("ERR could not decode requested zset member"))
}

// ---------------------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS
// ---------------------------------------------------------------------------------------

/// ```text
/// GEOADD key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]
/// ```
fn geoadd(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut at = 2;
    while at < args.len() {
        let a = args.get(at);
        match () {
            _ if is(a, "nx") => nx = true,
            _ if is(a, "xx") => xx = true,
            _ if is(a, "ch") => ch = true,
            _ => break,
        }
        at += 1;
    }
    let rest = args.len() - at;
    if !rest.is_multiple_of(3) || (xx && nx) || rest == 0 {
        return Err(CmdError::syntax());
    }
    let mut points: Vec<(f64, &[u8])> = Vec::with_capacity(rest / 3);
    for i in (at..args.len()).step_by(3) {
        let (lon, lat) = lon_lat(&args, i)?;
        let s = score(lon, lat).expect("a valid point encodes") as f64;
        points.push((s, args.get(i + 2)));
    }
    // The scores are geohashes: the rest is ZADD's (its journal and event too).
    let flags = AddFlags {
        nx,
        xx,
        ch,
        ..AddFlags::default()
    };
    add_pairs(ctx, args.get(1), &flags, &points)
}

/// ```text
/// GEODIST key member1 member2 [M|KM|FT|MI]
/// ```
fn geodist(ctx: &mut Ctx, args: Args) -> CmdResult {
    let to_meters = match args.len() {
        4 => 1.0,
        5 => unit_arg(args.get(4))?,
        _ => return Err(CmdError::syntax()),
    };
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let Some(e) = shard.db(ctx.db()).read(slot, key, ctx.now) else {
        ctx.out.null();
        return Ok(());
    };
    let z = zset(e)?;
    match (z.score(args.get(2)), z.score(args.get(3))) {
        (Some(a), Some(b)) => {
            let ((lon1, lat1), (lon2, lat2)) = (decode_score(a), decode_score(b));
            let d = distance(lon1, lat1, lon2, lat2) / to_meters;
            ctx.out.bulk(text::distance(d).as_bytes());
        }
        _ => ctx.out.null(),
    }
    Ok(())
}

/// Runs `each` for every member named after the key, with its score if it has one,
/// after an array header; a missing key is a set of no members.
fn per_member(ctx: &mut Ctx, args: &Args, each: impl Fn(&mut Reply, Option<f64>)) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let z = match shard.db(ctx.db()).read(slot, key, ctx.now) {
        Some(e) => Some(zset(e)?),
        None => None,
    };
    ctx.out.array(args.len() - 2);
    for m in args.tail(2).iter() {
        each(ctx.out, z.and_then(|z| z.score(m)));
    }
    Ok(())
}

/// ```text
/// GEOHASH key [member ...]
/// ```
fn geohash(ctx: &mut Ctx, args: Args) -> CmdResult {
    per_member(ctx, &args, |out, s| match s {
        Some(s) => out.bulk(&standard_string(s)),
        None => out.null(),
    })
}

/// ```text
/// GEOPOS key [member ...]
/// ```
fn geopos(ctx: &mut Ctx, args: Args) -> CmdResult {
    per_member(ctx, &args, |out, s| match s {
        Some(s) => {
            let (lon, lat) = decode_score(s);
            out.array(2);
            coordinate(out, lon);
            coordinate(out, lat);
        }
        None => out.null_array(),
    })
}

/// A coordinate as Redis's `addReplyHumanLongDouble` sends it: a bulk string in RESP2,
/// a double in RESP3, spelled the same.
fn coordinate(out: &mut Reply, v: f64) {
    out.double_text(&text::coordinate(v));
}

// ---------------------------------------------------------------------------------------
// The searches
// ---------------------------------------------------------------------------------------

/// Which search command runs: Redis's `georadiusGeneric` flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// GEORADIUS, GEORADIUS_RO: `key longitude latitude radius unit`.
    Radius { store: bool },
    /// GEORADIUSBYMEMBER, GEORADIUSBYMEMBER_RO: `key member radius unit`.
    ByMember { store: bool },
    /// GEOSEARCH: `key` then FROM* and BY* options.
    Search,
    /// GEOSEARCHSTORE: `destination source` then GEOSEARCH's options and STOREDIST.
    SearchStore,
}

impl Form {
    /// Where the source key is.
    fn source(self) -> usize {
        match self {
            Form::SearchStore => 2,
            _ => 1,
        }
    }

    /// Where the options begin.
    fn options(self) -> usize {
        match self {
            Form::Radius { .. } => 6,
            Form::ByMember { .. } => 5,
            Form::Search => 2,
            Form::SearchStore => 3,
        }
    }

    /// Whether STORE and STOREDIST take a key (the write forms of GEORADIUS*).
    fn store_keyword(self) -> bool {
        matches!(
            self,
            Form::Radius { store: true } | Form::ByMember { store: true }
        )
    }

    fn is_search(self) -> bool {
        matches!(self, Form::Search | Form::SearchStore)
    }
}

/// A search, its arguments read.
struct Query<'a> {
    /// Where the search is centred (unknown when FROMMEMBER's key is missing).
    center: Option<(f64, f64)>,
    extent: Option<Extent>,
    /// Meters per unit.
    unit: f64,
    store: Option<&'a [u8]>,
    store_dist: bool,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    sort: Sort,
    /// 0: no COUNT.
    count: usize,
    any: bool,
}

/// Reads a search's arguments in Redis's order, looking FROMMEMBER's member up in `z`
/// (the source; `None` when missing) where it stands.
fn parse_query<'a>(args: &Args<'a>, form: Form, z: Option<&ZSet>) -> Result<Query<'a>, CmdError> {
    let mut q = Query {
        center: None,
        extent: None,
        unit: 1.0,
        store: (form == Form::SearchStore).then(|| args.get(1)),
        store_dist: false,
        with_dist: false,
        with_hash: false,
        with_coord: false,
        sort: Sort::None,
        count: 0,
        any: false,
    };
    match form {
        Form::Radius { .. } => {
            q.center = Some(lon_lat(args, 2)?);
            let (r, unit) = radius_arg(args, 4)?;
            (q.extent, q.unit) = (Some(Extent::Radius(r)), unit);
        }
        Form::ByMember { .. } => {
            // Without the key, nothing is checked but the options.
            if let Some(z) = z {
                q.center = Some(member_point(z, args.get(2))?);
                let (r, unit) = radius_arg(args, 3)?;
                (q.extent, q.unit) = (Some(Extent::Radius(r)), unit);
            }
        }
        Form::Search | Form::SearchStore => {}
    }
    let base = form.options();
    let remaining = args.len() - base;
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let mut i = 0;
    while i < remaining {
        let at = base + i;
        let a = args.get(at);
        let search = form.is_search();
        if is(a, "withdist") {
            q.with_dist = true;
        } else if is(a, "withhash") {
            q.with_hash = true;
        } else if is(a, "withcoord") {
            q.with_coord = true;
        } else if is(a, "any") {
            q.any = true;
        } else if is(a, "asc") {
            q.sort = Sort::Asc;
        } else if is(a, "desc") {
            q.sort = Sort::Desc;
        } else if is(a, "count") && i + 1 < remaining {
            let n = int_arg(args.get(at + 1))?;
            if n <= 0 {
                return Err(CmdError::new("ERR COUNT must be > 0"));
            }
            q.count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 1;
        } else if (is(a, "store") || is(a, "storedist"))
            && i + 1 < remaining
            && form.store_keyword()
        {
            q.store = Some(args.get(at + 1));
            q.store_dist = is(a, "storedist");
            i += 1;
        } else if is(a, "storedist") && form == Form::SearchStore {
            q.store_dist = true;
        } else if is(a, "frommember") && i + 1 < remaining && search && !from_lonlat {
            if let Some(z) = z {
                q.center = Some(member_point(z, args.get(at + 1))?);
            }
            from_member = true;
            i += 1;
        } else if is(a, "fromlonlat") && i + 2 < remaining && search && !from_member {
            q.center = Some(lon_lat(args, at + 1)?);
            from_lonlat = true;
            i += 2;
        } else if is(a, "byradius") && i + 2 < remaining && search && !by_box {
            let (r, unit) = radius_arg(args, at + 1)?;
            (q.extent, q.unit) = (Some(Extent::Radius(r)), unit);
            by_radius = true;
            i += 2;
        } else if is(a, "bybox") && i + 3 < remaining && search && !by_radius {
            let (extent, unit) = box_arg(args, at + 1)?;
            (q.extent, q.unit) = (Some(extent), unit);
            by_box = true;
            i += 3;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    if q.store.is_some() && (q.with_dist || q.with_hash || q.with_coord) {
        let what = if form == Form::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(CmdError::new(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(args.get(0));
    if form.is_search() && !(from_member || from_lonlat) {
        return Err(CmdError::new(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if form.is_search() && !(by_radius || by_box) {
        return Err(CmdError::new(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if q.any && q.count == 0 {
        return Err(CmdError::new(
            "ERR the ANY argument requires COUNT argument",
        ));
    }
    // COUNT without an order means the nearest ones (not with ANY: the first found).
    if q.count != 0 && q.sort == Sort::None && !q.any {
        q.sort = Sort::Asc;
    }
    Ok(q)
}

/// The keys a store form may write: GEOSEARCHSTORE's destination, or every argument
/// after a STORE or STOREDIST word (the parse decides which one counts; all are locked).
fn destinations<'a>(args: &Args<'a>, form: Form) -> Vec<&'a [u8]> {
    match form {
        Form::SearchStore => vec![args.get(1)],
        _ if form.store_keyword() => (form.options()..args.len().saturating_sub(1))
            .filter(|&i| is(args.get(i), "store") || is(args.get(i), "storedist"))
            .map(|i| args.get(i + 1))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every search command: Redis's `georadiusGeneric`.
fn search(ctx: &mut Ctx, args: Args, form: Form) -> CmdResult {
    let src = args.get(form.source());
    let db = ctx.db();
    let now = ctx.now;
    let server: &crate::server::Server = ctx.server;
    let dests = destinations(&args, form);
    let mut locked = server
        .keyspace
        .lock_keys(std::iter::once(src).chain(dests.iter().copied()));
    let sslot = key_slot(src);
    let (q, found) = {
        let z = match locked.db(sslot, db).read(sslot, src, now) {
            Some(e) => Some(zset(e)?),
            None => None,
        };
        let q = parse_query(&args, form, z)?;
        let found = z.map(|z| {
            let (lon, lat) = q.center.expect("the centre is known when the key is there");
            let shape = Shape {
                lon,
                lat,
                unit: q.unit,
                extent: q.extent.expect("the shape is known when the key is there"),
            };
            let limit = if q.any { q.count } else { 0 };
            let hits = find(&shape, limit, &mut |min, max, f| {
                let range = ScoreRange {
                    min,
                    max,
                    min_ex: false,
                    max_ex: true,
                };
                z.range_by_score(&range, false, &mut *f);
            });
            let order = ranked(&hits, q.sort, q.count);
            (hits, order)
        });
        (q, found)
    };
    // No source key: nothing found (a destination is then deleted, as an empty result).
    let (hits, order) = found.unwrap_or_default();
    match q.store {
        Some(dest) => {
            let lim = server.object_limits();
            let z = ZSet::from_items(
                order.iter().map(|&i| {
                    let h = &hits[i];
                    let s = if q.store_dist {
                        h.meters / q.unit
                    } else {
                        h.score
                    };
                    (h.member.as_slice(), s)
                }),
                &lim,
            );
            let event = if form.is_search() {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            let slot = key_slot(dest);
            let n = store_zset(ctx, locked.db(slot, db), slot, dest, z, event);
            ctx.out.int(n as i64);
        }
        None => {
            drop(locked);
            reply_hits(ctx.out, &q, &hits, &order);
        }
    }
    Ok(())
}

/// The found points: members alone, or each an array of the member and what WITHDIST,
/// WITHHASH and WITHCOORD asked for, in that order.
fn reply_hits(out: &mut Reply, q: &Query, hits: &[Hit], order: &[usize]) {
    let extra = usize::from(q.with_dist) + usize::from(q.with_hash) + usize::from(q.with_coord);
    out.array(order.len());
    for &i in order {
        let h = &hits[i];
        if extra > 0 {
            out.array(extra + 1);
        }
        out.bulk(&h.member);
        if q.with_dist {
            out.bulk(text::distance(h.meters / q.unit).as_bytes());
        }
        if q.with_hash {
            out.int(h.score as i64);
        }
        if q.with_coord {
            out.array(2);
            coordinate(out, h.lon);
            coordinate(out, h.lat);
        }
    }
}

/// ```text
/// GEORADIUS key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
///   [COUNT count [ANY]] [ASC|DESC] [STORE key|STOREDIST key]
/// ```
fn georadius(ctx: &mut Ctx, args: Args) -> CmdResult {
    search(ctx, args, Form::Radius { store: true })
}

/// ```text
/// GEORADIUSBYMEMBER key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
///   [COUNT count [ANY]] [ASC|DESC] [STORE key|STOREDIST key]
/// ```
fn georadiusbymember(ctx: &mut Ctx, args: Args) -> CmdResult {
    search(ctx, args, Form::ByMember { store: true })
}

fn georadius_ro(ctx: &mut Ctx, args: Args) -> CmdResult {
    search(ctx, args, Form::Radius { store: false })
}

fn georadiusbymember_ro(ctx: &mut Ctx, args: Args) -> CmdResult {
    search(ctx, args, Form::ByMember { store: false })
}

/// ```text
/// GEOSEARCH key FROMMEMBER member|FROMLONLAT longitude latitude
///   BYRADIUS radius M|KM|FT|MI|BYBOX width height M|KM|FT|MI
///   [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]
/// ```
fn geosearch(ctx: &mut Ctx, args: Args) -> CmdResult {
    search(ctx, args, Form::Search)
}

/// ```text
/// GEOSEARCHSTORE destination source FROMMEMBER member|FROMLONLAT longitude latitude
///   BYRADIUS radius M|KM|FT|MI|BYBOX width height M|KM|FT|MI
///   [ASC|DESC] [COUNT count [ANY]] [STOREDIST]
/// ```
fn geosearchstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    search(ctx, args, Form::SearchStore)
}
