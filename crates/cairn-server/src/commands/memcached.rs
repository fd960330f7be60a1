//! MEMCACHED FLAGS: memcached's 32-bit client flags of a key, from RESP. The write stream
//! uses it to carry the flags of memcached items (docs/memcached.md); operators can read
//! what a memcached client stored.

use cairn_protocol::Args;

use crate::commands::args::help_reply;
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

const SUBCOMMANDS: &[Command] = &[
    Spec::new("memcached|flags", -3, "string")
        .flags(WRITE | FAST)
        .acl(acl::STRING)
        .keys(&[KeySpec::one(2, key::RW | key::ACCESS | key::UPDATE)])
        .doc(
            "0.1.0",
            "Returns, or sets, the memcached client flags of a key.",
        )
        .run(flags),
    Spec::new("memcached|help", 2, "string")
        .flags(LOADING | STALE)
        .acl(acl::STRING)
        .doc(
            "0.1.0",
            "Returns helpful text about the different subcommands.",
        )
        .run(help),
];

pub const COMMANDS: &[Command] = &[Spec::new("memcached", -2, "string")
    .acl(acl::STRING)
    .doc(
        "0.1.0",
        "A container for memcached-protocol attributes of keys.",
    )
    .container(SUBCOMMANDS)];

/// MEMCACHED FLAGS key [flags]: the flags (nil: no such key), or sets them (1, or 0 when
/// the key does not exist).
fn flags(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(2);
    let new = match args.len() {
        3 => None,
        4 => Some(
            std::str::from_utf8(args.get(3))
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
                .ok_or_else(|| {
                    CmdError::new("ERR flags must be an integer between 0 and 4294967295")
                })?,
        ),
        _ => return Err(CmdError::syntax()),
    };
    let now = ctx.now;
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.session.db);
    match new {
        None => {
            let flags = db.peek(slot, key, now).map(|e| e.mc().flags);
            drop(shard);
            match flags {
                Some(f) => ctx.out.int(f as i64),
                None => ctx.out.null(),
            }
        }
        Some(f) => {
            let found = db.set_client_flags(slot, key, f, now);
            drop(shard);
            ctx.out.int(found as i64);
        }
    }
    Ok(())
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "MEMCACHED",
        &[
            "FLAGS <key> [<flags>]",
            "    Return the memcached client flags of a key, or set them.",
        ],
    );
    Ok(())
}
