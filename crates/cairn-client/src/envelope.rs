//! The bytes `get_or_load` and the patterns store under a key: the value plus what every
//! process sharing the cache needs to know about it.
//!
//! ```text
//! 0      1      2      3               11          15
//! ┌──────┬──────┬──────┬───────────────┬───────────┬────────────────┐
//! │ 0xCA │ 0x01 │ kind │ fresh until   │ load time │ payload ...    │
//! │magic │ ver  │      │ unix ms, u64LE│ ms, u32LE │ (value only)   │
//! └──────┴──────┴──────┴───────────────┴───────────┴────────────────┘
//! kind: 0 value, 1 not found (negative entry), 2 tombstone (written by invalidate)
//! ```
//!
//! "Fresh until" is a wall-clock time so that every process sharing the key agrees when it
//! goes stale (stale-while-revalidate serves it past that until the server's TTL removes
//! it); "load time" is the XFetch delta: how long the last load took, which sets how early a
//! probabilistic refresh may start. A tombstone exists only so that a fill that started
//! before an invalidation fails its WATCH (a DEL of a missing key would not trip it).

use bytes::{BufMut, Bytes, BytesMut};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAGIC: u8 = 0xCA;
const VERSION: u8 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 15;

/// What an envelope holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A value from the source.
    Value,
    /// The source said the key does not exist (negative caching).
    Missing,
    /// The key was invalidated; a reader treats it as a miss.
    Tombstone,
}

/// A decoded envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Value, missing or tombstone.
    pub kind: Kind,
    /// Wall-clock milliseconds until which the entry is fresh.
    pub fresh_until_ms: u64,
    /// How long the load that produced it took.
    pub load_ms: u32,
    /// The value (empty unless `kind` is `Value`).
    pub payload: Bytes,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Envelope {
    /// A value fresh for `fresh_for` from now, produced by a load that took `load_time`.
    pub fn value(payload: Bytes, fresh_for: Duration, load_time: Duration) -> Envelope {
        Envelope {
            kind: Kind::Value,
            fresh_until_ms: now_ms().saturating_add(fresh_for.as_millis() as u64),
            load_ms: load_time.as_millis().min(u32::MAX as u128) as u32,
            payload,
        }
    }

    /// A "not found" fresh for `fresh_for`.
    pub fn missing(fresh_for: Duration, load_time: Duration) -> Envelope {
        Envelope {
            kind: Kind::Missing,
            ..Envelope::value(Bytes::new(), fresh_for, load_time)
        }
    }

    /// A tombstone.
    pub fn tombstone() -> Envelope {
        Envelope {
            kind: Kind::Tombstone,
            fresh_until_ms: 0,
            load_ms: 0,
            payload: Bytes::new(),
        }
    }

    /// The stored form.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER_LEN + self.payload.len());
        b.put_u8(MAGIC);
        b.put_u8(VERSION);
        b.put_u8(match self.kind {
            Kind::Value => 0,
            Kind::Missing => 1,
            Kind::Tombstone => 2,
        });
        b.put_u64_le(self.fresh_until_ms);
        b.put_u32_le(self.load_ms);
        b.put_slice(&self.payload);
        b.freeze()
    }

    /// Reads a stored envelope; `None` for bytes that are not one (a value some other
    /// client wrote under the key), which readers treat as a miss and overwrite.
    pub fn decode(raw: &Bytes) -> Option<Envelope> {
        if raw.len() < HEADER_LEN || raw[0] != MAGIC || raw[1] != VERSION {
            return None;
        }
        let kind = match raw[2] {
            0 => Kind::Value,
            1 => Kind::Missing,
            2 => Kind::Tombstone,
            _ => return None,
        };
        let fresh_until_ms = u64::from_le_bytes(raw[3..11].try_into().ok()?);
        let load_ms = u32::from_le_bytes(raw[11..15].try_into().ok()?);
        Some(Envelope {
            kind,
            fresh_until_ms,
            load_ms,
            payload: raw.slice(HEADER_LEN..),
        })
    }

    /// How long it stays fresh from `now_ms` (zero once stale).
    pub fn remaining(&self, now_ms: u64) -> Duration {
        Duration::from_millis(self.fresh_until_ms.saturating_sub(now_ms))
    }

    /// The value a reader gets: `Some(payload)` for a value, `None` for a negative entry.
    pub fn answer(&self) -> Option<Bytes> {
        (self.kind == Kind::Value).then(|| self.payload.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for e in [
            Envelope::value(
                Bytes::from_static(b"hello"),
                Duration::from_secs(5),
                Duration::from_millis(12),
            ),
            Envelope::missing(Duration::from_secs(1), Duration::ZERO),
            Envelope::tombstone(),
        ] {
            assert_eq!(Envelope::decode(&e.encode()), Some(e));
        }
    }

    #[test]
    fn foreign_bytes_are_not_envelopes() {
        assert_eq!(Envelope::decode(&Bytes::from_static(b"plain value")), None);
        assert_eq!(Envelope::decode(&Bytes::from_static(b"")), None);
        let mut bad = Envelope::tombstone().encode().to_vec();
        bad[2] = 9;
        assert_eq!(Envelope::decode(&Bytes::from(bad)), None);
    }

    #[test]
    fn freshness() {
        let e = Envelope::value(Bytes::new(), Duration::from_secs(10), Duration::ZERO);
        let now = now_ms();
        assert!(e.remaining(now) > Duration::from_secs(9));
        assert_eq!(e.remaining(now + 20_000), Duration::ZERO);
    }
}
