//! Replaying a stream of RESP commands into the keyspace (an append-only file's parts):
//! each command is applied through dispatch (`crate::dispatch::apply`, without a
//! client's checks), in a session of its own, with its replies thrown away. A command that fails, or bytes that are not RESP,
//! mean the file is damaged; bytes that stop in the middle of a command are a torn tail
//! (the server died mid-write), which the caller may drop.

use std::sync::Arc;
use std::time::Instant;

use cairn_protocol::resp::request::Parsed;
use cairn_protocol::{Reply, RequestParser};

use super::stream::FILE_LIMITS;

use crate::clients::ClientInfo;
use crate::server::Server;
use crate::session::Session;

/// Why replaying stopped early.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// The data ends inside a command: everything before `at` was applied.
    Torn { at: usize },
    /// The data is not a valid stream at `at`.
    Bad { at: usize, why: String },
}

/// What a replay did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub commands: u64,
}

/// A session for replaying: database 0, no client behind it.
pub fn session() -> Session {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let (info, _inbox) = ClientInfo::new(0, addr, addr, -1);
    Session::new(Arc::new(info))
}

/// Runs every command in `data` against `server` in `session` (whose selected database
/// carries over between parts of one file set).
pub fn replay(
    server: &Server,
    session: &mut Session,
    data: &[u8],
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
                Replayed {
                    commands: done.commands,
                },
                Stop::Bad {
                    at,
                    why: e.message(),
                },
            )
        })?;
        let len = match parsed {
            Parsed::Command { len, inline } => {
                let args = parser.args(rest, inline);
                let now = server.clock.at(Instant::now());
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
