//! Compact encodings of small collections, each in one allocation, as Redis keeps small
//! hashes and sets: a collection of a few dozen short elements costs its bytes and a
//! length or two each, not a hash table. The types in [`crate::types`] switch to a table
//! when one outgrows the thresholds (settings with Redis's names).
//!
//! - [`listpack`]: byte strings packed one after another, each behind its length.
//! - [`intset`]: sorted integers of one width (2, 4 or 8 bytes), the narrowest all fit.
//! - [`dict`]: the table form a collection moves to when it outgrows those: one
//!   allocation per element in hash-split segments, with SCAN cursors that survive growth.
//! - [`elem`]: an element handed out (bytes in place, or an intset's integer).
//! - [`thin`]: a dict's element behind a one-word pointer (its length inside).
//! - [`ranked`]: an order-statistic B+tree (a big sorted set's order, ranks in O(log n)).
//! - [`deadlines`]: names ordered by deadline (volatile hash fields, hashes that have them).

pub mod deadlines;
pub mod dict;
pub mod elem;
pub mod intset;
pub mod listpack;
pub mod ranked;
pub mod thin;
