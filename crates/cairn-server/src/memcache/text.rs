//! The classic text commands, answered as memcached 1.6 answers them (`proto_text.c`):
//! the same token-count checks (a wrong count is a bare `ERROR`), the same error lines,
//! and `noreply` silencing every line the command would have sent.

use cairn_protocol::memcache::{self, Line};
use cairn_store::{key_slot, lease};

use super::store::{self, DB, Delta, Item, Mode, Outcome, count_store, delta, item_size};
use super::{McConn, Step, meta, stats};
use crate::notify::class;

const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";

/// Handles the request at the front of `buf`.
pub fn handle(conn: &mut McConn, buf: &[u8]) -> Step {
    let (line, consumed) = match memcache::next_line(buf) {
        Line::Complete { line, consumed } => (line, consumed),
        Line::Incomplete => return Step::NeedMore,
        Line::Junk => {
            conn.close = true;
            return Step::NeedMore;
        }
    };
    // memcached reads the line as a C string: nothing after a NUL byte counts.
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    let tokens = memcache::tokens(line);
    let rest = &buf[consumed..];
    let Some(&name) = tokens.first().filter(|n| n.len() >= 2) else {
        conn.line("ERROR");
        return Step::Done(consumed);
    };
    // Writes without a data block are refused here on a read-only replica (storage
    // commands are refused after their data block is read, in `store::make_room`).
    let plain_write = matches!(
        name,
        b"incr" | b"decr" | b"delete" | b"touch" | b"flush_all" | b"gat" | b"gats" | b"md" | b"ma"
    );
    if plain_write && conn.server.replication.refuses_writes() {
        conn.line(store::READ_ONLY);
        return Step::Done(consumed);
    }
    if name[0] == b'm' && name.len() == 2 {
        return meta::handle(conn, name[1], &tokens, consumed, rest);
    }
    let n = tokens.len();
    let storage = |mode| match mode {
        Mode::Cas => n == 6 || n == 7,
        _ => n == 5 || n == 6,
    };
    match name {
        b"get" | b"bget" if n >= 2 => get(conn, &tokens[1..], false, None),
        b"gets" if n >= 2 => get(conn, &tokens[1..], true, None),
        b"gat" | b"gats" if n >= 2 => match memcache::parse_i32(tokens[1]) {
            Some(t) => get(conn, &tokens[2..], name == b"gats", Some(t)),
            None => conn.line("CLIENT_ERROR invalid exptime argument"),
        },
        b"set" if storage(Mode::Set) => return update(conn, Mode::Set, &tokens, consumed, rest),
        b"add" if storage(Mode::Add) => return update(conn, Mode::Add, &tokens, consumed, rest),
        b"replace" if storage(Mode::Replace) => {
            return update(conn, Mode::Replace, &tokens, consumed, rest);
        }
        b"append" if storage(Mode::Append) => {
            return update(conn, Mode::Append, &tokens, consumed, rest);
        }
        b"prepend" if storage(Mode::Prepend) => {
            return update(conn, Mode::Prepend, &tokens, consumed, rest);
        }
        b"cas" if storage(Mode::Cas) => return update(conn, Mode::Cas, &tokens, consumed, rest),
        b"incr" if n == 3 || n == 4 => arithmetic(conn, &tokens, true),
        b"decr" if n == 3 || n == 4 => arithmetic(conn, &tokens, false),
        b"delete" if (2..=4).contains(&n) => delete(conn, &tokens),
        b"touch" if n == 3 || n == 4 => touch(conn, &tokens),
        b"flush_all" if n <= 3 => flush_all(conn, &tokens),
        b"version" => {
            let v = format!("VERSION {}", super::version());
            conn.line(&v);
        }
        b"verbosity" if n == 2 || n == 3 => verbosity(conn, &tokens),
        b"stats" => stats::stats(conn, &tokens),
        b"quit" => conn.close = true,
        b"shutdown" => conn.line("ERROR: shutdown not enabled"),
        _ => conn.line("ERROR"),
    }
    Step::Done(consumed)
}

/// `noreply` as the last token silences the command's reply.
fn noreply(tokens: &[&[u8]]) -> bool {
    tokens.last() == Some(&&b"noreply"[..])
}

/// Runs `f` and drops what it wrote when the command asked for no reply.
fn quietly(conn: &mut McConn, quiet: bool, f: impl FnOnce(&mut McConn)) {
    let mark = conn.out.len();
    f(conn);
    if quiet {
        conn.out.truncate(mark);
    }
}

/// get, gets, gat, gats.
fn get(conn: &mut McConn, keys: &[&[u8]], with_cas: bool, touch: Option<i32>) {
    let mark = conn.out.len();
    let server = conn.server;
    let now = conn.now;
    let deadline = touch.map(|t| memcache::deadline(t as i64, now.ms));
    for &key in keys {
        if key.len() > memcache::KEY_MAX {
            // memcached drops the values it had stacked for this command.
            conn.out.truncate(mark);
            conn.line(BAD_FORMAT);
            return;
        }
        let slot = key_slot(key);
        server.hotkeys.observe(key);
        let mut shard = server.keyspace.lock(slot);
        let db = shard.db(DB);
        if touch.is_some() {
            conn.counters.cmd_touch += 1;
        } else {
            conn.counters.cmd_get += 1;
        }
        // A collection (a hash written over RESP) is no item to memcached: a miss.
        let item = db.peek(slot, key, now).is_none_or(|e| e.is_string());
        let hit = match item.then(|| db.fetch(slot, key, now, true)).flatten() {
            Some(mut e) => {
                if touch.is_some() {
                    conn.counters.touch_hits += 1;
                } else {
                    conn.counters.get_hits += 1;
                }
                let flags = e.mc().flags;
                let cas = with_cas.then(|| lease::cas(&mut e, || server.keyspace.next_cas()));
                e.mark_fetched();
                let out = &mut conn.out;
                e.value().with_bytes(|v| {
                    out.extend_from_slice(b"VALUE ");
                    out.extend_from_slice(key);
                    out.push(b' ');
                    out.extend_from_slice(itoa::Buffer::new().format(flags).as_bytes());
                    out.push(b' ');
                    out.extend_from_slice(itoa::Buffer::new().format(v.len()).as_bytes());
                    if let Some(c) = cas {
                        out.push(b' ');
                        out.extend_from_slice(itoa::Buffer::new().format(c).as_bytes());
                    }
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(v);
                    out.extend_from_slice(b"\r\n");
                });
                true
            }
            None if touch.is_some() => {
                conn.counters.touch_misses += 1;
                false
            }
            None => {
                conn.counters.get_misses += 1;
                false
            }
        };
        // gat: the value goes out as it was; the new TTL applies from now on (a past one
        // expires the item after this answer, as in memcached).
        if hit && let Some(d) = deadline {
            db.set_expire(slot, key, d, now);
            store::notify(server, class::GENERIC, "expire", key);
        }
    }
    conn.out.extend_from_slice(b"END\r\n");
}

/// set, add, replace, append, prepend, cas: the line, then the data block.
fn update(conn: &mut McConn, mode: Mode, tokens: &[&[u8]], line: usize, rest: &[u8]) -> Step {
    let quiet = noreply(tokens);
    let key = tokens[1];
    if key.len() > memcache::KEY_MAX {
        quietly(conn, quiet, |c| c.line(BAD_FORMAT));
        return Step::Done(line);
    }
    let flags = memcache::parse_flags(tokens[2]);
    let exptime = memcache::parse_i32(tokens[3]);
    let vlen = memcache::parse_i32(tokens[4]);
    let (Some(flags), Some(exptime), Some(vlen)) = (flags, exptime, vlen) else {
        quietly(conn, quiet, |c| c.line(BAD_FORMAT));
        return Step::Done(line);
    };
    let cas = if mode == Mode::Cas {
        match memcache::parse_u64(tokens[5]) {
            Some(c) => c,
            None => {
                quietly(conn, quiet, |c| c.line(BAD_FORMAT));
                return Step::Done(line);
            }
        }
    } else {
        0
    };
    if !(0..=i32::MAX - 2).contains(&vlen) {
        quietly(conn, quiet, |c| c.line(BAD_FORMAT));
        return Step::Done(line);
    }
    let vlen = vlen as usize;
    let max = conn.max_item;
    if item_size(key.len(), flags, vlen) > max {
        conn.counters.store_too_large += 1;
        quietly(conn, quiet, |c| {
            c.line("SERVER_ERROR object too large for cache")
        });
        // memcached drops the old value of a set it could not store.
        if mode == Mode::Set {
            remove(conn, key);
        }
        conn.swallow = vlen + 2;
        return Step::Done(line);
    }
    if rest.len() < vlen + 2 {
        return Step::NeedMore;
    }
    let consumed = line + vlen + 2;
    conn.counters.cmd_set += 1;
    if &rest[vlen..vlen + 2] != b"\r\n" {
        quietly(conn, quiet, |c| c.line("CLIENT_ERROR bad data chunk"));
        return Step::Done(consumed);
    }
    let item = Item {
        key,
        value: &rest[..vlen],
        flags,
        exptime: exptime as i64,
        cas,
        set_stale: false,
        binary_key: false,
    };
    conn.server.hotkeys.observe(key);
    let reply = match store::store(conn.server, mode, &item, false, conn.now) {
        Ok((outcome, _)) => {
            count_store(conn, mode, outcome);
            match outcome {
                Outcome::Stored => "STORED",
                Outcome::Exists => "EXISTS",
                Outcome::NotFound => "NOT_FOUND",
                Outcome::NotStored => "NOT_STORED",
            }
        }
        Err(e) => {
            conn.counters.store_no_memory += 1;
            e
        }
    };
    quietly(conn, quiet, |c| c.line(reply));
    Step::Done(consumed)
}

fn remove(conn: &mut McConn, key: &[u8]) -> bool {
    let slot = key_slot(key);
    let removed = conn
        .server
        .keyspace
        .lock(slot)
        .db(DB)
        .remove(slot, key, conn.now)
        .is_some();
    if removed {
        store::notify(conn.server, class::GENERIC, "del", key);
    }
    removed
}

fn arithmetic(conn: &mut McConn, tokens: &[&[u8]], incr: bool) {
    let quiet = noreply(tokens);
    let key = tokens[1];
    if key.len() > memcache::KEY_MAX {
        return quietly(conn, quiet, |c| c.line(BAD_FORMAT));
    }
    let Some(by) = memcache::parse_u64(tokens[2]) else {
        return quietly(conn, quiet, |c| {
            c.line("CLIENT_ERROR invalid numeric delta argument")
        });
    };
    let result = delta(conn, key, incr, by, 0, false);
    let c = &mut conn.counters;
    let hit = matches!(result, Delta::Done { .. });
    match (incr, hit) {
        (true, true) => c.incr_hits += 1,
        (false, true) => c.decr_hits += 1,
        (true, false) => c.incr_misses += matches!(result, Delta::NotFound) as u64,
        (false, false) => c.decr_misses += matches!(result, Delta::NotFound) as u64,
    }
    quietly(conn, quiet, |c| match result {
        Delta::Done { value, .. } => {
            c.out.extend_from_slice(&value);
            c.out.extend_from_slice(b"\r\n");
        }
        Delta::NotFound => c.line("NOT_FOUND"),
        Delta::NonNumeric => c.line("CLIENT_ERROR cannot increment or decrement non-numeric value"),
        Delta::CasMismatch => unreachable!("no CAS given"),
    });
}

fn delete(conn: &mut McConn, tokens: &[&[u8]]) {
    let quiet = noreply(tokens);
    if tokens.len() > 2 {
        let hold_is_zero = tokens[2] == b"0";
        let valid = (tokens.len() == 3 && (hold_is_zero || quiet))
            || (tokens.len() == 4 && hold_is_zero && quiet);
        if !valid {
            return quietly(conn, quiet, |c| {
                c.line("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]")
            });
        }
    }
    let key = tokens[1];
    if key.len() > memcache::KEY_MAX {
        return quietly(conn, quiet, |c| c.line(BAD_FORMAT));
    }
    let removed = remove(conn, key);
    if removed {
        conn.counters.delete_hits += 1;
    } else {
        conn.counters.delete_misses += 1;
    }
    quietly(conn, quiet, |c| {
        c.line(if removed { "DELETED" } else { "NOT_FOUND" })
    });
}

fn touch(conn: &mut McConn, tokens: &[&[u8]]) {
    let quiet = noreply(tokens);
    let key = tokens[1];
    if key.len() > memcache::KEY_MAX {
        return quietly(conn, quiet, |c| c.line(BAD_FORMAT));
    }
    let Some(t) = memcache::parse_i32(tokens[2]) else {
        return quietly(conn, quiet, |c| {
            c.line("CLIENT_ERROR invalid exptime argument")
        });
    };
    let deadline = memcache::deadline(t as i64, conn.now.ms);
    let slot = key_slot(key);
    let touched = conn
        .server
        .keyspace
        .lock(slot)
        .db(DB)
        .set_expire(slot, key, deadline, conn.now);
    conn.counters.cmd_touch += 1;
    if touched {
        conn.counters.touch_hits += 1;
        store::notify(conn.server, class::GENERIC, "expire", key);
    } else {
        conn.counters.touch_misses += 1;
    }
    quietly(conn, quiet, |c| {
        c.line(if touched { "TOUCHED" } else { "NOT_FOUND" })
    });
}

/// `flush_all [delay] [noreply]`: empties database 0 now, or after `delay` seconds (what
/// was stored before then goes; what is stored after stays, as in memcached).
fn flush_all(conn: &mut McConn, tokens: &[&[u8]]) {
    let quiet = noreply(tokens);
    conn.counters.cmd_flush += 1;
    let has_delay = tokens.len() == if quiet { 3 } else { 2 };
    let delay = if has_delay {
        match memcache::parse_i32(tokens[1]) {
            Some(d) => d,
            None => {
                return quietly(conn, quiet, |c| {
                    c.line("CLIENT_ERROR invalid exptime argument")
                });
            }
        }
    } else {
        0
    };
    let server = conn.server;
    if delay <= 0 {
        flush_now(server);
    } else {
        let at = memcache::deadline(delay as i64, conn.now.ms).unwrap_or(0);
        let wait = std::time::Duration::from_millis(at.saturating_sub(conn.now.ms));
        let server = server.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = server.wait_shutdown() => {}
                _ = tokio::time::sleep(wait) => flush_now(&server),
            }
        });
    }
    quietly(conn, quiet, |c| c.line("OK"));
}

fn flush_now(server: &crate::server::Server) {
    let taken = server.keyspace.flush(Some(DB));
    server.lazyfree.free(taken);
}

/// `verbosity N`: memcached's log verbosity, mapped onto the log level.
fn verbosity(conn: &mut McConn, tokens: &[&[u8]]) {
    let quiet = noreply(tokens);
    let Some(level) = memcache::parse_u64(tokens[1]) else {
        return quietly(conn, quiet, |c| c.line(BAD_FORMAT));
    };
    let name = match level {
        0 => "notice",
        1 => "verbose",
        _ => "debug",
    };
    let _ = crate::reconfigure::set(conn.server, &[("loglevel".to_string(), name.to_string())]);
    quietly(conn, quiet, |c| c.line("OK"));
}
