//! SLOWLOG: GET, LEN, RESET, HELP, over the server's log (`crate::slowlog`).

use cairn_protocol::Args;

use crate::commands::args::help_reply;
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::spec::{Spec, flags::*};

const SUBCOMMANDS: &[Command] = &[
    Spec::new("slowlog|get", -2, "server")
        .flags(ADMIN | LOADING | STALE)
        .tips(&["request_policy:all_nodes", "nondeterministic_output"])
        .doc("2.2.12", "Returns the slow log's entries.")
        .complexity("O(N) where N is the number of entries returned")
        .run(get),
    Spec::new("slowlog|len", 2, "server")
        .flags(ADMIN | LOADING | STALE)
        .tips(&[
            "request_policy:all_nodes",
            "response_policy:agg_sum",
            "nondeterministic_output",
        ])
        .doc("2.2.12", "Returns the number of entries in the slow log.")
        .complexity("O(1)")
        .run(len),
    Spec::new("slowlog|reset", 2, "server")
        .flags(ADMIN | LOADING | STALE)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"])
        .doc("2.2.12", "Clears all entries from the slow log.")
        .complexity("O(N) where N is the number of entries in the slowlog")
        .run(reset),
    Spec::new("slowlog|help", 2, "server")
        .flags(LOADING | STALE)
        .doc("6.2.0", "Show helpful text about the different subcommands")
        .complexity("O(1)")
        .run(help),
];

pub const COMMANDS: &[Command] = &[Spec::new("slowlog", -2, "server")
    .doc("2.2.12", "A container for slow log commands.")
    .complexity("Depends on subcommand.")
    .container(SUBCOMMANDS)];

/// SLOWLOG GET [count]: the newest `count` entries (10 by default, -1: all).
fn get(ctx: &mut Ctx, args: Args) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::new(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(args.get(1))
        )));
    }
    let count = match args.len() {
        3 => match cairn_protocol::resp::parse_i64(args.get(2)) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => {
                return Err(CmdError::new(
                    "ERR count should be greater than or equal to -1",
                ));
            }
        },
        _ => 10,
    };
    let out = &mut *ctx.out;
    ctx.server.slowlog.with_entries(|entries| {
        let n = count.min(entries.len());
        out.array(n);
        for e in entries.iter().take(n) {
            out.array(6);
            out.int(e.id as i64);
            out.int(e.time);
            out.int(e.usec as i64);
            out.array(e.args.len());
            for a in &e.args {
                out.bulk(a);
            }
            out.bulk(e.addr.as_bytes());
            out.bulk(&e.name);
        }
    });
    Ok(())
}

fn len(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let n = ctx.server.slowlog.with_entries(|entries| entries.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn reset(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.server.slowlog.reset();
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}
