//! Keyspace notifications (`notify-keyspace-events`), published on Pub/Sub as Redis does:
//! `__keyspace@<db>__:<key>` carries the event name, `__keyevent@<db>__:<event>` the key.
//!
//! Commands announce their own events (`set`, `del`, `expire`, `incrby`, ...) while they
//! still hold the key's shard, and the store's observer announces expiries and evictions
//! from under the same lock: so the events of one key arrive in the order its changes
//! happened, whichever thread made them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::pubsub::{Kind, PubSub};

/// Event classes, as `notify-keyspace-events` letters.
pub mod class {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const KEY_MISS: u32 = 1 << 11; // m
    pub const MODULE: u32 = 1 << 12; // d
    pub const NEW_KEY: u32 = 1 << 13; // n
    /// `A`: every class but m and n.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

const LETTERS: &[(char, u32)] = &[
    ('g', class::GENERIC),
    ('$', class::STRING),
    ('l', class::LIST),
    ('s', class::SET),
    ('h', class::HASH),
    ('z', class::ZSET),
    ('x', class::EXPIRED),
    ('e', class::EVICTED),
    ('t', class::STREAM),
    ('d', class::MODULE),
    ('m', class::KEY_MISS),
    ('n', class::NEW_KEY),
    ('K', class::KEYSPACE),
    ('E', class::KEYEVENT),
];

/// Parses a `notify-keyspace-events` value; `None` for an unknown letter.
pub fn parse(v: &str) -> Option<u32> {
    let mut flags = 0;
    for ch in v.chars() {
        flags |= match ch {
            'A' => class::ALL,
            _ => LETTERS.iter().find(|(c, _)| *c == ch)?.1,
        };
    }
    Some(flags)
}

/// The value as CONFIG GET shows it (Redis's order, `A` when every class is on).
pub fn show(flags: u32) -> String {
    let mut s = String::new();
    let all = flags & class::ALL == class::ALL;
    if all {
        s.push('A');
    }
    for (ch, bit) in LETTERS {
        if all && class::ALL & bit != 0 {
            continue;
        }
        if flags & bit != 0 {
            s.push(*ch);
        }
    }
    s
}

pub struct Notifier {
    flags: AtomicU32,
    pubsub: Arc<PubSub>,
}

impl Notifier {
    pub fn new(pubsub: Arc<PubSub>, flags: u32) -> Notifier {
        Notifier {
            flags: AtomicU32::new(flags),
            pubsub,
        }
    }

    pub fn set_flags(&self, flags: u32) {
        self.flags.store(flags, Ordering::Relaxed);
    }

    /// Whether events of `class` are published at all (keyspace or keyevent).
    pub fn wants(&self, class: u32) -> bool {
        let f = self.flags.load(Ordering::Relaxed);
        f & class != 0 && f & (class::KEYSPACE | class::KEYEVENT) != 0
    }

    /// Publishes `event` on `key` of database `db` if its class is on.
    pub fn notify(&self, class: u32, event: &str, key: &[u8], db: usize) {
        let f = self.flags.load(Ordering::Relaxed);
        if f & class == 0 {
            return;
        }
        if f & class::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.pubsub
                .publish(Kind::Channel, &channel, event.as_bytes());
        }
        if f & class::KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            self.pubsub.publish(Kind::Channel, channel.as_bytes(), key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_as_redis_prints_them() {
        assert_eq!(parse(""), Some(0));
        assert_eq!(parse("KEA").map(show).as_deref(), Some("AKE"));
        assert_eq!(parse("Kx").map(show).as_deref(), Some("xK"));
        assert_eq!(parse("E$g").map(show).as_deref(), Some("g$E"));
        assert_eq!(parse("Kq"), None);
    }
}
