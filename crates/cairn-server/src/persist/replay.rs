//! Replaying a stream of RESP commands into the keyspace (an append-only file's parts):
//! each command is applied through dispatch (`crate::dispatch::apply`, without a
//! client's checks), in a session of its own, with its replies thrown away. A command
//! that fails, or bytes that are not RESP, mean the file is damaged; bytes that stop in
//! the middle of a command are a torn tail (the server died mid-write), which the caller
//! may drop.
//!
//! Nothing expires while replaying, as in Redis: a key whose deadline passed while the
//! server was down is still there for the APPEND that followed it, as it was when the
//! APPEND ran; the expiry sweep removes it once loading is done. Records the base
//! snapshot holds already (before its shard's cut, see [`super::cuts`]) are skipped.

use std::sync::Arc;
use std::time::Instant;

use cairn_protocol::resp::request::Parsed;
use cairn_protocol::{Args, Reply, RequestParser};

use super::cuts::Cuts;
use super::stream::FILE_LIMITS;

use cairn_store::db::Now;

use crate::clients::ClientInfo;
use crate::server::Server;
use crate::session::Session;
use crate::table::Table;

/// Why replaying stopped early.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// The data ends inside a command: everything before `at` was applied.
    Torn { at: usize },
    /// The data is not a valid stream at `at`.
    Bad { at: usize, why: String },
}

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub commands: u64,
    /// Commands skipped because the base snapshot holds them already.
    pub skipped: u64,
}

/// Where the replayed bytes sit in the write stream, and the cuts of the snapshot they
/// follow: a record before its shard's cut is skipped.
#[derive(Clone, Copy)]
pub struct After<'a> {
    /// The stream offset of the data's first byte.
    pub offset: u64,
    pub cuts: &'a Cuts,
}

impl After<'_> {
    /// Whether the record `args`, `at` bytes into the data, is in the snapshot already.
    pub fn covers(&self, args: Args<'_>, at: usize) -> bool {
        let offset = self.offset + at as u64;
        offset < self.cuts.end() && record_key(args).is_some_and(|k| self.cuts.covers(k, offset))
    }
}

/// The key a stream record is about: its command's first key (every record names one
/// key, or none: SELECT, FLUSHDB, SWAPDB, PING).
fn record_key(args: Args<'_>) -> Option<&[u8]> {
    let table = Table::get();
    let id = table.resolve(args).ok()?;
    let mut keys = Vec::new();
    table
        .spec(id)
        .keys_of(args.len(), |i| args.get(i), false, &mut keys)
        .ok()?;
    keys.first().map(|&(i, _)| args.get(i))
}

/// A session for replaying: database 0, no client behind it.
pub fn session() -> Session {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let (info, _inbox) = ClientInfo::new(0, addr, addr, -1);
    Session::new(Arc::new(info))
}

/// Runs every command in `data` against `server` in `session` (whose selected database
/// carries over between parts of one file set); `after`: the data continues the stream
/// after a snapshot (an increment after its base), `None`: it is a snapshot's block.
pub fn replay(
    server: &Server,
    session: &mut Session,
    data: &[u8],
    after: Option<After<'_>>,
) -> Result<Replayed, (Replayed, Stop)> {
    let mut parser = RequestParser::new(FILE_LIMITS);
    let mut out = Reply::default();
    let mut done = Replayed::default();
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        if rest[0] != b'*' {
            return Err((
                done,
                Stop::Bad {
                    at,
                    why: "expected a RESP array ('*')".into(),
                },
            ));
        }
        let parsed = parser.parse(rest).map_err(|e| {
            (
                Replayed { ..done },
                Stop::Bad {
                    at,
                    why: e.message(),
                },
            )
        })?;
        let len = match parsed {
            Parsed::Command { len, inline } => {
                let args = parser.args(rest, inline);
                if after.is_some_and(|a| a.covers(args, at)) {
                    done.skipped += 1;
                    at += len;
                    continue;
                }
                // Nothing is expired at Unix time 0 (see the module's doc); the LRU
                // clock still reads the real time.
                let now = Now {
                    ms: 0,
                    s: server.clock.at(Instant::now()).s,
                };
                if let Err(e) = crate::dispatch::apply(server, session, &mut out, args, now) {
                    return Err((
                        done,
                        Stop::Bad {
                            at,
                            why: e.0.to_string(),
                        },
                    ));
                }
                out.clear();
                done.commands += 1;
                len
            }
            Parsed::Nothing { len } => len,
            Parsed::Incomplete { .. } => return Err((done, Stop::Torn { at })),
        };
        at += len;
    }
    Ok(done)
}
