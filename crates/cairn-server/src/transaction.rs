//! A connection's transaction state: the commands queued between MULTI and EXEC, and the
//! keys it WATCHes. The commands themselves are in `crate::commands::multi`; dispatch
//! queues into a [`Transaction`] and EXEC runs it.

use std::ops::Range;
use std::sync::Arc;

use cairn_protocol::Args;
use cairn_store::db::WatchFlag;
use cairn_store::{Keyspace, key_slot};

use crate::spec::CommandId;

/// A transaction being queued. Every queued command's arguments are copied into one
/// buffer (and their ranges into one list), so queuing a command costs no allocation of
/// its own once the buffers have grown: a rate limiter's `MULTI; ZADD; ZREMRANGEBYSCORE;
/// ZCARD; EXEC` used to make nine.
#[derive(Default)]
pub struct Transaction {
    queued: Vec<Queued>,
    /// The arguments of every queued command, one after another.
    data: Vec<u8>,
    /// Each argument's place in `data`.
    ranges: Vec<Range<usize>>,
    /// An error while queuing: EXEC answers EXECABORT.
    aborted: bool,
    /// The flags of every queued command together (CLIENT PAUSE WRITE holds an EXEC
    /// whose transaction writes; a replica refuses it).
    flags: u32,
}

/// One queued command: its id and which of the transaction's ranges are its arguments.
pub struct Queued {
    pub id: CommandId,
    args: Range<usize>,
}

impl Transaction {
    /// Copies a command into the queue.
    pub fn queue(&mut self, id: CommandId, flags: u32, args: Args<'_>) {
        let first = self.ranges.len();
        self.data.reserve(args.payload_len());
        for a in args.iter() {
            let start = self.data.len();
            self.data.extend_from_slice(a);
            self.ranges.push(start..self.data.len());
        }
        self.flags |= flags;
        self.queued.push(Queued {
            id,
            args: first..self.ranges.len(),
        });
    }

    pub fn abort(&mut self) {
        self.aborted = true;
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted
    }

    pub fn flags(&self) -> u32 {
        self.flags
    }

    pub fn len(&self) -> usize {
        self.queued.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// The queued commands, in order, with their arguments.
    pub fn queued(&self) -> impl Iterator<Item = (CommandId, Args<'_>)> + '_ {
        self.queued.iter().map(|q| {
            (
                q.id,
                Args::from_parts(&self.data, &self.ranges[q.args.clone()]),
            )
        })
    }
}

/// The keys a connection watches, and the flag any change to one of them sets.
#[derive(Default)]
pub struct Watching {
    pub flag: WatchFlag,
    pub keys: Vec<(usize, Vec<u8>)>,
}

impl Watching {
    pub fn new() -> Watching {
        Watching {
            flag: Arc::default(),
            keys: Vec::new(),
        }
    }
}

/// Stops watching every key of `watching` (EXEC, DISCARD, UNWATCH, RESET, disconnect).
pub fn unwatch(keyspace: &Keyspace, watching: Watching) {
    for (db, key) in &watching.keys {
        let slot = key_slot(key);
        keyspace.lock(slot).db(*db).unwatch(key, &watching.flag);
    }
}
