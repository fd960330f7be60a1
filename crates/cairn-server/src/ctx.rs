//! What a command handler works with, and what a command is once it can run.
//!
//! A family module (`crate::commands::<family>`) declares its commands as
//! [`Spec`]`.run(handler)` (or `.container(subcommands)`); dispatch looks the command up
//! by its [`CommandId`], judges it, and calls the handler with a [`Ctx`]: the server, the
//! client's session, the reply buffer, the instant the command runs at. Handlers depend
//! on this module, the spec, the store and the server's services, never on dispatch or the
//! connection.

use cairn_protocol::{Args, Reply};
use cairn_store::ShardGuard;
use cairn_store::db::Now;

use crate::error::CmdResult;
use crate::park::Park;
use crate::server::Server;
use crate::session::Session;
use crate::spec::{CommandId, Spec};
use crate::stats::BatchStats;

pub type Handler = fn(&mut Ctx<'_>, Args<'_>) -> CmdResult;

/// A command that can run: its spec and handler, or (a container such as CLIENT) the
/// subcommands that run in its place. COMMAND has both: bare, it runs its own handler.
pub struct Command {
    pub spec: Spec,
    pub run: Option<Handler>,
    pub subcommands: &'static [Command],
}

impl Spec {
    /// The command runs `handler`.
    pub const fn run(self, handler: Handler) -> Command {
        Command {
            spec: self,
            run: Some(handler),
            subcommands: &[],
        }
    }

    /// A container: the first argument names the subcommand that runs.
    pub const fn container(self, subcommands: &'static [Command]) -> Command {
        Command {
            spec: self,
            run: None,
            subcommands,
        }
    }
}

impl Command {
    /// A command that runs `handler` when called bare and a subcommand otherwise (COMMAND).
    pub const fn with_subcommands(mut self, subcommands: &'static [Command]) -> Command {
        self.subcommands = subcommands;
        self
    }
}

/// Who runs a command, which decides what dispatch checks and whether it may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A client's command, from its connection: every check applies, and it may park.
    Client,
    /// Run by another command (EXEC's queue, later a script): judged where the caller
    /// decides, never parks.
    Nested,
    /// The primary's stream on a replica, or the append-only file at start-up: applied as
    /// written, without a client's checks.
    Apply,
}

/// Runs one command on behalf of the command running now (EXEC's queued commands):
/// dispatch's, so they are judged, counted and answered as any other.
pub type Nested = fn(&mut Ctx<'_>, CommandId, Args<'_>);

/// What a handler sees.
pub struct Ctx<'a> {
    pub server: &'a Server,
    pub session: &'a mut Session,
    pub out: &'a mut Reply,
    /// The instant the command runs at (one clock reading per batch of commands).
    pub now: Now,
    pub id: CommandId,
    /// The spec of the command being run (for error messages naming it).
    pub spec: &'static Spec,
    pub mode: Mode,
    /// A command that must wait says here what for (see [`Park`]); only in
    /// [`Mode::Client`].
    pub park: Option<Park>,
    /// The key this command would create lost TinyLFU's admission test: the key is
    /// evicted as soon as the command has run. A handler that can answer exactly as if it
    /// had written the key and seen it evicted (a plain SET) may skip the write and clear
    /// this flag.
    pub drop_new_key: bool,
    /// Per-command counters of this connection (dispatch counts nested commands in them).
    pub stats: &'a mut BatchStats,
    /// Dispatch's runner for nested commands.
    pub nested: Nested,
}

impl<'a> Ctx<'a> {
    /// The selected database.
    pub fn db(&self) -> usize {
        self.session.db
    }

    /// Whether the command may park (only a client's own command may).
    pub fn may_park(&self) -> bool {
        self.mode == Mode::Client
    }

    /// Locks the shard holding `key`; returns the guard and the key's slot.
    pub fn lock(&self, key: &[u8]) -> (ShardGuard<'a>, u16) {
        let slot = cairn_store::key_slot(key);
        (self.server.keyspace.lock(slot), slot)
    }

    /// Publishes keyspace notification `event` (of `class`, see `crate::notify`) for `key`
    /// in the selected database. Call it while the key's shard is still locked, so that
    /// the events of one key keep the order of its changes.
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        self.server
            .notifier
            .notify(class, event, key, self.session.db);
    }

    /// The largest string a command may build (`proto-max-bulk-len`).
    pub fn max_string(&self) -> usize {
        self.server.limits().max_bulk_len
    }

    /// Runs `id` with `args` as part of this command (EXEC's queue).
    pub fn run_nested(&mut self, id: CommandId, args: Args<'_>) {
        (self.nested)(self, id, args)
    }
}
