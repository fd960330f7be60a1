//! Dispatch: the one place a command is judged and run.
//!
//! ```text
//! args ─▶ table.resolve (name, arity, subcommand) ─▶ judge (cluster slot, MISCONF,
//!        replica/NOREPLICAS, pub/sub context) ─▶ MULTI? queue : CLIENT PAUSE? park :
//!        OOM (evict first) ─▶ handler (ctx) ─▶ tracking, hot keys, stats ─▶ reply
//! ```
//!
//! The connection calls [`call`] for each command it reads and handles the [`Step`] it
//! gets back; EXEC runs its queue through [`nested`]; the replica link and the AOF loader
//! apply commands through [`apply`], which skips a client's checks. Nothing here does I/O.

mod families;
mod judge;

use std::time::Instant;

use cairn_protocol::{Args, Reply};
use cairn_store::db::Now;

use crate::ctx::{Ctx, Mode};
use crate::error::{CmdError, CmdResult};
use crate::evict::{self, Admission};
use crate::park::Park;
use crate::server::Server;
use crate::session::Session;
use crate::spec::{CommandId, Spec, flags};
use crate::stats::{BatchStats, Outcome};
use crate::table::Table;

/// The command table, built from every family on first use.
pub fn table() -> &'static Table {
    Table::install(families::ALL)
}

/// What the connection does once a command has been dispatched.
#[derive(Debug)]
pub enum Step {
    /// Its reply (or error) is written.
    Done,
    /// It waits (see [`Park`]): the connection flushes, waits, then finishes it. A
    /// `Paused` command has not run: the connection dispatches it again.
    Park(Park),
}

/// The clock of a batch: one reading for every command until one of them waits.
pub struct Clock<'a> {
    /// When the running command started (the last one's end, or the batch's read).
    pub mark: &'a mut Instant,
    pub now: Now,
}

/// Judges and runs a client's command.
pub fn call(
    server: &Server,
    session: &mut Session,
    out: &mut Reply,
    stats: &mut BatchStats,
    args: Args<'_>,
    clock: &mut Clock<'_>,
) -> Step {
    let table = table();
    let id = match table.resolve(args) {
        Ok(id) => id,
        Err((id, e)) => {
            reject(session, out, stats, id, &e);
            return Step::Done;
        }
    };
    let spec = table.spec(id);
    // EXEC is judged by what its transaction will run.
    let queued = match &session.multi {
        Some(tx) if spec.has(flags::RUNS_QUEUE) => tx.flags(),
        _ => 0,
    };
    if let Err(e) = judge::refusal(server, session, spec, args, queued, *clock.mark) {
        if spec.has(flags::RUNS_QUEUE) && session.multi.is_some() {
            abort_exec(server, session, out, stats, id, &e);
        } else {
            reject(session, out, stats, Some(id), &e);
        }
        return Step::Done;
    }
    if let Some(e) = judge::context(session, out, spec) {
        stats.calls.push((id.index(), 0, Outcome::Rejected));
        error_reply(out, stats, &e);
        return Step::Done;
    }
    if session.multi.is_some() {
        if spec.has(flags::NO_MULTI) {
            let e = CmdError::new("ERR Command not allowed inside a transaction");
            reject(session, out, stats, Some(id), &e);
            return Step::Done;
        }
        if !spec.has(flags::TX_CONTROL) {
            queue(server, session, out, stats, id, args, clock.now);
            return Step::Done;
        }
    }
    if let Some(until) = server.pause_for(spec, queued) {
        return Step::Park(Park::Paused { until });
    }
    let mut admission = Admission::Proceed;
    // EXEC is refused under OOM when what it queued may grow memory (Redis's
    // getCommandFlags of EXEC is its queue's); a transaction of reads runs.
    if (spec.flags | queued) & flags::DENYOOM != 0 && server.maxmemory() != 0 {
        let first_key = judge::first_key(spec, args).map(|i| args.get(i));
        match evict::make_room(
            server,
            session.db,
            first_key,
            clock.now,
            evict::MAX_PER_COMMAND,
        ) {
            Ok(a) => admission = a,
            Err(e) if spec.has(flags::RUNS_QUEUE) && session.multi.is_some() => {
                abort_exec(server, session, out, stats, id, &e);
                return Step::Done;
            }
            Err(e) => {
                stats.calls.push((id.index(), 0, Outcome::Rejected));
                error_reply(out, stats, &e);
                return Step::Done;
            }
        }
    }
    let start = *clock.mark;
    let offset = server.persist.stream.end();
    let (result, park) = execute(
        server,
        session,
        out,
        stats,
        id,
        args,
        clock.now,
        Mode::Client,
        admission,
    );
    // Clients blocked on keys this command wrote are served now, before its reply (as
    // Redis serves them right after the command): see `crate::blocking`.
    if (spec.flags | queued) & flags::WRITE != 0 {
        server.blocking.serve_ready();
    }
    let end = Instant::now();
    *clock.mark = end;
    // The write offset comes back from the stream, as Redis's `c->woff`: where the
    // stream stood after a command that wrote. WAIT waits for replicas to reach it; with
    // `appendfsync always` the batch's replies wait until it is durable.
    if (spec.flags | queued) & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        let written = server.persist.stream.end();
        if written > offset {
            session.write_offset = written;
            stats.appended = stats.appended.max(written);
        }
    }
    let ns = end.duration_since(start).as_nanos() as u64;
    // SLOWLOG and LATENCY see DEBUG SLEEP take as long as Redis's does: here it parks
    // the connection instead of running that long.
    let slept = match &park {
        Some(Park::Sleep(d)) => d.as_micros() as u64,
        _ => 0,
    };
    observe(server, session, spec, args, ns / 1000 + slept);
    count(out, stats, id, ns, result);
    match park {
        Some(p) => Step::Park(p),
        None => Step::Done,
    }
}

/// Runs one of EXEC's queued commands (the [`crate::ctx::Nested`] runner): judged when it
/// was queued, run now without parking, counted and answered as any other. A cluster
/// change that would finish elsewhere (CLUSTER MEET, FORGET, REPLICATE, SETSLOT) answers
/// `+OK` at once and goes on in the background, as Redis's do (its gossip spreads them
/// after the reply); it cannot finish inside EXEC, which holds every shard that applying
/// it may need. MIGRATE runs to its end in its handler instead (`Ctx::may_park`).
pub fn nested(ctx: &mut Ctx<'_>, id: CommandId, args: Args<'_>) {
    let started = Instant::now();
    let (result, park) = execute(
        ctx.server,
        ctx.session,
        ctx.out,
        ctx.stats,
        id,
        args,
        ctx.now,
        Mode::Nested,
        Admission::Proceed,
    );
    let result = match park {
        None => result,
        Some(Park::Deferred(op)) => {
            let name = table().spec(id).name;
            tokio::spawn(async move {
                if let Err(e) = op.await {
                    tracing::warn!("{name} queued in a transaction failed after its reply: {e}");
                }
            });
            ctx.out.ok();
            Ok(())
        }
        Some(other) => unreachable!("handlers do not park inside EXEC: {other:?}"),
    };
    let ns = started.elapsed().as_nanos() as u64;
    observe(ctx.server, ctx.session, table().spec(id), args, ns / 1000);
    count(ctx.out, ctx.stats, id, ns, result);
}

/// Applies a command as written (the primary's stream on a replica, the append-only file
/// at start-up): no client checks, no stats, no parking. `Err` when the command is
/// unknown, has the wrong arity, or fails.
pub fn apply(
    server: &Server,
    session: &mut Session,
    out: &mut Reply,
    args: Args<'_>,
    now: Now,
) -> Result<(), CmdError> {
    let table = table();
    let id = table.resolve(args).map_err(|(_, e)| e)?;
    let mut stats = BatchStats::default();
    let (result, _) = execute(
        server,
        session,
        out,
        &mut stats,
        id,
        args,
        now,
        Mode::Apply,
        Admission::Proceed,
    );
    server.blocking.serve_ready();
    result.map_err(|e| CmdError::new(format!("'{}' failed: {}", table.spec(id).name, e.0)))
}

/// Runs the handler of `id` and what follows every command: client tracking of what it
/// read, hot-key sampling, the admission decision it was run under.
#[allow(clippy::too_many_arguments)]
fn execute(
    server: &Server,
    session: &mut Session,
    out: &mut Reply,
    stats: &mut BatchStats,
    id: CommandId,
    args: Args<'_>,
    now: Now,
    mode: Mode,
    admission: Admission,
) -> (CmdResult, Option<Park>) {
    let table = table();
    let spec = table.spec(id);
    let handler = table
        .handler(id)
        .expect("resolve returns commands that run");
    session
        .info
        .last_cmd
        .store(id.index() + 1, std::sync::atomic::Ordering::Relaxed);
    // CLIENT CACHING applies to the command after it: taken before this one runs (which
    // may be CLIENT CACHING itself, setting it for the next).
    let caching = session.caching.take();
    let mut ctx = Ctx {
        server,
        session,
        out,
        now,
        id,
        spec,
        mode,
        park: None,
        drop_new_key: matches!(admission, Admission::DropAfter { .. }),
        stats,
        nested,
    };
    let result = {
        let _running = server.tracking.running(ctx.session.info.id);
        let _no_touch = cairn_store::db::no_touch(
            ctx.session
                .info
                .no_touch
                .load(std::sync::atomic::Ordering::Relaxed)
                && spec.name != "touch",
        );
        handler(&mut ctx, args)
    };
    let (park, drop_new_key) = (ctx.park.take(), ctx.drop_new_key);
    if result.is_ok() && mode != Mode::Apply {
        judge::track_reads(server, session, spec, args, caching);
    }
    if let Some(key) = judge::first_key(spec, args) {
        server.hotkeys.observe(args.get(key));
    }
    if let Admission::DropAfter { db, key } = admission {
        if drop_new_key {
            evict::drop_rejected(server, db, &key);
        } else {
            // The handler answered without storing the key: evicted on arrival.
            server.count_unstored_eviction();
        }
    }
    (result, park)
}

/// Queues a command of an open transaction; a command that could not run (out of memory)
/// is refused now and makes EXEC abort, as in Redis.
fn queue(
    server: &Server,
    session: &mut Session,
    out: &mut Reply,
    stats: &mut BatchStats,
    id: CommandId,
    args: Args<'_>,
    now: Now,
) {
    let spec = table().spec(id);
    let tx = session.multi.as_mut().expect("the caller checked");
    // Queuing itself takes memory: under OOM no command is queued, reads included (Redis
    // 7.0's processCommand for a client in MULTI).
    if server.maxmemory() != 0
        && let Err(e) = evict::make_room(server, session.db, None, now, evict::MAX_PER_COMMAND)
    {
        tx.abort();
        stats.calls.push((id.index(), 0, Outcome::Rejected));
        error_reply(out, stats, &e);
        return;
    }
    tx.queue(id, spec.flags, args);
    session
        .info
        .multi
        .store(tx.len() as i64, std::sync::atomic::Ordering::Relaxed);
    out.simple("QUEUED");
}

/// The slow log, the latency monitor and MONITOR's clients see a command that ran (each
/// costs a relaxed load and a comparison unless it is on and the command reached it).
#[inline]
fn observe(server: &Server, session: &Session, spec: &Spec, args: Args<'_>, usec: u64) {
    server.slowlog.observe(&session.info, spec, args, usec);
    server.latency.observe(spec.has(flags::FAST), usec);
    if server.monitors.active() && !spec.has(flags::SKIP_MONITOR | flags::ADMIN) {
        server
            .monitors
            .feed(&server.pubsub, &session.info, session.db, spec.name, args);
    }
}

/// Counts a command that ran (commandstats, latency) and answers its error, if it had one.
fn count(out: &mut Reply, stats: &mut BatchStats, id: CommandId, ns: u64, result: CmdResult) {
    match result {
        Ok(()) => stats.calls.push((id.index(), ns, Outcome::Ok)),
        Err(e) => {
            stats.calls.push((id.index(), ns, Outcome::Failed));
            error_reply(out, stats, &e);
        }
    }
}

/// EXEC refused before it ran (OOM with writes queued, a replica's READONLY ...): the
/// transaction is discarded and the error answered as Redis's `execCommandAbort` words
/// it, `EXECABORT Transaction discarded because of: <error>`.
fn abort_exec(
    server: &Server,
    session: &mut Session,
    out: &mut Reply,
    stats: &mut BatchStats,
    id: CommandId,
    e: &CmdError,
) {
    stats.calls.push((id.index(), 0, Outcome::Rejected));
    crate::commands::multi::end_transaction(server, session);
    let e = CmdError::new(format!(
        "EXECABORT Transaction discarded because of: {}",
        e.0
    ));
    error_reply(out, stats, &e);
}

/// A command refused before it ran: counted against its command (when it resolved to
/// one), the transaction it belongs to aborted, the error sent.
pub fn reject(
    session: &mut Session,
    out: &mut Reply,
    stats: &mut BatchStats,
    id: Option<CommandId>,
    e: &CmdError,
) {
    if let Some(id) = id {
        stats.calls.push((id.index(), 0, Outcome::Rejected));
    }
    if let Some(tx) = &mut session.multi {
        tx.abort();
    }
    error_reply(out, stats, e);
}

/// Writes an error reply and counts it under its code (INFO errorstats).
pub fn error_reply(out: &mut Reply, stats: &mut BatchStats, e: &CmdError) {
    out.error(&e.0);
    stats.errors.push(e.code().to_string());
}

/// The connection is going away (or handed to replication): it gives up what it holds
/// elsewhere (subscriptions, a transaction, watched keys, tracking).
pub fn disconnect(server: &Server, session: &mut Session) {
    crate::commands::connection::release(server, session);
}

/// The spec of `id` (for the connection's own messages).
pub fn spec(id: CommandId) -> &'static Spec {
    table().spec(id)
}
