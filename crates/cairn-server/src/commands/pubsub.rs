//! Pub/Sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UN- forms, PUBLISH, SPUBLISH,
//! PUBSUB. The registry and delivery are in `crate::pubsub`.
//!
//! Confirmations are arrays in RESP2 and push frames in RESP3, as Redis sends them. In
//! RESP2 a connection with any subscription is in subscribed mode: only the commands in
//! [`ALLOWED_WHEN_SUBSCRIBED`] run (the connection loop checks).

use std::sync::atomic::Ordering;

use cairn_protocol::Args;

use crate::commands::args::{help_reply, is};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::pubsub::Kind;
use crate::spec::{KeySpec, Spec, flags::*, key};

/// What a RESP2 connection in subscribed mode may still run.
pub const ALLOWED_WHEN_SUBSCRIBED: &[&str] = &[
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
    "ping",
    "quit",
    "reset",
];

const PUBSUB_SUBCOMMANDS: &[Command] = &[
            Spec::new("pubsub|channels", -2, "pubsub")
                .flags(PUBSUB | LOADING | STALE)
                .doc("2.8.0", "Returns the active channels.")
                .complexity("O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)")
                .run(channels),
            Spec::new("pubsub|numsub", -2, "pubsub")
                .flags(PUBSUB | LOADING | STALE)
                .doc("2.8.0", "Returns a count of subscribers to channels.")
                .complexity("O(N) for the NUMSUB subcommand, where N is the number of requested channels")
                .run(numsub),
            Spec::new("pubsub|numpat", 2, "pubsub")
                .flags(PUBSUB | LOADING | STALE)
                .doc("2.8.0", "Returns a count of unique pattern subscriptions.")
                .complexity("O(1)")
                .run(numpat),
            Spec::new("pubsub|shardchannels", -2, "pubsub")
                .flags(PUBSUB | LOADING | STALE)
                .doc("7.0.0", "Returns the active shard channels.")
                .complexity("O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short channels).")
                .run(shardchannels),
            Spec::new("pubsub|shardnumsub", -2, "pubsub")
                .flags(PUBSUB | LOADING | STALE)
                .doc("7.0.0", "Returns the count of subscribers of shard channels.")
                .complexity("O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels")
                .run(shardnumsub),
            Spec::new("pubsub|help", 2, "pubsub")
                .flags(LOADING | STALE)
                .doc("6.2.0", "Returns helpful text about the different subcommands.")
                .complexity("O(1)")
                .run(help),
        ];

pub static COMMANDS: &[Command] = &[
    Spec::new("subscribe", -2, "pubsub")
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK)
        .doc("2.0.0", "Listens for messages published to channels.")
        .complexity("O(N) where N is the number of channels to subscribe to.")
        .run(subscribe),
    Spec::new("unsubscribe", -1, "pubsub")
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK)
        .doc("2.0.0", "Stops listening to messages posted to channels.")
        .complexity("O(N) where N is the number of clients already subscribed to a channel.")
        .run(unsubscribe),
    Spec::new("psubscribe", -2, "pubsub")
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK)
        .doc("2.0.0", "Listens for messages published to channels that match one or more patterns.")
        .complexity("O(N) where N is the number of patterns the client is already subscribed to.")
        .run(psubscribe),
    Spec::new("punsubscribe", -1, "pubsub")
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK)
        .doc("2.0.0", "Stops listening to messages published to channels that match one or more patterns.")
        .complexity("O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).")
        .run(punsubscribe),
    Spec::new("ssubscribe", -2, "pubsub")
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK)
        .keys(&[KeySpec::range(1, -1, 1, key::NOT_KEY)])
        .doc("7.0.0", "Listens for messages published to shard channels.")
        .complexity("O(N) where N is the number of shard channels to subscribe to.")
        .run(ssubscribe),
    Spec::new("sunsubscribe", -1, "pubsub")
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK)
        .keys(&[KeySpec::range(1, -1, 1, key::NOT_KEY)])
        .doc("7.0.0", "Stops listening to messages posted to shard channels.")
        .complexity("O(N) where N is the number of clients already subscribed to a shard channel.")
        .run(sunsubscribe),
    Spec::new("publish", 3, "pubsub")
        .flags(PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE)
        .doc("2.0.0", "Posts a message to a channel.")
        .complexity("O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).")
        .run(publish),
    Spec::new("spublish", 3, "pubsub")
        .flags(PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE)
        .keys(&[KeySpec::one(1, key::NOT_KEY)])
        .doc("7.0.0", "Post a message to a shard channel")
        .complexity("O(N) where N is the number of clients subscribed to the receiving shard channel.")
        .run(spublish),
    Spec::new("pubsub", -2, "pubsub")
        .doc("2.8.0", "A container for Pub/Sub commands.")
        .complexity("Depends on subcommand.")
        .container(PUBSUB_SUBCOMMANDS),
];

fn subscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    add(ctx, args, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    add(ctx, args, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    add(ctx, args, Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    remove(ctx, args, Kind::Channel)
}

fn punsubscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    remove(ctx, args, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    remove(ctx, args, Kind::Shard)
}

/// `[P|S]SUBSCRIBE name [name ...]`: one confirmation per name, subscribed or not before.
fn add(ctx: &mut Ctx, args: Args, kind: Kind) -> CmdResult {
    for name in args.tail(1).iter() {
        if ctx.session.subscriptions.add(kind, name) {
            ctx.server.pubsub.subscribe(kind, name, &ctx.session.info);
        }
        confirm(ctx, kind, true, Some(name));
    }
    sync_counts(ctx, kind);
    Ok(())
}

/// `[P|S]UNSUBSCRIBE [name ...]`: without names, from everything of that kind (and one
/// confirmation with a null name if there was nothing).
fn remove(ctx: &mut Ctx, args: Args, kind: Kind) -> CmdResult {
    let names: Vec<Vec<u8>> = if args.len() > 1 {
        args.tail(1).iter().map(<[u8]>::to_vec).collect()
    } else {
        ctx.session.subscriptions.all(kind)
    };
    if names.is_empty() {
        confirm(ctx, kind, false, None);
    }
    for name in &names {
        if ctx.session.subscriptions.remove(kind, name) {
            ctx.server
                .pubsub
                .unsubscribe(kind, name, ctx.session.info.id);
        }
        confirm(ctx, kind, false, Some(name));
    }
    sync_counts(ctx, kind);
    Ok(())
}

/// Drops every subscription of the connection (RESET, disconnect).
pub fn unsubscribe_all(server: &crate::server::Server, session: &mut crate::session::Session) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in session.subscriptions.all(kind) {
            session.subscriptions.remove(kind, &name);
            server.pubsub.unsubscribe(kind, &name, session.info.id);
        }
        session.info.subscriptions[kind.index()].store(0, Ordering::Relaxed);
    }
}

fn sync_counts(ctx: &mut Ctx, kind: Kind) {
    let n = ctx.session.subscriptions.len(kind);
    ctx.session.info.subscriptions[kind.index()].store(n, Ordering::Relaxed);
}

fn confirm(ctx: &mut Ctx, kind: Kind, subscribe: bool, name: Option<&[u8]>) {
    if ctx.out.is_resp3() {
        ctx.out.push(3);
    } else {
        ctx.out.array(3);
    }
    ctx.out.bulk(kind.verb(subscribe).as_bytes());
    match name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ctx.out.int(ctx.session.subscriptions.count(kind) as i64);
}

fn publish(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = ctx
        .server
        .pubsub
        .publish(Kind::Channel, args.get(1), args.get(2));
    ctx.out.int(n as i64);
    Ok(())
}

fn spublish(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = ctx
        .server
        .pubsub
        .publish(Kind::Shard, args.get(1), args.get(2));
    ctx.out.int(n as i64);
    Ok(())
}

/// `PUBSUB CHANNELS [pattern]` and `PUBSUB SHARDCHANNELS [pattern]`.
fn list(ctx: &mut Ctx, args: Args, kind: Kind) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::arity(ctx.spec.name));
    }
    let pattern = (args.len() == 3).then(|| args.get(2));
    let names = ctx.server.pubsub.channels(kind, pattern);
    ctx.out.array(names.len());
    for n in &names {
        ctx.out.bulk(n);
    }
    Ok(())
}

fn channels(ctx: &mut Ctx, args: Args) -> CmdResult {
    list(ctx, args, Kind::Channel)
}

fn shardchannels(ctx: &mut Ctx, args: Args) -> CmdResult {
    list(ctx, args, Kind::Shard)
}

/// `PUBSUB NUMSUB [channel ...]`: a flat array of channel, count pairs (in RESP3 too, as
/// Redis answers).
fn counts(ctx: &mut Ctx, args: Args, kind: Kind) -> CmdResult {
    ctx.out.array(2 * (args.len() - 2));
    for name in args.tail(2).iter() {
        ctx.out.bulk(name);
        ctx.out.int(ctx.server.pubsub.count(kind, name) as i64);
    }
    Ok(())
}

fn numsub(ctx: &mut Ctx, args: Args) -> CmdResult {
    counts(ctx, args, Kind::Channel)
}

fn shardnumsub(ctx: &mut Ctx, args: Args) -> CmdResult {
    counts(ctx, args, Kind::Shard)
}

fn numpat(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.out.int(ctx.server.pubsub.len(Kind::Pattern) as i64);
    Ok(())
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}

/// The error a RESP2 connection in subscribed mode gets for any other command.
pub fn not_allowed(name: &str) -> CmdError {
    CmdError::new(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ))
}

/// Whether `name` may run in RESP2's subscribed mode.
pub fn allowed_when_subscribed(name: &str) -> bool {
    ALLOWED_WHEN_SUBSCRIBED
        .iter()
        .any(|a| is(name.as_bytes(), a))
}
