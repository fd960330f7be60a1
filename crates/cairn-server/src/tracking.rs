//! Client-side caching: who may hold which key in a near cache, and the invalidation
//! messages that tell them it changed (Redis's CLIENT TRACKING).
//!
//! - Default mode: every key a tracking client reads is remembered with its id; the
//!   first change to the key (any write, delete, expiry, eviction) sends the client an
//!   invalidation and forgets the pair, until it reads the key again.
//! - BCAST mode: nothing is remembered; a change to any key under one of the client's
//!   prefixes (all keys without a prefix) is sent, the keys a command (a whole EXEC)
//!   changed in one message when it ends, as Redis sends a batch per event-loop turn
//!   (MSET a b c: one `invalidate [a, b, c]`).
//! - Changes come from the store's observer (`cairn_store::observe`), called while the
//!   key's shard is locked, so they cannot be missed whatever path changed the key.
//!
//! Messages are RESP3 `invalidate` pushes, or, for a client redirecting to a RESP2
//! connection subscribed to `__redis__:invalidate`, messages on that channel; a flush
//! sends a null key list. A change made by the tracking client itself is not sent with
//! NOLOOP. The table is bounded by `tracking-table-max-keys`: past it, keys are forgotten
//! by invalidating them.
//!
//! One mutex guards the whole state. Only tracking clients' reads and changes while some
//! client tracks take it; a per-slot split is the next step if it shows in a profile.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;

use crate::clients::ClientInfo;

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The channel RESP2 redirect clients subscribe to.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

/// How one client tracks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    /// Client id that receives the invalidations (0: the client itself).
    pub redirect: u64,
    pub bcast: bool,
    pub prefixes: Vec<Vec<u8>>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

struct Tracked {
    info: Arc<ClientInfo>,
    mode: Mode,
    /// The redirect target left; the client was told once (TRACKINGINFO broken_redirect).
    broken: AtomicBool,
}

#[derive(Default)]
struct Table {
    /// Default mode: key -> ids of the clients that read it since its last change.
    keys: FastMap<Vec<u8>, Vec<u64>>,
    /// Every tracking client.
    clients: FastMap<u64, Tracked>,
    /// Ids of the BCAST clients (a subset of `clients`).
    bcast: Vec<u64>,
}

pub struct Tracking {
    table: Mutex<Table>,
    /// Some client tracks: the store must report changes.
    active: AtomicBool,
    max_keys: AtomicUsize,
    /// Where to find redirect targets.
    clients: Arc<crate::clients::Clients>,
    /// Delivery within the pubsub output limit, which applies to invalidations too.
    pubsub: Arc<crate::pubsub::PubSub>,
}

thread_local! {
    /// The client whose command is running on this thread (0: none, e.g. the cron), for
    /// NOLOOP.
    static CURRENT: Cell<u64> = const { Cell::new(0) };
    /// Commands running on this thread (EXEC's nest inside it): while any does, BCAST
    /// invalidations wait in [`BATCH`].
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// BCAST invalidations of the command running on this thread, by client id: sent
    /// when it ends, one message per client carrying every key, as Redis sends a batch.
    static BATCH: RefCell<Vec<(u64, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

/// A command running on this thread for a client (see [`Tracking::running`]).
pub struct Running<'t> {
    tracking: &'t Tracking,
    previous: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
        let depth = DEPTH.with(|d| {
            d.set(d.get() - 1);
            d.get()
        });
        if depth == 0 {
            self.tracking.send_batch();
        }
    }
}

impl Tracking {
    pub fn new(
        clients: Arc<crate::clients::Clients>,
        pubsub: Arc<crate::pubsub::PubSub>,
        max_keys: usize,
    ) -> Tracking {
        Tracking {
            table: Mutex::default(),
            active: AtomicBool::new(false),
            max_keys: AtomicUsize::new(max_keys),
            clients,
            pubsub,
        }
    }

    /// Marks `id` as the client running a command on this thread until the guard goes;
    /// the BCAST invalidations it causes go out together when the outermost command ends.
    pub fn running(&self, id: u64) -> Running<'_> {
        DEPTH.with(|d| d.set(d.get() + 1));
        Running {
            tracking: self,
            previous: CURRENT.with(|c| c.replace(id)),
        }
    }

    /// Sends the BCAST invalidations a command queued: one message per client.
    fn send_batch(&self) {
        let batch = BATCH.with(|b| std::mem::take(&mut *b.borrow_mut()));
        if batch.is_empty() {
            return;
        }
        let mut by_client: Vec<(u64, Vec<&[u8]>)> = Vec::new();
        for (id, key) in &batch {
            match by_client.iter_mut().find(|(c, _)| c == id) {
                Some((_, keys)) if keys.contains(&key.as_slice()) => {}
                Some((_, keys)) => keys.push(key),
                None => by_client.push((*id, vec![key])),
            }
        }
        let t = self.table.lock();
        for (id, keys) in by_client {
            if let Some(c) = t.clients.get(&id) {
                self.send(c, Some(&keys));
            }
        }
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub fn set_max_keys(&self, n: usize) {
        self.max_keys.store(n, Ordering::Relaxed);
    }

    /// Starts (or changes) tracking for `client`.
    pub fn enable(&self, client: &Arc<ClientInfo>, mode: Mode) {
        let mut t = self.table.lock();
        t.bcast.retain(|id| *id != client.id);
        if mode.bcast {
            t.bcast.push(client.id);
        }
        t.clients.insert(
            client.id,
            Tracked {
                info: client.clone(),
                mode,
                broken: AtomicBool::new(false),
            },
        );
        self.active.store(true, Ordering::Relaxed);
    }

    /// Stops tracking for client `id` (CLIENT TRACKING OFF, RESET, disconnect). Its
    /// remembered keys are dropped lazily: an id without a client is skipped.
    pub fn disable(&self, id: u64) {
        let mut t = self.table.lock();
        if t.clients.remove(&id).is_some() {
            t.bcast.retain(|b| *b != id);
            if t.clients.is_empty() {
                t.keys.clear();
                self.active.store(false, Ordering::Relaxed);
            }
        }
    }

    /// Remembers that client `id` read `keys` (default mode).
    pub fn remember<'k>(&self, id: u64, keys: impl Iterator<Item = &'k [u8]>) {
        let mut t = self.table.lock();
        for key in keys {
            match t.keys.get_mut(key) {
                Some(ids) if ids.contains(&id) => {}
                Some(ids) => ids.push(id),
                None => {
                    t.keys.insert(key.to_vec(), vec![id]);
                }
            }
        }
        let max = self.max_keys.load(Ordering::Relaxed);
        if max != 0 && t.keys.len() > max {
            // Forget keys past the bound by telling their readers, as if they had changed:
            // a client that reads one again is tracked again. BCAST clients hear nothing;
            // nothing changed.
            let excess = t.keys.len() - max;
            let victims: Vec<Vec<u8>> = t.keys.keys().take(excess).cloned().collect();
            for key in victims {
                self.tell_readers(&mut t, &key, 0);
            }
        }
    }

    /// `key` changed: tell every client that may hold it.
    pub fn changed(&self, key: &[u8]) {
        let mut t = self.table.lock();
        let me = CURRENT.with(Cell::get);
        self.tell_readers(&mut t, key, me);
        for id in &t.bcast {
            let Some(c) = t.clients.get(id) else { continue };
            if c.mode.noloop && *id == me {
                continue;
            }
            if c.mode.prefixes.is_empty() || c.mode.prefixes.iter().any(|p| key.starts_with(p)) {
                if DEPTH.with(Cell::get) > 0 {
                    BATCH.with(|b| b.borrow_mut().push((*id, key.to_vec())));
                } else {
                    self.send(c, Some(&[key]));
                }
            }
        }
    }

    /// Default mode: invalidates `key` for the clients that read it (all but `me` under
    /// NOLOOP) and forgets them.
    fn tell_readers(&self, t: &mut Table, key: &[u8], me: u64) {
        if let Some(ids) = t.keys.remove(key) {
            for id in ids {
                if let Some(c) = t.clients.get(&id)
                    && !(c.mode.noloop && id == me)
                {
                    self.send(c, Some(&[key]));
                }
            }
        }
    }

    /// Every key may have changed (FLUSHDB, FLUSHALL, SWAPDB): a null invalidation to every
    /// tracking client, and the table starts again.
    pub fn flushed(&self) {
        let mut t = self.table.lock();
        t.keys.clear();
        for c in t.clients.values() {
            self.send(c, None);
        }
    }

    /// Sends one invalidation of `keys` (all keys: `None`) for `c` to wherever it goes.
    fn send(&self, c: &Tracked, keys: Option<&[&[u8]]>) {
        let redirected;
        let target: &ClientInfo = if c.mode.redirect == 0 {
            &c.info
        } else {
            match self.clients.get(c.mode.redirect) {
                Some(t) => {
                    redirected = t;
                    &redirected
                }
                None => {
                    // Redis tells a RESP3 client once that its redirect target is gone.
                    if !c.broken.swap(true, Ordering::Relaxed)
                        && c.info.resp.load(Ordering::Relaxed) == 3
                    {
                        let frame = Bytes::from(format!(
                            ">2\r\n$21\r\ntracking-redir-broken\r\n:{}\r\n",
                            c.mode.redirect
                        ));
                        self.pubsub.offer(&c.info, frame);
                    }
                    return;
                }
            }
        };
        let frame = if target.resp.load(Ordering::Relaxed) == 3 {
            invalidation(true, keys)
        } else if c.mode.redirect != 0 && target.subscriptions[0].load(Ordering::Relaxed) > 0 {
            invalidation(false, keys)
        } else {
            // A RESP2 connection can only be told through the channel.
            return;
        };
        // Invalidations count against the pubsub output limit: a client that stops reading
        // them is disconnected (and, reconnecting, must drop its near cache), rather than
        // left to grow the server's memory.
        self.pubsub.offer(target, frame);
    }

    /// INFO: tracking clients, remembered keys, (key, client) pairs, BCAST prefixes.
    pub fn stats(&self) -> (usize, usize, usize, usize) {
        let t = self.table.lock();
        let items = t.keys.values().map(Vec::len).sum();
        let prefixes = t
            .bcast
            .iter()
            .filter_map(|id| t.clients.get(id))
            .map(|c| c.mode.prefixes.len().max(1))
            .sum();
        (t.clients.len(), t.keys.len(), items, prefixes)
    }
}

/// An invalidation frame: a RESP3 push, or a RESP2 message on [`CHANNEL`], of `keys`
/// (a null for all of them).
pub fn invalidation(resp3: bool, keys: Option<&[&[u8]]>) -> Bytes {
    let size: usize = keys.map_or(0, |k| k.iter().map(|k| k.len() + 16).sum());
    let mut b = BytesMut::with_capacity(64 + size);
    if resp3 {
        b.put_slice(b">2\r\n$10\r\ninvalidate\r\n");
    } else {
        b.put_slice(b"*3\r\n$7\r\nmessage\r\n$");
        b.put_slice(CHANNEL.len().to_string().as_bytes());
        b.put_slice(b"\r\n");
        b.put_slice(CHANNEL);
        b.put_slice(b"\r\n");
    }
    match keys {
        Some(keys) => {
            b.put_slice(format!("*{}\r\n", keys.len()).as_bytes());
            for k in keys {
                b.put_slice(b"$");
                b.put_slice(k.len().to_string().as_bytes());
                b.put_slice(b"\r\n");
                b.put_slice(k);
                b.put_slice(b"\r\n");
            }
        }
        None if resp3 => b.put_slice(b"_\r\n"),
        None => b.put_slice(b"*-1\r\n"),
    }
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(
            &invalidation(true, Some(&[b"k".as_slice()]))[..],
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        assert_eq!(
            &invalidation(true, None)[..],
            b">2\r\n$10\r\ninvalidate\r\n_\r\n"
        );
        assert_eq!(
            &invalidation(false, Some(&[b"k".as_slice()]))[..],
            b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n"
        );
    }
}
