//! The blocking sorted-set pops: BZPOPMIN, BZPOPMAX, BZMPOP. As the blocking list pops
//! (`list_blocking.rs`, whose parking they share): each first tries its non-blocking
//! form; with nothing to take it parks, its try the same pop, run when a key it waits on
//! is written. Inside MULTI nothing parks. What a served pop journals is the ZREM of
//! what it took.

use cairn_protocol::{Args, Reply};

use crate::commands::list_blocking::{pop_or_block, timeout_arg};
use crate::commands::zsets::{Which, mpop_args, mpop_reply, pop_zset};
use crate::ctx::{Command, Ctx};
use crate::error::CmdResult;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

pub static COMMANDS: &[Command] = &[
    Spec::new("bzpopmin", -3, "sorted_set")
    .flags(WRITE | NOSCRIPT | FAST | BLOCKING)
    .acl(acl::SORTEDSET | acl::BLOCKING)
    .keys(&[KeySpec::range(1, -2, 1, key::RW | key::ACCESS | key::DELETE)])
    .doc("5.0.0", "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available")
    .complexity("O(log(N)) with N being the number of elements in the sorted set.")
    .run(bzpopmin),
    Spec::new("bzpopmax", -3, "sorted_set")
    .flags(WRITE | NOSCRIPT | FAST | BLOCKING)
    .acl(acl::SORTEDSET | acl::BLOCKING)
    .keys(&[KeySpec::range(1, -2, 1, key::RW | key::ACCESS | key::DELETE)])
    .doc("5.0.0", "Remove and return the member with the highest score from one or more sorted sets, or block until one is available")
    .complexity("O(log(N)) with N being the number of elements in the sorted set.")
    .run(bzpopmax),
    Spec::new("bzmpop", -5, "sorted_set")
    .flags(WRITE | BLOCKING)
    .acl(acl::SORTEDSET | acl::BLOCKING)
    .keys(&[KeySpec::counted(2, key::RW | key::ACCESS | key::DELETE)])
    .doc("7.0.0", "Remove and return members with scores in a sorted set or block until one is available")
    .complexity("O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.")
    .run(bzmpop),
];

/// BZPOPMIN / BZPOPMAX's reply: `[key, member, score]`.
fn bzpop_reply(out: &mut Reply, key: &[u8], m: &[u8], s: f64) {
    out.array(3);
    out.bulk(key);
    out.bulk(m);
    out.score(s);
}

fn bzpop(ctx: &mut Ctx, args: Args, which: Which) -> CmdResult {
    let timeout = timeout_arg(args.get(args.len() - 1))?;
    let keys: Vec<&[u8]> = (1..args.len() - 1).map(|i| args.get(i)).collect();
    pop_or_block(
        ctx,
        &keys,
        timeout,
        move |server, db, key, now| pop_zset(server, db, key, which, 1, now),
        |out, key, pairs| bzpop_reply(out, key, &pairs[0].0, pairs[0].1),
    )
}

fn bzpopmin(ctx: &mut Ctx, args: Args) -> CmdResult {
    bzpop(ctx, args, Which::Min)
}

fn bzpopmax(ctx: &mut Ctx, args: Args) -> CmdResult {
    bzpop(ctx, args, Which::Max)
}

/// ```text
/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
/// ```
fn bzmpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    let m = mpop_args(&args, 2)?;
    let timeout = timeout_arg(args.get(1))?;
    let (which, count) = (m.side, m.count);
    pop_or_block(
        ctx,
        &m.keys,
        timeout,
        move |server, db, key, now| pop_zset(server, db, key, which, count, now),
        |out, key, pairs| mpop_reply(out, key, pairs),
    )
}
