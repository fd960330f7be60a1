//! HOTKEYS [COUNT n]: the most-accessed keys of this node right now (see `hotkeys.rs`).
//!
//! The reply is an array of `[key, accesses]` pairs, hottest first, where `accesses` is
//! the sampled estimate of accesses in the last ~10-20 seconds. Unlike `redis-cli
//! --hotkeys`, which scans the whole keyspace and reads every key's LFU counter, this
//! costs nothing to ask and sees keys that are hot but already evicted or missing (a
//! stampede on a missing key shows up here too).

use cairn_protocol::Args;

use crate::commands::args::{int_arg, is};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::spec::{Spec, flags::*};

pub const COMMANDS: &[Command] = &[Spec::new("hotkeys", -1, "server")
    .flags(READONLY | LOADING | STALE)
    .doc(
        "0.1.0",
        "Returns the most-accessed keys (sampled, always on).",
    )
    .run(hotkeys)];

/// Keys listed when COUNT is not given.
const DEFAULT_COUNT: usize = 10;

fn hotkeys(ctx: &mut Ctx, args: Args) -> CmdResult {
    let count = match args.len() {
        1 => DEFAULT_COUNT,
        3 if is(args.get(1), "count") => {
            let n = int_arg(args.get(2))?;
            if n <= 0 {
                return Err(CmdError::new("ERR COUNT must be > 0"));
            }
            n as usize
        }
        _ => return Err(CmdError::syntax()),
    };
    let top = ctx.server.hotkeys.top(count);
    ctx.out.array(top.len());
    for h in top {
        ctx.out.array(2);
        ctx.out.bulk(&h.key);
        ctx.out.int(h.accesses as i64);
    }
    Ok(())
}
