//! SAVE, BGSAVE, LASTSAVE, BGREWRITEAOF (crate::persist does the work).

use std::sync::atomic::Ordering::Relaxed;

use cairn_protocol::Args;

use crate::commands::args::is;
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::persist;
use crate::spec::{Spec, acl, flags::*};

pub const COMMANDS: &[Command] = &[
    Spec::new("save", 1, "server")
        .flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI)
        .doc("1.0.0", "Synchronously saves the database(s) to disk.")
        .complexity("O(N) where N is the total number of keys in all databases")
        .run(save),
    Spec::new("bgsave", -1, "server")
        .flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING)
        .doc("1.0.0", "Asynchronously saves the database(s) to disk.")
        .complexity("O(1)")
        .run(bgsave),
    Spec::new("lastsave", 1, "server")
        .flags(LOADING | STALE | FAST)
        .acl(acl::ADMIN | acl::DANGEROUS)
        .tips(&["nondeterministic_output"])
        .doc(
            "1.0.0",
            "Returns the Unix timestamp of the last successful save to disk.",
        )
        .complexity("O(1)")
        .run(lastsave),
    Spec::new("bgrewriteaof", 1, "server")
        .flags(ADMIN | NOSCRIPT | NO_ASYNC_LOADING)
        .doc(
            "1.0.0",
            "Asynchronously rewrites the append-only file to disk.",
        )
        .complexity("O(1)")
        .run(bgrewriteaof),
];

/// SAVE: the snapshot is written by this connection while the others keep being served
/// (Cairn does not stop the world for it, unlike Redis).
fn save(ctx: &mut Ctx, _args: Args) -> CmdResult {
    if ctx.server.persist.bgsave_running.load(Relaxed) {
        return Err(CmdError::new("ERR Background save already in progress"));
    }
    match persist::saving::save(ctx.server) {
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
    persist::saving::save_in_background(&ctx.server.arc()).map_err(CmdError::new)?;
    ctx.out.simple("Background saving started");
    Ok(())
}

fn lastsave(ctx: &mut Ctx, _args: Args) -> CmdResult {
    ctx.out
        .int(ctx.server.persist.last_save.load(Relaxed) as i64);
    Ok(())
}

fn bgrewriteaof(ctx: &mut Ctx, _args: Args) -> CmdResult {
    persist::saving::rewrite_in_background(&ctx.server.arc()).map_err(CmdError::new)?;
    ctx.out
        .simple("Background append only file rewriting started");
    Ok(())
}
