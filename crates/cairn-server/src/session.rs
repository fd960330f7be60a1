//! State that belongs to one connection and nobody else.

use std::sync::Arc;

use crate::clients::ClientInfo;
use crate::commands::multi::{Transaction, Watching};
use crate::pubsub::Subscriptions;

/// Per-connection state the command handlers read and change.
pub struct Session {
    pub info: Arc<ClientInfo>,
    /// The selected database (SELECT).
    pub db: usize,
    /// Close the connection once the pending replies are written (QUIT, protocol errors).
    pub close_after_reply: bool,
    /// Sleep before reading the next command (DEBUG SLEEP), without blocking other clients.
    pub sleep: Option<std::time::Duration>,
    /// Channels, patterns and shard channels this connection listens to.
    pub subscriptions: Subscriptions,
    /// The transaction being queued, between MULTI and EXEC/DISCARD.
    pub multi: Option<Transaction>,
    /// The keys WATCHed for the next EXEC.
    pub watch: Option<Watching>,
    /// CLIENT TRACKING, when on.
    pub tracking: Option<crate::tracking::Mode>,
    /// CLIENT CACHING YES/NO, for the next command only.
    pub caching: Option<bool>,
    /// The stream offset just past this connection's last write (WAIT waits for it).
    pub write_offset: u64,
    /// WAIT parked the connection: answer once enough replicas acknowledged.
    pub wait: Option<crate::replication::primary::WaitFor>,
    /// What a replica said about itself before PSYNC (REPLCONF listening-port,
    /// ip-address, rdb-only).
    pub replconf: crate::replication::primary::Replconf,
    /// PSYNC or SYNC: the connection becomes a replica's once its replies are written.
    pub takeover: Option<crate::replication::primary::Request>,
    /// ASKING: the next command may be served from a slot being imported.
    pub asking: bool,
    /// READONLY: reads of a slot this replica's primary owns are served here.
    pub readonly: bool,
    /// A command that finishes asynchronously (CLUSTER MEET, MIGRATE, ...): the
    /// connection writes its outcome (a status line, or an error) when it completes.
    pub deferred: Option<Deferred>,
}

/// See [`Session::deferred`].
pub type Deferred =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send>>;

impl Session {
    /// Gives up everything the connection holds elsewhere in the server: subscriptions,
    /// an open transaction and its watched keys, client tracking (RESET, disconnect).
    pub fn release(&mut self, server: &crate::server::Server) {
        crate::commands::pubsub::unsubscribe_all(server, self);
        self.multi = None;
        self.info
            .multi
            .store(-1, std::sync::atomic::Ordering::Relaxed);
        crate::commands::multi::unwatch_all(server, self);
        crate::commands::tracking::stop(server, self);
    }

    pub fn new(info: Arc<ClientInfo>) -> Session {
        Session {
            info,
            db: 0,
            close_after_reply: false,
            sleep: None,
            subscriptions: Subscriptions::default(),
            multi: None,
            watch: None,
            tracking: None,
            caching: None,
            write_offset: 0,
            wait: None,
            replconf: Default::default(),
            takeover: None,
            asking: false,
            readonly: false,
            deferred: None,
        }
    }
}
