//! Replaying a stream of RESP commands into the keyspace (an append-only file's parts):
//! each command runs through the command table as a client's would, in a session of its
//! own, with its replies thrown away. A command that fails, or bytes that are not RESP,
//! mean the file is damaged; bytes that stop in the middle of a command are a torn tail
//! (the server died mid-write), which the caller may drop.

use std::sync::Arc;
use std::time::Instant;

use cairn_protocol::resp::request::Parsed;
use cairn_protocol::{Limits, Reply, RequestParser};

use crate::clients::ClientInfo;
use crate::commands::{Ctx, Table};
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

/// The parser limits for files Cairn wrote itself: as large as the format allows.
pub const FILE_LIMITS: Limits = Limits {
    max_bulk_len: 1 << 40,
    max_multibulk_len: i32::MAX as usize,
    max_inline_len: 64 * 1024,
};

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
    let table = Table::get();
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
                let name = args.get(0);
                let mut spec = table.lookup(name);
                if let Some(s) = spec
                    && !s.subcommands.is_empty()
                    && args.len() > 1
                {
                    spec = crate::commands::subcommand(s, args.get(1));
                }
                let Some(spec) = spec.filter(|s| s.arity_ok(args.len()) && s.handler.is_some())
                else {
                    return Err((
                        done,
                        Stop::Bad {
                            at,
                            why: format!(
                                "unknown command or wrong arity: '{}'",
                                String::from_utf8_lossy(name)
                            ),
                        },
                    ));
                };
                let now = server.clock.at(Instant::now());
                let mut ctx = Ctx {
                    server,
                    session,
                    out: &mut out,
                    now,
                    spec,
                    drop_new_key: false,
                };
                let handler = spec.handler.expect("filtered above");
                if let Err(e) = handler(&mut ctx, args) {
                    return Err((
                        done,
                        Stop::Bad {
                            at,
                            why: format!("'{}' failed: {}", spec.name, e.0),
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
