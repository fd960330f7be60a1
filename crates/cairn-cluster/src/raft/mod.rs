//! The configuration's consensus: openraft, with the storage and network adapters it asks
//! for and nothing home-made in their place.
//!
//! - [`log`]: the Raft log and vote, in one append-only file of checksummed records,
//!   fsynced before openraft is told they are durable.
//! - [`state`]: the state machine: [`crate::config::Config`], its snapshots, and the
//!   hand-off of every applied configuration to the node (`crate::node`).
//! - [`network`]: openraft's RPCs over the cluster bus (`crate::bus`).
//!
//! Every cluster node runs a Raft instance. A bounded set of them are voters (at most
//! [`MAX_VOTERS`], the first to join); the rest are learners, which receive the log and
//! apply it but neither vote nor count for commits, so a large cluster does not pay for
//! consensus among all its nodes.

pub mod log;
pub mod network;
pub mod state;

use std::io::Cursor;

use crate::config::Change;

/// Voters at most: the configuration survives the loss of two of them.
pub const MAX_VOTERS: usize = 5;

/// What applying a change answers: `Err` carries the client-facing error.
pub type Applied = Result<(), String>;

openraft::declare_raft_types!(
    /// Cairn's Raft: configuration changes in, their outcome out; nodes are reached at
    /// their bus address.
    pub TypeConfig:
        D = Change,
        R = Applied,
        NodeId = u64,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<u64>;
pub type Vote = openraft::Vote<u64>;
pub type StorageError = openraft::StorageError<u64>;

/// An I/O failure as openraft's storage error.
pub(crate) fn io_error(e: std::io::Error) -> StorageError {
    openraft::StorageIOError::write(openraft::AnyError::new(&e)).into()
}

/// The number of voters a cluster of `nodes` nodes should have: odd, at most
/// [`MAX_VOTERS`].
pub fn voters_for(nodes: usize) -> usize {
    let n = nodes.clamp(1, MAX_VOTERS);
    if n.is_multiple_of(2) { n - 1 } else { n }
}

#[cfg(test)]
mod tests {
    #[test]
    fn voters_are_odd_and_bounded() {
        let v: Vec<usize> = (1..=9).map(super::voters_for).collect();
        assert_eq!(v, vec![1, 1, 3, 3, 5, 5, 5, 5, 5]);
    }
}
