//! Sorted-set algebra: ZUNION, ZINTER, ZDIFF, their *STORE forms and ZINTERCARD, with
//! WEIGHTS and AGGREGATE SUM|MIN|MAX. Plain sets are accepted as inputs, each member
//! scoring 1, as in Redis. The *STORE forms replace their destination with the result
//! (journaled as the sorted set it is).

use std::collections::HashMap;

use cairn_protocol::Args;
use cairn_store::Object;

use crate::commands::args::{int_arg, is};
use crate::commands::zset_args::score_arg;
use crate::commands::zsets::{Scored, build, reply_pairs, store_zset};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("zunion", -3, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::counted(1, key::RO | key::ACCESS)])
    .doc("6.2.0", "Add multiple sorted sets")
    .complexity("O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.")
    .run(zunion),
    Spec::new("zinter", -3, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::counted(1, key::RO | key::ACCESS)])
    .doc("6.2.0", "Intersect multiple sorted sets")
    .complexity("O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.")
    .run(zinter),
    Spec::new("zdiff", -3, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::counted(1, key::RO | key::ACCESS)])
    .doc("6.2.0", "Subtract multiple sorted sets")
    .complexity("O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.")
    .run(zdiff),
    Spec::new("zunionstore", -4, "sorted_set")
    .flags(WRITE | DENYOOM)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::OW | key::UPDATE), KeySpec::counted(2, key::RO | key::ACCESS)])
    .doc("2.0.0", "Add multiple sorted sets and store the resulting sorted set in a new key")
    .complexity("O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.")
    .run(zunionstore),
    Spec::new("zinterstore", -4, "sorted_set")
    .flags(WRITE | DENYOOM)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::OW | key::UPDATE), KeySpec::counted(2, key::RO | key::ACCESS)])
    .doc("2.0.0", "Intersect multiple sorted sets and store the resulting sorted set in a new key")
    .complexity("O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.")
    .run(zinterstore),
    Spec::new("zdiffstore", -4, "sorted_set")
    .flags(WRITE | DENYOOM)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::one(1, key::OW | key::UPDATE), KeySpec::counted(2, key::RO | key::ACCESS)])
    .doc("6.2.0", "Subtract multiple sorted sets and store the resulting sorted set in a new key")
    .complexity("O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.")
    .run(zdiffstore),
    Spec::new("zintercard", -3, "sorted_set")
    .flags(READONLY)
    .acl(acl::SORTEDSET)
    .keys(&[KeySpec::counted(1, key::RO | key::ACCESS)])
    .doc("7.0.0", "Intersect multiple sorted sets and return the cardinality of the result")
    .complexity("O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.")
    .run(zintercard),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate`: a sum of opposite infinities is 0, not NaN.
    fn apply(self, acc: f64, v: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let s = acc + v;
                if s.is_nan() { 0.0 } else { s }
            }
            Aggregate::Min => acc.min(v),
            Aggregate::Max => acc.max(v),
        }
    }
}

/// The parsed `numkeys key... [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES]` from `at`.
struct Inputs<'a> {
    keys: Vec<&'a [u8]>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
}

fn parse<'a>(
    args: &Args<'a>,
    at: usize,
    op: Op,
    store: bool,
    name: &str,
) -> Result<Inputs<'a>, CmdError> {
    let numkeys = int_arg(args.get(at))?;
    if numkeys < 1 {
        return Err(CmdError::new(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - at - 1 {
        return Err(CmdError::syntax());
    }
    let keys: Vec<&[u8]> = (at + 1..at + 1 + numkeys).map(|i| args.get(i)).collect();
    let mut weights = vec![1.0; numkeys];
    let mut aggregate = Aggregate::Sum;
    let mut with_scores = false;
    let mut j = at + 1 + numkeys;
    while j < args.len() {
        let a = args.get(j);
        let left = args.len() - j - 1;
        if op != Op::Diff && left >= numkeys && is(a, "weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = score_arg(args.get(j + 1 + i))
                    .map_err(|_| CmdError::new("ERR weight value is not a float"))?;
            }
            j += numkeys;
        } else if op != Op::Diff && left >= 1 && is(a, "aggregate") {
            let b = args.get(j + 1);
            aggregate = if is(b, "sum") {
                Aggregate::Sum
            } else if is(b, "min") {
                Aggregate::Min
            } else if is(b, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::syntax());
            };
            j += 1;
        } else if !store && is(a, "withscores") {
            with_scores = true;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    Ok(Inputs {
        keys,
        weights,
        aggregate,
        with_scores,
    })
}

/// One input's members and scores (a set's members score 1).
fn members_of(o: &Object) -> Result<Scored, CmdError> {
    match o {
        Object::ZSet(z) => {
            let mut v = Vec::with_capacity(z.len());
            z.for_each(|m, s| v.push((m.to_vec(), s)));
            Ok(v)
        }
        Object::Set(s) => Ok(s.members().into_iter().map(|m| (m, 1.0)).collect()),
        _ => Err(CmdError::wrong_type()),
    }
}

/// Computes `op` over the inputs (missing keys are empty), under the locks of `extra`
/// too (a *STORE's destination), which it returns still held with the result in order.
fn compute<'a>(
    ctx: &mut Ctx<'a>,
    inputs: &Inputs,
    op: Op,
    extra: Option<&[u8]>,
    limit: usize,
) -> Result<(cairn_store::Locked<'a>, Scored), CmdError> {
    let db = ctx.db();
    let now = ctx.now;
    let server: &'a crate::server::Server = ctx.server;
    let mut locked = server
        .keyspace
        .lock_keys(inputs.keys.iter().copied().chain(extra));
    let mut sets: Vec<Option<Scored>> = Vec::with_capacity(inputs.keys.len());
    for &k in &inputs.keys {
        let slot = cairn_store::key_slot(k);
        match locked.db(slot, db).read(slot, k, now) {
            None => sets.push(None),
            Some(e) => match e.object() {
                Some(o) => sets.push(Some(members_of(o)?)),
                None => return Err(CmdError::wrong_type()),
            },
        }
    }
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() { 0.0 } else { v }
    };
    let mut out: Scored = Vec::new();
    match op {
        Op::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for (set, &w) in sets.iter().zip(&inputs.weights) {
                for (m, s) in set.iter().flatten() {
                    let v = weighted(*s, w);
                    acc.entry(m.clone())
                        .and_modify(|a| *a = inputs.aggregate.apply(*a, v))
                        .or_insert(v);
                }
            }
            out = acc.into_iter().collect();
        }
        Op::Inter => {
            if sets.iter().all(Option::is_some) {
                let maps: Vec<HashMap<&[u8], f64>> = sets
                    .iter()
                    .flatten()
                    .map(|s| s.iter().map(|(m, v)| (m.as_slice(), *v)).collect())
                    .collect();
                let smallest = (0..maps.len()).min_by_key(|&i| maps[i].len()).unwrap_or(0);
                for (m, _) in sets[smallest].iter().flatten() {
                    if out.len() >= limit {
                        break;
                    }
                    let mut acc: Option<f64> = None;
                    let mut all = true;
                    for (i, map) in maps.iter().enumerate() {
                        match map.get(m.as_slice()) {
                            Some(&s) => {
                                let v = weighted(s, inputs.weights[i]);
                                acc = Some(acc.map_or(v, |a| inputs.aggregate.apply(a, v)));
                            }
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if all {
                        out.push((m.clone(), acc.expect("at least one input")));
                    }
                }
            }
        }
        Op::Diff => {
            if let Some(Some(first)) = sets.first() {
                let rest: Vec<std::collections::HashSet<&[u8]>> = sets[1..]
                    .iter()
                    .flatten()
                    .map(|s| s.iter().map(|(m, _)| m.as_slice()).collect())
                    .collect();
                for (m, s) in first {
                    if !rest.iter().any(|r| r.contains(m.as_slice())) {
                        out.push((m.clone(), *s));
                    }
                }
            }
        }
    }
    out.sort_by(|(am, a), (bm, b)| a.partial_cmp(b).expect("no NaN").then_with(|| am.cmp(bm)));
    Ok((locked, out))
}

fn read_form(ctx: &mut Ctx, args: Args, op: Op) -> CmdResult {
    let inputs = parse(&args, 1, op, false, ctx.spec.name)?;
    let (locked, out) = compute(ctx, &inputs, op, None, usize::MAX)?;
    drop(locked);
    if inputs.with_scores {
        let nested = ctx.out.is_resp3();
        reply_pairs(ctx.out, &out, nested);
    } else {
        ctx.out.array(out.len());
        for (m, _) in &out {
            ctx.out.bulk(m);
        }
    }
    Ok(())
}

fn store_form(ctx: &mut Ctx, args: Args, op: Op, event: &str) -> CmdResult {
    let inputs = parse(&args, 2, op, true, ctx.spec.name)?;
    let dest = args.get(1);
    let lim = ctx.server.object_limits();
    let (mut locked, out) = compute(ctx, &inputs, op, Some(dest), usize::MAX)?;
    let slot = cairn_store::key_slot(dest);
    let z = build(&out, &lim);
    let n = store_zset(ctx, locked.db(slot, ctx.db()), slot, dest, z, event);
    ctx.out.int(n as i64);
    Ok(())
}

fn zunion(ctx: &mut Ctx, args: Args) -> CmdResult {
    read_form(ctx, args, Op::Union)
}

fn zinter(ctx: &mut Ctx, args: Args) -> CmdResult {
    read_form(ctx, args, Op::Inter)
}

fn zdiff(ctx: &mut Ctx, args: Args) -> CmdResult {
    read_form(ctx, args, Op::Diff)
}

fn zunionstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    store_form(ctx, args, Op::Union, "zunionstore")
}

fn zinterstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    store_form(ctx, args, Op::Inter, "zinterstore")
}

fn zdiffstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    store_form(ctx, args, Op::Diff, "zdiffstore")
}

/// ```text
/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
/// ```
fn zintercard(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = int_arg(args.get(1))?;
    if n <= 0 {
        return Err(CmdError::new(
            "ERR at least 1 input key is needed for 'zintercard' command",
        ));
    }
    let n = n as usize;
    if n > args.len() - 2 {
        return Err(CmdError::syntax());
    }
    let mut limit = usize::MAX;
    let mut i = 2 + n;
    while i < args.len() {
        if is(args.get(i), "limit") && i + 1 < args.len() {
            let negative = || CmdError::new("ERR LIMIT can't be negative");
            let l = int_arg(args.get(i + 1)).map_err(|_| negative())?;
            if l < 0 {
                return Err(negative());
            }
            if l > 0 {
                limit = l as usize;
            }
            i += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let inputs = Inputs {
        keys: (2..2 + n).map(|i| args.get(i)).collect(),
        weights: vec![1.0; n],
        aggregate: Aggregate::Sum,
        with_scores: false,
    };
    let (_, out) = compute(ctx, &inputs, Op::Inter, None, limit)?;
    ctx.out.int(out.len() as i64);
    Ok(())
}
