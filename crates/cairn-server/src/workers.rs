//! Connection workers: one thread per core, each running its own single-threaded tokio
//! runtime.
//!
//! The accept loop hands each new connection to the next worker in turn; from then on the
//! connection lives on that thread alone. Nothing is stolen between threads and no thread
//! wakes another to run a connection, which the work-stealing scheduler spent a fifth of a
//! core on under a pipelined GET load (perf, issue 2). The keyspace itself is shared: its
//! shards are behind their own locks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use crate::server::Server;

/// Which protocol a new connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Resp,
    Memcached,
}

/// Serves one new connection on the worker that owns it (`crate::listener::serve`).
pub type Serve = fn(
    Arc<Server>,
    tokio::net::TcpStream,
    SocketAddr,
    Protocol,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

type NewConnection = (std::net::TcpStream, SocketAddr, Protocol);

pub struct Workers {
    senders: Vec<mpsc::UnboundedSender<NewConnection>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `n` worker threads.
    pub fn start(server: &Arc<Server>, n: usize, serve: Serve) -> std::io::Result<Workers> {
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for i in 0..n.max(1) {
            let (tx, mut rx) = mpsc::unbounded_channel::<NewConnection>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let server = server.clone();
            let thread = std::thread::Builder::new()
                .name(format!("cairn-worker-{i}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        while let Some((stream, addr, protocol)) = rx.recv().await {
                            match tokio::net::TcpStream::from_std(stream) {
                                Ok(stream) => {
                                    tokio::spawn(serve(server.clone(), stream, addr, protocol));
                                }
                                Err(e) => tracing::warn!("cannot register connection: {e}"),
                            }
                        }
                        // Shutting down: every client was told to close; give them a moment
                        // to write their last replies before the runtime drops them.
                        let deadline =
                            std::time::Instant::now() + std::time::Duration::from_secs(2);
                        while (!server.clients.is_empty()
                            || server.memcached.curr_connections.load(Ordering::Relaxed) > 0)
                            && std::time::Instant::now() < deadline
                        {
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        }
                    });
                })?;
            senders.push(tx);
            threads.push(thread);
        }
        Ok(Workers {
            senders,
            threads,
            next: AtomicUsize::new(0),
        })
    }

    /// Gives a freshly accepted connection to the next worker.
    pub fn hand_over(&self, stream: tokio::net::TcpStream, addr: SocketAddr, protocol: Protocol) {
        let Ok(stream) = stream.into_std() else {
            return;
        };
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        let _ = self.senders[i].send((stream, addr, protocol));
    }

    /// Stops taking connections and waits for the workers to finish.
    pub fn join(self) {
        drop(self.senders);
        for t in self.threads {
            let _ = t.join();
        }
    }
}
