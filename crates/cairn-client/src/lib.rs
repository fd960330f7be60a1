//! cairn-client: the application side of a distributed cache, over Redis, Valkey and Cairn.
//!
//! # Layout
//!
//! ```text
//! CacheClient (client.rs) ── get / set / delete / invalidate, stats, background tasks
//!   │   get_or_load (load.rs) ── single-flight (flight.rs), stale-while-revalidate,
//!   │                            XFetch early refresh and TTL jitter (jitter.rs), negative
//!   │                            caching, guarded fills; values wrapped by envelope.rs
//!   │   patterns/ ── Source trait; ReadThrough, WriteThrough, WriteBehind
//!   ├── near.rs ── L1 (moka, W-TinyLFU) kept coherent by CLIENT TRACKING, epoch tickets
//!   └── backend.rs ── where a key goes
//!         ├── node.rs ── one node: multiplexed connections, reconnect with jittered
//!         │              backoff, timeouts, breaker.rs, tracking, fill connections
//!         │   ├── ring.rs ── ketama ring for sharding over independent nodes
//!         │   └── redirect.rs ── RESP2: the connection that receives invalidations
//!         └── cluster.rs ── redis-rs's cluster client plus slot-map watch, per-node
//!                           breakers, replica reads for hot keys (slot.rs: key → slot)
//! metrics.rs ── the names exported through the `metrics` facade
//! error.rs ── cache errors (Error) apart from source errors (LoadError)
//! ```
//!
//! The transport is redis-rs (multiplexed connections pipeline concurrent requests; its
//! cluster client follows MOVED/ASK and refreshes the slot map one refresh at a time).
//! What is ours is what the seeds say the application must get right: where keys go, the
//! coherence of the near cache, stampedes, the patterns and their races, and failing over
//! to the source. `docs/client.md` explains each with its guarantees.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use cairn_client::{CacheClient, ClientOptions, LoadOptions, NearOptions};
//! use std::time::Duration;
//!
//! let cache = CacheClient::connect(
//!     ClientOptions::standalone("redis://127.0.0.1:6379")
//!         .near_cache(NearOptions::for_prefixes(["user:"])),
//! )
//! .await?;
//! let opts = LoadOptions::new(Duration::from_secs(60)).negative_ttl(Duration::from_secs(5));
//! let user = cache
//!     .get_or_load("user:42", &opts, || async { Ok(Some(bytes::Bytes::from("Ada"))) })
//!     .await?;
//! # let _ = user; Ok(()) }
//! ```

mod backend;
pub mod breaker;
mod client;
mod cluster;
pub mod envelope;
mod error;
pub mod flight;
pub mod jitter;
mod load;
pub mod metrics;
pub mod near;
mod node;
pub mod patterns;
mod redirect;
pub mod ring;
pub mod slot;

pub use breaker::{BreakerOptions, BreakerState};
pub use client::{CacheClient, Stats};
pub use error::{Error, LoadError, SourceError};
pub use jitter::Backoff;
pub use load::LoadOptions;
pub use near::{NearOptions, NearStats};
pub use options::{ClientOptions, HotKeyOptions, Protocol, ShardNode, Topology};
pub use patterns::{ReadThrough, Source, Write, WriteBehind, WriteMode, WriteThrough};

mod options;
