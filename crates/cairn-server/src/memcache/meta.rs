//! The meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`), answered as memcached 1.6
//! answers them, including the flags of the "serve stale while one client refills"
//! recipe: `N` (vivify a miss into a placeholder and win it), `R` (win a refill of a key
//! about to expire), `I` (invalidate: mark stale instead of deleting), and the return
//! flags `W` (you won), `Z` (someone else won), `X` (stale). The decisions themselves are
//! `cairn_store::lease`, shared with RESP's LEASE commands.

use cairn_protocol::memcache::{self, meta as flags, meta::MetaFlags};
use cairn_store::{key_slot, lease};

use super::store::Delta;
use super::store::{self, DB, Item, Mode, Outcome};
use super::{McConn, Step};
use crate::notify::class;

const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";

pub fn handle(conn: &mut McConn, letter: u8, tokens: &[&[u8]], line: usize, rest: &[u8]) -> Step {
    if letter == b'n' {
        conn.line("MN");
        return Step::Done(line);
    }
    if !matches!(letter, b'g' | b's' | b'd' | b'a' | b'e') {
        conn.line("ERROR");
        return Step::Done(line);
    }
    if tokens.len() < 2 {
        conn.line(if letter == b'e' { BAD_FORMAT } else { "ERROR" });
        return Step::Done(line);
    }
    if tokens[1].len() > memcache::KEY_MAX {
        conn.line(BAD_FORMAT);
        return Step::Done(line);
    }
    match letter {
        b'g' => mg(conn, tokens),
        b's' => return ms(conn, tokens, line, rest),
        b'd' => md(conn, tokens),
        b'a' => ma(conn, tokens),
        _ => me(conn, tokens),
    }
    Step::Done(line)
}

/// Echoes `O` and `k` flags in request order (the replies that carry no item data).
fn echo_tokens(out: &mut Vec<u8>, f: &MetaFlags) -> Result<(), &'static str> {
    for t in &f.tokens {
        match t[0] {
            b'O' => {
                if t.len() > flags::OPAQUE_MAX {
                    return Err("CLIENT_ERROR opaque token too long");
                }
                out.push(b' ');
                out.extend_from_slice(t);
            }
            b'k' => flags::echo_key(out, &f.key, f.base64),
            _ => {}
        }
    }
    Ok(())
}

fn num(out: &mut Vec<u8>, letter: u8, n: impl itoa::Integer) {
    out.push(b' ');
    out.push(letter);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Seconds of TTL left, or -1 for none (`t`).
fn ttl_left(deadline: Option<u64>, now_ms: u64) -> i64 {
    match deadline {
        None => -1,
        Some(d) => (d.saturating_sub(now_ms) / 1000) as i64,
    }
}

fn mg(conn: &mut McConn, tokens: &[&[u8]]) {
    if tokens.len() + 1 > flags::TOKENS_MAX + 1 {
        return conn.line("CLIENT_ERROR options flags are too long");
    }
    let f = match flags::parse(tokens[1], &tokens[2..]) {
        Ok(f) => f,
        Err(e) => return conn.line(e),
    };
    let server = conn.server;
    let now = conn.now;
    let key: &[u8] = &f.key;
    let slot = key_slot(key);
    let admission = if f.vivify.is_some() {
        match store::make_room(server, key, now) {
            Ok(a) => Some(a),
            Err(e) => return conn.line(e),
        }
    } else {
        None
    };
    server.hotkeys.observe(key);
    // `l` and `h` report the state before this read, so the access is recorded after.
    let late_bump = f.tokens.iter().any(|t| matches!(t[0], b'l' | b'h'));
    let bump = !f.no_update && !late_bump;
    let mut created = false;
    let mut reply = Vec::with_capacity(64);
    let mut value = None;
    let mut new_deadline = None;
    let mut ttl_set = false;
    let result = {
        let mut shard = server.keyspace.lock(slot);
        let db = shard.db(DB);
        // A collection (a hash written over RESP) is no item to memcached: a miss, and
        // not one to vivify over.
        let item = db.peek(slot, key, now).is_none_or(|e| e.is_string());
        let mut found = item && db.fetch(slot, key, now, bump).is_some();
        if !found
            && item
            && let Some(n) = f.vivify
        {
            let deadline = memcache::deadline(n as i64, now.ms);
            created = store::put(db, key, b"", 0, deadline, now);
            found = created;
        }
        if found {
            let mut e = db
                .peek_mut(slot, key, now)
                .expect("found under the same lock");
            let before = e.mc();
            let mut deadline = e.expire_at();
            if f.value {
                reply.extend_from_slice(b"VA ");
                reply.extend_from_slice(itoa::Buffer::new().format(e.value().len()).as_bytes());
            } else {
                reply.extend_from_slice(b"HD");
            }
            let mut error = None;
            for t in &f.tokens {
                match t[0] {
                    b'T' => {
                        ttl_set = true;
                        deadline = memcache::deadline(f.ttl.unwrap_or(0) as i64, now.ms);
                        new_deadline = Some(deadline);
                    }
                    b's' => num(&mut reply, b's', e.value().len()),
                    b't' => num(&mut reply, b't', ttl_left(deadline, now.ms)),
                    b'c' => {
                        let cas = lease::cas(&mut e, || server.keyspace.next_cas());
                        num(&mut reply, b'c', cas)
                    }
                    b'f' => num(&mut reply, b'f', before.flags),
                    b'l' => num(&mut reply, b'l', e.idle_seconds(now.s)),
                    b'h' => num(
                        &mut reply,
                        b'h',
                        (before.state & cairn_store::Mc::FETCHED != 0) as u8,
                    ),
                    b'O' => {
                        if t.len() > flags::OPAQUE_MAX {
                            error = Some("CLIENT_ERROR opaque token too long");
                            break;
                        }
                        reply.push(b' ');
                        reply.extend_from_slice(t);
                    }
                    // A hit echoes the key as it was stored (memcached's ITEM_KEY_BINARY).
                    b'k' => flags::echo_key(
                        &mut reply,
                        key,
                        before.state & cairn_store::Mc::BINARY_KEY != 0,
                    ),
                    _ => {}
                }
            }
            if let Some(e) = error {
                Err(e)
            } else {
                let recache = f.recache.and_then(|r| memcache::deadline(r as i64, now.ms));
                let verdict = lease::decide(&mut e, created, recache);
                if verdict.already_sent {
                    reply.extend_from_slice(b" Z");
                }
                if verdict.stale {
                    reply.extend_from_slice(b" X");
                }
                if verdict.won {
                    reply.extend_from_slice(b" W");
                }
                if f.value {
                    value = Some(e.value().as_bytes().into_owned());
                }
                if !f.no_update {
                    e.mark_fetched();
                }
                drop(e);
                if let Some(d) = new_deadline {
                    db.set_expire(slot, key, d, now);
                }
                if late_bump && !f.no_update {
                    db.bump(slot, key, now);
                }
                Ok(true)
            }
        } else {
            Ok(false)
        }
    };
    if let Some(a) = admission {
        store::finish(server, a, created);
    }
    if created {
        store::notify(server, class::STRING, "set", key);
    }
    if new_deadline.is_some() {
        store::notify(server, class::GENERIC, "expire", key);
    }
    match result {
        Err(e) => conn.line(e),
        Ok(true) => {
            let c = &mut conn.counters;
            if ttl_set {
                c.cmd_touch += 1;
                c.touch_hits += 1;
            } else {
                c.cmd_get += 1;
                c.get_hits += 1;
            }
            reply.extend_from_slice(b"\r\n");
            if let Some(v) = value {
                reply.extend_from_slice(&v);
                reply.extend_from_slice(b"\r\n");
            }
            conn.out.extend_from_slice(&reply);
        }
        Ok(false) => {
            let c = &mut conn.counters;
            if ttl_set {
                c.cmd_touch += 1;
                c.touch_misses += 1;
            } else {
                c.cmd_get += 1;
                c.get_misses += 1;
            }
            let mut miss = b"EN".to_vec();
            if let Err(e) = echo_tokens(&mut miss, &f) {
                return conn.line(e);
            }
            if !f.quiet {
                miss.extend_from_slice(b"\r\n");
                conn.out.extend_from_slice(&miss);
            }
        }
    }
}

fn ms(conn: &mut McConn, tokens: &[&[u8]], line: usize, rest: &[u8]) -> Step {
    if tokens.len() == 2 {
        conn.line(BAD_FORMAT);
        return Step::Done(line);
    }
    if tokens.len() + 1 > flags::TOKENS_MAX + 1 {
        conn.line("CLIENT_ERROR options flags too long");
        return Step::Done(line);
    }
    let vlen = match memcache::parse_i32(tokens[2]) {
        Some(v) if (0..=i32::MAX - 2).contains(&v) => v as usize,
        _ => {
            conn.line(BAD_FORMAT);
            return Step::Done(line);
        }
    };
    // From here on an error discards the data block.
    let refuse = |conn: &mut McConn, e: &str| {
        conn.line(e);
        conn.swallow = vlen + 2;
        Step::Done(line)
    };
    let f = match flags::parse(tokens[1], &tokens[3..]) {
        Ok(f) => f,
        Err(e) => return refuse(conn, e),
    };
    let mut echo = Vec::new();
    for t in &f.tokens {
        if t[0] == b'O' && t.len() > flags::OPAQUE_MAX {
            return refuse(conn, "CLIENT_ERROR opaque token too long");
        }
    }
    let mode = match f.mode {
        None | Some(b'S') => Mode::Set,
        Some(b'E') => Mode::Add,
        Some(b'A') => Mode::Append,
        Some(b'P') => Mode::Prepend,
        Some(b'R') => Mode::Replace,
        Some(_) => return refuse(conn, "CLIENT_ERROR invalid mode for ms M token"),
    };
    let mode = match (mode, f.cas) {
        (Mode::Set | Mode::Replace, Some(_)) => Mode::Cas,
        (m, _) => m,
    };
    let key: &[u8] = &f.key;
    let max = conn.max_item;
    if store::item_size(key.len(), f.client_flags, vlen) > max {
        conn.counters.store_too_large += 1;
        let slot = key_slot(key);
        if conn
            .server
            .keyspace
            .lock(slot)
            .db(DB)
            .remove(slot, key, conn.now)
            .is_some()
        {
            store::notify(conn.server, class::GENERIC, "del", key);
        }
        return refuse(conn, "SERVER_ERROR object too large for cache");
    }
    if rest.len() < vlen + 2 {
        return Step::NeedMore;
    }
    let consumed = line + vlen + 2;
    conn.counters.cmd_set += 1;
    if &rest[vlen..vlen + 2] != b"\r\n" {
        conn.line("CLIENT_ERROR bad data chunk");
        return Step::Done(consumed);
    }
    let item = Item {
        key,
        value: &rest[..vlen],
        flags: f.client_flags,
        exptime: f.ttl.unwrap_or(0) as i64,
        cas: f.cas.unwrap_or(0),
        set_stale: f.invalidate && mode == Mode::Cas,
        binary_key: f.base64,
    };
    let want_cas = f.tokens.iter().any(|t| t[0] == b'c');
    conn.server.hotkeys.observe(key);
    let (outcome, cas) = match store::store(conn.server, mode, &item, want_cas, conn.now) {
        Ok(r) => r,
        Err(e) => {
            conn.counters.store_no_memory += 1;
            conn.line(e);
            return Step::Done(consumed);
        }
    };
    store::count_store(conn, mode, outcome);
    let code: &[u8] = match outcome {
        Outcome::Stored => b"HD",
        Outcome::Exists => b"EX",
        Outcome::NotFound => b"NF",
        Outcome::NotStored => b"NS",
    };
    if outcome == Outcome::Stored && f.quiet {
        return Step::Done(consumed);
    }
    echo.extend_from_slice(code);
    for t in &f.tokens {
        match t[0] {
            b'O' => {
                echo.push(b' ');
                echo.extend_from_slice(t);
            }
            b'k' => flags::echo_key(&mut echo, key, f.base64),
            b'c' => num(&mut echo, b'c', cas),
            _ => {}
        }
    }
    echo.extend_from_slice(b"\r\n");
    conn.out.extend_from_slice(&echo);
    Step::Done(consumed)
}

fn md(conn: &mut McConn, tokens: &[&[u8]]) {
    if tokens.len() + 1 > flags::TOKENS_MAX + 1 {
        return conn.line("CLIENT_ERROR options flags too long");
    }
    let f = match flags::parse(tokens[1], &tokens[2..]) {
        Ok(f) => f,
        Err(_) => return conn.line("CLIENT_ERROR invalid or duplicate flag"),
    };
    let mut tail = Vec::new();
    if let Err(e) = echo_tokens(&mut tail, &f) {
        return conn.line(e);
    }
    let server = conn.server;
    let now = conn.now;
    let key: &[u8] = &f.key;
    let slot = key_slot(key);
    let code: &[u8] = {
        let mut shard = server.keyspace.lock(slot);
        let db = shard.db(DB);
        // What the key is: missing, a CAS mismatch, or there.
        let state = db
            .peek(slot, key, now)
            .map(|e| f.cas.is_none_or(|c| c != 0 && c == e.mc().cas));
        match state {
            None => {
                conn.counters.delete_misses += 1;
                b"NF"
            }
            Some(false) => {
                conn.counters.delete_misses += 1;
                b"EX"
            }
            Some(true) if f.invalidate => {
                let mut e = db.peek_mut(slot, key, now).expect("found above");
                lease::invalidate(&mut e, server.keyspace.next_cas());
                drop(e);
                if let Some(t) = f.ttl {
                    db.set_expire(slot, key, memcache::deadline(t as i64, now.ms), now);
                }
                b"HD"
            }
            Some(true) => {
                db.remove(slot, key, now);
                store::notify(server, class::GENERIC, "del", key);
                conn.counters.delete_hits += 1;
                b"HD"
            }
        }
    };
    if code == b"HD" && f.quiet {
        return;
    }
    conn.out.extend_from_slice(code);
    conn.out.extend_from_slice(&tail);
    conn.out.extend_from_slice(b"\r\n");
}

fn ma(conn: &mut McConn, tokens: &[&[u8]]) {
    if tokens.len() + 1 > flags::TOKENS_MAX + 1 {
        return conn.line("CLIENT_ERROR options flags too long");
    }
    let f = match flags::parse(tokens[1], &tokens[2..]) {
        Ok(f) => f,
        Err(_) => return conn.line("CLIENT_ERROR invalid or duplicate flag"),
    };
    let incr = match f.mode {
        None | Some(b'I' | b'+') => true,
        Some(b'D' | b'-') => false,
        Some(_) => return conn.line("CLIENT_ERROR invalid mode for ma M token"),
    };
    let key: &[u8] = &f.key;
    let now = conn.now;
    let want_cas = f.tokens.iter().any(|t| t[0] == b'c');
    let result = store::delta(
        conn,
        key,
        incr,
        f.delta.unwrap_or(1),
        f.cas.unwrap_or(0),
        want_cas,
    );
    let c = &mut conn.counters;
    let (value, mut cas, created) = match result {
        Delta::Done { value, cas } => {
            if incr {
                c.incr_hits += 1;
            } else {
                c.decr_hits += 1;
            }
            (value, cas, false)
        }
        Delta::NonNumeric => {
            return conn.line("CLIENT_ERROR cannot increment or decrement non-numeric value");
        }
        Delta::CasMismatch => return reply_bare(conn, b"EX", &f),
        Delta::NotFound => match f.vivify {
            Some(n) => {
                let value = f.initial.to_string().into_bytes();
                let admission = match store::make_room(conn.server, key, now) {
                    Ok(a) => a,
                    Err(_) => return conn.line("SERVER_ERROR Out of memory allocating new item"),
                };
                let slot = key_slot(key);
                let stored = {
                    let mut shard = conn.server.keyspace.lock(slot);
                    store::put(
                        shard.db(DB),
                        key,
                        &value,
                        0,
                        memcache::deadline(n as i64, now.ms),
                        now,
                    )
                };
                store::finish(conn.server, admission, stored);
                store::notify(conn.server, class::STRING, "set", key);
                (value, 0, true)
            }
            None => {
                if incr {
                    c.incr_misses += 1;
                } else {
                    c.decr_misses += 1;
                }
                return reply_bare(conn, b"NF", &f);
            }
        },
    };
    if f.quiet && !created {
        return;
    }
    let server = conn.server;
    let slot = key_slot(key);
    let mut shard = server.keyspace.lock(slot);
    let db = shard.db(DB);
    let mut reply = Vec::new();
    if f.value {
        reply.extend_from_slice(b"VA ");
        reply.extend_from_slice(itoa::Buffer::new().format(value.len()).as_bytes());
    } else {
        reply.extend_from_slice(b"HD");
    }
    let mut deadline = db.peek(slot, key, now).and_then(|e| e.expire_at());
    for t in &f.tokens {
        match t[0] {
            b'c' => {
                if cas == 0
                    && let Some(mut e) = db.peek_mut(slot, key, now)
                {
                    cas = lease::cas(&mut e, || server.keyspace.next_cas());
                }
                num(&mut reply, b'c', cas);
            }
            b't' => num(&mut reply, b't', ttl_left(deadline, now.ms)),
            b'T' => {
                deadline = memcache::deadline(f.ttl.unwrap_or(0) as i64, now.ms);
                db.set_expire(slot, key, deadline, now);
            }
            b'O' => {
                if t.len() > flags::OPAQUE_MAX {
                    drop(shard);
                    return conn.line("CLIENT_ERROR opaque token too long");
                }
                reply.push(b' ');
                reply.extend_from_slice(t);
            }
            b'k' => flags::echo_key(&mut reply, key, f.base64),
            _ => {}
        }
    }
    drop(shard);
    reply.extend_from_slice(b"\r\n");
    if f.value {
        reply.extend_from_slice(&value);
        reply.extend_from_slice(b"\r\n");
    }
    conn.out.extend_from_slice(&reply);
}

/// A status code with only the `O` and `k` echoes.
fn reply_bare(conn: &mut McConn, code: &[u8], f: &MetaFlags) {
    let mut reply = code.to_vec();
    if let Err(e) = echo_tokens(&mut reply, f) {
        return conn.line(e);
    }
    reply.extend_from_slice(b"\r\n");
    conn.out.extend_from_slice(&reply);
}

/// `me key`: memcached's debug line about an item.
fn me(conn: &mut McConn, tokens: &[&[u8]]) {
    let mut key = std::borrow::Cow::Borrowed(tokens[1]);
    if tokens.len() >= 3 && tokens[2] == b"b" {
        match flags::parse(tokens[1], &tokens[2..3]) {
            Ok(f) => key = std::borrow::Cow::Owned(f.key.into_owned()),
            Err(_) => return conn.line(BAD_FORMAT),
        }
    }
    conn.counters.meta_cmds += 1;
    let server = conn.server;
    let now = conn.now;
    let slot = key_slot(&key);
    let mut shard = server.keyspace.lock(slot);
    let Some(mut e) = shard.db(DB).peek_mut(slot, &key, now) else {
        drop(shard);
        return conn.line("EN");
    };
    // memcached prints the time since expiry: negative while the item lives.
    let exp = match e.expire_at() {
        None => -1,
        Some(d) => -((d.saturating_sub(now.ms) / 1000) as i64),
    };
    lease::cas(&mut e, || server.keyspace.next_cas());
    let mc = e.mc();
    let line = format!(
        " exp={} la={} cas={} fetch={} cls=1 size={}",
        exp,
        e.idle_seconds(now.s),
        mc.cas,
        if mc.state & cairn_store::Mc::FETCHED != 0 {
            "yes"
        } else {
            "no"
        },
        e.mem_usage()
    );
    let shown = tokens[1].to_vec();
    drop(e);
    drop(shard);
    conn.out.extend_from_slice(b"ME ");
    conn.out.extend_from_slice(&shown);
    conn.line(&line);
}
