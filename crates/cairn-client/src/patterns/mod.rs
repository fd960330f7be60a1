//! The caching patterns, over a [`Source`]: the application's source of truth (a database,
//! a service).
//!
//! | pattern | who reads the source | who writes it | here |
//! |---|---|---|---|
//! | cache-aside | the application, on a miss | the application, then invalidates | [`CacheClient::get_or_load`](crate::CacheClient::get_or_load) with a loader per call, [`CacheClient::invalidate`](crate::CacheClient::invalidate) after a write |
//! | read-through | the cache layer, configured with the source | (not its business) | [`ReadThrough`] |
//! | write-through | the cache layer | the cache layer: source first, then the cache | [`WriteThrough`] (delete or update variant) |
//! | write-behind | the cache layer | the cache at once, the source later in batches | [`WriteBehind`] |

mod read_through;
mod write_behind;
mod write_through;

pub use read_through::ReadThrough;
pub use write_behind::{WriteBehind, WriteBehindError, WriteBehindOptions, WriteBehindStats};
pub use write_through::{WriteError, WriteMode, WriteThrough};

use bytes::Bytes;
use std::future::Future;

use crate::error::SourceError;

/// One write for the source.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Write {
    /// Store `value` under `key`.
    Put {
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: Bytes,
    },
}

impl Write {
    /// The key written.
    pub fn key(&self) -> &Bytes {
        match self {
            Write::Put { key, .. } | Write::Delete { key } => key,
        }
    }
}

/// The source of truth behind the cache.
pub trait Source: Send + Sync + 'static {
    /// The value of `key`, or `None` if it does not exist.
    fn load(&self, key: &[u8]) -> impl Future<Output = Result<Option<Bytes>, SourceError>> + Send;

    /// Stores `value` under `key`.
    fn store(
        &self,
        key: &[u8],
        value: &[u8],
    ) -> impl Future<Output = Result<(), SourceError>> + Send;

    /// Removes `key`.
    fn remove(&self, key: &[u8]) -> impl Future<Output = Result<(), SourceError>> + Send;

    /// Applies `writes` in order; all or nothing is best (a transaction), but a retry of a
    /// partly applied batch is harmless because the writes are idempotent puts and deletes.
    fn apply_batch(
        &self,
        writes: &[Write],
    ) -> impl Future<Output = Result<(), SourceError>> + Send {
        async move {
            for w in writes {
                match w {
                    Write::Put { key, value } => self.store(key, value).await?,
                    Write::Delete { key } => self.remove(key).await?,
                }
            }
            Ok(())
        }
    }
}
