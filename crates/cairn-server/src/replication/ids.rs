//! Replication histories: a history is a replication id plus an offset into it; PSYNC2's
//! second id lets the replicas of a promoted node continue. Whether a PSYNC can continue
//! is decided here, without I/O.

use crate::persist::stream::REPLID_LEN;

pub type ReplId = [u8; REPLID_LEN];

/// A fresh replication id: 40 random hex characters.
pub fn new_replid() -> ReplId {
    let mut id = [0u8; REPLID_LEN];
    for b in &mut id {
        *b = b"0123456789abcdef"[fastrand::usize(..16)];
    }
    id
}

/// The id Redis shows when there is none.
pub const NO_ID: ReplId = [b'0'; REPLID_LEN];

/// Which histories this node can continue: its own id, and the id it had before its
/// last promotion up to the offset where it was promoted (PSYNC2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    pub replid: ReplId,
    pub replid2: ReplId,
    /// Bytes of `replid2`'s history this node holds; `None` without a second id.
    pub second_offset: Option<u64>,
}

/// What a PSYNC request gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Psync {
    /// Send the stream from this offset (the replica holds every byte before it).
    Continue { from: u64 },
    /// Send a snapshot. `refused` when the replica asked to continue and could not.
    Full { refused: bool },
}

/// Decides a `PSYNC replid offset` (offset as Redis counts it: the next byte wanted, so
/// the replica holds `offset - 1` bytes) against this node's ids and backlog range.
pub fn decide(ids: &Ids, replid: &[u8], offset: i64, backlog: Option<(u64, u64)>) -> Psync {
    if replid == b"?" || offset < 1 {
        return Psync::Full { refused: false };
    }
    let have = offset as u64 - 1;
    let ours = replid == ids.replid;
    let before_promotion = replid == ids.replid2
        && ids.replid2 != NO_ID
        && ids.second_offset.is_some_and(|s| have <= s);
    if !ours && !before_promotion {
        return Psync::Full { refused: true };
    }
    match backlog {
        Some((start, end)) if start <= have && have <= end => Psync::Continue { from: have },
        _ => Psync::Full { refused: true },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Ids {
        Ids {
            replid: *b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            replid2: *b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            second_offset: Some(1000),
        }
    }

    #[test]
    fn continues_its_own_history_inside_the_backlog() {
        let ids = ids();
        assert_eq!(
            decide(&ids, &ids.replid, 501, Some((100, 2000))),
            Psync::Continue { from: 500 }
        );
        // The replica holds everything: nothing to send, still a continue.
        assert_eq!(
            decide(&ids, &ids.replid, 2001, Some((100, 2000))),
            Psync::Continue { from: 2000 }
        );
    }

    #[test]
    fn a_replica_outside_the_backlog_gets_a_full_sync() {
        let ids = ids();
        assert_eq!(
            decide(&ids, &ids.replid, 50, Some((100, 2000))),
            Psync::Full { refused: true }
        );
        assert_eq!(
            decide(&ids, &ids.replid, 2002, Some((100, 2000))),
            Psync::Full { refused: true }
        );
        assert_eq!(
            decide(&ids, &ids.replid, 500, None),
            Psync::Full { refused: true }
        );
    }

    #[test]
    fn the_old_id_continues_only_up_to_the_promotion() {
        let ids = ids();
        assert_eq!(
            decide(&ids, &ids.replid2, 1001, Some((0, 5000))),
            Psync::Continue { from: 1000 }
        );
        // It holds writes of the old primary this node never had.
        assert_eq!(
            decide(&ids, &ids.replid2, 1002, Some((0, 5000))),
            Psync::Full { refused: true }
        );
    }

    #[test]
    fn unknown_ids_and_questions_get_full_syncs() {
        let ids = ids();
        assert_eq!(
            decide(&ids, b"?", -1, Some((0, 5000))),
            Psync::Full { refused: false }
        );
        assert_eq!(
            decide(&ids, &NO_ID, 10, Some((0, 5000))),
            Psync::Full { refused: true }
        );
        let no_second = Ids {
            replid2: NO_ID,
            second_offset: None,
            ..ids
        };
        assert_eq!(
            decide(&no_second, &NO_ID, 10, Some((0, 5000))),
            Psync::Full { refused: true }
        );
    }
}
