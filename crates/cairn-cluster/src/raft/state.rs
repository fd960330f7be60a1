//! The state machine: the cluster configuration, as every applied change left it.
//!
//! Applying is [`Config::apply`] in log order; each applied batch hands the new
//! configuration to the node through `publish` (the data plane swaps its routing to it).
//! A snapshot is the whole configuration as JSON (tens of kilobytes: a slot table and a
//! node list), written to `snapshot.json` (temporary file, fsync, rename) when built or
//! installed; at start-up the node loads it, and openraft replays the committed entries
//! after it, so a restarted node serves the last committed configuration before it hears
//! from anyone.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, EntryPayload, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StoredMembership,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{Applied, Entry, LogId, StorageError, TypeConfig, io_error};
use crate::config::Config;

type Meta = SnapshotMeta<u64, BasicNode>;

/// Where applied configurations go.
pub type Publish = Arc<dyn Fn(Arc<Config>) + Send + Sync>;

#[derive(Serialize, Deserialize)]
struct Stored {
    meta: Meta,
    config: Config,
}

struct Inner {
    config: Config,
    last_applied: Option<LogId>,
    membership: StoredMembership<u64, BasicNode>,
    /// The last snapshot built or installed.
    snapshot: Option<(Meta, Vec<u8>)>,
}

#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    path: PathBuf,
    publish: Publish,
}

impl StateMachine {
    /// Opens the state machine in `dir`: the last snapshot, if any. Publishes what it
    /// loaded.
    pub fn open(dir: &Path, publish: Publish) -> std::io::Result<StateMachine> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("snapshot.json");
        let mut inner = Inner {
            config: Config::default(),
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot: None,
        };
        if path.exists() {
            let data = std::fs::read(&path)?;
            let stored: Stored = serde_json::from_slice(&data)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
            inner.config = stored.config;
            inner.last_applied = stored.meta.last_log_id;
            inner.membership = stored.meta.last_membership.clone();
            inner.snapshot = Some((stored.meta, data));
        }
        publish(Arc::new(inner.config.clone()));
        Ok(StateMachine {
            inner: Arc::new(Mutex::new(inner)),
            path,
            publish,
        })
    }

    fn persist(&self, data: &[u8]) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, data)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (meta, data) = {
            let inner = self.inner.lock();
            let id = inner
                .last_applied
                .map(|l| format!("{}-{}", l.leader_id, l.index))
                .unwrap_or_else(|| "0".into());
            let meta = Meta {
                last_log_id: inner.last_applied,
                last_membership: inner.membership.clone(),
                snapshot_id: format!("{id}-{}", fastrand::u64(..)),
            };
            let stored = Stored {
                meta: meta.clone(),
                config: inner.config.clone(),
            };
            (
                meta,
                serde_json::to_vec(&stored).expect("configs serialize"),
            )
        };
        self.persist(&data).map_err(io_error)?;
        self.inner.lock().snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<u64, BasicNode>), StorageError> {
        let inner = self.inner.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let mut changed = false;
        let published = {
            let mut inner = self.inner.lock();
            for entry in entries {
                inner.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => out.push(Ok(())),
                    EntryPayload::Normal(change) => {
                        let r = inner.config.apply(&change);
                        if let Err(e) = &r {
                            tracing::debug!("configuration change refused: {e}");
                        }
                        changed |= r.is_ok();
                        out.push(r);
                    }
                    EntryPayload::Membership(m) => {
                        inner.membership = StoredMembership::new(Some(entry.log_id), m);
                        out.push(Ok(()));
                    }
                }
            }
            changed.then(|| Arc::new(inner.config.clone()))
        };
        if let Some(c) = published {
            (self.publish)(c);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let stored: Stored = serde_json::from_slice(&data)
            .map_err(|e| io_error(std::io::Error::other(e.to_string())))?;
        self.persist(&data).map_err(io_error)?;
        let config = {
            let mut inner = self.inner.lock();
            inner.config = stored.config;
            inner.last_applied = meta.last_log_id;
            inner.membership = meta.last_membership.clone();
            inner.snapshot = Some((meta.clone(), data));
            Arc::new(inner.config.clone())
        };
        (self.publish)(config);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let inner = self.inner.lock();
        Ok(inner.snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        }))
    }
}
