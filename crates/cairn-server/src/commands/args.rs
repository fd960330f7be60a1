//! Argument parsing every family shares, with Redis's error texts.

use cairn_protocol::Args;

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

/// LMPOP's and ZMPOP's arguments (and their blocking forms' after the timeout): the keys,
/// which side to pop from, how many.
pub struct Mpop<'a, T> {
    pub keys: Vec<&'a [u8]>,
    pub side: T,
    pub count: usize,
}

/// Parses `numkeys key... SIDE [COUNT count]` from `at`, `side` reading the SIDE word
/// (LEFT|RIGHT, MIN|MAX), in Redis's order: numkeys, the side, then COUNT.
pub fn mpop_args<'a, T>(
    args: &Args<'a>,
    at: usize,
    side: impl FnOnce(&[u8]) -> Result<T, CmdError>,
) -> Result<Mpop<'a, T>, CmdError> {
    let numkeys = int_arg(args.get(at))
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| CmdError::new("ERR numkeys should be greater than 0"))?
        as usize;
    let side_at = at
        .checked_add(numkeys)
        .and_then(|w| w.checked_add(1))
        .filter(|w| *w < args.len())
        .ok_or_else(CmdError::syntax)?;
    let side = side(args.get(side_at))?;
    let mut count = None;
    let mut j = side_at + 1;
    while j < args.len() {
        if count.is_none() && is(args.get(j), "count") && j + 1 < args.len() {
            let c = int_arg(args.get(j + 1))
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| CmdError::new("ERR count should be greater than 0"))?;
            count = Some(c as usize);
            j += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    Ok(Mpop {
        keys: (at + 1..side_at).map(|i| args.get(i)).collect(),
        side,
        count: count.unwrap_or(1),
    })
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
