//! Persistence: the write stream, the append-only file and snapshots, and coming back
//! warm after a restart (docs/persistence.md).
//!
//! - [`state`]: what the server holds: the stream, the AOF's state, counters, MISCONF.
//! - [`stream`]: the store's effects as RESP commands with a growing offset; the one
//!   source the AOF and replicas consume.
//! - [`aof`]: the append-only file set (manifest, base, increments); [`check`]:
//!   `cairn check-aof`; [`durable`]: directory fsyncs.
//! - [`snapshot`]: the snapshot file format, written without fork() shard by shard;
//!   [`cuts`]: where each shard was cut, which stream records replaying must skip.
//! - [`writer`]: the AOF writer thread (group commit, fsync policy, failing disks).
//! - [`saving`]: AOF rewrites, snapshots, the `save` schedule, INFO persistence.
//! - [`load`]: loading at start-up; [`replay`]: applying a stream of commands back.
//! - [`import`]: `--import-rdb`, a Redis `dump.rdb` loaded at start-up.

pub mod aof;
pub mod check;
pub mod cuts;
pub mod durable;
pub mod import;
pub mod load;
pub mod replay;
pub mod saving;
pub mod snapshot;
pub mod state;
pub mod stream;
pub mod writer;
