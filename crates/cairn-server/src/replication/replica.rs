//! The replica's link to its primary: one task that connects, asks to continue its
//! history (PSYNC), loads a full sync if it must, then applies the primary's stream for
//! as long as the connection lives, and starts over a second after it drops.
//!
//! A full sync is loaded into a staging keyspace (`Keyspace::staging`) while the old
//! data keeps answering reads, then swapped in with every shard locked
//! (`Keyspace::adopt`): readers see the old dataset or the new one, never a mix, and
//! never an empty one in between. (Memory holds both for that moment, as Redis's
//! `repl-diskless-load swapdb` does.)
//!
//! Applied commands run through the command table with the clock at Unix time 0, so no
//! key ever looks expired to them: a replica follows its primary's expiries (the DELs in
//! the stream) and never decides one itself, while its clients never see a key whose TTL
//! has passed (`Db::keep_expired`). The applied bytes are appended to this node's own
//! stream verbatim, so its offsets are its primary's.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use cairn_protocol::resp::request::Parsed;
use cairn_protocol::{Frame, Reply, RequestParser};
use cairn_store::db::Now;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::link::{CONNECT, CONNECTED, CONNECTING, HANDSHAKE, Link, SYNC};
use crate::clients::{ClientInfo, Kind};
use crate::peer::{self, Peer};
use crate::persist::replay;
use crate::persist::replay::After;
use crate::persist::snapshot::{self, Incoming};
use crate::persist::stream::FILE_LIMITS;
use crate::persist::stream::Position;
use crate::server::Server;

/// Runs the link until it is stopped.
pub async fn run(server: Arc<Server>, link: Arc<Link>) {
    while !link.is_stopped() {
        let result = session(&server, &link).await;
        if server.is_shutting_down() {
            return;
        }
        link.set_status(CONNECT);
        if let Some(c) = link.client.lock().take() {
            server.clients.remove(c.id);
        }
        if link.is_stopped() {
            return;
        }
        match result {
            Ok(()) => tracing::warn!(
                "connection with primary {}:{} closed; reconnecting",
                link.host,
                link.port
            ),
            Err(e) => tracing::warn!(
                "replication from {}:{}: {e}; retrying in 1 s",
                link.host,
                link.port
            ),
        }
        let stop = link.stop.notified();
        tokio::select! {
            _ = stop => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The connection to the primary once PSYNC is answered (the handshake before it goes
/// through [`Peer`]): the snapshot and the stream are read raw from it. With what was
/// read and not yet used.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    timeout: Duration,
}

impl Conn {
    async fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut out = Vec::new();
        cairn_protocol::resp::write_command(&mut out, args);
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| format!("write failed: {e}"))
    }

    async fn fill(&mut self) -> Result<usize, String> {
        match tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err("timed out waiting for the primary".into()),
            Ok(Ok(0)) => Err("the primary closed the connection".into()),
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(format!("read failed: {e}")),
        }
    }

    /// One line, without its CRLF (the snapshot's `$EOF:<mark>` header). Empty lines (the
    /// keep-alive newlines a primary may send while it prepares a snapshot) are skipped.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(i + 1);
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                if text.is_empty() {
                    continue;
                }
                return Ok(text);
            }
            if self.buf.len() > 64 * 1024 {
                return Err("reply line too long".into());
            }
            self.fill().await?;
        }
    }
}

/// A failed call to the primary at `addr`, in the words the link has always logged.
fn in_words(addr: &str, e: peer::Error) -> String {
    match e {
        peer::Error::ConnectTimeout => format!("connecting to {addr} timed out"),
        peer::Error::Connect(e) => format!("cannot connect to {addr}: {e}"),
        peer::Error::WriteTimeout => "timed out writing to the primary".into(),
        peer::Error::Write(e) => format!("write failed: {e}"),
        peer::Error::ReadTimeout => "timed out waiting for the primary".into(),
        peer::Error::Read(e) => format!("read failed: {e}"),
        peer::Error::Closed => "the primary closed the connection".into(),
        peer::Error::BadReply(e) => format!("bad reply from the primary: {e}"),
        peer::Error::TooLong => "reply line too long".into(),
    }
}

/// A reply as the one line the link's checks and log read: a status or an error with its
/// type byte (`+OK`, `-NOAUTH ...`); any other kind as the first line of its encoding
/// (`$4`, `:1`).
fn first_line(reply: &Frame) -> String {
    let mut out = Vec::new();
    reply.encode(&mut out);
    let end = out.iter().position(|&b| b == b'\r').unwrap_or(out.len());
    String::from_utf8_lossy(&out[..end]).trim_end().to_string()
}

/// The handshake with the primary at `addr`, before PSYNC's reply.
struct Handshake {
    peer: Peer,
    addr: String,
}

impl Handshake {
    /// Sends one command and reads its reply, as [`first_line`] shows it.
    async fn command(&mut self, args: &[&[u8]]) -> Result<String, String> {
        let reply = self
            .peer
            .call(args)
            .await
            .map_err(|e| in_words(&self.addr, e))?;
        Ok(first_line(&reply))
    }
}

async fn session(server: &Arc<Server>, link: &Arc<Link>) -> Result<(), String> {
    let timeout = server.with_config(|c| Duration::from_secs(c.repl_timeout));
    link.set_status(CONNECTING);
    let addr = format!("{}:{}", link.host, link.port);
    let peer = Peer::connect(&link.host, link.port, timeout)
        .await
        .map_err(|e| in_words(&addr, e))?;
    let local = peer.local_addr().map_err(|e| e.to_string())?;
    let remote = peer.peer_addr().map_err(|e| e.to_string())?;
    let (info, _inbox) = ClientInfo::new(server.clients.next_id(), remote, local, -1);
    let info = Arc::new(info);
    info.set_kind(Kind::Master);
    server.clients.add(info.clone());
    *link.client.lock() = Some(info.clone());
    if link.is_stopped() {
        return Ok(());
    }
    // CLIENT KILL TYPE master (or a stop) ends the link at any point: handshake, full
    // sync or stream.
    tokio::select! {
        r = linked(server, link, &info, peer) => r,
        _ = info.killed() => Err("link killed (CLIENT KILL)".into()),
    }
}

async fn linked(
    server: &Arc<Server>,
    link: &Arc<Link>,
    info: &Arc<ClientInfo>,
    peer: Peer,
) -> Result<(), String> {
    let (timeout, auth, user, announce_ip, announce_port, my_port) = server.with_config(|c| {
        (
            Duration::from_secs(c.repl_timeout),
            c.masterauth.clone(),
            c.masteruser.clone(),
            c.replica_announce_ip.clone(),
            c.replica_announce_port,
            c.port,
        )
    });
    let addr = format!("{}:{}", link.host, link.port);
    let mut hs = Handshake {
        peer,
        addr: addr.clone(),
    };
    link.set_status(HANDSHAKE);
    if !auth.is_empty() {
        let reply = if user.is_empty() {
            hs.command(&[b"AUTH", auth.as_bytes()]).await?
        } else {
            hs.command(&[b"AUTH", user.as_bytes(), auth.as_bytes()])
                .await?
        };
        if !reply.starts_with('+') {
            return Err(format!("the primary refused AUTH: {reply}"));
        }
    }
    let pong = hs.command(&[b"PING"]).await?;
    if pong.starts_with("-NOAUTH") || pong.starts_with("-NOPERM") {
        return Err(format!("the primary wants a password (masterauth): {pong}"));
    }
    if !pong.starts_with('+') {
        return Err(format!("the primary answered PING with {pong}"));
    }
    let port = if announce_port != 0 {
        announce_port
    } else {
        my_port
    };
    hs.command(&[b"REPLCONF", b"listening-port", port.to_string().as_bytes()])
        .await?;
    if !announce_ip.is_empty() {
        hs.command(&[b"REPLCONF", b"ip-address", announce_ip.as_bytes()])
            .await?;
    }
    hs.command(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        .await?;
    let (replid, offset) = super::roles::psync_args(server);
    let reply = hs
        .command(&[b"PSYNC", &replid, offset.to_string().as_bytes()])
        .await?;
    // From here on the primary sends a snapshot and its stream, not replies: read raw,
    // 64 KB at a time as the link always has, starting with what came after the reply.
    let (stream, rest) = hs.peer.into_parts();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    buf.extend_from_slice(&rest);
    let mut conn = Conn {
        stream,
        buf,
        timeout,
    };
    let repl = &server.replication;
    let db = if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut words = rest.split_whitespace();
        let (Some(id), Some(off)) = (words.next(), words.next()) else {
            return Err(format!("bad FULLRESYNC line: {reply}"));
        };
        if id.len() != 40 || off.parse::<u64>().is_err() {
            return Err(format!("bad FULLRESYNC line: {reply}"));
        }
        tracing::warn!("full sync from {addr}: replication id {id}, offset {off}");
        link.set_status(SYNC);
        let pos = full_sync(server, link, &mut conn).await?;
        pos.db
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        let mut ids = repl.ids();
        if !new_id.is_empty() && new_id.as_bytes() != ids.replid {
            // The primary's history goes on under a new id (it was promoted): ours too,
            // remembering the old one for our own replicas (PSYNC2).
            let mut id = [0u8; 40];
            if new_id.len() != 40 {
                return Err(format!("bad CONTINUE line: {reply}"));
            }
            id.copy_from_slice(new_id.as_bytes());
            ids.replid2 = ids.replid;
            ids.second_offset = Some(server.persist.stream.offset());
            ids.replid = id;
            repl.set_ids(ids);
            repl.disconnect_replicas();
            if server.persist.aof_on.load(Relaxed) {
                // The AOF's base names the old id; a restart should name the new one.
                let _ = crate::persist::saving::rewrite_in_background(server);
            }
        }
        tracing::warn!(
            "partial resync with {addr}: continuing from offset {}",
            server.persist.stream.offset()
        );
        server.persist.stream.position().db
    } else {
        return Err(format!("the primary refused PSYNC: {reply}"));
    };
    link.set_status(CONNECTED);
    link.last_io.store(repl.now_ms().max(1), Relaxed);
    apply_stream(server, link, info, &mut conn, db).await
}

/// Receives a full sync: the snapshot (`$EOF:<mark>` framing) into a staging keyspace,
/// then swaps it in and restarts this node's stream at the snapshot's offset.
async fn full_sync(server: &Arc<Server>, link: &Link, conn: &mut Conn) -> Result<Position, String> {
    let header = conn.line().await?;
    let mark = header
        .strip_prefix("$EOF:")
        .filter(|m| m.len() == 40)
        .ok_or_else(|| format!("expected a $EOF:<mark> snapshot, got {header}"))?
        .as_bytes()
        .to_vec();
    let started = Instant::now();
    link.sync_read.store(0, Relaxed);
    let staging = Arc::new(server.keyspace.staging());
    let mut incoming = Some(Incoming::new());
    let mut keys = 0u64;
    let checked = loop {
        if conn.buf.is_empty() {
            let n = conn.fill().await?;
            link.sync_read.fetch_add(n as u64, Relaxed);
            link.last_io
                .store(server.replication.now_ms().max(1), Relaxed);
        }
        let data = conn.buf.split().freeze();
        // Loading is CPU work under the staging keyspace's own locks only: off this
        // thread, whose other connections keep being served meanwhile.
        let mut inc = incoming.take().expect("put back after every push");
        let staged = staging.clone();
        let limits = server.object_limits();
        let (inc, result, n) = tokio::task::spawn_blocking(move || {
            let mut n = 0u64;
            let r = inc.push(&data, |payload| {
                n += snapshot::load_block_into(&staged, payload, &limits)?;
                Ok(())
            });
            (inc, r, n)
        })
        .await
        .map_err(|e| format!("loading the snapshot failed: {e}"))?;
        keys += n;
        match result {
            Ok(Some(c)) => {
                conn.buf = BytesMut::from(inc.rest());
                break c;
            }
            Ok(None) => incoming = Some(inc),
            Err(d) => return Err(format!("bad snapshot at byte {}: {}", d.at, d.why)),
        }
    };
    while conn.buf.len() < mark.len() {
        conn.fill().await?;
    }
    if conn.buf[..mark.len()] != mark[..] {
        return Err("the snapshot's end mark does not match".into());
    }
    conn.buf.advance(mark.len());
    if link.is_stopped() {
        // REPLICAOF moved on while this loaded: the data belongs to a primary this node
        // no longer follows.
        return Err("the link was stopped during the full sync".into());
    }
    let origin = checked.origin;
    let repl = &server.replication;
    let stream = &server.persist.stream;
    // Our own replicas follow a history that just ended: they must sync again.
    repl.disconnect_replicas();
    // The AOF holds the old history: stop it (and forget its files) before the data
    // changes, start a new one from the new data after.
    let aof = server
        .persist
        .aof_on
        .load(Relaxed)
        .then(|| crate::persist::saving::suspend_aof(server));
    // The stream restarts with the new data, at once for anyone reading both (a
    // snapshot); what follows it may hold records the snapshot holds (its cuts).
    let cuts = checked.cuts;
    let old = server
        .keyspace
        .adopt(&staging, || stream.reset(origin.pos, cuts));
    server.lazyfree.free_if(&server.lazy.replica_flush, old);
    repl.set_ids(super::ids::Ids {
        replid: origin.replid,
        replid2: super::ids::NO_ID,
        second_offset: None,
    });
    if let Some(seq) = aof {
        crate::persist::saving::resume_aof(server, seq);
    }
    tracing::warn!(
        "full sync loaded: {keys} keys in {:.3} s, continuing the stream from offset {}",
        started.elapsed().as_secs_f64(),
        origin.pos.offset
    );
    Ok(origin.pos)
}

/// Applies the primary's stream until the connection ends: whole commands are run and
/// then appended to this node's stream; acknowledgements go back every second and
/// whenever the primary asks (REPLCONF GETACK).
async fn apply_stream(
    server: &Arc<Server>,
    link: &Link,
    info: &Arc<ClientInfo>,
    conn: &mut Conn,
    db: usize,
) -> Result<(), String> {
    let repl = &server.replication;
    let stream = &server.persist.stream;
    let mut session = replay::session();
    session.db = if db == usize::MAX { 0 } else { db };
    let mut parser = RequestParser::new(FILE_LIMITS);
    let mut out = Reply::default();
    // What the data was loaded from (the full sync just made, or the snapshot this node
    // restarted from) may hold records that come next: they are skipped, not applied.
    let window = stream.window();
    let mut skipped = 0u64;
    // One timer for the whole link (acknowledgements every second, and the check that
    // the primary is still talking): a timer per read cost a tenth of the replica's CPU
    // under a pipelined write load. Kills and stops are watched by the caller.
    let tick = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(tick);
    let mut last_read = Instant::now();
    loop {
        if !conn.buf.is_empty() {
            // Applied and appended as one step for a snapshot reading its cuts.
            let applying = stream.hold_applying();
            let skip = (window.end() > stream.end()).then(|| After {
                offset: stream.end(),
                cuts: &window,
            });
            let in_window = skip.is_some();
            let (used, getack) = apply(
                server,
                &mut session,
                &mut parser,
                &conn.buf,
                &mut out,
                skip,
                &mut skipped,
            )?;
            if used > 0 {
                stream.append_raw(&conn.buf[..used], session.db);
                conn.buf.advance(used);
            }
            drop(applying);
            if in_window && stream.end() >= window.end() {
                tracing::warn!(
                    "the stream passed the cuts of the snapshot this data came from: {skipped} commands skipped, the snapshot held them"
                );
            }
            if getack {
                send_ack(conn, stream.offset()).await?;
            }
        }
        tokio::select! {
            biased;
            r = conn.stream.read_buf(&mut conn.buf) => match r {
                Ok(0) => return Err("the primary closed the connection".into()),
                Err(e) => return Err(format!("read failed: {e}")),
                Ok(n) => {
                    repl.input_bytes.fetch_add(n as u64, Relaxed);
                    last_read = Instant::now();
                }
            },
            _ = &mut tick => {
                if last_read.elapsed() > conn.timeout {
                    return Err("no data from the primary within repl-timeout".into());
                }
                link.last_io.store(
                    repl.now_ms().saturating_sub(last_read.elapsed().as_millis() as u64).max(1),
                    Relaxed,
                );
                info.touch_at(last_read);
                send_ack(conn, stream.offset()).await?;
                tick.as_mut().reset((Instant::now() + Duration::from_secs(1)).into());
            }
        }
    }
}

async fn send_ack(conn: &mut Conn, offset: u64) -> Result<(), String> {
    conn.send(&[b"REPLCONF", b"ACK", offset.to_string().as_bytes()])
        .await
}

/// Runs every whole command in `data`, but those `skip` says the data holds already
/// (counted in `skipped`); returns the bytes used and whether one of them was REPLCONF
/// GETACK.
fn apply(
    server: &Server,
    session: &mut crate::session::Session,
    parser: &mut RequestParser,
    data: &[u8],
    out: &mut Reply,
    skip: Option<After<'_>>,
    skipped: &mut u64,
) -> Result<(usize, bool), String> {
    let mut at = 0;
    let mut getack = false;
    // One clock reading per batch, as a client connection does.
    let wall = server.clock.at(Instant::now());
    while at < data.len() {
        let rest = &data[at..];
        let len = match parser.parse(rest) {
            Err(e) => return Err(format!("bad data from the primary: {}", e.message())),
            Ok(Parsed::Incomplete { .. }) => break,
            Ok(Parsed::Nothing { len }) => len,
            Ok(Parsed::Command { len, inline }) => {
                let args = parser.args(rest, inline);
                // Nothing is expired at Unix time 0: the primary decides.
                let now = Now { ms: 0, s: wall.s };
                if skip.is_some_and(|a| a.covers(args, at)) {
                    // In the data already (see `apply_stream`).
                    *skipped += 1;
                } else if let Err(e) = crate::dispatch::apply(server, session, out, args, now) {
                    tracing::warn!("a command from the primary failed here: {}", e.0);
                }
                out.clear();
                // REPLCONF GETACK asks for an acknowledgement (the handler notes it).
                getack |= std::mem::take(&mut session.replconf.getack);
                len
            }
        };
        at += len;
    }
    Ok((at, getack))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_show_as_the_line_they_came_as() {
        assert_eq!(
            first_line(&Frame::Simple(b"CONTINUE".to_vec())),
            "+CONTINUE"
        );
        assert_eq!(
            first_line(&Frame::Error(b"NOAUTH Authentication required.".to_vec())),
            "-NOAUTH Authentication required."
        );
        assert_eq!(first_line(&Frame::Bulk(b"PONG".to_vec())), "$4");
        assert_eq!(first_line(&Frame::Integer(1)), ":1");
    }
}
