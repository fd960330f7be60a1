//! Serving one memcached connection: read what arrived, answer every complete request
//! in order, write all the replies with one write. (Accepting it is `crate::listener`.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{McConn, Step, counters::Counters, text};
use crate::server::Server;

/// Replies are written once this much is buffered, even mid-pipeline.
const FLUSH_AT: usize = 64 * 1024;
/// Binary protocol requests start with this byte.
const BINARY_MAGIC: u8 = 0x80;

/// Runs one connection on the worker that owns it.
pub async fn serve(server: Arc<Server>, mut stream: TcpStream, addr: SocketAddr) {
    let stats = &server.memcached;
    let open = stats.curr_connections.load(Relaxed) as usize + server.clients.len();
    if open >= server.maxclients() {
        stats.rejected_connections.fetch_add(1, Relaxed);
        let _ = stream
            .write_all(b"SERVER_ERROR Too many open connections\r\n")
            .await;
        return;
    }
    stats.curr_connections.fetch_add(1, Relaxed);
    stats.total_connections.fetch_add(1, Relaxed);
    let _ = stream.set_nodelay(true);
    tracing::debug!(%addr, "memcached client connected");
    run(&server, &mut stream).await;
    server.memcached.curr_connections.fetch_sub(1, Relaxed);
    let _ = stream.shutdown().await;
}

async fn run(server: &Arc<Server>, stream: &mut TcpStream) {
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut conn = McConn {
        server,
        out: Vec::with_capacity(16 * 1024),
        counters: Counters::default(),
        now: server.clock.at(Instant::now()),
        swallow: 0,
        close: false,
        max_item: 0,
        appended: 0,
    };
    // memcached picks the protocol from a connection's first byte only.
    let mut first = true;
    loop {
        let read = tokio::select! {
            _ = server.wait_shutdown() => break,
            r = stream.read_buf(&mut rbuf) => r,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => conn.counters.bytes_read += n as u64,
        }
        conn.now = server.clock.at(Instant::now());
        conn.max_item = server.with_config(|c| c.memcached_max_item_size) as usize;
        loop {
            if conn.swallow > 0 {
                let n = conn.swallow.min(rbuf.len());
                rbuf.advance(n);
                conn.swallow -= n;
                if conn.swallow > 0 {
                    break;
                }
            }
            if rbuf.is_empty() {
                break;
            }
            if std::mem::take(&mut first) && rbuf[0] == BINARY_MAGIC {
                tracing::debug!("closing a memcached client that speaks the binary protocol");
                conn.close = true;
                break;
            }
            // What the request appended to the write stream (an over-estimate when
            // another connection appends meanwhile): with `appendfsync always` the reply
            // waits until the stream is durable that far.
            let before = server.persist.stream.end();
            match text::handle(&mut conn, &rbuf) {
                Step::Done(n) => rbuf.advance(n),
                Step::NeedMore => break,
            }
            let after = server.persist.stream.end();
            if after > before {
                conn.appended = conn.appended.max(after);
            }
            if conn.close {
                break;
            }
            if conn.out.len() >= FLUSH_AT && flush(stream, &mut conn).await.is_err() {
                return;
            }
        }
        if rbuf.len() > server.query_buffer_limit() {
            tracing::warn!("closing a memcached client: request over client-query-buffer-limit");
            conn.close = true;
        }
        // Let the other connections of this thread run first, so replies leave in bursts.
        tokio::task::yield_now().await;
        if flush(stream, &mut conn).await.is_err() || conn.close {
            break;
        }
    }
    let _ = flush(stream, &mut conn).await;
    server.memcached.absorb(&mut conn.counters);
}

async fn flush(stream: &mut TcpStream, conn: &mut McConn<'_>) -> std::io::Result<()> {
    if !conn.out.is_empty() {
        // appendfsync always: what the replies acknowledge is on disk first.
        let appended = std::mem::take(&mut conn.appended);
        if appended > 0 && conn.server.persist.must_wait() {
            conn.server.persist.stream.wait_synced(appended).await;
        }
        stream.write_all(&conn.out).await?;
        conn.counters.bytes_written += conn.out.len() as u64;
        conn.out.clear();
    }
    conn.server.memcached.absorb(&mut conn.counters);
    Ok(())
}
