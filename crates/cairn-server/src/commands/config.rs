//! CONFIG: reading and changing settings at run time.

use cairn_protocol::Args;
use cairn_store::glob;

use crate::commands::args::help_reply;
use crate::config::{ConfigError, SETTINGS};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::spec::{Spec, flags::*};

const CONFIG_SUBCOMMANDS: &[Command] = &[
    Spec::new("config|get", -3, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .doc(
            "2.0.0",
            "Returns the effective values of configuration parameters.",
        )
        .complexity("O(N) when N is the number of configuration parameters provided")
        .run(get),
    Spec::new("config|set", -4, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"])
        .doc("2.0.0", "Sets configuration parameters in-flight.")
        .complexity("O(N) when N is the number of configuration parameters provided")
        .run(set),
    Spec::new("config|resetstat", 2, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"])
        .doc("2.0.0", "Resets the server's statistics.")
        .complexity("O(1)")
        .run(resetstat),
    Spec::new("config|help", 2, "server")
        .flags(LOADING | STALE)
        .doc(
            "5.0.0",
            "Returns helpful text about the different subcommands.",
        )
        .complexity("O(1)")
        .run(help),
];

pub const COMMANDS: &[Command] = &[Spec::new("config", -2, "server")
    .doc("2.0.0", "A container for server configuration commands.")
    .complexity("Depends on subcommand.")
    .container(CONFIG_SUBCOMMANDS)];

/// ```text
/// CONFIG GET parameter [parameter ...]
/// ```
fn get(ctx: &mut Ctx, args: Args) -> CmdResult {
    let cfg = ctx.server.config();
    // As in Redis: a name without glob characters is looked up and answered under the
    // spelling the client used; a pattern answers with the settings' own names. Each
    // setting appears once.
    let mut found: Vec<(String, &'static crate::config::Setting)> = Vec::new();
    let seen =
        |found: &[(String, _)], name: &str| found.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    for p in args.tail(2).iter() {
        if !p.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
            let name = String::from_utf8_lossy(p).into_owned();
            if let Some(s) = crate::config::setting(&name)
                && !seen(&found, &name)
            {
                found.push((name, s));
            }
            continue;
        }
        for s in SETTINGS {
            if !seen(&found, s.name) && glob::matches(p, s.name.as_bytes(), true) {
                found.push((s.name.to_string(), s));
            }
        }
    }
    ctx.out.map(found.len());
    for (name, s) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk((s.get)(&cfg).as_bytes());
    }
    Ok(())
}

/// ```text
/// CONFIG SET parameter value [parameter value ...]
/// ```
/// All or nothing: when one pair is refused, none is applied.
fn set(ctx: &mut Ctx, args: Args) -> CmdResult {
    let rest = args.tail(2);
    if !rest.len().is_multiple_of(2) {
        return Err(CmdError::arity("config|set"));
    }
    // Errors name the setting as the client spelled it, as Redis's do.
    let mut typed: Vec<String> = Vec::new();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for i in (0..rest.len()).step_by(2) {
        let as_typed = String::from_utf8_lossy(rest.get(i)).into_owned();
        let name = as_typed.to_ascii_lowercase();
        if crate::config::setting(&name).is_none() {
            return Err(CmdError::new(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{as_typed}'"
            )));
        }
        if pairs.iter().any(|(n, _)| *n == name) {
            return Err(CmdError::new(format!(
                "ERR CONFIG SET failed (possibly related to argument '{as_typed}') - duplicate parameter"
            )));
        }
        let value = String::from_utf8_lossy(rest.get(i + 1)).into_owned();
        pairs.push((name, value));
        typed.push(as_typed);
    }
    let spelled = |canonical: &str| -> String {
        typed
            .iter()
            .find(|t| t.eq_ignore_ascii_case(canonical))
            .cloned()
            .unwrap_or_else(|| canonical.to_string())
    };
    crate::reconfigure::set(ctx.server, &pairs).map_err(|e| match e {
        ConfigError::Unknown(n) => CmdError::new(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
            spelled(&n)
        )),
        ConfigError::Immutable(n) => CmdError::new(format!(
            "ERR CONFIG SET failed (possibly related to argument '{}') - can't set immutable config",
            spelled(&n)
        )),
        ConfigError::Invalid { name, reason } => CmdError::new(format!(
            "ERR CONFIG SET failed (possibly related to argument '{}') - {reason}",
            spelled(&name)
        )),
    })?;
    ctx.out.ok();
    Ok(())
}

fn resetstat(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.server.stats.reset();
    ctx.server.hotkeys.reset();
    ctx.server.reset_eviction_stats();
    ctx.server.keyspace.reset_stats();
    ctx.server.peak_memory.store(
        ctx.server
            .used_memory
            .load(std::sync::atomic::Ordering::Relaxed),
        std::sync::atomic::Ordering::Relaxed,
    );
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
        ],
    );
    Ok(())
}
