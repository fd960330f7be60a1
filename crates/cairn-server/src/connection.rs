//! One task per connection: read what the client sent, run every complete command in
//! order, write all the replies with one write.
//!
//! Pipelining is the normal case: a read that brings a hundred commands costs one read,
//! one write and one stats flush. A command that must wait (CLIENT PAUSE, DEBUG SLEEP)
//! parks this task only.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use cairn_protocol::resp::request::Parsed;
use cairn_protocol::{Args, Reply, RequestParser};
use cairn_store::db::Now;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::clients::ClientInfo;
use crate::commands::{self, CmdError, CmdResult, CommandSpec, Ctx, Table, flags, multi};
use crate::evict::{self, Admission};
use crate::server::Server;
use crate::session::Session;
use crate::stats::{BatchStats, Outcome};

/// Replies are written out once this much is buffered, even mid-pipeline, so a huge
/// pipeline does not hold all its replies in memory.
const FLUSH_AT: usize = 64 * 1024;

/// Serves one client until it leaves, is killed, or the server shuts down.
pub async fn serve(
    server: Arc<Server>,
    mut stream: TcpStream,
    info: Arc<ClientInfo>,
    mut inbox: mpsc::UnboundedReceiver<Bytes>,
) {
    let mut session = Session::new(info.clone());
    let mut parser = RequestParser::new(server.limits());
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = Reply::default();
    let mut batch = BatchStats::default();
    let _ = stream.set_nodelay(true);

    // One kill future for the connection's whole life: registering a fresh waiter with the
    // Notify on every read would take its lock twice per request.
    let killed = info.killed();
    tokio::pin!(killed);
    // Set when PSYNC or SYNC turns this connection into a replica's.
    let mut takeover = None;
    'conn: loop {
        let read = tokio::select! {
            biased;
            _ = &mut killed => break,
            Some(frame) = inbox.recv() => {
                // Messages from other connections (Pub/Sub, invalidations). The publishers
                // on this thread run once more first, so that what they publish meanwhile
                // leaves in the same write (one write per message cost a tenth more CPU
                // per PUBLISH than Redis with 100 subscribers).
                take_frame(&info, &mut out, frame);
                tokio::task::yield_now().await;
                while out.len() < FLUSH_AT {
                    let Ok(frame) = inbox.try_recv() else { break };
                    take_frame(&info, &mut out, frame);
                }
                if flush_unless_killed(&server, &mut stream, &mut out, &mut batch, killed.as_mut()).await.is_err() {
                    break;
                }
                continue;
            }
            r = stream.read_buf(&mut rbuf) => r,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => batch.input += n as u64,
        }
        parser.set_limits(server.limits());
        // One clock reading per batch: commands of one pipeline see one instant, as they
        // would if they had arrived in one event-loop turn of Redis. `mark` then advances
        // with each command's end, timing the next one.
        let mut mark = Instant::now();
        info.touch_at(mark);
        let mut now = server.clock.at(mark);
        loop {
            let parsed = match parser.parse(&rbuf) {
                Ok(p) => p,
                Err(e) => {
                    // Redis answers a protocol error and closes the connection.
                    out.error(&e.message());
                    batch.errors.push("ERR".into());
                    session.close_after_reply = true;
                    break;
                }
            };
            match parsed {
                Parsed::Command { len, inline } => {
                    let args = parser.args(&rbuf, inline);
                    info.argv_mem
                        .store(args.payload_len(), std::sync::atomic::Ordering::Relaxed);
                    if run(
                        &server,
                        &mut session,
                        &mut out,
                        args,
                        now,
                        &mut mark,
                        &mut batch,
                    )
                    .await
                    {
                        now = server.clock.at(mark);
                    }
                    let appended = crate::persist::stream::take_last_appended();
                    if appended > 0 {
                        batch.appended = batch.appended.max(appended);
                        session.write_offset = appended;
                    }
                    rbuf.advance(len);
                    if session.close_after_reply {
                        break;
                    }
                    if let Some(t) = session.takeover.take() {
                        takeover = Some(t);
                        break 'conn;
                    }
                    if let Some(op) = session.deferred.take() {
                        if flush(&server, &mut stream, &mut out, &mut batch)
                            .await
                            .is_err()
                        {
                            break 'conn;
                        }
                        let r = tokio::select! {
                            _ = &mut killed => break 'conn,
                            r = op => r,
                        };
                        match r {
                            Ok(line) => out.simple(&line),
                            Err(e) => error_reply(&mut out, &mut batch, &CmdError::new(e)),
                        }
                        mark = Instant::now();
                        now = server.clock.at(mark);
                    }
                    if let Some(w) = session.wait.take() {
                        // WAIT: what came before goes out first, then the count.
                        if flush(&server, &mut stream, &mut out, &mut batch)
                            .await
                            .is_err()
                        {
                            break 'conn;
                        }
                        let n = tokio::select! {
                            _ = &mut killed => break 'conn,
                            n = server.replication.wait_acks(&server, w.offset, w.replicas, w.deadline) => n,
                        };
                        out.int(n as i64);
                        mark = Instant::now();
                        now = server.clock.at(mark);
                    }
                    if let Some(d) = session.sleep.take() {
                        if flush(&server, &mut stream, &mut out, &mut batch)
                            .await
                            .is_err()
                        {
                            break 'conn;
                        }
                        tokio::time::sleep(d).await;
                        mark = Instant::now();
                        now = server.clock.at(mark);
                    }
                    if out.len() >= FLUSH_AT
                        && flush(&server, &mut stream, &mut out, &mut batch)
                            .await
                            .is_err()
                    {
                        break 'conn;
                    }
                }
                Parsed::Nothing { len } => rbuf.advance(len),
                Parsed::Incomplete { need } => {
                    if need > rbuf.capacity() {
                        rbuf.reserve(need - rbuf.len());
                    }
                    break;
                }
            }
        }
        info.qbuf
            .store(rbuf.len(), std::sync::atomic::Ordering::Relaxed);
        if rbuf.len() > server.query_buffer_limit() {
            tracing::warn!(client = info.id, addr = %info.addr, "closing client: query buffer over client-query-buffer-limit");
            break;
        }
        // Let the other connections of this thread read and run their commands before
        // anyone writes, as Redis answers every ready client in one pass before it sleeps:
        // the client gets its replies in bursts instead of one by one.
        tokio::task::yield_now().await;
        if flush_unless_killed(&server, &mut stream, &mut out, &mut batch, killed.as_mut())
            .await
            .is_err()
        {
            break;
        }
        if !batch.is_empty() {
            server.stats.record(&mut batch);
        }
        if session.close_after_reply {
            break;
        }
    }
    if let Some(request) = takeover {
        // The replies before PSYNC (REPLCONF's +OK) go out first; from here on the
        // replication code owns the socket.
        let _ = flush(&server, &mut stream, &mut out, &mut batch).await;
        if !batch.is_empty() {
            server.stats.record(&mut batch);
        }
        session.release(&server);
        crate::replication::primary::serve(server, stream, info.clone(), request, rbuf).await;
        return;
    }
    if !batch.is_empty() {
        server.stats.record(&mut batch);
    }
    session.release(&server);
    let _ = stream.shutdown().await;
}

/// Moves one frame from the outbox into the replies.
fn take_frame(info: &ClientInfo, out: &mut Reply, frame: Bytes) {
    out.raw(&frame);
    info.outbox.taken(frame.len());
}

/// [`flush`], given up if the client is killed meanwhile: a client that does not read
/// (a stuck subscriber) must not keep its task waiting on the socket forever.
async fn flush_unless_killed(
    server: &Server,
    stream: &mut TcpStream,
    out: &mut Reply,
    batch: &mut BatchStats,
    killed: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> std::io::Result<()> {
    tokio::select! {
        biased;
        _ = killed => Err(std::io::ErrorKind::ConnectionAborted.into()),
        r = flush(server, stream, out, batch) => r,
    }
}

/// Writes the replies. With `appendfsync always`, the writes they acknowledge reach the
/// disk first (the AOF writer syncs many connections' writes at once).
async fn flush(
    server: &Server,
    stream: &mut TcpStream,
    out: &mut Reply,
    batch: &mut BatchStats,
) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let appended = std::mem::take(&mut batch.appended);
    if appended > 0 && server.persist.must_wait() {
        server.persist.stream.wait_synced(appended).await;
    }
    stream.write_all(out.bytes()).await?;
    batch.output += out.len() as u64;
    out.clear();
    Ok(())
}

/// Looks the command up, checks it may run, waits out a CLIENT PAUSE, runs it (or queues
/// it inside MULTI), and counts it. Returns true when it had to wait (so the caller's
/// clock reading is stale).
async fn run(
    server: &Server,
    session: &mut Session,
    out: &mut Reply,
    args: Args<'_>,
    mut now: Now,
    mark: &mut Instant,
    batch: &mut BatchStats,
) -> bool {
    let table = Table::get();
    let spec = match resolve(table, args) {
        Ok(spec) => spec,
        Err((spec, e)) => {
            reject(session, out, batch, spec.map(|s| table.id(s)), &e);
            return false;
        }
    };
    if spec.has(flags::WRITE)
        && let Some(e) = server.persist.misconf()
    {
        reject(session, out, batch, Some(table.id(spec)), &CmdError::new(e));
        return false;
    }
    let queued = match &session.multi {
        Some(tx) if spec.name == "exec" => tx.flags(),
        _ => 0,
    };
    if let Some(e) = refusal(server, session, spec, args, queued, *mark) {
        reject(session, out, batch, Some(table.id(spec)), &e);
        return false;
    }
    if session.subscriptions.any()
        && !out.is_resp3()
        && !commands::pubsub::allowed_when_subscribed(spec.name)
    {
        batch.calls.push((table.id(spec), 0, Outcome::Rejected));
        error_reply(out, batch, &commands::pubsub::not_allowed(spec.name));
        return false;
    }
    if session.multi.is_some() && !multi::runs_inside_multi(spec) {
        queue(server, session, out, spec, args, now, batch);
        return false;
    }
    let mut waited = false;
    while let Some(until) = server.pause_for(spec, queued) {
        server.wait_unpaused(until).await;
        waited = true;
        *mark = Instant::now();
        now = server.clock.at(*mark);
    }
    // A pause is how a manual failover holds writes until the replica has them all; by
    // the time they are released this node may be a replica. Judge them again.
    if waited && let Some(e) = refusal(server, session, spec, args, queued, *mark) {
        reject(session, out, batch, Some(table.id(spec)), &e);
        return waited;
    }
    let start = *mark;
    if session.multi.is_some() && spec.name == "exec" {
        let mut run_queued = |server: &Server,
                              session: &mut Session,
                              out: &mut Reply,
                              spec: &'static CommandSpec,
                              args: Args<'_>,
                              now: Now| {
            let started = Instant::now();
            execute(
                server,
                session,
                out,
                spec,
                args,
                now,
                Admission::Proceed,
                started,
                batch,
            );
        };
        let result = multi::exec(server, session, out, now, &mut run_queued);
        *mark = Instant::now();
        let ns = mark.duration_since(start).as_nanos() as u64;
        count(out, batch, table.id(spec), ns, result);
        return waited;
    }
    let mut admission = Admission::Proceed;
    if spec.has(flags::DENYOOM) && server.maxmemory() != 0 {
        let first_key = spec.first_key(args.len()).map(|i| args.get(i));
        match evict::make_room(server, session.db, first_key, now, evict::MAX_PER_COMMAND) {
            Ok(a) => admission = a,
            Err(e) => {
                batch.calls.push((table.id(spec), 0, Outcome::Rejected));
                error_reply(out, batch, &e);
                return waited;
            }
        }
    }
    *mark = execute(
        server, session, out, spec, args, now, admission, start, batch,
    );
    waited
}

/// Queues a command of an open transaction; a command that could not run (out of memory)
/// is refused now and makes EXEC abort, as in Redis.
fn queue(
    server: &Server,
    session: &mut Session,
    out: &mut Reply,
    spec: &'static CommandSpec,
    args: Args<'_>,
    now: Now,
    batch: &mut BatchStats,
) {
    let tx = session.multi.as_mut().expect("the caller checked");
    if spec.has(flags::DENYOOM)
        && server.maxmemory() != 0
        && let Err(e) = evict::make_room(server, session.db, None, now, evict::MAX_PER_COMMAND)
    {
        tx.abort();
        batch
            .calls
            .push((Table::get().id(spec), 0, Outcome::Rejected));
        error_reply(out, batch, &e);
        return;
    }
    tx.queue(spec, args);
    session
        .info
        .multi
        .store(tx.len() as i64, std::sync::atomic::Ordering::Relaxed);
    out.simple("QUEUED");
}

/// Runs one command that may run, and counts it. Returns when it ended.
#[allow(clippy::too_many_arguments)]
fn execute(
    server: &Server,
    session: &mut Session,
    out: &mut Reply,
    spec: &'static CommandSpec,
    args: Args<'_>,
    now: Now,
    admission: Admission,
    start: Instant,
    batch: &mut BatchStats,
) -> Instant {
    let table = Table::get();
    let mut ctx = Ctx {
        server,
        session,
        out,
        now,
        spec,
        drop_new_key: matches!(admission, Admission::DropAfter { .. }),
    };
    let id = table.id(spec);
    ctx.session
        .info
        .last_cmd
        .store(id + 1, std::sync::atomic::Ordering::Relaxed);
    let handler = spec.handler.expect("resolve returns runnable specs");
    let result = {
        let _running = crate::tracking::running(ctx.session.info.id);
        handler(&mut ctx, args)
    };
    if result.is_ok() {
        commands::tracking::after_command(server, ctx.session, spec, args);
    }
    if let Some(key) = spec.first_key(args.len()) {
        server.hotkeys.observe(args.get(key));
    }
    if let Admission::DropAfter { db, key } = admission {
        if ctx.drop_new_key {
            evict::drop_rejected(server, db, &key);
        } else {
            // The handler answered without storing the key: evicted on arrival.
            server.count_unstored_eviction();
        }
    }
    let end = Instant::now();
    count(
        out,
        batch,
        id,
        end.duration_since(start).as_nanos() as u64,
        result,
    );
    end
}

/// Counts a command that ran (commandstats, latency) and answers its error, if it had one.
fn count(out: &mut Reply, batch: &mut BatchStats, id: usize, ns: u64, result: CmdResult) {
    match result {
        Ok(()) => batch.calls.push((id, ns, Outcome::Ok)),
        Err(e) => {
            batch.calls.push((id, ns, Outcome::Failed));
            error_reply(out, batch, &e);
        }
    }
}

/// What refuses a command on this node before it runs: the cluster's routing (a slot
/// served elsewhere, a fenced primary) or replication (READONLY, NOREPLICAS, ...).
fn refusal(
    server: &Server,
    session: &mut Session,
    spec: &'static CommandSpec,
    args: Args<'_>,
    queued: u32,
    mark: Instant,
) -> Option<CmdError> {
    if let Some(cluster) = server.cluster.get()
        && let Err(e) = crate::cluster::route(server, cluster, session, spec, args, queued, mark)
    {
        return Some(e);
    }
    server.replication.refuse(spec, queued)
}

/// A command refused before it ran: counted against its spec (when it has one), the
/// transaction it belongs to aborted, the error sent.
fn reject(
    session: &mut Session,
    out: &mut Reply,
    batch: &mut BatchStats,
    id: Option<usize>,
    e: &CmdError,
) {
    if let Some(id) = id {
        batch.calls.push((id, 0, Outcome::Rejected));
    }
    if let Some(tx) = &mut session.multi {
        tx.abort();
    }
    error_reply(out, batch, e);
}

fn error_reply(out: &mut Reply, batch: &mut BatchStats, e: &CmdError) {
    out.error(&e.0);
    let code = e.0.split(' ').next().unwrap_or("ERR");
    batch.errors.push(code.to_string());
}

/// Finds the spec that will run `args`: the command, or its subcommand for containers,
/// with arity checked. On refusal, returns the spec to charge the rejection to.
fn resolve(
    table: &Table,
    args: Args<'_>,
) -> Result<&'static CommandSpec, (Option<&'static CommandSpec>, CmdError)> {
    let name = args.get(0);
    let Some(mut spec) = table.lookup(name) else {
        let mut shown = String::new();
        for a in args.tail(1).iter() {
            if shown.len() >= 128 {
                break;
            }
            let room = 128 - shown.len();
            let a = commands::truncate_for_error(&a[..a.len().min(room)]);
            shown.push_str(&format!("'{a}' "));
        }
        return Err((
            None,
            CmdError::new(format!(
                "ERR unknown command '{}', with args beginning with: {}",
                commands::truncate_for_error(name),
                shown
            )),
        ));
    };
    if !spec.arity_ok(args.len()) {
        return Err((Some(spec), CmdError::arity(spec.name)));
    }
    // A container runs its own handler only when called bare (COMMAND).
    let bare_container = args.len() == 1 && spec.handler.is_some();
    if !spec.subcommands.is_empty() && !bare_container {
        let sub = args.get(1);
        spec = commands::subcommand(spec, sub)
            .ok_or_else(|| (Some(spec), CmdError::unknown_subcommand(sub, spec.name)))?;
        if !spec.arity_ok(args.len()) {
            return Err((Some(spec), CmdError::arity(spec.name)));
        }
    }
    Ok(spec)
}
