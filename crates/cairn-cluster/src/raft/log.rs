//! The Raft log and vote, durable in one file.
//!
//! ```text
//! raft.log   record*   record = length u32 LE | xxh3-64 of body u64 LE | body (JSON)
//! body       {"Entries":[...]} | {"Vote":...} | {"Committed":...} | {"Truncate":index}
//!            | {"Purge":log_id}
//! ```
//!
//! Everything is also kept in memory (a configuration log is small: a change per node
//! join, slot move or failover). A change is appended as one record and fsynced before
//! openraft hears it is durable. At start-up the records are replayed; a record cut short
//! or failing its checksum at the end (the process died mid-write) ends the log there, and
//! the file is cut back to it. When the file has grown well past what it holds, it is
//! rewritten with only the live state (to a temporary file, fsynced, renamed).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogId, RaftLogReader};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::{Entry, LogId, StorageError, TypeConfig, Vote, io_error};

#[derive(Serialize, Deserialize)]
enum Record {
    Entries(Vec<Entry>),
    Vote(Vote),
    Committed(Option<LogId>),
    /// Entries from this index on were removed (a new leader overwrote them).
    Truncate(u64),
    /// Entries up to this id were removed (compacted into a snapshot).
    Purge(LogId),
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<u64, Entry>,
    /// The index of the last entry held that can take a primary's slots away (a failover,
    /// a role change, a removal): what a primary's lease must wait for (`crate::health`).
    fence_index: u64,
    vote: Option<Vote>,
    committed: Option<LogId>,
    purged: Option<LogId>,
    file: Option<File>,
    path: PathBuf,
    /// Bytes in the file, and after its last rewrite.
    size: u64,
    rewritten_at: u64,
}

/// The log store; clones share it (openraft asks for a reader beside the writer).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn frame(record: &Record) -> Vec<u8> {
    let body = serde_json::to_vec(record).expect("log records serialize");
    let mut out = Vec::with_capacity(body.len() + 12);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&xxh3_64(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, replaying what it holds.
    pub fn open(dir: &Path) -> std::io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("raft.log");
        let mut data = Vec::new();
        if path.exists() {
            File::open(&path)?.read_to_end(&mut data)?;
        }
        let mut inner = Inner {
            path: path.clone(),
            ..Inner::default()
        };
        let mut at = 0usize;
        while at + 12 <= data.len() {
            let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            let sum = u64::from_le_bytes(data[at + 4..at + 12].try_into().unwrap());
            let Some(body) = data.get(at + 12..at + 12 + len) else {
                break;
            };
            if xxh3_64(body) != sum {
                break;
            }
            let Ok(record) = serde_json::from_slice::<Record>(body) else {
                break;
            };
            inner.replay(record);
            at += 12 + len;
        }
        if at < data.len() {
            tracing::warn!(
                "{}: dropping {} bytes at the end (a write cut short)",
                path.display(),
                data.len() - at
            );
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        file.set_len(at as u64)?;
        inner.file = Some(file);
        inner.size = at as u64;
        inner.rewritten_at = at as u64;
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    /// The index of the last entry held (or purged into a snapshot): what openraft's
    /// metrics report once it has loaded this log.
    pub fn last_index(&self) -> Option<u64> {
        let inner = self.inner.lock();
        inner
            .entries
            .keys()
            .next_back()
            .copied()
            .or(inner.purged.map(|p| p.index))
    }

    /// See `Inner::fence_index`. (Kept when such an entry is truncated: erring high only
    /// delays a lease until the log moves past it.)
    pub fn fence_index(&self) -> u64 {
        self.inner.lock().fence_index
    }
}

impl Inner {
    fn replay(&mut self, record: Record) {
        match record {
            Record::Entries(es) => {
                for e in es {
                    if demotes(&e) {
                        self.fence_index = self.fence_index.max(e.log_id.index);
                    }
                    self.entries.insert(e.log_id.index, e);
                }
            }
            Record::Vote(v) => self.vote = Some(v),
            Record::Committed(c) => self.committed = c,
            Record::Truncate(from) => {
                self.entries.split_off(&from);
            }
            Record::Purge(upto) => {
                self.entries = self.entries.split_off(&(upto.index + 1));
                self.purged = Some(upto);
            }
        }
    }

    /// Appends and fsyncs one record, then applies it in memory.
    fn write(&mut self, record: Record) -> std::io::Result<()> {
        self.write_with(record, true)
    }

    /// Appends one record, fsynced if `durable`, then applies it in memory. A record
    /// written without fsync becomes durable with the next one that is.
    fn write_with(&mut self, record: Record, durable: bool) -> std::io::Result<()> {
        let bytes = frame(&record);
        let file = self.file.as_mut().expect("opened");
        file.write_all(&bytes)?;
        if durable {
            file.sync_data()?;
        }
        self.size += bytes.len() as u64;
        self.replay(record);
        if self.size > (1 << 20) && self.size > 4 * self.rewritten_at.max(1) {
            self.rewrite()?;
        }
        Ok(())
    }

    /// Writes the live state alone to a new file and swaps it in.
    fn rewrite(&mut self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("log.tmp");
        let mut out = Vec::new();
        if let Some(v) = self.vote {
            out.extend(frame(&Record::Vote(v)));
        }
        if let Some(p) = self.purged {
            out.extend(frame(&Record::Purge(p)));
        }
        out.extend(frame(&Record::Committed(self.committed)));
        let entries: Vec<Entry> = self.entries.values().cloned().collect();
        out.extend(frame(&Record::Entries(entries)));
        let mut f = File::create(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        self.file = Some(OpenOptions::new().append(true).open(&self.path)?);
        self.size = out.len() as u64;
        self.rewritten_at = self.size;
        Ok(())
    }
}

/// Whether applying `e` can take slots away from a primary, or change the voters whose
/// pongs renew its lease.
fn demotes(e: &Entry) -> bool {
    use crate::config::Change;
    match &e.payload {
        openraft::EntryPayload::Normal(c) => matches!(
            c,
            Change::Failover { .. } | Change::Replicate { .. } | Change::RemoveNode(_)
        ),
        // A new voter set changes whose pongs make a majority for a lease.
        openraft::EntryPayload::Membership(_) => true,
        openraft::EntryPayload::Blank => false,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.inner.lock();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.inner.lock();
        let last = inner
            .entries
            .values()
            .next_back()
            .map(|e| *e.get_log_id())
            .or(inner.purged);
        Ok(LogState {
            last_purged_log_id: inner.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.inner
            .lock()
            .write(Record::Vote(*vote))
            .map_err(io_error)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.inner.lock().vote)
    }

    /// Not fsynced: the commit index only saves a restarted node from waiting for a
    /// leader before it applies what it holds; losing the last one is safe (openraft
    /// learns it again), and the fsync sat on every configuration change's path.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.inner
            .lock()
            .write_with(Record::Committed(committed), false)
            .map_err(io_error)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.inner.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let result = self.inner.lock().write(Record::Entries(entries));
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                callback.log_io_completed(Err(e));
                Err(io_error(copy))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.inner
            .lock()
            .write(Record::Truncate(log_id.index))
            .map_err(io_error)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.inner
            .lock()
            .write(Record::Purge(log_id))
            .map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "cairn-raftlog-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    #[test]
    fn what_was_written_is_there_after_a_reopen_and_a_torn_tail_is_dropped() {
        let d = dir("reopen");
        {
            let s = LogStore::open(&d).unwrap();
            let mut inner = s.inner.lock();
            inner
                .write(Record::Entries((1..=5).map(|i| entry(1, i)).collect()))
                .unwrap();
            inner.write(Record::Vote(Vote::new(3, 2))).unwrap();
            inner.write(Record::Truncate(4)).unwrap();
            inner
                .write(Record::Purge(*entry(1, 1).get_log_id()))
                .unwrap();
        }
        // A half-written record at the end.
        let path = d.join("raft.log");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(f);
        let s = LogStore::open(&d).unwrap();
        let inner = s.inner.lock();
        assert_eq!(
            inner.entries.keys().copied().collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(inner.vote, Some(Vote::new(3, 2)));
        assert_eq!(inner.purged.map(|p| p.index), Some(1));
        drop(inner);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_rewrite_keeps_the_live_state_only() {
        let d = dir("rewrite");
        let s = LogStore::open(&d).unwrap();
        {
            let mut inner = s.inner.lock();
            for i in 1..=3000u64 {
                inner.write(Record::Entries(vec![entry(1, i)])).unwrap();
                inner.write(Record::Vote(Vote::new(1, i % 3))).unwrap();
            }
            inner
                .write(Record::Purge(*entry(1, 2990).get_log_id()))
                .unwrap();
            inner.rewrite().unwrap();
        }
        let len = std::fs::metadata(d.join("raft.log")).unwrap().len();
        assert!(len < 10_000, "{len}");
        let s2 = LogStore::open(&d).unwrap();
        let inner = s2.inner.lock();
        assert_eq!(inner.entries.len(), 10);
        assert_eq!(inner.vote, Some(Vote::new(1, 0)));
        drop(inner);
        let _ = std::fs::remove_dir_all(&d);
    }
}
