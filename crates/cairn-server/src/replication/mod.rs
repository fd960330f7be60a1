//! Primary–replica replication on the write stream (docs/replication.md).
//!
//! - [`ids`]: replication ids and the PSYNC decision (pure).
//! - [`state`]: what the server holds: ids, role, the link and connected replicas, the
//!   checks write commands pass, WAIT's acknowledgements.
//! - [`roles`]: following a primary, promotion, upkeep, ROLE and INFO replication.
//! - [`backlog`]: the stream's tail kept in memory, one buffer shared by every replica.
//! - [`handshake`]: what REPLCONF and PSYNC tell a connection before it becomes a replica's.
//! - [`follower`], [`rounds`]: a replica connected to this node, and the full syncs they
//!   wait for; [`primary`]: serving them (PSYNC, one snapshot streamed to every waiting
//!   replica, partial resyncs from the backlog, acknowledgements, output limits).
//! - [`link`], [`replica`]: the link to a primary, and running it: handshake, loading a
//!   full sync aside while the old data keeps serving, applying the stream through
//!   dispatch, acknowledging it, reconnecting.
//! - [`digest`]: an order-independent digest of the dataset (DEBUG DIGEST), to prove two
//!   nodes hold the same data.
//!
//! ```text
//!   primary                                   replica
//!   ┌───────────────────────────────┐         ┌─────────────────────────────────────┐
//!   │ commands ─▶ store ─▶ journal  │         │ link task: PSYNC, then per read:    │
//!   │   └▶ stream (AOF buffer,      │  bytes  │  apply commands (expiry off) ─▶ store│
//!   │        backlog) ─▶ sender ────┼────────▶│  append the same bytes to its own    │
//!   │              ◀── REPLCONF ACK ┼─────────┤  stream (AOF, backlog, sub-replicas) │
//!   └───────────────────────────────┘         └─────────────────────────────────────┘
//! ```

pub mod backlog;
pub mod digest;
pub mod follower;
pub mod handshake;
pub mod ids;
pub mod link;
pub mod primary;
pub mod replica;
pub mod roles;
pub mod rounds;
pub mod state;
