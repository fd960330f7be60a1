//! A connection's transaction state: the commands queued between MULTI and EXEC, and the
//! keys it WATCHes. The commands themselves are in `crate::commands::multi`; dispatch
//! queues into a [`Transaction`] and EXEC runs it.

use std::ops::Range;
use std::sync::Arc;

use cairn_protocol::Args;
use cairn_store::db::WatchFlag;
use cairn_store::{Keyspace, key_slot};

use crate::spec::CommandId;

/// A transaction being queued.
#[derive(Default)]
pub struct Transaction {
    queued: Vec<Queued>,
    /// An error while queuing: EXEC answers EXECABORT.
    aborted: bool,
    /// The flags of every queued command together (CLIENT PAUSE WRITE holds an EXEC
    /// whose transaction writes; a replica refuses it).
    flags: u32,
}

/// One queued command, its arguments copied out of the read buffer.
pub struct Queued {
    pub id: CommandId,
    data: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

impl Queued {
    pub fn args(&self) -> Args<'_> {
        Args::from_parts(&self.data, &self.ranges)
    }
}

impl Transaction {
    /// Copies a command into the queue.
    pub fn queue(&mut self, id: CommandId, flags: u32, args: Args<'_>) {
        let mut data = Vec::with_capacity(args.payload_len());
        let mut ranges = Vec::with_capacity(args.len());
        for a in args.iter() {
            let start = data.len();
            data.extend_from_slice(a);
            ranges.push(start..data.len());
        }
        self.flags |= flags;
        self.queued.push(Queued { id, data, ranges });
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

    pub fn queued(&self) -> &[Queued] {
        &self.queued
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
