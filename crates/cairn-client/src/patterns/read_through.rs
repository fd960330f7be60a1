//! Read-through: the cache layer knows the source and loads from it on a miss.

use bytes::Bytes;
use std::sync::Arc;

use super::Source;
use crate::client::CacheClient;
use crate::error::LoadError;
use crate::load::LoadOptions;

/// A cache in front of `S` that loads on a miss.
pub struct ReadThrough<S> {
    cache: CacheClient,
    source: Arc<S>,
    options: LoadOptions,
}

impl<S> Clone for ReadThrough<S> {
    fn clone(&self) -> Self {
        ReadThrough {
            cache: self.cache.clone(),
            source: self.source.clone(),
            options: self.options.clone(),
        }
    }
}

impl<S: Source> ReadThrough<S> {
    /// Reads through `cache` to `source`, caching as `options` say.
    pub fn new(cache: CacheClient, source: Arc<S>, options: LoadOptions) -> ReadThrough<S> {
        ReadThrough {
            cache,
            source,
            options,
        }
    }

    /// The value of `key`: from the cache, or loaded from the source (single-flight,
    /// guarded fill); `None` when the source does not have it.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, LoadError> {
        let key = Bytes::copy_from_slice(key.as_ref());
        let source = self.source.clone();
        let k = key.clone();
        self.cache
            .get_or_load(
                &key,
                &self.options,
                move || async move { source.load(&k).await },
            )
            .await
    }

    /// The cache client.
    pub fn cache(&self) -> &CacheClient {
        &self.cache
    }

    /// The source.
    pub fn source(&self) -> &Arc<S> {
        &self.source
    }

    /// The load options.
    pub fn options(&self) -> &LoadOptions {
        &self.options
    }
}
