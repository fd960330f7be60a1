//! MONITOR: the clients that watch every command the server runs, and the line each is
//! sent per command, as Redis's `replicationFeedMonitors` writes it:
//!
//! ```text
//! +1700000000.123456 [0 127.0.0.1:50000] "SET" "key" "va\r\nlue"
//! ```
//!
//! (Unix time with microseconds, the database after the command, the client's address, and
//! each argument quoted as `sdscatrepr` quotes it.) Dispatch feeds a command after it ran,
//! unless its spec says `skip_monitor` or `admin`, as Redis 7.0 does; EXEC's commands are
//! fed one by one as they run, then EXEC. Passwords are shown `(redacted)`, as in the slow
//! log. Lines go out through the monitor's outbox, under the pub/sub output limit, so a
//! monitor that stops reading is disconnected rather than left to grow the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use cairn_protocol::Args;
use parking_lot::RwLock;

use crate::clients::ClientInfo;
use crate::pubsub::PubSub;

#[derive(Default)]
pub struct Monitors {
    /// Some client monitors: dispatch feeds commands (one relaxed load otherwise).
    any: AtomicBool,
    clients: RwLock<Vec<Arc<ClientInfo>>>,
}

impl Monitors {
    /// Whether any client monitors.
    #[inline]
    pub fn active(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// MONITOR: `client` is sent every command from now on.
    pub fn add(&self, client: &Arc<ClientInfo>) {
        let mut list = self.clients.write();
        if !list.iter().any(|c| c.id == client.id) {
            list.push(client.clone());
            client.monitor.store(true, Ordering::Relaxed);
        }
        self.any.store(true, Ordering::Relaxed);
    }

    /// The client stopped monitoring (RESET, disconnect).
    pub fn remove(&self, id: u64) {
        if !self.active() {
            return;
        }
        let mut list = self.clients.write();
        list.retain(|c| {
            let keep = c.id != id;
            if !keep {
                c.monitor.store(false, Ordering::Relaxed);
            }
            keep
        });
        self.any.store(!list.is_empty(), Ordering::Relaxed);
    }

    /// Sends every monitor the line for `args`, run by `from` in database `db`.
    pub fn feed(&self, pubsub: &PubSub, from: &ClientInfo, db: usize, name: &str, args: Args<'_>) {
        let list = self.clients.read();
        if list.is_empty() {
            return;
        }
        let line = Bytes::from(line(from, db, name, args));
        for c in list.iter() {
            pubsub.offer(c, line.clone());
        }
    }
}

/// One monitor line (see the module doc).
fn line(from: &ClientInfo, db: usize, name: &str, args: Args<'_>) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = format!(
        "+{}.{:06} [{} {}] ",
        now.as_secs(),
        now.subsec_micros(),
        db,
        from.addr
    )
    .into_bytes();
    let redacted = crate::slowlog::redacted(name, args);
    for (j, a) in args.iter().enumerate() {
        if j > 0 {
            out.push(b' ');
        }
        if redacted.contains(&j) {
            out.extend_from_slice(b"\"(redacted)\"");
        } else {
            repr(&mut out, a);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `s` quoted as Redis's `sdscatrepr` quotes it.
pub fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_as_sdscatrepr_quotes_them() {
        let mut out = Vec::new();
        repr(&mut out, b"a\"b\\c\r\n\t\x07\x08\x00\xff z");
        assert_eq!(out, b"\"a\\\"b\\\\c\\r\\n\\t\\a\\b\\x00\\xff z\"".to_vec());
    }
}
