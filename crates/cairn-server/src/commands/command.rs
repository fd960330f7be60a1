//! COMMAND: the command table, as clients and tools introspect it.

use cairn_protocol::{Args, Reply};
use cairn_store::glob;

use crate::commands::args::{help_reply, is};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::spec::{Begin, CommandId, Find, KeySpec, Spec, acl, flags, flags::*, key};
use crate::table::Table;

const COMMAND_SUBCOMMANDS: &[Command] = &[
    Spec::new("command|count", 2, "server")
        .flags(LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc("2.8.13", "Returns a count of commands.")
        .complexity("O(1)")
        .run(count),
    Spec::new("command|info", -2, "server")
        .flags(LOADING | STALE)
        .acl(acl::CONNECTION)
        .tips(&["nondeterministic_output_order"])
        .doc(
            "2.8.13",
            "Returns information about one, multiple or all commands.",
        )
        .complexity("O(N) where N is the number of commands to look up")
        .run(info),
    Spec::new("command|docs", -2, "server")
        .flags(LOADING | STALE)
        .acl(acl::CONNECTION)
        .tips(&["nondeterministic_output_order"])
        .doc(
            "7.0.0",
            "Returns documentary information about one, multiple or all commands.",
        )
        .complexity("O(N) where N is the number of commands to look up")
        .run(docs),
    Spec::new("command|getkeys", -3, "server")
        .flags(LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc(
            "2.8.13",
            "Extracts the key names from an arbitrary command.",
        )
        .complexity("O(N) where N is the number of arguments to the command")
        .run(getkeys),
    Spec::new("command|getkeysandflags", -3, "server")
        .flags(LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc(
            "7.0.0",
            "Extracts the key names and access flags for an arbitrary command.",
        )
        .complexity("O(N) where N is the number of arguments to the command")
        .run(getkeysandflags),
    Spec::new("command|list", -2, "server")
        .flags(LOADING | STALE)
        .acl(acl::CONNECTION)
        .tips(&["nondeterministic_output_order"])
        .doc("7.0.0", "Returns a list of command names.")
        .complexity("O(N) where N is the total number of Redis commands")
        .run(list),
    Spec::new("command|help", 2, "server")
        .flags(LOADING | STALE)
        .acl(acl::CONNECTION)
        .doc(
            "5.0.0",
            "Returns helpful text about the different subcommands.",
        )
        .complexity("O(1)")
        .run(help),
];

/// COMMAND: bare, every command's info; otherwise a subcommand.
pub const COMMANDS: &[Command] = &[Spec::new("command", -1, "server")
    .flags(LOADING | STALE)
    .acl(acl::CONNECTION)
    .tips(&["nondeterministic_output_order"])
    .doc("2.8.13", "Returns detailed information about all commands.")
    .complexity("O(N) where N is the total number of Redis commands")
    .run(all)
    .with_subcommands(COMMAND_SUBCOMMANDS)];

/// The bare `COMMAND`: every command's info.
fn all(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let table = Table::get();
    let cmds: Vec<CommandId> = table.commands().collect();
    ctx.out.array(cmds.len());
    for c in cmds {
        write_info(ctx.out, table, c);
    }
    Ok(())
}

fn count(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.out.int(Table::get().commands().count() as i64);
    Ok(())
}

/// One COMMAND INFO entry, in Redis 7's ten-field layout: name, arity, flags, the legacy
/// first key / last key / step, ACL categories, tips, key specifications, subcommands.
fn write_info(out: &mut Reply, table: &Table, id: CommandId) {
    let c = table.spec(id);
    let ((first, last, step), movable) = c.legacy_range();
    out.array(10);
    out.bulk(c.name.as_bytes());
    out.int(c.arity as i64);
    let mut names: Vec<&str> = flags::SHOWN
        .iter()
        .filter(|(f, _)| c.has(*f))
        .map(|(_, n)| *n)
        .collect();
    if movable {
        // Redis puts it after no_multi, before allow_busy.
        let at = names
            .iter()
            .position(|n| *n == "allow_busy")
            .unwrap_or(names.len());
        names.insert(at, "movablekeys");
    }
    out.set(names.len());
    for n in names {
        out.simple(n);
    }
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    let cats = categories(c);
    out.set(cats.len());
    for cat in cats {
        out.simple(&format!("@{cat}"));
    }
    out.set(c.tips.len());
    for t in c.tips {
        out.simple(t);
    }
    out.array(c.keys.len());
    for k in c.keys {
        write_key_spec(out, k);
    }
    let subs = table.subcommands(id);
    out.array(subs.len());
    for &s in subs {
        write_info(out, table, s);
    }
}

/// The names of a spec's ACL categories, in Redis's order.
pub fn categories(c: &Spec) -> Vec<&'static str> {
    let all = c.categories();
    acl::NAMES
        .iter()
        .filter(|(cat, _)| all & cat != 0)
        .map(|(_, n)| *n)
        .collect()
}

fn write_key_flags(out: &mut Reply, flags: u32) {
    let names: Vec<&str> = key::NAMES
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(names.len());
    for n in names {
        out.simple(n);
    }
}

/// One key specification as COMMAND INFO shows it.
fn write_key_spec(out: &mut Reply, k: &KeySpec) {
    out.map(if k.notes.is_empty() { 3 } else { 4 });
    if !k.notes.is_empty() {
        out.bulk(b"notes");
        out.bulk(k.notes.as_bytes());
    }
    out.bulk(b"flags");
    write_key_flags(out, k.flags);
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    match k.begin {
        Begin::Index(i) => {
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.int(i as i64);
        }
        Begin::Keyword { word, start } => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(word.as_bytes());
            out.bulk(b"startfrom");
            out.int(start as i64);
        }
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    match k.find {
        Find::Range { last, step, limit } => {
            out.bulk(b"range");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"lastkey");
            out.int(last as i64);
            out.bulk(b"keystep");
            out.int(step as i64);
            out.bulk(b"limit");
            out.int(limit as i64);
        }
        Find::KeyNum {
            count_at,
            first,
            step,
        } => {
            out.bulk(b"keynum");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"keynumidx");
            out.int(count_at as i64);
            out.bulk(b"firstkey");
            out.int(first as i64);
            out.bulk(b"keystep");
            out.int(step as i64);
        }
    }
}

/// ```text
/// COMMAND INFO [command-name [command-name ...]]
/// ```
fn info(ctx: &mut Ctx, args: Args) -> CmdResult {
    let table = Table::get();
    if args.len() == 2 {
        return all(ctx, args);
    }
    ctx.out.array(args.len() - 2);
    for name in args.tail(2).iter() {
        match table.find(name) {
            Some(c) => write_info(ctx.out, table, c),
            // Redis's addReplyNull: `$-1` in RESP2.
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn write_docs(out: &mut Reply, table: &Table, id: CommandId) {
    let c = table.spec(id);
    let subs = table.subcommands(id);
    let mut fields = 3;
    if !c.complexity.is_empty() {
        fields += 1;
    }
    if c.deprecated.is_some() {
        fields += 3;
    }
    if !subs.is_empty() {
        fields += 1;
    }
    out.map(fields);
    out.bulk(b"summary");
    out.bulk(c.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(c.since.as_bytes());
    out.bulk(b"group");
    out.bulk(c.group.as_bytes());
    if !c.complexity.is_empty() {
        out.bulk(b"complexity");
        out.bulk(c.complexity.as_bytes());
    }
    if let Some((since, by)) = c.deprecated {
        out.bulk(b"doc_flags");
        out.set(1);
        out.simple("deprecated");
        out.bulk(b"deprecated_since");
        out.bulk(since.as_bytes());
        out.bulk(b"replaced_by");
        out.bulk(by.as_bytes());
    }
    if !subs.is_empty() {
        out.bulk(b"subcommands");
        out.map(subs.len());
        for &s in subs {
            out.bulk(table.spec(s).name.as_bytes());
            write_docs(out, table, s);
        }
    }
}

/// ```text
/// COMMAND DOCS [command-name [command-name ...]]
/// ```
fn docs(ctx: &mut Ctx, args: Args) -> CmdResult {
    let table = Table::get();
    let cmds: Vec<CommandId> = if args.len() == 2 {
        table.commands().collect()
    } else {
        args.tail(2).iter().filter_map(|n| table.find(n)).collect()
    };
    ctx.out.map(cmds.len());
    for c in cmds {
        ctx.out.bulk(table.spec(c).name.as_bytes());
        write_docs(ctx.out, table, c);
    }
    Ok(())
}

/// The keys (and their flags) of the command in `cmd`, with Redis's errors, in its
/// order: an unknown command, one without keys, the arity, arguments the key specs
/// cannot make sense of.
fn keys_of(cmd: Args) -> Result<Vec<(usize, u32)>, CmdError> {
    let table = Table::get();
    let mut id = table
        .lookup(cmd.get(0))
        .ok_or_else(|| CmdError::new("ERR Invalid command specified"))?;
    if !table.subcommands(id).is_empty() && cmd.len() > 1 {
        id = table
            .subcommand(id, cmd.get(1))
            .ok_or_else(|| CmdError::new("ERR Invalid command specified"))?;
    }
    let spec = table.spec(id);
    if !spec.has_keys() {
        return Err(CmdError::new("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(cmd.len()) {
        return Err(CmdError::new(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let mut out = Vec::new();
    if spec
        .keys_of(cmd.len(), |i| cmd.get(i), false, &mut out)
        .is_err()
    {
        if spec.has(NO_MANDATORY_KEYS) {
            return Ok(Vec::new());
        }
        return Err(CmdError::new("ERR Invalid arguments specified for command"));
    }
    Ok(out)
}

/// ```text
/// COMMAND GETKEYS command [arg [arg ...]]
/// ```
fn getkeys(ctx: &mut Ctx, args: Args) -> CmdResult {
    let cmd = args.tail(2);
    let keys = keys_of(cmd)?;
    ctx.out.array(keys.len());
    for (i, _) in keys {
        ctx.out.bulk(cmd.get(i));
    }
    Ok(())
}

/// ```text
/// COMMAND GETKEYSANDFLAGS command [arg [arg ...]]
/// ```
fn getkeysandflags(ctx: &mut Ctx, args: Args) -> CmdResult {
    let cmd = args.tail(2);
    let keys = keys_of(cmd)?;
    ctx.out.array(keys.len());
    for (i, f) in keys {
        ctx.out.array(2);
        ctx.out.bulk(cmd.get(i));
        write_key_flags(ctx.out, f);
    }
    Ok(())
}

/// ```text
/// COMMAND LIST [FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]
/// ```
fn list(ctx: &mut Ctx, args: Args) -> CmdResult {
    let table = Table::get();
    let filter: Box<dyn Fn(&Spec) -> bool> = match args.len() {
        2 => Box::new(|_| true),
        5 if is(args.get(2), "filterby") => {
            let value = args.get(4).to_vec();
            match args.get(3) {
                k if is(k, "module") => Box::new(|_| false),
                k if is(k, "aclcat") => match acl::by_name(&value) {
                    Some(cat) => Box::new(move |c| c.categories() & cat != 0),
                    None => Box::new(|_| false),
                },
                k if is(k, "pattern") => {
                    Box::new(move |c| glob::matches(&value, c.name.as_bytes(), true))
                }
                _ => return Err(CmdError::syntax()),
            }
        }
        _ => return Err(CmdError::syntax()),
    };
    let names: Vec<&str> = table
        .all()
        .map(|id| table.spec(id))
        .filter(|c| filter(c))
        .map(|c| c.name)
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "LIST",
            "    Return a list of all commands in this server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full command.",
        ],
    );
    Ok(())
}
