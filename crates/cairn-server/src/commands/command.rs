//! COMMAND: the command table, as clients and tools introspect it.

use cairn_protocol::{Args, Reply};
use cairn_store::glob;

use super::{CmdError, CmdResult, CommandSpec, Ctx, Table, flags, flags::*, is};

const COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "command|count",
        2,
        LOADING | STALE,
        (0, 0, 0),
        "server",
        "2.8.13",
        "Returns a count of commands.",
        count,
    ),
    CommandSpec::new(
        "command|info",
        -2,
        LOADING | STALE,
        (0, 0, 0),
        "server",
        "2.8.13",
        "Returns information about one, multiple or all commands.",
        info,
    ),
    CommandSpec::new(
        "command|docs",
        -2,
        LOADING | STALE,
        (0, 0, 0),
        "server",
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
        docs,
    ),
    CommandSpec::new(
        "command|getkeys",
        -3,
        LOADING | STALE,
        (0, 0, 0),
        "server",
        "2.8.13",
        "Extracts the key names from an arbitrary command.",
        getkeys,
    ),
    CommandSpec::new(
        "command|list",
        -2,
        LOADING | STALE,
        (0, 0, 0),
        "server",
        "7.0.0",
        "Returns a list of command names.",
        list,
    ),
    CommandSpec::new(
        "command|help",
        2,
        LOADING | STALE,
        (0, 0, 0),
        "server",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        help,
    ),
];

/// COMMAND with no subcommand lists every command; it is dispatched here by hand because
/// the container's arity (-2) would refuse the bare form.
pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    arity: -1,
    handler: Some(all),
    ..CommandSpec::container(
        "command",
        "server",
        "2.8.13",
        "Returns detailed information about all commands.",
        COMMAND_SUBCOMMANDS,
    )
}];

/// The bare `COMMAND`: every command's info.
pub fn all(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let table = Table::get();
    let cmds: Vec<_> = table.commands().collect();
    ctx.out.array(cmds.len());
    for c in cmds {
        write_info(ctx.out, c);
    }
    Ok(())
}

fn count(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.out.int(Table::get().commands().count() as i64);
    Ok(())
}

/// One COMMAND INFO entry, in Redis 7's ten-field layout.
fn write_info(out: &mut Reply, c: &CommandSpec) {
    out.array(10);
    out.bulk(c.name.as_bytes());
    out.int(c.arity as i64);
    let names: Vec<&str> = flags::NAMES
        .iter()
        .filter(|(f, _)| c.has(*f))
        .map(|(_, n)| *n)
        .collect();
    out.set(names.len());
    for n in names {
        out.simple(n);
    }
    out.int(c.keys.0 as i64);
    out.int(c.keys.1 as i64);
    out.int(c.keys.2 as i64);
    let cats = categories(c);
    out.set(cats.len());
    for cat in cats {
        out.simple(cat);
    }
    out.set(0);
    if c.keys.0 > 0 {
        let (first, last, step) = c.keys;
        out.array(1);
        out.map(3);
        out.bulk(b"flags");
        let kflags: &[&str] = if c.has(WRITE) {
            &["RW", "access", "update"]
        } else {
            &["RO", "access"]
        };
        out.set(kflags.len());
        for f in kflags {
            out.simple(f);
        }
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"index");
        out.bulk(b"spec");
        out.map(1);
        out.bulk(b"index");
        out.int(first as i64);
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"range");
        out.bulk(b"spec");
        out.map(3);
        out.bulk(b"lastkey");
        out.int(if last >= 0 {
            (last - first) as i64
        } else {
            last as i64
        });
        out.bulk(b"keystep");
        out.int(step as i64);
        out.bulk(b"limit");
        out.int(0);
    } else {
        out.array(0);
    }
    out.array(c.subcommands.len());
    for s in c.subcommands {
        write_info(out, s);
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
        match find(table, name) {
            Some(c) => write_info(ctx.out, c),
            // Redis's addReplyNull: `$-1` in RESP2.
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// A command by the name COMMAND INFO / DOCS take: `get`, or `client|list` for a
/// subcommand.
fn find(table: &Table, name: &[u8]) -> Option<&'static CommandSpec> {
    match name.iter().position(|&b| b == b'|') {
        None => table.lookup(name),
        Some(bar) => super::subcommand(table.lookup(&name[..bar])?, &name[bar + 1..]),
    }
}

/// ACL categories as Redis 7.4 reports them, in its fixed order (keyspace, read, write,
/// string, bitmap, admin, fast / slow, blocking, dangerous, connection): the group's own
/// category, those the flags imply, and the few Redis adds by name.
pub fn categories(c: &CommandSpec) -> Vec<&'static str> {
    let base = c.name.split('|').next().unwrap_or(c.name);
    let keyspace =
        c.group == "generic" || matches!(base, "dbsize" | "flushdb" | "flushall" | "swapdb");
    let dangerous = c.has(ADMIN)
        || matches!(
            base,
            "keys" | "restore" | "flushdb" | "flushall" | "swapdb" | "info"
        );
    let connection = c.group == "connection" || base == "command";
    let mut cats = Vec::new();
    if keyspace {
        cats.push("@keyspace");
    }
    if c.has(READONLY) {
        cats.push("@read");
    }
    if c.has(WRITE) {
        cats.push("@write");
    }
    match c.group {
        "string" => cats.push("@string"),
        "bitmap" => cats.push("@bitmap"),
        _ => {}
    }
    if c.has(ADMIN) {
        cats.push("@admin");
    }
    cats.push(if c.has(FAST) { "@fast" } else { "@slow" });
    if c.has(BLOCKING) {
        cats.push("@blocking");
    }
    if dangerous {
        cats.push("@dangerous");
    }
    if connection {
        cats.push("@connection");
    }
    cats
}

fn write_docs(out: &mut Reply, c: &CommandSpec) {
    let mut fields = 3;
    if !c.complexity.is_empty() {
        fields += 1;
    }
    if !c.subcommands.is_empty() {
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
    if !c.subcommands.is_empty() {
        out.bulk(b"subcommands");
        out.map(c.subcommands.len());
        for s in c.subcommands {
            out.bulk(s.name.as_bytes());
            write_docs(out, s);
        }
    }
}

/// ```text
/// COMMAND DOCS [command-name [command-name ...]]
/// ```
fn docs(ctx: &mut Ctx, args: Args) -> CmdResult {
    let table = Table::get();
    let cmds: Vec<&CommandSpec> = if args.len() == 2 {
        table.commands().collect()
    } else {
        args.tail(2).iter().filter_map(|n| find(table, n)).collect()
    };
    ctx.out.map(cmds.len());
    for c in cmds {
        ctx.out.bulk(c.name.as_bytes());
        write_docs(ctx.out, c);
    }
    Ok(())
}

/// ```text
/// COMMAND GETKEYS command [arg [arg ...]]
/// ```
fn getkeys(ctx: &mut Ctx, args: Args) -> CmdResult {
    let cmd = args.tail(2);
    let table = Table::get();
    let mut spec = table
        .lookup(cmd.get(0))
        .ok_or_else(|| CmdError::new("ERR Invalid command specified"))?;
    if !spec.subcommands.is_empty() && cmd.len() > 1 {
        spec = super::subcommand(spec, cmd.get(1))
            .ok_or_else(|| CmdError::new("ERR Invalid command specified"))?;
    }
    // Redis's order: an unknown command, then one without keys, then the arity.
    if spec.keys.0 <= 0 {
        return Err(CmdError::new("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(cmd.len()) {
        return Err(CmdError::new(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let positions = spec.key_positions(cmd.len());
    if positions.is_empty() {
        return Err(CmdError::new("ERR The command has no key arguments"));
    }
    ctx.out.array(positions.len());
    for p in positions {
        ctx.out.bulk(cmd.get(p));
    }
    Ok(())
}

/// ```text
/// COMMAND LIST [FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]
/// ```
fn list(ctx: &mut Ctx, args: Args) -> CmdResult {
    let table = Table::get();
    let filter: Box<dyn Fn(&CommandSpec) -> bool> = match args.len() {
        2 => Box::new(|_| true),
        5 if is(args.get(2), "filterby") => {
            let value = args.get(4).to_vec();
            match args.get(3) {
                k if is(k, "module") => Box::new(|_| false),
                k if is(k, "aclcat") => {
                    let cat = format!("@{}", String::from_utf8_lossy(&value).to_ascii_lowercase());
                    Box::new(move |c| categories(c).contains(&cat.as_str()))
                }
                k if is(k, "pattern") => {
                    Box::new(move |c| glob::matches(&value, c.name.as_bytes(), true))
                }
                _ => return Err(CmdError::syntax()),
            }
        }
        _ => return Err(CmdError::syntax()),
    };
    let names: Vec<&str> = table
        .all
        .iter()
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
    super::help_reply(
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
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
        ],
    );
    Ok(())
}
