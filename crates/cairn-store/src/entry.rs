//! One key and what it holds.

use crate::inline::Key;
use crate::value::Value;

/// A key, its value, when it expires, and when it was last used.
///
/// Expiry changes go through [`crate::Db`] rather than through `&mut Entry`, because the
/// database counts the keys that carry a TTL (the active sweep only visits tables that have
/// some, and INFO reports the count).
#[derive(Clone, Debug)]
pub struct Entry {
    key: Key,
    pub(crate) value: Value,
    /// Absolute expiry in Unix milliseconds; 0 for none.
    pub(crate) expire_at: u64,
    /// Seconds-resolution clock of the last access (OBJECT IDLETIME, LRU eviction).
    pub(crate) access: u32,
    /// Logarithmic access counter (OBJECT FREQ, LFU eviction), as Redis's LFU keeps it.
    pub(crate) freq: u8,
}

/// New keys start with this LFU counter, as in Redis (LFU_INIT_VAL), so a fresh key is not
/// the first thing evicted.
pub const LFU_INIT: u8 = 5;

impl Entry {
    pub(crate) fn new(key: &[u8], value: Value, expire_at: u64, now_s: u32) -> Entry {
        Entry {
            key: Key::new(key),
            value,
            expire_at,
            access: now_s,
            freq: LFU_INIT,
        }
    }

    pub fn key(&self) -> &[u8] {
        self.key.as_slice()
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The value, for in-place changes (APPEND, INCR, SETRANGE). The TTL is not touched.
    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.value
    }

    /// Replaces the value, keeping the TTL (SET KEEPTTL, INCR).
    pub fn set_value(&mut self, value: Value) {
        self.value = value;
    }

    pub fn into_value(self) -> Value {
        self.value
    }

    /// Absolute expiry in Unix milliseconds, if the key has a TTL.
    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }

    /// Seconds since the key was last read or written.
    pub fn idle_seconds(&self, now_s: u32) -> u32 {
        now_s.wrapping_sub(self.access)
    }

    /// The LFU counter (OBJECT FREQ).
    pub fn freq(&self) -> u8 {
        self.freq
    }

    /// The same value, TTL and access metadata under another name (RENAME, COPY).
    pub fn renamed(self, key: &[u8]) -> Entry {
        Entry {
            key: Key::new(key),
            ..self
        }
    }

    /// Sets the access metadata a RESTORE carries (IDLETIME, FREQ).
    pub fn restore_access(&mut self, access: u32, freq: Option<u8>) {
        self.access = access;
        if let Some(f) = freq {
            self.freq = f;
        }
    }

    pub(crate) fn set_access(&mut self, now_s: u32, freq: u8) {
        self.access = now_s;
        self.freq = freq;
    }

    /// Records an access: the LRU clock, and a probabilistic bump of the LFU counter
    /// (`lfu-log-factor` 10: the counter reaches 255 after about a million hits).
    pub(crate) fn touch(&mut self, now_s: u32) {
        self.access = now_s;
        if self.freq < 255 {
            let base = (self.freq.saturating_sub(LFU_INIT)) as f64;
            let p = 1.0 / (base * 10.0 + 1.0);
            if fastrand::f64() < p {
                self.freq += 1;
            }
        }
    }
}
