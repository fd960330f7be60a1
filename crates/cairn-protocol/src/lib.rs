//! Wire formats Cairn speaks, with no I/O and no async runtime.
//!
//! # Layout
//!
//! - [`resp::request`] turns the bytes a client sent into commands: RESP multibulk frames
//!   and inline commands (a person typing into `nc`), resumable across partial reads, with
//!   every size limit taken from configuration and every failure named in Redis's words.
//! - [`resp::inline`] splits an inline command line the way `sdssplitargs` does (quotes,
//!   escapes), so `SET "a b" 'c'` means the same thing here as in Redis.
//! - [`resp::reply`] writes replies straight into the connection's output buffer, in RESP2 or
//!   RESP3 as the client negotiated with `HELLO`; RESP3-only types degrade to their RESP2
//!   spelling exactly as Redis degrades them.
//! - [`resp::frame`] is a whole RESP3 value as a tree, with a parser and an encoder: what a
//!   client, a replica link or a test needs to read what the server wrote.
//!
//! - [`memcache`] reads memcached's text and meta protocol lines, numbers and flags the
//!   way memcached 1.6 reads them.
//! - [`varint`] is the workspace's one LEB128 codec (entry blocks, DUMP payloads); the one
//!   integer parser is [`resp::parse_i64`] and the one request encoder
//!   [`resp::write_command`].
//!
//! The server never builds [`resp::frame::Frame`] trees on the hot path: requests are parsed
//! into byte ranges of the read buffer and replies are encoded directly.

pub mod memcache;
pub mod resp;
pub mod varint;

pub use resp::frame::Frame;
pub use resp::reply::Reply;
pub use resp::request::{Args, Limits, ProtocolError, RequestParser};
