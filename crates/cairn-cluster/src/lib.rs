//! Cairn's cluster: hash slots owned by nodes, a configuration kept by consensus, failure
//! detection, failover and fencing (docs/cluster.md).
//!
//! # Layout
//!
//! - [`config`]: the configuration (nodes, roles, slot owners, migrations, epochs) and the
//!   changes to it; pure, the state machine Raft replicates.
//! - [`raft`]: openraft with our storage (a checksummed log file, JSON snapshots) and
//!   network (the bus) adapters.
//! - [`bus`]: node-to-node requests on the bus port: Raft RPCs, joins, proposals, pings.
//! - [`health`]: suspects, failure verdicts and fencing, decided from ping results
//!   without I/O.
//! - [`node`]: the running node on a runtime of its own, as the server sees it.
//!
//! ```text
//!            clients (RESP)                 other nodes (bus: port + 10000)
//!                 │                          ▲  Raft RPCs, pings, joins
//!   cairn-server ─┤ config() per command     │
//!   (routing,     │ writable() before writes │
//!    roles)       ▼                          │
//!          ┌──── ClusterNode (own thread) ───┴──────────┐
//!          │ Raft ─▶ LogStore (raft.log)                 │
//!          │      └▶ StateMachine (Config, snapshot) ─▶ publish ─▶ ArcSwap<Config>
//!          │ ping loop ─▶ Health ─▶ fencing, verdicts (leader) ─▶ Raft │
//!          └─────────────────────────────────────────────┘
//! ```

pub mod bus;
pub mod config;
pub mod health;
pub mod node;
pub mod raft;

pub use config::{Change, Config, Node, NodeId, Role, SLOTS, id_of};
pub use node::{ClusterNode, Host, Options};
