//! One shard: its share of every database, behind the shard's lock (`crate::keyspace`).

use std::sync::Arc;

use crate::db::{Db, Position, ShardBytes};

/// One shard: its share of every database.
#[derive(Debug)]
pub struct Shard {
    pub(crate) dbs: Vec<Db>,
    pub(crate) bytes: Arc<ShardBytes>,
    /// Where the active expiry sweep resumes: database, then shard-local slot.
    pub(crate) sweep_db: usize,
    pub(crate) sweep_slot: usize,
    /// The victim TinyLFU's admission test last defended (see [`Victim`]).
    pub(crate) victim: Option<Victim>,
}

impl Shard {
    /// Database `index` (the caller checked it against `databases`).
    pub fn db(&mut self, index: usize) -> &mut Db {
        &mut self.dbs[index]
    }

    pub fn db_ref(&self, index: usize) -> &Db {
        &self.dbs[index]
    }

    pub fn dbs(&self) -> &[Db] {
        &self.dbs
    }

    pub fn dbs_mut(&mut self) -> &mut [Db] {
        &mut self.dbs
    }
}

/// On a skewed load most newcomers are one-hit wonders that lose the test. Judging each
/// against a fresh sample costs `maxmemory-samples` cache misses per refused write;
/// W-TinyLFU (Caffeine) instead judges every newcomer against the same victim, its LRU
/// tail, until one wins. Reusing a sampled victim a bounded number of times does the same
/// while keeping the victim close to the worst key as the cache changes around it, and
/// makes a refusal cost one lookup. (Keeping the runners-up of a sample as the next
/// victims too made almost every step free, but cost 1.4 points of hit ratio on the
/// issue-3 trace: the second-worst of five is not bad enough.)
#[derive(Clone, Copy, Debug)]
pub(crate) struct Victim {
    pub(crate) db: usize,
    pub(crate) at: Position,
    /// Which entry was chosen. Inserts and removals since may have moved it (a removal
    /// shifts the entries after it back by one bucket) or removed it; then it is looked
    /// for a few buckets back, and dropped if not found. Should a new block land at the
    /// same address in the same bucket, the test judges that entry instead, which is
    /// still a key this shard holds and may evict.
    pub(crate) identity: usize,
    pub(crate) defended: u8,
}
