//! Writing memcached items into the shared keyspace: the storage commands' rules (set,
//! add, replace, append, prepend, cas, and the meta protocol's stale-setting cas), with
//! eviction before the write and the same change reports a RESP write makes, so client-side
//! caches and keyspace notifications see memcached writes too.
//!
//! Memcached items live in database 0, under the key's Redis Cluster slot like any key.

use cairn_protocol::memcache;
use cairn_store::db::Now;
use cairn_store::{Db, ExpireChange, Mc, key_slot, lease};

use super::McConn;
use crate::evict::{self, Admission};
use crate::notify::class;
use crate::server::Server;

/// The database memcached clients see.
pub const DB: usize = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    Exists,
    NotFound,
    NotStored,
}

pub struct Item<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub flags: u32,
    /// Memcached's expiry time as sent (relative seconds, absolute Unix time, negative).
    pub exptime: i64,
    /// The CAS unique to compare with (`cas`, ms `C`); 0 for none.
    pub cas: u64,
    /// ms `I` with a CAS: store even if the CAS is older than the item's, but as stale.
    pub set_stale: bool,
    /// ms `b`: the client sends this key base64-encoded.
    pub binary_key: bool,
}

/// The error line for a write refused under `maxmemory` with `noeviction`.
pub const OUT_OF_MEMORY: &str = "SERVER_ERROR out of memory storing object";

/// The error line for a write on a read-only replica.
pub const READ_ONLY: &str = "SERVER_ERROR You can't write against a read only replica.";

/// Makes room for a write of `key` (see [`evict::make_room`]). An error is memcached's
/// out-of-memory line.
pub fn make_room(server: &Server, key: &[u8], now: Now) -> Result<Admission, &'static str> {
    if server.replication.refuses_writes() {
        return Err(READ_ONLY);
    }
    if server.persist.misconf().is_some() {
        return Err("SERVER_ERROR the append-only file cannot be written");
    }
    if server.maxmemory() == 0 {
        return Ok(Admission::Proceed);
    }
    evict::make_room(server, DB, Some(key), now, evict::MAX_PER_COMMAND).map_err(|_| OUT_OF_MEMORY)
}

/// After a write that made room: a key that lost the admission test goes again.
pub fn finish(server: &Server, admission: Admission, stored: bool) {
    if let Admission::DropAfter { db, key } = admission {
        if stored {
            evict::drop_rejected(server, db, &key);
        } else {
            server.count_unstored_eviction();
        }
    }
}

pub fn notify(server: &Server, class: u32, event: &str, key: &[u8]) {
    server.notifier.notify(class, event, key, DB);
}

/// Stores `value` with `flags` and an absolute `deadline` (Unix ms, `None` for no expiry),
/// replacing what the key held, keeping its access history. A deadline already past
/// removes the key instead (memcached stores it expired; nobody can tell the difference).
pub fn put(
    db: &mut Db,
    key: &[u8],
    value: &[u8],
    flags: u32,
    deadline: Option<u64>,
    now: Now,
) -> bool {
    let slot = key_slot(key);
    match deadline {
        Some(d) if d <= now.ms => {
            db.remove(slot, key, now);
            false
        }
        _ => {
            let expire = deadline.map_or(ExpireChange::Clear, ExpireChange::At);
            db.set_bytes(slot, key, value, expire, now);
            if flags != 0 {
                db.set_client_flags(slot, key, flags, now);
            }
            true
        }
    }
}

/// Runs one storage command. Returns the outcome and, when `want_cas`, the stored item's
/// CAS unique (0 if nothing was stored).
pub fn store(
    server: &Server,
    mode: Mode,
    item: &Item,
    want_cas: bool,
    now: Now,
) -> Result<(Outcome, u64), &'static str> {
    let admission = make_room(server, item.key, now)?;
    let slot = key_slot(item.key);
    let mut stored_key = false;
    let result = {
        let mut shard = server.keyspace.lock(slot);
        let db = shard.db(DB);
        // The old value is copied only when it becomes part of the new one.
        let joins = matches!(mode, Mode::Append | Mode::Prepend);
        // Appending to a collection (a hash written over RESP) stores nothing.
        let old = db
            .peek(slot, item.key, now)
            .filter(|e| !joins || e.is_string())
            .map(|e| {
                let v = if joins {
                    e.value().as_bytes().into_owned()
                } else {
                    Vec::new()
                };
                (e.mc(), e.expire_at(), v)
            });
        let deadline = memcache::deadline(item.exptime, now.ms);
        let (outcome, stored) = match (mode, &old) {
            (Mode::Add, Some(_)) => (Outcome::NotStored, None),
            (Mode::Replace | Mode::Append | Mode::Prepend, None) => (Outcome::NotStored, None),
            (Mode::Cas, None) => (Outcome::NotFound, None),
            (Mode::Cas, Some((mc, at, _))) => {
                if mc.cas != 0 && mc.cas == item.cas {
                    (Outcome::Stored, Some((item.flags, deadline, 0u8)))
                } else if item.set_stale && item.cas < mc.cas {
                    // A late refill after an invalidation: kept, but as stale, with the
                    // key's TTL (memcached's ms I).
                    (Outcome::Stored, Some((item.flags, *at, Mc::STALE)))
                } else {
                    (Outcome::Exists, None)
                }
            }
            (Mode::Append | Mode::Prepend, Some((mc, at, v))) => {
                if item.cas != 0 && item.cas != mc.cas {
                    (Outcome::Exists, None)
                } else if item_size(item.key.len(), mc.flags, v.len() + item.value.len())
                    > server.with_config(|c| c.memcached_max_item_size) as usize
                {
                    // The joined item would be too large: memcached cannot allocate it.
                    (Outcome::NotStored, None)
                } else {
                    (Outcome::Stored, Some((mc.flags, *at, 0)))
                }
            }
            (Mode::Set | Mode::Add | Mode::Replace, _) => {
                (Outcome::Stored, Some((item.flags, deadline, 0)))
            }
        };
        let mut cas = 0;
        if let Some((flags, deadline, mut state)) = stored {
            if item.binary_key {
                state |= Mc::BINARY_KEY;
            }
            let joined;
            let value = match (mode, &old) {
                (Mode::Append, Some((_, _, v))) => {
                    joined = [v.as_slice(), item.value].concat();
                    &joined[..]
                }
                (Mode::Prepend, Some((_, _, v))) => {
                    joined = [item.value, v.as_slice()].concat();
                    &joined[..]
                }
                _ => item.value,
            };
            stored_key = put(db, item.key, value, flags, deadline, now);
            if stored_key && (want_cas || state != 0) {
                let mut e = db.peek_mut(slot, item.key, now).expect("just stored");
                if state != 0 {
                    let mut mc = e.mc();
                    mc.state |= state;
                    e.set_mc(mc);
                }
                if want_cas {
                    cas = lease::cas(&mut e, || server.keyspace.next_cas());
                }
            } else if want_cas {
                cas = server.keyspace.next_cas();
            }
            let event = match mode {
                Mode::Append => "append",
                Mode::Prepend => "prepend",
                _ if stored_key => "set",
                _ => "del",
            };
            let class = if stored_key {
                class::STRING
            } else {
                class::GENERIC
            };
            notify(server, class, event, item.key);
        }
        (outcome, cas)
    };
    finish(server, admission, stored_key);
    Ok(result)
}

/// The integer a value holds for incr/decr, read as memcached's `safe_strtoull` reads the
/// item's data: leading blanks skipped, digits, then whitespace or the end.
pub fn counter_value(v: &[u8]) -> Option<u64> {
    let start = v.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let rest = &v[start..];
    let end = rest
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    memcache::parse_u64(&rest[..end])
}

/// incr/decr (and meta `ma`): incr wraps at 2^64, decr stops at 0. A shorter result is
/// padded with spaces to the old length, as memcached rewrites the item in place.
pub fn apply_delta(old: &[u8], incr: bool, delta: u64) -> Option<(u64, Vec<u8>)> {
    let n = counter_value(old)?;
    let n = if incr {
        n.wrapping_add(delta)
    } else {
        n.saturating_sub(delta)
    };
    let mut text = n.to_string().into_bytes();
    if text.len() < old.len() {
        text.resize(old.len(), b' ');
    }
    Some((n, text))
}

/// The total size memcached would allocate for an item, to apply its item size limit.
pub fn item_size(key: usize, flags: u32, value: usize) -> usize {
    // Item header, CAS, key with its terminator, flags if any, value with its CRLF.
    48 + 8 + key + 1 + if flags != 0 { 4 } else { 0 } + value + 2
}

pub fn count_store(conn: &mut McConn, mode: Mode, outcome: Outcome) {
    match (mode, outcome) {
        (Mode::Cas, Outcome::Stored) => conn.counters.cas_hits += 1,
        (Mode::Cas, Outcome::Exists) => conn.counters.cas_badval += 1,
        (Mode::Cas, Outcome::NotFound) => conn.counters.cas_misses += 1,
        _ => {}
    }
    if outcome == Outcome::Stored {
        conn.counters.total_items += 1;
    }
}

/// The outcome of incr/decr on one key.
pub enum Delta {
    Done { value: Vec<u8>, cas: u64 },
    NotFound,
    NonNumeric,
    CasMismatch,
}

/// incr/decr on `key` (and meta `ma`): the new number replaces the value, keeping the
/// client flags and TTL. `cas` (ma `C`) must match when non-zero.
pub fn delta(
    conn: &mut McConn,
    key: &[u8],
    incr: bool,
    by: u64,
    cas: u64,
    want_cas: bool,
) -> Delta {
    let server = conn.server;
    let slot = key_slot(key);
    let mut shard = server.keyspace.lock(slot);
    let db = shard.db(DB);
    let Some(e) = db.peek(slot, key, conn.now) else {
        return Delta::NotFound;
    };
    if !e.is_string() {
        return Delta::NonNumeric;
    }
    let mc = e.mc();
    if cas != 0 && cas != mc.cas {
        return Delta::CasMismatch;
    }
    let Some((n, text)) = e.value().with_bytes(|old| apply_delta(old, incr, by)) else {
        return Delta::NonNumeric;
    };
    let mut e = db
        .write(slot, key, conn.now)
        .expect("the key was just found");
    e.set_value(cairn_store::Value::Str(text));
    let mut new_mc = cairn_store::Mc {
        flags: mc.flags,
        ..Default::default()
    };
    if want_cas {
        new_mc.cas = server.keyspace.next_cas();
    }
    e.set_mc(new_mc);
    notify(
        server,
        class::STRING,
        if incr { "incrby" } else { "decrby" },
        key,
    );
    Delta::Done {
        value: n.to_string().into_bytes(),
        cas: new_mc.cas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_memcached() {
        assert_eq!(apply_delta(b"10", false, 1).unwrap().1, b"9 ");
        assert_eq!(apply_delta(b"1", false, 5).unwrap().0, 0);
        let (n, text) = apply_delta(b"18446744073709551615", true, 2).unwrap();
        assert_eq!((n, text.len()), (1, 20));
        assert_eq!(apply_delta(b"9 ", true, 1).unwrap().1, b"10");
        assert!(apply_delta(b"x1", true, 1).is_none());
        assert!(apply_delta(b"-1", true, 1).is_none());
    }
}
