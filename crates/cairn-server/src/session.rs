//! State that belongs to one connection and nobody else.

use std::sync::Arc;

use crate::clients::ClientInfo;
use crate::pubsub::Subscriptions;
use crate::transaction::{Transaction, Watching};

/// Per-connection state the command handlers read and change.
pub struct Session {
    pub info: Arc<ClientInfo>,
    /// The selected database (SELECT).
    pub db: usize,
    /// Close the connection once the pending replies are written (QUIT, protocol errors).
    pub close_after_reply: bool,
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
    /// What a replica said about itself before PSYNC (REPLCONF listening-port,
    /// ip-address, rdb-only).
    pub replconf: crate::replication::handshake::Replconf,
    /// PSYNC or SYNC: the connection becomes a replica's once its replies are written.
    pub takeover: Option<crate::replication::handshake::Request>,
    /// ASKING: the next command may be served from a slot being imported.
    pub asking: bool,
    /// READONLY: reads of a slot this replica's primary owns are served here.
    pub readonly: bool,
    /// Scratch space for the key positions of the command being judged (cluster routing,
    /// client tracking), kept so that computing them allocates nothing.
    pub key_positions: Vec<(usize, u32)>,
    /// CLIENT REPLY: whether this connection's commands are answered.
    pub reply: ReplyMode,
}

/// CLIENT REPLY's modes, as Redis's `CLIENT_REPLY_OFF`, `_SKIP_NEXT` and `_SKIP` flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplyMode {
    #[default]
    On,
    /// No command is answered (CLIENT REPLY OFF).
    Off,
    /// CLIENT REPLY SKIP is running: the command after it is not answered.
    SkipNext,
    /// This command is not answered; the next one is.
    Skip,
}

impl Session {
    pub fn new(info: Arc<ClientInfo>) -> Session {
        Session {
            info,
            db: 0,
            close_after_reply: false,
            subscriptions: Subscriptions::default(),
            multi: None,
            watch: None,
            tracking: None,
            caching: None,
            write_offset: 0,
            replconf: Default::default(),
            takeover: None,
            asking: false,
            readonly: false,
            key_positions: Vec::new(),
            reply: ReplyMode::On,
        }
    }

    /// Whether the command that just ended is answered, as Redis decides it after each
    /// command: SKIP's own command is not, and turns into skipping the next one.
    pub fn answered(&mut self) -> bool {
        match self.reply {
            ReplyMode::On => true,
            ReplyMode::Off => false,
            ReplyMode::SkipNext => {
                self.reply = ReplyMode::Skip;
                false
            }
            ReplyMode::Skip => {
                self.reply = ReplyMode::On;
                false
            }
        }
    }
}
