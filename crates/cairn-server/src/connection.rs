//! One task per connection: read what the client sent, hand every complete command to
//! dispatch in order, write all the replies with one write. Nothing here judges or runs a
//! command; a command that must wait returns a [`Park`], which this task waits out
//! (without holding anything) before it reads on.
//!
//! Pipelining is the normal case: a read that brings a hundred commands costs one read,
//! one write and one stats flush.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use cairn_protocol::resp::request::Parsed;
use cairn_protocol::{Reply, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::blocking::Wake;
use crate::clients::ClientInfo;
use crate::dispatch::{self, Clock, Step};
use crate::error::CmdError;
use crate::park::Park;
use crate::server::Server;
use crate::session::Session;
use crate::stats::BatchStats;

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
                    let mut clock = Clock {
                        mark: &mut mark,
                        now,
                    };
                    // Where this command's reply starts (CLIENT REPLY OFF/SKIP drop it).
                    let mut reply_at = out.len();
                    let step = dispatch::call(
                        &server,
                        &mut session,
                        &mut out,
                        &mut batch,
                        args,
                        &mut clock,
                    );
                    now = clock.now;
                    if let Step::Park(park) = step {
                        // What came before goes out first.
                        if flush(&server, &mut stream, &mut out, &mut batch)
                            .await
                            .is_err()
                        {
                            break 'conn;
                        }
                        // A client blocked on keys may hang up meanwhile: its socket is
                        // read (what it sends waits in the buffer, as in Redis) so that
                        // its waiter goes with it.
                        let blocked = matches!(park, Park::Blocked(_));
                        reply_at = out.len();
                        let mut read_meanwhile = 0u64;
                        let rerun = {
                            let waiting = wait(&server, &mut out, &mut batch, park);
                            tokio::pin!(waiting);
                            loop {
                                tokio::select! {
                                    _ = &mut killed => break 'conn,
                                    rerun = &mut waiting => break rerun,
                                    r = stream.read_buf(&mut rbuf), if blocked => match r {
                                        Ok(0) | Err(_) => break 'conn,
                                        Ok(n) if rbuf.len() <= server.query_buffer_limit() => {
                                            read_meanwhile += n as u64;
                                        }
                                        Ok(_) => break 'conn,
                                    },
                                }
                            }
                        };
                        batch.input += read_meanwhile;
                        info.blocked
                            .store(false, std::sync::atomic::Ordering::Relaxed);
                        mark = Instant::now();
                        now = server.clock.at(mark);
                        if rerun {
                            // Dispatched again, judged anew (the frame is still in rbuf).
                            continue;
                        }
                    }
                    if !session.answered() {
                        out.truncate(reply_at);
                    }
                    rbuf.advance(len);
                    if session.close_after_reply {
                        break;
                    }
                    if let Some(t) = session.takeover.take() {
                        takeover = Some(t);
                        break 'conn;
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
        dispatch::disconnect(&server, &mut session);
        crate::replication::primary::serve(server, stream, info.clone(), request, rbuf).await;
        return;
    }
    if !batch.is_empty() {
        server.stats.record(&mut batch);
    }
    dispatch::disconnect(&server, &mut session);
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

/// Waits out a parked command; returns whether it must be dispatched again (a pause),
/// or writes the reply its wait produced.
async fn wait(server: &Server, out: &mut Reply, batch: &mut BatchStats, park: Park) -> bool {
    match park {
        Park::Paused { until } => {
            server.wait_unpaused(until).await;
            true
        }
        Park::Acks {
            offset,
            replicas,
            deadline,
        } => {
            let n = server
                .replication
                .wait_acks(&server.persist.stream, offset, replicas, deadline)
                .await;
            out.int(n as i64);
            false
        }
        Park::Sleep(d) => {
            tokio::time::sleep(d).await;
            false
        }
        Park::Deferred(op) => {
            match op.await {
                Ok(line) => out.simple(&line),
                Err(e) => dispatch::error_reply(out, batch, &CmdError::new(e)),
            }
            false
        }
        Park::Blocked(mut parked) => {
            let woken = match parked.deadline {
                Some(at) => tokio::time::timeout_at(at.into(), &mut parked.rx)
                    .await
                    .ok(),
                None => Some((&mut parked.rx).await),
            };
            let wake = match woken {
                Some(Ok(w)) => w,
                // Timed out, or (never, short of a bug) the waiter vanished unanswered.
                _ => parked.expire(),
            };
            match wake {
                Wake::Reply(bytes) => out.raw(&bytes),
                Wake::Error(e) => dispatch::error_reply(out, batch, &CmdError::new(e)),
                Wake::Rerun => return true,
            }
            false
        }
    }
}
