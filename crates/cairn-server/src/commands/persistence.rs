//! SAVE, BGSAVE, LASTSAVE, BGREWRITEAOF (crate::persist does the work).

use std::sync::atomic::Ordering::Relaxed;

use cairn_protocol::Args;

use super::{CmdError, CmdResult, CommandSpec, Ctx, flags::*, is};
use crate::persist;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "save",
        1,
        ADMIN | NOSCRIPT,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Synchronously saves the database(s) to disk.",
        save,
    ),
    CommandSpec::new(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Asynchronously saves the database(s) to disk.",
        bgsave,
    ),
    CommandSpec::new(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Returns the Unix timestamp of the last successful save to disk.",
        lastsave,
    ),
    CommandSpec::new(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT,
        (0, 0, 0),
        "server",
        "1.0.0",
        "Asynchronously rewrites the append-only file to disk.",
        bgrewriteaof,
    ),
];

/// SAVE: the snapshot is written by this connection while the others keep being served
/// (Cairn does not stop the world for it, unlike Redis).
fn save(ctx: &mut Ctx, _args: Args) -> CmdResult {
    if ctx.server.persist.bgsave_running.load(Relaxed) {
        return Err(CmdError::new("ERR Background save already in progress"));
    }
    match persist::save(ctx.server) {
        Ok(_) => {
            ctx.out.ok();
            Ok(())
        }
        Err(e) => {
            tracing::warn!("SAVE failed: {e}");
            Err(CmdError::new("ERR"))
        }
    }
}

/// BGSAVE [SCHEDULE]
fn bgsave(ctx: &mut Ctx, args: Args) -> CmdResult {
    match args.len() {
        1 => {}
        2 if is(args.get(1), "schedule") => {}
        _ => return Err(CmdError::syntax()),
    }
    persist::save_in_background(&ctx.server.arc()).map_err(CmdError::new)?;
    ctx.out.simple("Background saving started");
    Ok(())
}

fn lastsave(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.out
        .int(ctx.server.persist.last_save.load(Relaxed) as i64);
    Ok(())
}

fn bgrewriteaof(ctx: &mut Ctx, _args: Args) -> CmdResult {
    persist::rewrite_in_background(&ctx.server.arc()).map_err(CmdError::new)?;
    ctx.out
        .simple("Background append only file rewriting started");
    Ok(())
}
