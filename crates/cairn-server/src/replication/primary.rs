//! Serving replicas: what a connection becomes after PSYNC (or SYNC).
//!
//! ```text
//! replica                      primary
//! PING                    ───▶ +PONG
//! REPLCONF listening-port ───▶ +OK          (the connection's session keeps these)
//! REPLCONF capa eof psync2───▶ +OK
//! PSYNC <replid> <offset> ───▶ +CONTINUE <replid>            then the stream from offset
//!                              +FULLRESYNC <replid> <offset>
//!                              $EOF:<40-byte mark>
//!                              <snapshot> <mark>            then the stream from offset
//! REPLCONF ACK <offset>   ───▶ (every second, and when the stream asks with GETACK)
//! ```
//!
//! A full sync streams a snapshot straight to the socket (no disk, no fork): a thread
//! cuts the keyspace shard by shard (see `persist::snapshot`) and hands the encoded
//! blocks to every replica of the round, so replicas that asked within
//! `repl-diskless-sync-delay` of each other share one snapshot. At the cut, each
//! replica's position is pinned in the backlog, so the stream from that offset waits for
//! it however long the snapshot takes, bounded by `client-output-buffer-limit replica`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use super::backlog::Pin;
use super::follower::{ONLINE, Replica, SEND_BULK, WAIT_BGSAVE};
use super::handshake::Request;
use super::ids::{Psync, ReplId};
use super::rounds::{Chunk, Cut, Joiner};
use crate::clients::{ClientInfo, Kind};
use crate::persist::snapshot;
use crate::persist::stream::Origin;
use crate::server::Server;

/// Counts down `repl-diskless-sync-delay` from the oldest waiting replica (or until
/// `repl-diskless-sync-max-replicas` wait), then cuts one snapshot for all of them;
/// repeats while replicas keep arriving.
async fn produce(server: Arc<Server>) {
    let rounds = &server.replication.rounds;
    loop {
        let ready = {
            let waiting = rounds.waiting.lock();
            let Some(oldest) = waiting.iter().map(|j| j.since).min() else {
                rounds.busy.store(false, Relaxed);
                drop(waiting);
                // A replica may have queued between the check and the store.
                if rounds.waiting.lock().is_empty() || rounds.busy.swap(true, Relaxed) {
                    return;
                }
                continue;
            };
            let delay = Duration::from_secs(rounds.delay_s.load(Relaxed));
            let max = rounds.max_replicas.load(Relaxed) as usize;
            let enough = max > 0 && waiting.len() >= max;
            (enough || oldest.elapsed() >= delay)
                .then_some(())
                .ok_or(oldest + delay)
        };
        match ready {
            Err(at) => {
                tokio::time::sleep_until(
                    at.min(Instant::now() + Duration::from_millis(100)).into(),
                )
                .await;
            }
            Ok(()) => {
                let joiners = std::mem::take(&mut *rounds.waiting.lock());
                let srv = server.clone();
                let _ = tokio::task::spawn_blocking(move || cut_and_send(&srv, joiners)).await;
            }
        }
    }
}

/// One round: pins every joiner at the cut, tells them where it is, streams the
/// snapshot to all of them.
fn cut_and_send(server: &Server, joiners: Vec<Joiner>) {
    let joiners: Vec<Joiner> = joiners
        .into_iter()
        .filter(|j| !j.chunks.is_closed())
        .collect();
    if joiners.is_empty() {
        return;
    }
    let size = server.replication.rounds.backlog_size.load(Relaxed) as usize;
    let stream = &server.persist.stream;
    let swaps = snapshot::cut_start(server);
    let replid = server.replication.replid();
    let (origin, pins) = stream.with_new_backlog(size, |b, pos| {
        let pins: Vec<Pin> = joiners
            .iter()
            .map(|_| b.pin(pos.offset).expect("the end is always held"))
            .collect();
        (Origin { pos, replid }, pins)
    });
    crate::persist::writer::install_journal(server);
    let mut senders = Vec::new();
    for (j, pin) in joiners.into_iter().zip(pins) {
        match j.cut.send(Cut { origin, pin }) {
            Ok(()) => senders.push(j.chunks),
            // It left meanwhile; its pin goes with its task (below) or now.
            Err(cut) => {
                stream.with_backlog(|b| b.unpin(&cut.pin));
            }
        }
    }
    let started = Instant::now();
    let mut fan = FanOut {
        senders,
        buf: BytesMut::with_capacity(FAN_CHUNK),
        delay: Duration::from_millis(server.replication.rounds.chunk_delay_ms.load(Relaxed)),
    };
    let result = snapshot::write_to(server, &mut fan, origin, swaps);
    let end = match &result {
        Ok(w) => {
            tracing::warn!(
                "full sync: snapshot of {} keys ({} bytes) streamed to {} replica(s) in {:.3} s",
                w.keys,
                w.bytes,
                fan.senders.len(),
                started.elapsed().as_secs_f64()
            );
            Chunk::Done
        }
        Err(e) => {
            tracing::warn!("full sync failed: {e}");
            Chunk::Failed(e.to_string())
        }
    };
    for s in fan.senders {
        let end = match &end {
            Chunk::Done => Chunk::Done,
            Chunk::Failed(e) => Chunk::Failed(e.clone()),
            Chunk::Data(_) => unreachable!(),
        };
        let _ = s.blocking_send(end);
    }
}

const FAN_CHUNK: usize = 64 * 1024;

/// The snapshot's bytes, handed to every replica of a round in 64 KB chunks.
struct FanOut {
    senders: Vec<mpsc::Sender<Chunk>>,
    buf: BytesMut,
    delay: Duration,
}

impl FanOut {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        self.senders
            .retain(|s| s.blocking_send(Chunk::Data(chunk.clone())).is_ok());
        if self.senders.is_empty() {
            return Err(std::io::Error::other("every replica of the round left"));
        }
        Ok(())
    }
}

impl std::io::Write for FanOut {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= FAN_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Serves a replica on the connection that sent PSYNC or SYNC, until it leaves or is
/// disconnected. `leftover` is what it sent after the request.
pub async fn serve(
    server: Arc<Server>,
    stream: TcpStream,
    info: Arc<ClientInfo>,
    req: Request,
    mut leftover: BytesMut,
) {
    let repl = &server.replication;
    let (rd, mut wr) = stream.into_split();
    let mut rd = Some(rd);
    if repl.is_replica() && !repl.link().is_some_and(|l| l.is_up()) {
        let _ = wr
            .write_all(b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n")
            .await;
        return;
    }
    info.set_kind(Kind::Replica);
    let ip = req
        .ip
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or(info.addr.ip());
    let replica = Arc::new(Replica {
        info: info.clone(),
        ip,
        port: AtomicU16::new(req.port),
        state: AtomicU8::new(WAIT_BGSAVE),
        pin: Mutex::new(None),
        ack: AtomicU64::new(0),
        ack_at: AtomicU64::new(repl.now_ms()),
        over_soft: Mutex::new(None),
    });
    let ids = repl.ids();
    let stream = &server.persist.stream;
    let backlog = stream.with_backlog(|b| (b.start(), b.end()));
    let decision = if req.plain_sync {
        Psync::Full { refused: false }
    } else {
        super::ids::decide(&ids, &req.replid, req.offset, backlog)
    };
    let continued = match decision {
        Psync::Continue { from } => stream.with_backlog(|b| b.pin(from).ok()).flatten(),
        Psync::Full { .. } => None,
    };
    repl.add_replica(replica.clone());
    let killed = info.killed();
    tokio::pin!(killed);
    let outcome: Result<(), String> = async {
        match (continued, decision) {
            (Some(pin), _) => {
                *replica.pin.lock() = Some(pin);
                repl.sync_partial_ok.fetch_add(1, Relaxed);
                let line = format!("+CONTINUE {}\r\n", String::from_utf8_lossy(&ids.replid));
                wr.write_all(line.as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::warn!(
                    "replica {ip}:{} continues from offset {} (partial resync)",
                    req.port,
                    req.offset - 1
                );
            }
            (None, decision) => {
                if matches!(
                    decision,
                    Psync::Full { refused: true } | Psync::Continue { .. }
                ) {
                    repl.sync_partial_err.fetch_add(1, Relaxed);
                }
                repl.sync_full.fetch_add(1, Relaxed);
                let rd = rd.as_mut().ok_or("read half taken")?;
                full_sync(
                    &server,
                    &replica,
                    &req,
                    &mut wr,
                    rd,
                    &mut leftover,
                    killed.as_mut(),
                )
                .await?;
                if req.snapshot_only {
                    return Ok(());
                }
            }
        }
        replica.state.store(ONLINE, Relaxed);
        replica.ack_at.store(repl.now_ms(), Relaxed);
        let rd = rd.take().ok_or("read half taken")?;
        let reader = tokio::spawn(read_acks(server.clone(), replica.clone(), rd, leftover));
        let sent = send_stream(&server, &replica, &mut wr, killed.as_mut()).await;
        reader.abort();
        sent
    }
    .await;
    if let Err(e) = outcome {
        tracing::warn!("replica {ip}:{} disconnected: {e}", replica.port());
    }
    if let Some(pin) = replica.pin.lock().take() {
        stream.with_backlog(|b| b.unpin(&pin));
    }
    repl.remove_replica(&replica);
    let _ = wr.shutdown().await;
}

/// The full sync of one replica: waits for its round's cut, then forwards the snapshot.
async fn full_sync(
    server: &Arc<Server>,
    replica: &Replica,
    req: &Request,
    wr: &mut OwnedWriteHalf,
    rd: &mut OwnedReadHalf,
    received: &mut BytesMut,
    mut killed: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<(), String> {
    let (cut, mut chunks, start) = server.replication.rounds.join();
    if start {
        tokio::spawn(produce(server.clone()));
    }
    tokio::pin!(cut);
    // While it waits for its round, a replica that goes away must not stay listed (it is
    // noticed by reading: it sends nothing else meanwhile, or an early ACK, kept).
    let cut = loop {
        tokio::select! {
            _ = &mut killed => return Err("killed while waiting for the snapshot".into()),
            c = &mut cut => break c.map_err(|_| "the snapshot round ended without it".to_string())?,
            r = rd.read_buf(received) => match r {
                Ok(0) | Err(_) => return Err("the replica left before its snapshot".into()),
                Ok(_) => {}
            },
        }
    };
    *replica.pin.lock() = Some(cut.pin);
    replica.state.store(SEND_BULK, Relaxed);
    let mark: String = super::ids::new_replid()
        .iter()
        .map(|&b| b as char)
        .collect();
    let mut head = String::new();
    if !req.plain_sync {
        head.push_str(&format!(
            "+FULLRESYNC {} {}\r\n",
            cut.origin.replid(),
            cut.origin.pos.offset
        ));
    }
    head.push_str(&format!("$EOF:{mark}\r\n"));
    let mut total = head.len() as u64;
    write(wr, head.as_bytes(), killed.as_mut()).await?;
    loop {
        let chunk = tokio::select! {
            _ = &mut killed => return Err("killed during the full sync".into()),
            c = chunks.recv() => c,
        };
        match chunk {
            Some(Chunk::Data(b)) => {
                total += b.len() as u64;
                write(wr, &b, killed.as_mut()).await?;
            }
            Some(Chunk::Done) => break,
            Some(Chunk::Failed(e)) => return Err(format!("the snapshot failed: {e}")),
            None => return Err("the snapshot stopped".into()),
        }
    }
    write(wr, mark.as_bytes(), killed.as_mut()).await?;
    server
        .replication
        .output_bytes
        .fetch_add(total + mark.len() as u64, Relaxed);
    tracing::warn!(
        "replica {}:{}: full sync sent ({} bytes), streaming from offset {}",
        replica.ip,
        replica.port(),
        total,
        cut.origin.pos.offset
    );
    Ok(())
}

/// Writes, giving up if the replica is disconnected meanwhile (a stuck socket must not
/// hold the task when the output limit cuts it off).
async fn write(
    wr: &mut OwnedWriteHalf,
    data: &[u8],
    killed: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<(), String> {
    tokio::select! {
        biased;
        _ = killed => Err("disconnected".into()),
        r = wr.write_all(data) => r.map_err(|e| e.to_string()),
    }
}

/// Sends the stream from the replica's pin onward, as it grows.
async fn send_stream(
    server: &Arc<Server>,
    replica: &Replica,
    wr: &mut OwnedWriteHalf,
    mut killed: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<(), String> {
    let stream = &server.persist.stream;
    let pin = replica
        .pin
        .lock()
        .clone()
        .ok_or("no position in the stream")?;
    loop {
        let cursor = pin.load(Relaxed);
        tokio::select! {
            biased;
            _ = &mut killed => return Ok(()),
            _ = stream.feed.wait_unless(|| stream.offset() > cursor) => {}
        }
        let parts = stream
            .with_backlog(|b| b.read(cursor, 1 << 20))
            .ok_or("the backlog went away")?
            .map_err(|_| "fell out of the backlog")?;
        let mut n = 0;
        for part in parts {
            n += part.len() as u64;
            write(wr, &part, killed.as_mut()).await?;
        }
        pin.store(cursor + n, Relaxed);
        server.replication.output_bytes.fetch_add(n, Relaxed);
    }
}

/// Reads what the replica sends after the sync: REPLCONF ACK <offset> [FACK <offset>].
async fn read_acks(
    server: Arc<Server>,
    replica: Arc<Replica>,
    mut rd: OwnedReadHalf,
    mut buf: BytesMut,
) {
    use cairn_protocol::resp::request::Parsed;
    let repl = &server.replication;
    let mut parser = cairn_protocol::RequestParser::new(cairn_protocol::Limits::default());
    loop {
        loop {
            match parser.parse(&buf) {
                Ok(Parsed::Command { len, inline }) => {
                    let args = parser.args(&buf, inline);
                    if args.len() >= 3
                        && args.get(0).eq_ignore_ascii_case(b"REPLCONF")
                        && args.get(1).eq_ignore_ascii_case(b"ACK")
                        && let Some(off) = std::str::from_utf8(args.get(2))
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                    {
                        replica.ack.fetch_max(off, Relaxed);
                        replica.ack_at.store(repl.now_ms(), Relaxed);
                        repl.on_ack();
                    }
                    let _ = buf.split_to(len);
                }
                Ok(Parsed::Nothing { len }) => {
                    let _ = buf.split_to(len);
                }
                Ok(Parsed::Incomplete { .. }) => break,
                Err(_) => {
                    replica.info.kill();
                    return;
                }
            }
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => {
                replica.info.kill();
                return;
            }
            Ok(n) => {
                repl.input_bytes.fetch_add(n as u64, Relaxed);
            }
        }
    }
}

/// `ReplId` as text.
pub fn show(id: &ReplId) -> String {
    String::from_utf8_lossy(id).into_owned()
}
