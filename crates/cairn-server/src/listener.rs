//! Accepting connections on the RESP and memcached ports and handing each to a worker;
//! a RESP client's admission (maxclients, protected mode, socket options).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::clients::ClientInfo;
use crate::server::Server;
use crate::workers::{Protocol, Workers};

/// Binds every `bind` address on `port`. Port 0 picks a free port (the same one for all
/// addresses after the first).
pub fn bind(server: &Server) -> std::io::Result<Vec<TcpListener>> {
    let (addrs, port, backlog) = server.with_config(|c| (c.bind.clone(), c.port, c.tcp_backlog));
    bind_addrs(&addrs, port, backlog)
}

/// Binds `memcached-port` on every `bind` address; none when the port is 0.
pub fn bind_memcached(server: &Server) -> std::io::Result<Vec<TcpListener>> {
    let (addrs, port, backlog) =
        server.with_config(|c| (c.bind.clone(), c.memcached_port, c.tcp_backlog));
    if port == 0 {
        return Ok(Vec::new());
    }
    bind_addrs(&addrs, port, backlog)
}

/// Binds each of `addrs` on `port` (RESP's and memcached's listeners alike).
pub fn bind_addrs(
    addrs: &[String],
    mut port: u16,
    backlog: u32,
) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    for a in addrs {
        let ip: IpAddr = match a.as_str() {
            "*" | "0.0.0.0" => IpAddr::from([0, 0, 0, 0]),
            "::*" | "::" => IpAddr::from([0u16; 8]),
            other => other.trim_start_matches('-').parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("invalid bind address '{other}'"),
                )
            })?,
        };
        let addr = SocketAddr::new(ip, port);
        let socket = if ip.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(backlog)?;
        port = listener.local_addr()?.port();
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Accepts connections on `listener` until shutdown, handing each to a worker.
pub async fn accept_loop(
    server: Arc<Server>,
    listener: TcpListener,
    workers: Arc<Workers>,
    protocol: Protocol,
) {
    loop {
        let accepted = tokio::select! {
            _ = server.wait_shutdown() => return,
            a = listener.accept() => a,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if protocol == Protocol::Resp {
            server
                .stats
                .connections_received
                .fetch_add(1, Ordering::Relaxed);
        }
        workers.hand_over(stream, addr, protocol);
    }
}

/// Serves a new connection on the worker that owns it (the [`crate::workers::Serve`]
/// the workers run).
pub fn serve(
    server: Arc<Server>,
    stream: TcpStream,
    addr: SocketAddr,
    protocol: Protocol,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    match protocol {
        Protocol::Resp => Box::pin(admit(server, stream, addr)),
        Protocol::Memcached => Box::pin(crate::memcache::conn::serve(server, stream, addr)),
    }
}

/// Runs on the worker that owns the connection: admission checks, then the connection.
pub async fn admit(server: Arc<Server>, mut stream: TcpStream, addr: SocketAddr) {
    if server.clients.len() >= server.maxclients() {
        server
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    let laddr = stream.local_addr().unwrap_or(addr);
    if refused_by_protected_mode(&server, addr, laddr) {
        server
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream.write_all(PROTECTED_MODE_DENIED).await;
        return;
    }
    let keepalive = server.with_config(|c| c.tcp_keepalive);
    if keepalive > 0 {
        let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(keepalive));
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
    }
    let fd = {
        use std::os::fd::AsRawFd;
        stream.as_raw_fd() as i64
    };
    let (info, inbox) = ClientInfo::new(server.clients.next_id(), addr, laddr, fd);
    let info = Arc::new(info);
    info.touch();
    server.clients.add(info.clone());
    // The connection task may panic on a bug; the catch keeps the client table right and
    // the rest of the server serving.
    let id = info.id;
    let task = tokio::spawn(crate::connection::serve(
        server.clone(),
        stream,
        info,
        inbox,
    ));
    if let Err(e) = task.await {
        tracing::error!(client = id, "connection task failed: {e}");
        // It could not unsubscribe on its way out.
        server.pubsub.forget(id);
    }
    server.clients.remove(id);
}

/// Redis refuses non-loopback clients when protected mode is on, no password is set, and
/// the server listens on every interface.
fn refused_by_protected_mode(server: &Server, peer: SocketAddr, local: SocketAddr) -> bool {
    let (on, all) = server.with_config(|c| {
        (
            c.protected_mode,
            c.bind
                .iter()
                .any(|b| matches!(b.as_str(), "*" | "0.0.0.0" | "::*" | "::")),
        )
    });
    on && all && !peer.ip().is_loopback() && local.ip() != peer.ip()
}

const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";
