//! The slow log (SLOWLOG): every command that ran at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them, shared by every
//! connection, as Redis keeps it. The commands are in `crate::commands::slowlog`.
//!
//! Dispatch hands every command that ran to [`SlowLog::observe`] with its duration. The
//! common case (fast enough, or the log off) costs a relaxed load and a comparison; only
//! a command that is logged builds an entry (its arguments copied, truncated and redacted
//! as Redis's `slowlogCreateEntry` does) and takes the log's lock. The settings are
//! atomics `Server::set_config` writes, so the request path never reads the
//! configuration's lock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use cairn_protocol::Args;
use parking_lot::Mutex;

use crate::clients::ClientInfo;
use crate::spec::{Spec, flags::SKIP_SLOWLOG};

fn is(a: &[u8], name: &str) -> bool {
    a.eq_ignore_ascii_case(name.as_bytes())
}

/// Redis's `SLOWLOG_ENTRY_MAX_ARGC` and `SLOWLOG_ENTRY_MAX_STRING`.
const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

/// The slow log and its two settings (see the module doc).
pub struct SlowLog {
    /// `slowlog-log-slower-than`, microseconds (-1: off).
    slower_than: AtomicI64,
    /// `slowlog-max-len`.
    max_len: AtomicU64,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    /// Newest first.
    entries: VecDeque<Entry>,
    /// Ids keep counting across SLOWLOG RESET, as Redis's do.
    next_id: u64,
}

/// One logged command, as SLOWLOG GET shows it.
pub struct Entry {
    pub id: u64,
    /// Unix seconds.
    pub time: i64,
    pub usec: u64,
    pub args: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

impl SlowLog {
    pub fn new(slower_than: i64, max_len: u64) -> SlowLog {
        SlowLog {
            slower_than: AtomicI64::new(slower_than),
            max_len: AtomicU64::new(max_len),
            log: Mutex::new(Log::default()),
        }
    }

    /// Applies `slowlog-log-slower-than` and `slowlog-max-len` (`Server::set_config`).
    pub fn configure(&self, slower_than: i64, max_len: u64) {
        self.slower_than.store(slower_than, Ordering::Relaxed);
        self.max_len.store(max_len, Ordering::Relaxed);
    }

    /// `slowlog-log-slower-than` as applied.
    pub fn slower_than(&self) -> i64 {
        self.slower_than.load(Ordering::Relaxed)
    }

    /// Logs a command that ran for `usec` microseconds if it reached the threshold.
    #[inline]
    pub fn observe(&self, client: &ClientInfo, spec: &Spec, args: Args<'_>, usec: u64) {
        let t = self.slower_than.load(Ordering::Relaxed);
        if t < 0 || usec < t as u64 || spec.has(SKIP_SLOWLOG) {
            return;
        }
        self.push(client, spec, args, usec);
    }

    /// Runs `f` on the entries, newest first (trimmed to `slowlog-max-len` first: a
    /// shorter bound set since the last entry shows at once).
    pub fn with_entries<R>(&self, f: impl FnOnce(&VecDeque<Entry>) -> R) -> R {
        let mut log = self.log.lock();
        self.trim(&mut log);
        f(&log.entries)
    }

    /// SLOWLOG RESET: the entries go; ids keep counting.
    pub fn reset(&self) {
        let old = std::mem::take(&mut self.log.lock().entries);
        drop(old);
    }

    fn trim(&self, log: &mut Log) {
        let max = self.max_len.load(Ordering::Relaxed);
        log.entries
            .truncate(usize::try_from(max).unwrap_or(usize::MAX));
    }

    #[cold]
    #[inline(never)]
    fn push(&self, client: &ClientInfo, spec: &Spec, args: Args<'_>, usec: u64) {
        let redacted = redacted(spec.name, args);
        let argc = args.len();
        let shown = argc.min(MAX_ARGC);
        let mut logged = Vec::with_capacity(shown);
        for (j, a) in args.iter().take(shown).enumerate() {
            if shown != argc && j == shown - 1 {
                logged.push(format!("... ({} more arguments)", argc - shown + 1).into_bytes());
            } else if redacted.contains(&j) {
                logged.push(b"(redacted)".to_vec());
            } else if a.len() > MAX_STRING {
                let mut s = a[..MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes(),
                );
                logged.push(s);
            } else {
                logged.push(a.to_vec());
            }
        }
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut entry = Entry {
            id: 0,
            time,
            usec,
            args: logged,
            addr: client.addr.to_string(),
            name: client.name.lock().clone().unwrap_or_default(),
        };
        let mut log = self.log.lock();
        entry.id = log.next_id;
        log.next_id += 1;
        log.entries.push_front(entry);
        self.trim(&mut log);
    }
}

/// The arguments Redis replaces with `(redacted)` before logging (its
/// `redactClientCommandArgument` calls): passwords and user names.
pub fn redacted(name: &str, args: Args<'_>) -> Vec<usize> {
    let n = args.len();
    match name {
        "auth" => (1..n).collect(),
        "hello" => {
            let mut out = Vec::new();
            let mut j = 2;
            while j < n {
                let more = n - 1 - j;
                if is(args.get(j), "auth") && more >= 2 {
                    out.extend([j + 1, j + 2]);
                    j += 2;
                } else if is(args.get(j), "setname") && more >= 1 {
                    j += 1;
                } else {
                    break;
                }
                j += 1;
            }
            out
        }
        "config|set" => (2..n)
            .step_by(2)
            .filter(|&j| j + 1 < n)
            .filter(|&j| {
                ["masterauth", "masteruser", "requirepass", "cluster-secret"]
                    .iter()
                    .any(|s| is(args.get(j), s))
            })
            .map(|j| j + 1)
            .collect(),
        "migrate" => {
            let mut out = Vec::new();
            let mut j = 6;
            while j < n {
                let more = n - 1 - j;
                if is(args.get(j), "auth") && more >= 1 {
                    out.push(j + 1);
                    j += 1;
                } else if is(args.get(j), "auth2") && more >= 2 {
                    out.extend([j + 1, j + 2]);
                    j += 2;
                } else if is(args.get(j), "keys") {
                    break;
                }
                j += 1;
            }
            out
        }
        _ => Vec::new(),
    }
}
