//! Server commands: DBSIZE, FLUSHDB, FLUSHALL, TIME, SWAPDB, SHUTDOWN, DEBUG.

use std::time::Duration;

use cairn_protocol::Args;

use crate::commands::args::{float_arg, help_reply, int_arg, is};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::park::Park;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

const DEBUG_SUBCOMMANDS: &[Command] = &[
    Spec::new("debug|sleep", 3, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("1.0.0", "Sleeps this connection for the given number of seconds (other clients keep being served).")
        .run(debug_sleep),
    Spec::new("debug|set-active-expire", 3, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("1.0.0", "Turns the active expiry sweep on (1) or off (0).")
        .run(debug_set_active_expire),
    Spec::new("debug|aof-write-delay", 3, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("0.1.0", "Makes the AOF writer wait this many milliseconds before each write (testing durability).")
        .run(debug_aof_write_delay),
    Spec::new("debug|object", 3, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .keys(&[KeySpec::one(2, key::RO | key::ACCESS)])
        .doc("1.0.0", "Shows low-level information about a key.")
        .run(debug_object),
    Spec::new("debug|sync-chunk-delay", 3, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("0.1.0", "Makes full syncs wait this many milliseconds per 64 KB of snapshot sent (testing syncs that take long).")
        .run(debug_sync_chunk_delay),
    Spec::new("debug|digest", 2, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("1.0.0", "An order-independent digest of the whole dataset (40 hex characters; equal on nodes holding the same data).")
        .run(debug_digest),
    Spec::new("debug|digest-value", -2, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("1.0.0", "The digest of each named key's value.")
        .run(debug_digest_value),
    Spec::new("debug|help", 2, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("1.0.0", "Returns helpful text about the different subcommands.")
        .run(debug_help),
];

pub const COMMANDS: &[Command] = &[
    Spec::new("dbsize", 1, "server")
        .flags(READONLY | FAST)
        .acl(acl::KEYSPACE)
        .tips(&["request_policy:all_shards", "response_policy:agg_sum"])
        .doc("1.0.0", "Returns the number of keys in the database.")
        .complexity("O(1)")
        .run(dbsize),
    Spec::new("flushdb", -1, "server")
        .flags(WRITE)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .doc("1.0.0", "Remove all keys from the current database.")
        .complexity("O(N) where N is the number of keys in the selected database")
        .run(flushdb),
    Spec::new("flushall", -1, "server")
        .flags(WRITE)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .tips(&["request_policy:all_shards", "response_policy:all_succeeded"])
        .doc("1.0.0", "Removes all keys from all databases.")
        .complexity("O(N) where N is the total number of keys in all databases")
        .run(flushall),
    Spec::new("monitor", 1, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("1.0.0", "Listens for all requests received by the server in real-time.")
        .run(monitor),
    Spec::new("time", 1, "server")
        .flags(LOADING | STALE | FAST)
        .tips(&["nondeterministic_output"])
        .doc("2.6.0", "Returns the server time.")
        .complexity("O(1)")
        .run(time),
    Spec::new("swapdb", 3, "server")
        .flags(WRITE | FAST)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .doc("4.0.0", "Swaps two Redis databases.")
        .complexity("O(N) where N is the count of clients watching or blocking on keys from both databases.")
        .run(swapdb),
    Spec::new("shutdown", -1, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY | PAUSE_EXEMPT)
        .doc("1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.")
        .complexity("O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)")
        .run(shutdown),
    Spec::new("debug", -2, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc("1.0.0", "A container for debugging commands.")
        .complexity("Depends on subcommand.")
        .container(DEBUG_SUBCOMMANDS),
];

fn dbsize(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.out
        .int(ctx.server.keyspace.db_len(ctx.session.db) as i64);
    Ok(())
}

/// Whether FLUSHDB / FLUSHALL frees in the background: ASYNC, SYNC, or the
/// `lazyfree-lazy-user-flush` default.
fn flush_mode(ctx: &Ctx, args: Args) -> Result<bool, CmdError> {
    match args.len() {
        1 => Ok(ctx.server.with_config(|c| c.lazyfree_lazy_user_flush)),
        2 if is(args.get(1), "async") => Ok(true),
        2 if is(args.get(1), "sync") => Ok(false),
        _ => Err(CmdError::syntax()),
    }
}

fn flush(ctx: &mut Ctx, args: Args, db: Option<usize>) -> CmdResult {
    let lazy = flush_mode(ctx, args)?;
    let taken = ctx.server.keyspace.flush(db);
    if lazy {
        ctx.server.lazyfree.free(taken);
    } else {
        drop(taken);
    }
    ctx.out.ok();
    Ok(())
}

/// ```text
/// FLUSHDB [ASYNC | SYNC]
/// ```
fn flushdb(ctx: &mut Ctx, args: Args) -> CmdResult {
    let db = ctx.session.db;
    flush(ctx, args, Some(db))
}

/// ```text
/// FLUSHALL [ASYNC | SYNC]
/// ```
fn flushall(ctx: &mut Ctx, args: Args) -> CmdResult {
    flush(ctx, args, None)
}

fn time(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk(now.as_secs().to_string().as_bytes());
    ctx.out.bulk(now.subsec_micros().to_string().as_bytes());
    Ok(())
}

/// ```text
/// SWAPDB index1 index2
/// ```
fn swapdb(ctx: &mut Ctx, args: Args) -> CmdResult {
    let a = int_arg(args.get(1)).map_err(|_| CmdError::new("ERR invalid first DB index"))?;
    let b = int_arg(args.get(2)).map_err(|_| CmdError::new("ERR invalid second DB index"))?;
    let n = ctx.server.with_config(|c| c.databases) as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Err(CmdError::db_out_of_range());
    }
    if a != b {
        ctx.server.keyspace.swap_dbs(a as usize, b as usize);
    }
    ctx.out.ok();
    Ok(())
}

/// ```text
/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]
/// ```
/// Nothing is persisted yet, so SAVE and NOSAVE both just stop the server. Like Redis, a
/// successful SHUTDOWN sends no reply: the connection closes.
fn shutdown(ctx: &mut Ctx, args: Args) -> CmdResult {
    let mut abort = false;
    let mut save = None;
    for a in args.tail(1).iter() {
        if is(a, "abort") {
            abort = true;
        } else if is(a, "nosave") {
            save = Some(false);
        } else if is(a, "save") {
            save = Some(true);
        } else if !(is(a, "now") || is(a, "force")) {
            return Err(CmdError::syntax());
        }
    }
    ctx.server.persist.set_shutdown_save(save);
    if abort {
        return Err(CmdError::new("ERR No shutdown in progress."));
    }
    tracing::warn!("User requested shutdown...");
    ctx.session.close_after_reply = true;
    ctx.server.shutdown();
    Ok(())
}

/// ```text
/// DEBUG SLEEP seconds
/// ```
/// Redis blocks its only thread; Cairn parks this connection only, which is what tests
/// that use it to simulate a slow command need, without stalling everyone else.
fn debug_sleep(ctx: &mut Ctx, args: Args) -> CmdResult {
    let secs = float_arg(args.get(2))?;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(CmdError::new("ERR sleep time out of range"));
    }
    ctx.out.ok();
    if ctx.may_park() {
        ctx.park = Some(Park::Sleep(Duration::from_secs_f64(secs)));
    }
    Ok(())
}

/// DEBUG AOF-WRITE-DELAY ms: a slow disk on demand, so tests can tell a reply that waited
/// for the AOF from one that did not.
fn debug_aof_write_delay(ctx: &mut Ctx, args: Args) -> CmdResult {
    let ms = int_arg(args.get(2))?;
    if !(0..=60_000).contains(&ms) {
        return Err(CmdError::new("ERR delay out of range"));
    }
    ctx.server
        .persist
        .write_delay_ms
        .store(ms as u64, std::sync::atomic::Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn debug_set_active_expire(ctx: &mut Ctx, args: Args) -> CmdResult {
    let on = int_arg(args.get(2))? != 0;
    ctx.server
        .active_expire
        .store(on, std::sync::atomic::Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn debug_object(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(2);
    let (mut shard, slot) = ctx.lock(key);
    let Some(e) = shard.db(ctx.db()).peek(slot, key, ctx.now) else {
        return Err(CmdError::no_such_key());
    };
    let line = format!(
        "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        e.value().encoding(),
        e.value().len(),
        ctx.now.s & 0xFF_FFFF,
        e.idle_seconds(ctx.now.s)
    );
    drop(shard);
    ctx.out.simple(&line);
    Ok(())
}

/// DEBUG SYNC-CHUNK-DELAY ms: a slow network for full syncs, so tests can act while one
/// is in progress.
fn debug_sync_chunk_delay(ctx: &mut Ctx, args: Args) -> CmdResult {
    let ms = int_arg(args.get(2))?;
    if ms < 0 {
        return Err(CmdError::new("ERR delay must not be negative"));
    }
    ctx.server
        .replication
        .rounds
        .chunk_delay_ms
        .store(ms as u64, std::sync::atomic::Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// DEBUG DIGEST
fn debug_digest(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let d = crate::replication::digest::dataset(ctx.server);
    ctx.out.simple(&d);
    Ok(())
}

/// ```text
/// MONITOR
/// ```
/// From now on the connection is sent a line per command any client runs
/// (`crate::monitor`); RESET or QUIT ends it. Not inside MULTI, as in Redis.
fn monitor(ctx: &mut Ctx, _args: Args) -> CmdResult {
    if !ctx.may_park() {
        return Err(CmdError::new(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    // A second MONITOR is ignored without a reply, as in Redis.
    if !ctx
        .session
        .info
        .monitor
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        ctx.server.monitors.add(&ctx.session.info);
        ctx.out.ok();
    }
    Ok(())
}

/// DEBUG DIGEST-VALUE key [key ...]
fn debug_digest_value(ctx: &mut Ctx, args: Args) -> CmdResult {
    ctx.out.array(args.len() - 2);
    for key in args.tail(2).iter() {
        let d = crate::replication::digest::value(ctx.server, ctx.session.db, key);
        ctx.out.simple(&d);
    }
    Ok(())
}

fn debug_help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "DEBUG",
        &[
            "SLEEP <seconds>",
            "    Stop this connection for <seconds> (other clients are served).",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Turn the active expiry sweep off or on.",
            "OBJECT <key>",
            "    Show low level info about the <key> and its value.",
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
        ],
    );
    Ok(())
}
