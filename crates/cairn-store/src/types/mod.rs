//! The collection types, each over the encodings of [`crate::encoding`]: what a command
//! asks of a hash or a set, whatever its encoding at the moment.
//!
//! - [`hash`]: field → value; a listpack of pairs while small, then a [`crate::encoding::dict`];
//!   the expiry times of volatile fields in a [`crate::encoding::deadlines::Deadlines`] beside it.
//! - [`list`]: elements in order; a chain of packed nodes (Redis's quicklist).
//! - [`set`]: members; an intset while every member is an integer, a listpack while small,
//!   then a dict.
//! - [`zset`]: members ordered by score; a listpack of pairs while small, then a dict
//!   beside an order-statistic tree ([`crate::encoding::ranked`]).

pub mod hash;
pub mod list;
pub mod set;
pub mod stream;
pub mod stream_group;
pub mod stream_id;
pub mod zset;
