//! The command table: the single source of truth about every command.
//!
//! Arity errors, COMMAND INFO / DOCS / GETKEYS / COUNT / LIST, read/write flags (CLIENT
//! PAUSE WRITE, OOM refusal) and key positions (multi-key locking, later cluster routing)
//! all come from the [`CommandSpec`]s each family module declares next to its handlers.

pub mod bits;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config;
pub mod connection;
pub mod expire;
pub mod hotkeys;
pub mod info;
pub mod keys;
pub mod lease;
pub mod memcached;
pub mod memory;
pub mod multi;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod server;
pub mod strings;
pub mod tracking;

use std::borrow::Cow;
use std::sync::OnceLock;

use cairn_protocol::{Args, Reply};
use cairn_store::ShardGuard;
use cairn_store::db::Now;

use crate::server::Server;
use crate::session::Session;

/// Command flags, as COMMAND INFO names them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    pub const MAY_REPLICATE: u32 = 1 << 11;
    pub const ALLOW_BUSY: u32 = 1 << 12;
    /// Not a Redis flag: still runs while clients are paused (CLIENT UNPAUSE must).
    pub const PAUSE_EXEMPT: u32 = 1 << 20;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

pub type Handler = fn(&mut Ctx<'_>, Args<'_>) -> CmdResult;

/// Everything known about one command (or one subcommand, named `container|sub`).
pub struct CommandSpec {
    /// Lower case; subcommands as `client|list`.
    pub name: &'static str,
    /// Redis arity: N means exactly N arguments (name included), -N at least N.
    pub arity: i32,
    pub flags: u32,
    /// Key positions (first, last, step) as COMMAND INFO reports them; (0, 0, 0) for none.
    pub keys: (i32, i32, i32),
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub handler: Option<Handler>,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// A command with a handler and no subcommands.
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        group: &'static str,
        since: &'static str,
        summary: &'static str,
        handler: Handler,
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            keys,
            group,
            since,
            summary,
            complexity: "",
            handler: Some(handler),
            subcommands: &[],
        }
    }

    /// A container command (CLIENT, CONFIG, ...) that dispatches on its first argument.
    pub const fn container(
        name: &'static str,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
        subcommands: &'static [CommandSpec],
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity: -2,
            flags: 0,
            keys: (0, 0, 0),
            group,
            since,
            summary,
            complexity: "",
            handler: None,
            subcommands,
        }
    }

    pub const fn complexity(mut self, c: &'static str) -> CommandSpec {
        self.complexity = c;
        self
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn arity_ok(&self, n: usize) -> bool {
        if self.arity >= 0 {
            n == self.arity as usize
        } else {
            n >= (-self.arity) as usize
        }
    }

    /// The name a user types: the part after `|` for subcommands.
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('|').next().unwrap_or(self.name)
    }

    /// Position of the first key argument, if the command has one (eviction, hot keys:
    /// no allocation on the request path).
    pub fn first_key(&self, argc: usize) -> Option<usize> {
        let first = self.keys.0;
        (first > 0 && (first as usize) < argc).then_some(first as usize)
    }

    /// Positions of the key arguments in `args` (COMMAND GETKEYS, multi-key locking).
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        self.key_indexes(argc).collect()
    }

    /// The same positions without allocating (cluster routing runs it on every command).
    pub fn key_indexes(&self, argc: usize) -> impl Iterator<Item = usize> + Clone {
        let (first, last, step) = self.keys;
        let last = if last < 0 { argc as i32 + last } else { last };
        let end = if first <= 0 {
            0
        } else {
            last.min(argc as i32 - 1)
        };
        (first.max(1)..=end)
            .step_by(step.max(1) as usize)
            .map(|i| i as usize)
    }
}

/// Every command family's table.
fn families() -> [&'static [CommandSpec]; 19] {
    [
        connection::COMMANDS,
        client::COMMANDS,
        server::COMMANDS,
        info::COMMANDS,
        config::COMMANDS,
        command::COMMANDS,
        strings::COMMANDS,
        bits::COMMANDS,
        keys::COMMANDS,
        expire::COMMANDS,
        memory::COMMANDS,
        hotkeys::COMMANDS,
        pubsub::COMMANDS,
        multi::COMMANDS,
        lease::COMMANDS,
        memcached::COMMANDS,
        persistence::COMMANDS,
        replication::COMMANDS,
        cluster::COMMANDS,
    ]
}

/// The command table, built once: lookup by name and a dense id per command and
/// subcommand (the index of its counters in INFO commandstats).
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

pub struct Table {
    by_name: FastMap<&'static [u8], &'static CommandSpec>,
    /// Every command and subcommand; `ids[&spec as *const _]` is its position.
    pub all: Vec<&'static CommandSpec>,
    ids: FastMap<usize, usize>,
}

impl Table {
    pub fn get() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(|| {
            let mut t = Table {
                by_name: FastMap::default(),
                all: Vec::new(),
                ids: FastMap::default(),
            };
            for family in families() {
                for spec in family {
                    t.by_name.insert(spec.name.as_bytes(), spec);
                    t.ids.insert(spec as *const _ as usize, t.all.len());
                    t.all.push(spec);
                    for sub in spec.subcommands {
                        t.ids.insert(sub as *const _ as usize, t.all.len());
                        t.all.push(sub);
                    }
                }
            }
            t
        })
    }

    /// Looks a command up by the name the client sent, in any case.
    pub fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).copied()
    }

    /// Top-level commands, in table order.
    pub fn commands(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        self.all.iter().copied().filter(|c| !c.name.contains('|'))
    }

    pub fn id(&self, spec: &'static CommandSpec) -> usize {
        self.ids[&(spec as *const _ as usize)]
    }
}

/// Resolves a subcommand of `spec` from the client's arguments.
pub fn subcommand(spec: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    spec.subcommands
        .iter()
        .find(|s| s.short_name().as_bytes().eq_ignore_ascii_case(name))
}

/// An error reply: the whole line after `-`, starting with its code.
#[derive(Debug, Clone)]
pub struct CmdError(pub Cow<'static, str>);

pub type CmdResult = Result<(), CmdError>;

impl CmdError {
    pub fn new(msg: impl Into<Cow<'static, str>>) -> CmdError {
        CmdError(msg.into())
    }
    pub fn syntax() -> CmdError {
        CmdError::new("ERR syntax error")
    }
    pub fn not_integer() -> CmdError {
        CmdError::new("ERR value is not an integer or out of range")
    }
    pub fn not_float() -> CmdError {
        CmdError::new("ERR value is not a valid float")
    }
    pub fn wrong_type() -> CmdError {
        CmdError::new("WRONGTYPE Operation against a key holding the wrong kind of value")
    }
    pub fn no_such_key() -> CmdError {
        CmdError::new("ERR no such key")
    }
    pub fn db_out_of_range() -> CmdError {
        CmdError::new("ERR DB index is out of range")
    }
    pub fn too_big() -> CmdError {
        CmdError::new("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    }
    pub fn arity(name: &str) -> CmdError {
        CmdError::new(format!(
            "ERR wrong number of arguments for '{name}' command"
        ))
    }
    pub fn unknown_subcommand(sub: &[u8], container: &str) -> CmdError {
        CmdError::new(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            truncate_for_error(sub),
            container.to_ascii_uppercase()
        ))
    }
    pub fn invalid_expire(cmd: &str) -> CmdError {
        CmdError::new(format!("ERR invalid expire time in '{cmd}' command"))
    }
}

/// Shows at most 128 bytes of client input inside an error, as Redis does.
pub fn truncate_for_error(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(128)]);
    s.replace(['\r', '\n'], " ")
}

/// What a handler sees: the server, this connection's session, the reply buffer, and the
/// instant the command runs at.
pub struct Ctx<'a> {
    pub server: &'a Server,
    pub session: &'a mut Session,
    pub out: &'a mut Reply,
    pub now: Now,
    /// The spec of the command being run (for error messages naming it).
    pub spec: &'static CommandSpec,
    /// The key this command would create lost TinyLFU's admission test: the key is
    /// evicted as soon as the command has run. A handler that can answer exactly as if it
    /// had written the key and seen it evicted (a plain SET) may skip the write and clear
    /// this flag.
    pub drop_new_key: bool,
}

impl<'a> Ctx<'a> {
    /// The selected database.
    pub fn db(&self) -> usize {
        self.session.db
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
}

/// Parses an integer argument (Redis: "value is not an integer or out of range").
pub fn int_arg(b: &[u8]) -> Result<i64, CmdError> {
    cairn_protocol::resp::parse_i64(b).ok_or_else(CmdError::not_integer)
}

/// Parses a float argument as Redis's `strtold`-based parsing accepts it.
pub fn float_arg(b: &[u8]) -> Result<f64, CmdError> {
    let s = std::str::from_utf8(b).map_err(|_| CmdError::not_float())?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return Err(CmdError::not_float());
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse().map_err(|_| CmdError::not_float())?,
    };
    if v.is_nan() {
        return Err(CmdError::not_float());
    }
    Ok(v)
}

/// Case-insensitive comparison of an argument with an option name.
pub fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// The reply to `<CONTAINER> HELP`: a title line, the given (usage, description) lines,
/// and HELP itself, as Redis's `addReplyHelp` lays them out.
pub fn help_reply(ctx: &mut Ctx, container: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Print this help.");
}

/// When a relative or absolute expiry argument expires, in Unix milliseconds; Redis's
/// rules: it must be positive and must not overflow once converted and added to now.
pub fn expire_arg(
    ctx: &Ctx,
    arg: &[u8],
    unit_ms: i64,
    absolute: bool,
    cmd: &str,
) -> Result<u64, CmdError> {
    let n = int_arg(arg)?;
    if n <= 0 || n > i64::MAX / unit_ms {
        return Err(CmdError::invalid_expire(cmd));
    }
    let ms = n * unit_ms;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(ctx.now.ms as i64)
            .ok_or_else(|| CmdError::invalid_expire(cmd))?
    };
    Ok(at as u64)
}
