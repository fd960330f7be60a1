//! Write-through: writes go to the source first, then to the cache, before the call
//! returns.
//!
//! Two variants, and the race between them:
//!
//! - [`WriteMode::Invalidate`] (the default, "delete on write"): after the source write, the
//!   key is invalidated with a tombstone. A reader whose load started before the write has
//!   WATCHed the key, so its fill fails and the stale value it loaded is never stored; a
//!   reader whose WATCH comes after the tombstone started loading after the source write
//!   finished and loads the new value. No interleaving leaves a stale value in the cache.
//! - [`WriteMode::Update`]: after the source write, the new value is stored. One round trip
//!   less for the next reader, but two writers that interleave (A writes the source, B
//!   writes the source, B sets the cache, A sets the cache) leave A's older value cached
//!   until the TTL. Use it only for keys with a single writer.

use bytes::Bytes;
use std::sync::Arc;

use super::{ReadThrough, Source};
use crate::client::CacheClient;
use crate::envelope::Envelope;
use crate::error::{Error, LoadError, SourceError};
use crate::jitter::jitter_ttl;
use crate::load::LoadOptions;

/// What a write does to the cache after the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteMode {
    /// Invalidate the key (race-free; see the module doc).
    Invalidate,
    /// Store the new value (open to the two-writer race).
    Update,
}

/// A write-through write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The source refused the write; the cache was not touched.
    #[error("writing the source failed: {0}")]
    Source(SourceError),
    /// The source has the write, but the cache could not be invalidated or updated: it may
    /// serve the old value until its TTL (or until the node, if down, loses it).
    #[error("the source was written but the cache was not: {0}")]
    Cache(Error),
}

/// Read-through plus write-through over `S`.
pub struct WriteThrough<S> {
    reads: ReadThrough<S>,
    mode: WriteMode,
}

impl<S> Clone for WriteThrough<S> {
    fn clone(&self) -> Self {
        WriteThrough {
            reads: self.reads.clone(),
            mode: self.mode,
        }
    }
}

impl<S: Source> WriteThrough<S> {
    /// Writes through to `source` in `mode`; reads load from it.
    pub fn new(
        cache: CacheClient,
        source: Arc<S>,
        options: LoadOptions,
        mode: WriteMode,
    ) -> WriteThrough<S> {
        WriteThrough {
            reads: ReadThrough::new(cache, source, options),
            mode,
        }
    }

    /// Reads `key` (read-through).
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, LoadError> {
        self.reads.get(key).await
    }

    /// Writes the source, then the cache.
    pub async fn put(&self, key: impl AsRef<[u8]>, value: Bytes) -> Result<(), WriteError> {
        let key = key.as_ref();
        self.reads
            .source()
            .store(key, &value)
            .await
            .map_err(WriteError::Source)?;
        let cache = self.reads.cache();
        match self.mode {
            WriteMode::Invalidate => cache.invalidate(key).await.map_err(WriteError::Cache),
            WriteMode::Update => {
                let o = self.reads.options();
                let fresh = jitter_ttl(o.ttl, o.ttl_jitter);
                let env = Envelope::value(value, fresh, std::time::Duration::ZERO).encode();
                cache
                    .set(key, env, Some(fresh + o.stale_for))
                    .await
                    .map_err(WriteError::Cache)
            }
        }
    }

    /// Removes `key` from the source, then invalidates it.
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<(), WriteError> {
        let key = key.as_ref();
        self.reads
            .source()
            .remove(key)
            .await
            .map_err(WriteError::Source)?;
        self.reads
            .cache()
            .invalidate(key)
            .await
            .map_err(WriteError::Cache)
    }

    /// The cache client.
    pub fn cache(&self) -> &CacheClient {
        self.reads.cache()
    }
}
