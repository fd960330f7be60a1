//! What can go wrong, split by whose fault it is: the cache (a node down, a timeout, a
//! refused connection), the server's answer, the caller's configuration, or the source.
//!
//! Errors are `Clone` because one load's outcome is handed to every caller that shared it
//! (single-flight).

use std::sync::Arc;
use std::time::Duration;

/// An error from the cache itself.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node's circuit breaker is open: it failed repeatedly and is skipped until its
    /// probe succeeds.
    #[error("cache node {node} is marked down (circuit breaker open)")]
    NodeDown {
        /// The node's address.
        node: String,
    },
    /// No answer within the configured time.
    #[error("cache call to {node} timed out after {after:?}")]
    Timeout {
        /// The node's address.
        node: String,
        /// The timeout that passed.
        after: Duration,
    },
    /// The connection failed, or could not be made.
    #[error("cache connection to {node} failed: {source}")]
    Transport {
        /// The node's address.
        node: String,
        /// What the transport said.
        #[source]
        source: Arc<redis::RedisError>,
    },
    /// The server answered with an error reply.
    #[error("cache server {node} replied with an error: {source}")]
    Server {
        /// The node's address.
        node: String,
        /// The reply.
        #[source]
        source: Arc<redis::RedisError>,
    },
    /// A reply of a shape the client did not expect.
    #[error("unexpected reply from {node}: {what}")]
    Reply {
        /// The node's address.
        node: String,
        /// What was wrong with it.
        what: String,
    },
    /// The options cannot work.
    #[error("invalid cache client options: {0}")]
    Config(String),
}

impl Error {
    /// True when the error says the node is unreachable or slow, not that it disagreed:
    /// these count towards the node's circuit breaker.
    pub fn is_node_failure(&self) -> bool {
        matches!(
            self,
            Error::NodeDown { .. } | Error::Timeout { .. } | Error::Transport { .. }
        )
    }

    /// Sorts a redis-rs error into transport and server faults.
    pub(crate) fn from_redis(node: &str, e: redis::RedisError) -> Error {
        let node = node.to_string();
        if e.is_timeout() {
            Error::Timeout {
                node,
                after: Duration::ZERO,
            }
        } else if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error()
        {
            Error::Transport {
                node,
                source: Arc::new(e),
            }
        } else if e.code().is_some() {
            Error::Server {
                node,
                source: Arc::new(e),
            }
        } else {
            Error::Transport {
                node,
                source: Arc::new(e),
            }
        }
    }
}

/// The error a source of truth returns.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Why a load failed. Cache errors are not here: a read that cannot use the cache goes to
/// the source instead (graceful degradation) and only the source can fail it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The loader (the source of truth) failed.
    #[error("loading from the source failed: {0}")]
    Source(Arc<SourceError>),
}

impl LoadError {
    /// Wraps a source's error.
    pub fn source_error(e: impl Into<SourceError>) -> LoadError {
        LoadError::Source(Arc::new(e.into()))
    }
}
