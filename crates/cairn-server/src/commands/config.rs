//! CONFIG: reading and changing settings at run time.

use cairn_protocol::Args;
use cairn_store::glob;

use super::{CmdError, CmdResult, CommandSpec, Ctx, flags::*};
use crate::config::{ConfigError, SETTINGS};

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("config|get", -3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "server", "2.0.0", "Returns the effective values of configuration parameters.", get),
    CommandSpec::new("config|set", -4, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "server", "2.0.0", "Sets configuration parameters in-flight.", set),
    CommandSpec::new("config|resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "server", "2.0.0", "Resets the server's statistics.", resetstat),
    CommandSpec::new("config|help", 2, LOADING | STALE, (0, 0, 0), "server", "5.0.0", "Returns helpful text about the different subcommands.", help),
];

pub const COMMANDS: &[CommandSpec] = &[CommandSpec::container(
    "config",
    "server",
    "2.0.0",
    "A container for server configuration commands.",
    CONFIG_SUBCOMMANDS,
)];

/// ```text
/// CONFIG GET parameter [parameter ...]
/// ```
fn get(ctx: &mut Ctx, args: Args) -> CmdResult {
    let cfg = ctx.server.config();
    let patterns: Vec<&[u8]> = args.tail(2).iter().collect();
    let found: Vec<(&str, String)> = SETTINGS
        .iter()
        .filter(|s| patterns.iter().any(|p| glob::matches(p, s.name.as_bytes(), true)))
        .map(|s| (s.name, (s.get)(&cfg)))
        .collect();
    ctx.out.map(found.len());
    for (name, value) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// ```text
/// CONFIG SET parameter value [parameter value ...]
/// ```
/// All or nothing: when one pair is refused, none is applied.
fn set(ctx: &mut Ctx, args: Args) -> CmdResult {
    let rest = args.tail(2);
    if rest.len() % 2 != 0 {
        return Err(CmdError::arity("config|set"));
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for i in (0..rest.len()).step_by(2) {
        let name = String::from_utf8_lossy(rest.get(i)).to_ascii_lowercase();
        let value = String::from_utf8_lossy(rest.get(i + 1)).into_owned();
        if crate::config::setting(&name).is_none() {
            return Err(CmdError::new(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        }
        if pairs.iter().any(|(n, _)| *n == name) {
            return Err(CmdError::new(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
            )));
        }
        pairs.push((name, value));
    }
    ctx.server.set_config(&pairs).map_err(|e| match e {
        ConfigError::Unknown(n) => CmdError::new(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{n}'"
        )),
        ConfigError::Immutable(n) => CmdError::new(format!(
            "ERR CONFIG SET failed (possibly related to argument '{n}') - can't set immutable config"
        )),
        ConfigError::Invalid { name, reason } => CmdError::new(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
        )),
    })?;
    ctx.out.ok();
    Ok(())
}

fn resetstat(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.server.stats.reset();
    ctx.server.keyspace.reset_stats();
    ctx.server.peak_memory.store(
        ctx.server.used_memory.load(std::sync::atomic::Ordering::Relaxed),
        std::sync::atomic::Ordering::Relaxed,
    );
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    super::help_reply(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>", "    Set the configuration <directive> to <value>.",
            "RESETSTAT", "    Reset statistics reported by the INFO command.",
        ],
    );
    Ok(())
}
