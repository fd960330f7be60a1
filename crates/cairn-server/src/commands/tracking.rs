//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR, CLIENT TRACKINGINFO: the client side
//! of client-side caching (the state and delivery are in `crate::tracking`). Their specs
//! sit in CLIENT's table (`client.rs`); the handlers are here.

use std::sync::atomic::Ordering;

use cairn_protocol::Args;

use crate::commands::args::{int_arg, is};
use crate::ctx::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::tracking::Mode;

/// ```text
/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX prefix ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
/// ```
pub fn tracking(ctx: &mut Ctx, args: Args) -> CmdResult {
    let on = match args.get(2) {
        a if is(a, "on") => true,
        a if is(a, "off") => false,
        _ => return Err(CmdError::syntax()),
    };
    let mut mode = Mode::default();
    let mut i = 3;
    while i < args.len() {
        let a = args.get(i);
        let has_value = i + 1 < args.len();
        if is(a, "redirect") && has_value {
            let id = int_arg(args.get(i + 1))?;
            if id != ctx.session.info.id as i64
                && (id <= 0 || ctx.server.clients.get(id as u64).is_none())
            {
                return Err(CmdError::new(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            mode.redirect = if id == ctx.session.info.id as i64 {
                0
            } else {
                id as u64
            };
            i += 2;
        } else if is(a, "prefix") && has_value {
            mode.prefixes.push(args.get(i + 1).to_vec());
            i += 2;
        } else if is(a, "bcast") {
            mode.bcast = true;
            i += 1;
        } else if is(a, "optin") {
            mode.optin = true;
            i += 1;
        } else if is(a, "optout") {
            mode.optout = true;
            i += 1;
        } else if is(a, "noloop") {
            mode.noloop = true;
            i += 1;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let server = ctx.server;
    if !on {
        stop(server, ctx.session);
        ctx.out.ok();
        return Ok(());
    }
    if !mode.prefixes.is_empty() && !mode.bcast {
        return Err(CmdError::new(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if mode.optin && mode.optout {
        return Err(CmdError::new("ERR You can't use both OPTIN and OPTOUT"));
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(CmdError::new(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if let Some(current) = &ctx.session.tracking {
        if current.bcast != mode.bcast {
            return Err(CmdError::new(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
            ));
        }
        if current.optin != mode.optin || current.optout != mode.optout {
            return Err(CmdError::new(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
            ));
        }
        // Prefixes add up across calls, as in Redis.
        let mut prefixes = current.prefixes.clone();
        prefixes.append(&mut mode.prefixes);
        mode.prefixes = prefixes;
    }
    for (i, p) in mode.prefixes.iter().enumerate() {
        for q in &mode.prefixes[..i] {
            if p != q && (p.starts_with(q) || q.starts_with(p)) {
                return Err(CmdError::new(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                )));
            }
        }
    }
    mode.prefixes.dedup();
    ctx.session
        .info
        .tracking_redirect
        .store(mode.redirect as i64, Ordering::Relaxed);
    server.tracking.enable(&ctx.session.info, mode.clone());
    ctx.session.tracking = Some(mode);
    server.refresh_observing();
    ctx.out.ok();
    Ok(())
}

/// Turns tracking off for the connection (TRACKING OFF, RESET, disconnect).
pub fn stop(server: &crate::server::Server, session: &mut crate::session::Session) {
    if session.tracking.take().is_some() {
        server.tracking.disable(session.info.id);
        server.refresh_observing();
        session.info.tracking_redirect.store(-1, Ordering::Relaxed);
    }
    session.caching = None;
}

/// ```text
/// CLIENT CACHING YES|NO
/// ```
pub fn caching(ctx: &mut Ctx, args: Args) -> CmdResult {
    let Some(mode) = &ctx.session.tracking else {
        return Err(CmdError::new(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    let a = args.get(2);
    if is(a, "yes") {
        if !mode.optin {
            return Err(CmdError::new(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        ctx.session.caching = Some(true);
    } else if is(a, "no") {
        if !mode.optout {
            return Err(CmdError::new(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        ctx.session.caching = Some(false);
    } else {
        return Err(CmdError::syntax());
    }
    ctx.out.ok();
    Ok(())
}

pub fn getredir(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let redirect = match &ctx.session.tracking {
        None => -1,
        Some(m) => m.redirect as i64,
    };
    ctx.out.int(redirect);
    Ok(())
}

pub fn trackinginfo(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let mut flags: Vec<&str> = Vec::new();
    let (redirect, prefixes) = match &ctx.session.tracking {
        None => {
            flags.push("off");
            (-1, Vec::new())
        }
        Some(m) => {
            flags.push("on");
            if m.bcast {
                flags.push("bcast");
            }
            if m.optin {
                flags.push("optin");
                if ctx.session.caching == Some(true) {
                    flags.push("caching-yes");
                }
            }
            if m.optout {
                flags.push("optout");
                if ctx.session.caching == Some(false) {
                    flags.push("caching-no");
                }
            }
            if m.noloop {
                flags.push("noloop");
            }
            if m.redirect != 0 && ctx.server.clients.get(m.redirect).is_none() {
                flags.push("broken_redirect");
            }
            (m.redirect as i64, m.prefixes.clone())
        }
    };
    ctx.out.map(3);
    ctx.out.bulk(b"flags");
    ctx.out.set(flags.len());
    for f in flags {
        ctx.out.bulk(f.as_bytes());
    }
    ctx.out.bulk(b"redirect");
    ctx.out.int(redirect);
    ctx.out.bulk(b"prefixes");
    ctx.out.array(prefixes.len());
    for p in &prefixes {
        ctx.out.bulk(p);
    }
    Ok(())
}
