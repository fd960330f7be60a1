//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis's semantics.
//!
//! - Between MULTI and EXEC commands are queued (`+QUEUED`). An error found while queuing
//!   (unknown command, wrong arity, OOM) makes EXEC answer EXECABORT and run nothing; an
//!   error a command meets while running is its reply in EXEC's array, and the others run.
//! - EXEC is atomic on any number of shards: it takes every shard lock for the whole
//!   transaction (`Keyspace::hold_all`), so no client sees a state between two of its
//!   commands. Commands run exactly as they do outside a transaction; their locks are lent
//!   from the hold.
//! - WATCH registers the key with its database; any change to it — a write by anyone,
//!   expiry, eviction, FLUSH, SWAPDB — sets the client's flag, and EXEC then answers a
//!   null array without running anything. A watched key that expires before EXEC counts
//!   as changed; one already expired when watched does not.

use std::sync::atomic::Ordering;

use cairn_protocol::Args;
use cairn_store::key_slot;

use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::server::Server;
use crate::session::Session;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};
use crate::transaction::{self, Transaction, Watching};

pub static COMMANDS: &[Command] = &[
    Spec::new("multi", 1, "transactions")
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL)
        .acl(acl::TRANSACTION)
        .doc("1.2.0", "Starts a transaction.")
        .complexity("O(1)")
        .run(multi),
    Spec::new("exec", 1, "transactions")
        .flags(NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | TX_CONTROL | RUNS_QUEUE)
        .acl(acl::TRANSACTION)
        .doc("1.2.0", "Executes all commands in a transaction.")
        .complexity("Depends on commands in the transaction")
        .run(exec),
    Spec::new("discard", 1, "transactions")
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL)
        .acl(acl::TRANSACTION)
        .doc("2.0.0", "Discards a transaction.")
        .complexity("O(N), when N is the number of queued commands")
        .run(discard),
    Spec::new("watch", -2, "transactions")
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL)
        .acl(acl::TRANSACTION)
        .keys(&[KeySpec::range(1, -1, 1, key::RO)])
        .doc(
            "2.2.0",
            "Monitors changes to keys to determine the execution of a transaction.",
        )
        .complexity("O(1) for every key.")
        .run(watch),
    Spec::new("unwatch", 1, "transactions")
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY)
        .acl(acl::TRANSACTION)
        .doc("2.2.0", "Forgets about watched keys of a transaction.")
        .complexity("O(1)")
        .run(unwatch),
];

/// EXEC is judged by dispatch by what its transaction runs; without one it is an error.
fn multi(ctx: &mut Ctx, _args: Args) -> CmdResult {
    if ctx.session.multi.is_some() {
        return Err(CmdError::new("ERR MULTI calls can not be nested"));
    }
    ctx.session.multi = Some(Transaction::default());
    ctx.session.info.multi.store(0, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx, _args: Args) -> CmdResult {
    if ctx.session.multi.is_none() {
        return Err(CmdError::new("ERR DISCARD without MULTI"));
    }
    end_transaction(ctx.server, ctx.session);
    ctx.out.ok();
    Ok(())
}

/// Drops the open transaction, if any, and the keys watched for it (DISCARD, an EXEC
/// refused before it runs, RESET, disconnect).
pub fn end_transaction(server: &Server, session: &mut Session) {
    session.multi = None;
    session.info.multi.store(-1, Ordering::Relaxed);
    unwatch_all(server, session);
}

fn watch(ctx: &mut Ctx, args: Args) -> CmdResult {
    if ctx.session.multi.is_some() {
        return Err(CmdError::new("ERR WATCH inside MULTI is not allowed"));
    }
    let db = ctx.db();
    let watching = ctx.session.watch.get_or_insert_with(Watching::new);
    for key in args.tail(1).iter() {
        if watching.keys.iter().any(|(d, k)| *d == db && k == key) {
            continue;
        }
        let slot = key_slot(key);
        let mut shard = ctx.server.keyspace.lock(slot);
        let d = shard.db(db);
        // A key already expired is removed now, before the watch starts: its expiry is
        // not a change made after WATCH.
        d.peek(slot, key, ctx.now);
        d.watch(key, &watching.flag);
        watching.keys.push((db, key.to_vec()));
    }
    ctx.session
        .info
        .watch
        .store(watching.keys.len(), Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx, _args: Args) -> CmdResult {
    unwatch_all(ctx.server, ctx.session);
    ctx.out.ok();
    Ok(())
}

/// Forgets every watched key of the connection (EXEC, DISCARD, UNWATCH, RESET, disconnect).
pub fn unwatch_all(server: &Server, session: &mut Session) {
    if let Some(w) = session.watch.take() {
        transaction::unwatch(&server.keyspace, w);
    }
    session.info.watch.store(0, Ordering::Relaxed);
}

/// EXEC with a transaction open: EXECABORT after a queuing error, a null array if a
/// watched key changed, otherwise every queued command's reply, run through dispatch
/// (`Ctx::run_nested`), all under one hold of every shard.
fn exec(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let Some(tx) = ctx.session.multi.take() else {
        return Err(CmdError::new("ERR EXEC without MULTI"));
    };
    ctx.session.info.multi.store(-1, Ordering::Relaxed);
    let server = ctx.server;
    if tx.is_aborted() {
        unwatch_all(server, ctx.session);
        return Err(CmdError::new(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let hold = server.keyspace.hold_all();
    if let Some(w) = &ctx.session.watch {
        // Expire what has expired since WATCH: that removal sets the flag too.
        for (db, key) in &w.keys {
            let slot = key_slot(key);
            server.keyspace.lock(slot).db(*db).peek(slot, key, ctx.now);
        }
        if w.flag.load(Ordering::Acquire) {
            drop(hold);
            unwatch_all(server, ctx.session);
            ctx.out.null_array();
            return Ok(());
        }
    }
    ctx.out.array(tx.len());
    for (id, args) in tx.queued() {
        ctx.run_nested(id, args);
    }
    drop(hold);
    unwatch_all(server, ctx.session);
    Ok(())
}
