//! What HSCAN and SSCAN share: their options and their reply (SCAN's own walk is over
//! the keyspace, in `keys.rs`).

use cairn_protocol::Args;
use cairn_store::glob;

use crate::commands::args::{int_arg, is};
use crate::ctx::Ctx;
use crate::error::CmdError;

/// `cursor [MATCH pattern] [COUNT count] [NOVALUES]`.
pub struct ScanOpts<'a> {
    pub cursor: u64,
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
    /// HSCAN's NOVALUES: fields only.
    pub no_values: bool,
}

impl<'a> ScanOpts<'a> {
    /// Parses the cursor at `args[at]` and the options after it; `novalues`: whether
    /// NOVALUES is one (HSCAN).
    pub fn parse(args: Args<'a>, at: usize, novalues: bool) -> Result<ScanOpts<'a>, CmdError> {
        let cursor = std::str::from_utf8(args.get(at))
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| CmdError::new("ERR invalid cursor"))?;
        let mut opts = ScanOpts {
            cursor,
            pattern: None,
            count: 10,
            no_values: false,
        };
        let mut i = at + 1;
        while i < args.len() {
            let a = args.get(i);
            let has_value = i + 1 < args.len();
            if is(a, "match") && has_value {
                opts.pattern = Some(args.get(i + 1)).filter(|p| !glob::matches_all(p));
                i += 2;
            } else if is(a, "count") && has_value {
                let n = int_arg(args.get(i + 1))?;
                if n < 1 {
                    return Err(CmdError::syntax());
                }
                opts.count = n as usize;
                i += 2;
            } else if novalues && is(a, "novalues") {
                opts.no_values = true;
                i += 1;
            } else {
                return Err(CmdError::syntax());
            }
        }
        Ok(opts)
    }

    /// Whether an element passes MATCH.
    pub fn matches(&self, elem: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob::matches(p, elem, false))
    }
}

/// `[next cursor, [elements...]]`.
pub fn reply_scan(ctx: &mut Ctx, next: u64, found: &[Vec<u8>]) {
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(found.len());
    for e in found {
        ctx.out.bulk(e);
    }
}
