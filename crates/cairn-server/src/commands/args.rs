//! Argument parsing every family shares, with Redis's error texts.

use crate::ctx::Ctx;
use crate::error::CmdError;

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
