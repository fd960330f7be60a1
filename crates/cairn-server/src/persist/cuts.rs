//! Where a snapshot was cut, shard by shard, in the write stream.
//!
//! A snapshot is written while writes go on: it notes the stream's offset when it starts
//! (its origin), then encodes one shard at a time under that shard's lock. Each shard is
//! cut at its own offset, read under its lock: every record about a key of that shard
//! before the offset is in the snapshot, every one from it on is not. Whoever replays the
//! stream after the snapshot (an AOF's increment after its base, a replica after its full
//! sync or its own restart) applies a record about a key of shard *s* only from cut *s*
//! on. Records about no key (SELECT, FLUSHDB, SWAPDB, PING) always apply: a whole-database
//! change during the cut makes the snapshot start over.
//!
//! This is what lets the stream carry operations (APPEND key tail, INCRBY key n, later
//! HSET, LPUSH) rather than whole values: an operation applied twice is wrong, a state
//! applied twice was not.

/// Each shard's cut, indexed by shard (a power of two of them; a slot belongs to shard
/// `slot & (shards - 1)`, as in the store). Empty: no cuts, every record after the origin
/// applies (snapshots written before cuts were recorded held states only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cuts {
    shards: Box<[u64]>,
    end: u64,
}

impl Cuts {
    /// Cuts for `shards` (their count must be a power of two).
    pub fn new(shards: Vec<u64>) -> Cuts {
        assert!(
            shards.is_empty() || shards.len().is_power_of_two(),
            "a power of two of shards"
        );
        let end = shards.iter().copied().max().unwrap_or(0);
        Cuts {
            shards: shards.into_boxed_slice(),
            end,
        }
    }

    /// The cuts of a snapshot whose shards (this node's, a power of two of them) were cut
    /// at `ends`, of data that also holds the records before `loaded`'s cuts (the
    /// snapshot it was loaded from, while the stream has not passed them): each slot's
    /// cut is the later of the two. The two may count shards differently (the setting
    /// defaults by cores): the result has as many as the finer of them.
    pub fn combine(ends: &[u64], loaded: &Cuts) -> Cuts {
        if loaded.is_empty() {
            return Cuts::new(ends.to_vec());
        }
        let (n, w) = (ends.len(), loaded.shards.len());
        Cuts::new(
            (0..n.max(w))
                .map(|j| ends[j & (n - 1)].max(loaded.shards[j & (w - 1)]))
                .collect(),
        )
    }

    /// Past this offset nothing is covered.
    pub fn end(&self) -> u64 {
        self.end
    }

    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    pub fn shards(&self) -> &[u64] {
        &self.shards
    }

    /// Whether a record about a key of `slot` at stream offset `offset` is in the snapshot.
    pub fn covers_slot(&self, slot: u16, offset: u64) -> bool {
        offset < self.end && offset < self.shards[slot as usize & (self.shards.len() - 1)]
    }

    /// Whether a record about `key` at stream offset `offset` is in the snapshot.
    pub fn covers(&self, key: &[u8], offset: u64) -> bool {
        offset < self.end && self.covers_slot(cairn_store::key_slot(key), offset)
    }

    /// The on-disk form: shard count u32 LE, then each cut u64 LE.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.shards.len() as u32).to_le_bytes());
        for c in self.shards.iter() {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }

    /// The length of the encoding that starts `data`, if its count is there.
    pub fn encoded_len(data: &[u8]) -> Option<Result<usize, &'static str>> {
        let n = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) as usize;
        if n > cairn_store::SLOTS || (n != 0 && !n.is_power_of_two()) {
            return Some(Err("bad shard count in the snapshot's cuts"));
        }
        Some(Ok(4 + 8 * n))
    }

    /// Reads what [`Cuts::encode`] wrote (exactly [`Cuts::encoded_len`] bytes).
    pub fn decode(data: &[u8]) -> Result<Cuts, &'static str> {
        let len = Cuts::encoded_len(data).ok_or("cuts cut short")??;
        if data.len() != len {
            return Err("cuts of the wrong length");
        }
        Ok(Cuts::new(
            data[4..]
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_covered_before_its_shards_cut_only() {
        let cuts = Cuts::new(vec![100, 200]);
        let even = (0..16384u16).find(|s| s % 2 == 0).unwrap();
        let odd = 1u16;
        assert!(cuts.covers_slot(even, 99));
        assert!(!cuts.covers_slot(even, 100));
        assert!(cuts.covers_slot(odd, 199));
        assert!(!cuts.covers_slot(odd, 200));
        assert_eq!(cuts.end(), 200);
        assert!(!Cuts::default().covers_slot(odd, 0));
    }

    #[test]
    fn combined_cuts_keep_the_later_cut_of_every_slot() {
        let loaded = Cuts::new(vec![50, 300, 10, 20]);
        let c = Cuts::combine(&[100, 200], &loaded);
        assert_eq!(c.shards(), &[100, 300, 100, 200]);
        for slot in 0..64u16 {
            let own = [100, 200][slot as usize & 1];
            let old = [50, 300, 10, 20][slot as usize & 3];
            assert!(c.covers_slot(slot, own.max(old) - 1));
            assert!(!c.covers_slot(slot, own.max(old)));
        }
        assert_eq!(Cuts::combine(&[5, 6], &Cuts::default()).shards(), &[5, 6]);
        let fine = Cuts::combine(&[1, 2, 3, 4], &Cuts::new(vec![9]));
        assert_eq!(fine.shards(), &[9, 9, 9, 9]);
    }

    #[test]
    fn cuts_read_back_as_written() {
        let cuts = Cuts::new(vec![7, 9, 11, 13]);
        let mut out = Vec::new();
        cuts.encode(&mut out);
        assert_eq!(Cuts::encoded_len(&out), Some(Ok(out.len())));
        assert_eq!(Cuts::decode(&out), Ok(cuts));
        assert_eq!(
            Cuts::decode(&out[..out.len() - 1]),
            Err("cuts of the wrong length")
        );
        assert!(Cuts::encoded_len(&3u32.to_le_bytes()).unwrap().is_err());
    }
}
