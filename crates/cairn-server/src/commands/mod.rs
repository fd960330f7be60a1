//! The command families: one file per family, each declaring its commands
//! (`crate::spec::Spec` plus handler, see `crate::ctx::Command`) next to their handlers.
//! Dispatch (`crate::dispatch`) lists the families in its table; a family depends on the
//! spec, the handler context, the store and the server's services, never on dispatch or
//! the connection. A new family is one new file here and one line in
//! `crate::dispatch::families`.
//!
//! [`args`] holds the argument parsing every family shares; [`typed`] the type check
//! (WRONGTYPE) every family reads values through.

pub mod args;
pub mod bits;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config;
pub mod connection;
pub mod expire;
pub mod geo;
pub mod hash_expiry;
pub mod hashes;
pub mod hotkeys;
pub mod hyperloglog;
pub mod info;
pub mod keys;
pub mod latency;
pub mod lease;
pub mod list_blocking;
pub mod lists;
pub mod memcached;
pub mod memory;
pub mod multi;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod scan;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod stream_args;
pub mod stream_claim;
pub mod stream_groups;
pub mod stream_info;
pub mod stream_read;
pub mod streams;
pub mod strings;
pub mod tracking;
pub mod typed;
pub mod zset_algebra;
pub mod zset_args;
pub mod zset_blocking;
pub mod zset_ranges;
pub mod zsets;
