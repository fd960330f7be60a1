//! Cluster mode in the server (docs/cluster.md).
//!
//! - [`state`]: the cluster as the server holds it (this node's `ClusterNode`, the
//!   routing derived from the configuration).
//! - [`route`]: whether this node serves a keyed command, or redirects it.
//! - [`node`]: starting this node's cluster side, its settings, following its roles.

pub mod node;
pub mod route;
pub mod state;
