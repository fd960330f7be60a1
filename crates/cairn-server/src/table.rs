//! The command table: every command and subcommand by [`CommandId`], looked up by the
//! name a client sends. Built once by dispatch from the families' declarations
//! (`crate::dispatch::table`), then read by everyone who names commands: dispatch,
//! COMMAND, INFO commandstats, CLIENT LIST, the AOF loader.

use std::sync::OnceLock;

use cairn_protocol::Args;

use crate::ctx::{Command, Handler};
use crate::error::{CmdError, truncate_for_error};
use crate::spec::{CommandId, Spec};

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

pub struct Table {
    commands: Vec<&'static Command>,
    /// The container each subcommand belongs to.
    parent: Vec<Option<CommandId>>,
    /// Each command's subcommands, by id.
    children: Vec<Vec<CommandId>>,
    by_name: FastMap<&'static [u8], CommandId>,
}

static TABLE: OnceLock<Table> = OnceLock::new();

impl Table {
    /// Installs the table built from `families` (once; later calls return the first).
    pub fn install(families: &[&'static [Command]]) -> &'static Table {
        TABLE.get_or_init(|| Table::build(families))
    }

    /// The installed table. Dispatch installs it before any command runs.
    pub fn get() -> &'static Table {
        TABLE
            .get()
            .expect("the command table is installed by dispatch before any command runs")
    }

    fn build(families: &[&'static [Command]]) -> Table {
        let mut t = Table {
            commands: Vec::new(),
            parent: Vec::new(),
            children: Vec::new(),
            by_name: FastMap::default(),
        };
        for family in families {
            for c in family.iter() {
                let id = t.push(c, None);
                assert!(
                    t.by_name.insert(c.spec.name.as_bytes(), id).is_none(),
                    "command {} declared twice",
                    c.spec.name
                );
                for sub in c.subcommands {
                    assert!(
                        sub.spec.name.starts_with(c.spec.name)
                            && sub.spec.name[c.spec.name.len()..].starts_with('|'),
                        "{} is named as a subcommand of another container",
                        sub.spec.name
                    );
                    let s = t.push(sub, Some(id));
                    t.children[id.index()].push(s);
                }
            }
        }
        t
    }

    fn push(&mut self, c: &'static Command, parent: Option<CommandId>) -> CommandId {
        let id = CommandId(u16::try_from(self.commands.len()).expect("fewer than 65536 commands"));
        self.commands.push(c);
        self.parent.push(parent);
        self.children.push(Vec::new());
        id
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    pub fn spec(&self, id: CommandId) -> &'static Spec {
        &self.commands[id.index()].spec
    }

    pub fn handler(&self, id: CommandId) -> Option<Handler> {
        self.commands[id.index()].run
    }

    pub fn subcommands(&self, id: CommandId) -> &[CommandId] {
        &self.children[id.index()]
    }

    pub fn parent(&self, id: CommandId) -> Option<CommandId> {
        self.parent[id.index()]
    }

    /// Every command and subcommand, in table order.
    pub fn all(&self) -> impl Iterator<Item = CommandId> + '_ {
        (0..self.commands.len()).map(|i| CommandId(i as u16))
    }

    /// Top-level commands, in table order.
    pub fn commands(&self) -> impl Iterator<Item = CommandId> + '_ {
        self.all().filter(|&id| self.parent(id).is_none())
    }

    /// A command by the name a client sent, in any case.
    pub fn lookup(&self, name: &[u8]) -> Option<CommandId> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).copied()
    }

    /// A subcommand of `container` by the name a client sent.
    pub fn subcommand(&self, container: CommandId, name: &[u8]) -> Option<CommandId> {
        self.subcommands(container).iter().copied().find(|&s| {
            self.spec(s)
                .short_name()
                .as_bytes()
                .eq_ignore_ascii_case(name)
        })
    }

    /// A command by the name COMMAND INFO / DOCS take: `get`, or `client|list`.
    pub fn find(&self, name: &[u8]) -> Option<CommandId> {
        match name.iter().position(|&b| b == b'|') {
            None => self.lookup(name),
            Some(bar) => self.subcommand(self.lookup(&name[..bar])?, &name[bar + 1..]),
        }
    }

    /// The command that runs `args`: the command, or its subcommand for containers, with
    /// arity checked, and Redis's errors otherwise. On refusal, also the command to charge
    /// the refusal to, when there is one.
    pub fn resolve(&self, args: Args<'_>) -> Result<CommandId, (Option<CommandId>, CmdError)> {
        let name = args.get(0);
        let Some(mut id) = self.lookup(name) else {
            let mut shown = String::new();
            for a in args.tail(1).iter() {
                if shown.len() >= 128 {
                    break;
                }
                let room = 128 - shown.len();
                let a = truncate_for_error(&a[..a.len().min(room)]);
                shown.push_str(&format!("'{a}' "));
            }
            return Err((
                None,
                CmdError::new(format!(
                    "ERR unknown command '{}', with args beginning with: {}",
                    truncate_for_error(name),
                    shown
                )),
            ));
        };
        let spec = self.spec(id);
        if !spec.arity_ok(args.len()) {
            return Err((Some(id), CmdError::arity(spec.name)));
        }
        // A container runs its own handler only when called bare (COMMAND).
        let bare = args.len() == 1 && self.handler(id).is_some();
        if !self.subcommands(id).is_empty() && !bare {
            let sub = args.get(1);
            id = self
                .subcommand(id, sub)
                .ok_or_else(|| (Some(id), CmdError::unknown_subcommand(sub, spec.name)))?;
            let spec = self.spec(id);
            if !spec.arity_ok(args.len()) {
                return Err((Some(id), CmdError::arity(spec.name)));
            }
        }
        Ok(id)
    }
}
