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

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use cairn_protocol::{Args, Reply};
use cairn_store::db::{Now, WatchFlag};
use cairn_store::key_slot;

use super::{CmdError, CmdResult, CommandSpec, Ctx, flags::*};
use crate::server::Server;
use crate::session::Session;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        "transactions",
        "1.2.0",
        "Starts a transaction.",
        multi,
    ),
    CommandSpec::new(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        "transactions",
        "1.2.0",
        "Executes all commands in a transaction.",
        exec_without_multi,
    ),
    CommandSpec::new(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        "transactions",
        "2.0.0",
        "Discards a transaction.",
        discard,
    ),
    CommandSpec::new(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (1, -1, 1),
        "transactions",
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
        watch,
    ),
    CommandSpec::new(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        "transactions",
        "2.2.0",
        "Forgets about watched keys of a transaction.",
        unwatch,
    ),
];

/// A transaction being queued.
#[derive(Default)]
pub struct Transaction {
    queued: Vec<Queued>,
    /// An error while queuing: EXEC answers EXECABORT.
    aborted: bool,
}

struct Queued {
    spec: &'static CommandSpec,
    data: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

impl Transaction {
    /// Copies a command into the queue.
    pub fn queue(&mut self, spec: &'static CommandSpec, args: Args<'_>) {
        let mut data = Vec::with_capacity(args.payload_len());
        let mut ranges = Vec::with_capacity(args.len());
        for a in args.iter() {
            let start = data.len();
            data.extend_from_slice(a);
            ranges.push(start..data.len());
        }
        self.queued.push(Queued { spec, data, ranges });
    }

    pub fn abort(&mut self) {
        self.aborted = true;
    }

    /// The flags of every queued command together (CLIENT PAUSE WRITE holds an EXEC whose
    /// transaction writes).
    pub fn flags(&self) -> u32 {
        self.queued.iter().fold(0, |f, q| f | q.spec.flags)
    }

    pub fn len(&self) -> usize {
        self.queued.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }
}

/// The keys a connection watches, and the flag any change to one of them sets.
pub struct Watching {
    flag: WatchFlag,
    keys: Vec<(usize, Vec<u8>)>,
}

/// Whether `spec` runs at once inside MULTI instead of being queued.
pub fn runs_inside_multi(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

fn multi(ctx: &mut Ctx, _args: Args) -> CmdResult {
    if ctx.session.multi.is_some() {
        return Err(CmdError::new("ERR MULTI calls can not be nested"));
    }
    ctx.session.multi = Some(Transaction::default());
    ctx.session.info.multi.store(0, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// EXEC is run by the connection ([`exec`]) when a transaction is open; this is the rest.
fn exec_without_multi(_ctx: &mut Ctx, _args: Args) -> CmdResult {
    Err(CmdError::new("ERR EXEC without MULTI"))
}

fn discard(ctx: &mut Ctx, _args: Args) -> CmdResult {
    if ctx.session.multi.take().is_none() {
        return Err(CmdError::new("ERR DISCARD without MULTI"));
    }
    ctx.session.info.multi.store(-1, Ordering::Relaxed);
    unwatch_all(ctx.server, ctx.session);
    ctx.out.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx, args: Args) -> CmdResult {
    if ctx.session.multi.is_some() {
        return Err(CmdError::new("ERR WATCH inside MULTI is not allowed"));
    }
    let db = ctx.db();
    let watching = ctx.session.watch.get_or_insert_with(|| Watching {
        flag: Arc::default(),
        keys: Vec::new(),
    });
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
        for (db, key) in &w.keys {
            let slot = key_slot(key);
            server.keyspace.lock(slot).db(*db).unwatch(key, &w.flag);
        }
    }
    session.info.watch.store(0, Ordering::Relaxed);
}

/// Runs `command` as a queued command of EXEC; the connection passes its own runner so a
/// transaction's commands are counted and answered exactly as the others.
pub type RunQueued<'r> =
    dyn FnMut(&Server, &mut Session, &mut Reply, &'static CommandSpec, Args<'_>, Now) + 'r;

/// EXEC with a transaction open: EXECABORT after a queuing error, a null array if a
/// watched key changed, otherwise every queued command's reply, all under one hold of
/// every shard.
pub fn exec(
    server: &Server,
    session: &mut Session,
    out: &mut Reply,
    now: Now,
    run: &mut RunQueued<'_>,
) -> Result<(), CmdError> {
    let tx = session.multi.take().expect("the connection checked");
    session.info.multi.store(-1, Ordering::Relaxed);
    if tx.aborted {
        unwatch_all(server, session);
        return Err(CmdError::new(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let hold = server.keyspace.hold_all();
    if let Some(w) = &session.watch {
        // Expire what has expired since WATCH: that removal sets the flag too.
        for (db, key) in &w.keys {
            let slot = key_slot(key);
            server.keyspace.lock(slot).db(*db).peek(slot, key, now);
        }
        if w.flag.load(Ordering::Acquire) {
            drop(hold);
            unwatch_all(server, session);
            out.null_array();
            return Ok(());
        }
    }
    out.array(tx.queued.len());
    for q in &tx.queued {
        let args = Args::from_parts(&q.data, &q.ranges);
        run(server, session, out, q.spec, args, now);
    }
    drop(hold);
    unwatch_all(server, session);
    Ok(())
}
