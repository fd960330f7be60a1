//! What stream commands read from their arguments, as Redis's `t_stream.c` reads it: ids
//! (`ms-seq`, `ms`, `-`, `+`, `(` exclusive ends, XADD's `*` and `ms-*`), and the trim
//! options XADD and XTRIM share, with Redis's error texts.

use cairn_store::types::stream::{StreamId, Trim};

use crate::commands::args::{int_arg, is};
use crate::error::CmdError;

pub fn invalid_id() -> CmdError {
    CmdError::new("ERR Invalid stream ID specified as stream command argument")
}

/// A part of an id: digits (an optional `+`), at most u64 (Redis's `string2ull`).
fn part(b: &[u8]) -> Option<u64> {
    let digits = b.strip_prefix(b"+").unwrap_or(b);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// An id as Redis's `streamGenericParseIDOrReply` reads one: `-` and `+` unless
/// `strict`, `ms` (its sequence `missing_seq`), `ms-seq`, and `ms-*` when `auto_seq`
/// may be asked for (then the flag comes back `true`).
pub fn parse_id(
    b: &[u8],
    missing_seq: u64,
    strict: bool,
    auto_seq: bool,
) -> Result<(StreamId, bool), CmdError> {
    if b.len() > 127 {
        return Err(invalid_id());
    }
    if !strict && b == b"-" {
        return Ok((StreamId::MIN, false));
    }
    if !strict && b == b"+" {
        return Ok((StreamId::MAX, false));
    }
    let Some(dash) = b.iter().position(|&c| c == b'-') else {
        let ms = part(b).ok_or_else(invalid_id)?;
        return Ok((StreamId::new(ms, missing_seq), false));
    };
    let ms = part(&b[..dash]).ok_or_else(invalid_id)?;
    let seq = &b[dash + 1..];
    if auto_seq && seq == b"*" {
        return Ok((StreamId::new(ms, 0), true));
    }
    let seq = part(seq).ok_or_else(invalid_id)?;
    Ok((StreamId::new(ms, seq), false))
}

/// A strict id: `ms-seq` or `ms` (sequence 0); no `-`, `+` or `*`.
pub fn strict_id(b: &[u8]) -> Result<StreamId, CmdError> {
    parse_id(b, 0, true, false).map(|(id, _)| id)
}

/// One end of an XRANGE interval: `-`, `+`, an id (its sequence `missing_seq` when left
/// out), or `(id`, exclusive, moved one id inwards (`start` says which way).
pub fn interval_id(b: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, CmdError> {
    if b.len() > 1 && b[0] == b'(' {
        let (id, _) = parse_id(&b[1..], missing_seq, true, false)?;
        let moved = if start { id.next() } else { id.prev() };
        return moved.ok_or_else(|| {
            CmdError::new(if start {
                "ERR invalid start ID for the interval"
            } else {
                "ERR invalid end ID for the interval"
            })
        });
    }
    parse_id(b, missing_seq, false, false).map(|(id, _)| id)
}

/// The id XADD was given: none (`*`), explicit, or `ms-*`.
#[derive(Clone, Copy, Debug)]
pub enum NewId {
    Auto,
    Explicit(StreamId),
    AutoSeq(u64),
}

/// The options XADD and XTRIM share, read as `streamParseAddOrTrimArgsOrReply` reads them.
#[derive(Clone, Copy, Debug)]
pub struct TrimArgs {
    pub trim: Option<Trim>,
    pub approx: bool,
    /// At most this many entries removed (0: no bound).
    pub limit: u64,
    pub nomkstream: bool,
    pub id: NewId,
    /// Where XADD's field-value pairs begin.
    pub fields_at: usize,
}

/// Reads XADD's (`xadd`) or XTRIM's options from `args[2..]`. `replaying`: the command
/// comes from the journal, where a trim is applied whole (no LIMIT of its own).
pub fn trim_args(
    args: &cairn_protocol::Args,
    xadd: bool,
    node_entries: usize,
    replaying: bool,
) -> Result<TrimArgs, CmdError> {
    let mut t = TrimArgs {
        trim: None,
        approx: false,
        limit: 0,
        nomkstream: false,
        id: NewId::Auto,
        fields_at: 0,
    };
    let mut limit_given = false;
    let mut i = 2;
    let both = || {
        CmdError::new(
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
        )
    };
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        if xadd && opt == b"*" {
            break;
        } else if is(opt, "maxlen") && more > 0 {
            if t.trim.is_some() {
                return Err(both());
            }
            i = approx_marker(args, i, more, &mut t.approx);
            let n = int_arg(args.get(i + 1))?;
            if n < 0 {
                return Err(CmdError::new("ERR The MAXLEN argument must be >= 0."));
            }
            t.trim = Some(Trim::MaxLen(n as u64));
            i += 2;
        } else if is(opt, "minid") && more > 0 {
            if t.trim.is_some() {
                return Err(both());
            }
            i = approx_marker(args, i, more, &mut t.approx);
            t.trim = Some(Trim::MinId(strict_id(args.get(i + 1))?));
            i += 2;
        } else if is(opt, "limit") && more > 0 {
            let n = int_arg(args.get(i + 1))?;
            if n < 0 {
                return Err(CmdError::new("ERR The LIMIT argument must be >= 0."));
            }
            t.limit = n as u64;
            limit_given = true;
            i += 2;
        } else if xadd && is(opt, "nomkstream") {
            t.nomkstream = true;
            i += 1;
        } else if xadd {
            let (id, auto_seq) = parse_id(opt, 0, true, true)?;
            t.id = if auto_seq {
                NewId::AutoSeq(id.ms)
            } else {
                NewId::Explicit(id)
            };
            break;
        } else {
            return Err(CmdError::syntax());
        }
    }
    if t.limit != 0 && t.trim.is_none() {
        return Err(CmdError::new(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && t.trim.is_none() {
        return Err(CmdError::new(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if replaying {
        t.limit = 0;
    } else if limit_given {
        if !t.approx {
            return Err(CmdError::new(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if t.approx {
        t.limit = match (100 * node_entries) as u64 {
            0 => 10_000,
            n if n > 1_000_000_000 => 10_000,
            n => n,
        };
    }
    t.fields_at = i + 1;
    Ok(t)
}

/// Steps over MAXLEN's or MINID's `~` or `=` at `args[i + 1]` (when a value follows it).
fn approx_marker(args: &cairn_protocol::Args, i: usize, more: usize, approx: &mut bool) -> usize {
    *approx = false;
    let next = args.get(i + 1);
    if more >= 2 && next == b"~" {
        *approx = true;
        i + 1
    } else if more >= 2 && next == b"=" {
        i + 1
    } else {
        i
    }
}

/// COUNT's value as XRANGE and XREAD read it: negative counts as 0.
pub fn count_arg(b: &[u8]) -> Result<u64, CmdError> {
    Ok(int_arg(b)?.max(0) as u64)
}

/// The clock for a consumer's seen and active times: the command's instant, or the real
/// clock while the append-only file replays (its commands run at time 0, so that nothing
/// expires midway; the times a pending entry carries are journaled, a consumer's are not).
pub fn consumer_clock(ctx: &crate::ctx::Ctx) -> u64 {
    match ctx.now.ms {
        0 => cairn_store::db::Now::wall().ms,
        ms => ms,
    }
}
