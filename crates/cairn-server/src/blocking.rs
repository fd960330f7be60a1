//! Clients blocked on keys (BLPOP, BLMOVE, BLMPOP; later BZPOPMIN and XREAD BLOCK), and
//! how they are served, as Redis serves them.
//!
//! A blocking command that finds nothing registers a [`Waiter`] (its command, database,
//! keys, and how to try it again) and parks its connection on a one-shot channel. Writes
//! never look for waiters themselves: the store reports every written key to the server's
//! observer (`crate::keyevents`), which marks a key *ready* when someone waits on it.
//! When the command that wrote it ends (a client's command, a whole EXEC, one command of
//! the primary's stream), dispatch calls [`Blocking::serve_ready`]: for each ready key,
//! in the order keys became ready, the waiters on it are tried in the order they blocked;
//! each try runs the waiter's pop under the key's shard lock, journals it as the
//! non-blocking command (LPOP, LMOVE) and sends the reply to the parked connection. So a
//! push that several clients wait for serves the first one before the pusher's reply
//! goes out, a push of three elements serves three waiters, a push and a pop inside one
//! MULTI serve nobody, and an element moved by a served BLMOVE serves the waiters of its
//! destination in the same pass.
//!
//! Locks: `reg` (held for a whole serving pass) is taken before shard locks; `signals` is
//! a leaf, taken by the observer with a shard locked. Registration takes `reg` without
//! any shard lock, then checks its keys once more, so a push between the command's look
//! and its registration is not missed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use cairn_protocol::Reply;
use cairn_protocol::resp::reply::Protocol;
use parking_lot::Mutex;
use tokio::sync::oneshot;

/// What a waiter's try did.
pub enum Served {
    /// The key holds nothing (it is missing): neither this waiter nor any after it can
    /// be served from it.
    Nothing,
    /// The key holds something this waiter cannot take (another type): it keeps
    /// waiting, and the next waiter is tried.
    NotYet,
    /// Done: this is its reply.
    Reply(Vec<u8>),
    /// Done with an error (BLMOVE to a destination that is no list).
    Error(String),
}

/// Tries a waiter again on `key`, which may now hold what it waits for (the family's
/// pop, holding what it needs of the server).
pub type ServeFn = Box<dyn Fn(&Waiter, &[u8]) -> Served + Send + Sync>;

/// What a parked connection is woken with.
#[derive(Debug)]
pub enum Wake {
    Reply(Vec<u8>),
    Error(String),
    /// Dispatch the command again (its slot moved, the node's role changed): it is judged
    /// anew, and answers MOVED or READONLY, or blocks again.
    Rerun,
}

/// A blocked client's command.
pub struct Waiter {
    pub client: u64,
    pub db: usize,
    pub keys: Vec<Vec<u8>>,
    pub serve: ServeFn,
    pub protocol: Protocol,
    tx: Option<oneshot::Sender<Wake>>,
}

impl Waiter {
    pub fn new(
        client: u64,
        db: usize,
        keys: Vec<Vec<u8>>,
        serve: ServeFn,
        protocol: Protocol,
    ) -> Waiter {
        Waiter {
            client,
            db,
            keys,
            serve,
            protocol,
            tx: None,
        }
    }

    /// A reply in this client's protocol.
    pub fn reply(&self, f: impl FnOnce(&mut Reply)) -> Vec<u8> {
        let mut out = Reply::with_capacity(self.protocol, 64);
        f(&mut out);
        out.into_bytes()
    }

    /// What a waiter gets when its time is up (or CLIENT UNBLOCK ... TIMEOUT): the null
    /// array, whatever the command (Redis's `replyToBlockedClientTimedOut`; BLMOVE too).
    fn timeout_reply(&self) -> Vec<u8> {
        self.reply(Reply::null_array)
    }

    fn wake(mut self, w: Wake) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(w);
        }
    }
}

type DbKey = (usize, Vec<u8>);

thread_local! {
    /// The key a serving pass is trying on this thread (see [`Blocking::written`]).
    static TRYING: std::cell::RefCell<Option<DbKey>> = const { std::cell::RefCell::new(None) };
}

#[derive(Default)]
struct Registry {
    waiters: HashMap<u64, Waiter>,
    /// Who waits on a key, first blocked first.
    by_key: HashMap<DbKey, VecDeque<u64>>,
}

#[derive(Default)]
struct Signals {
    /// Keys someone waits on, by database, with how many waiters (looked up by a borrowed
    /// key: every write asks while anyone is blocked).
    waited: HashMap<usize, HashMap<Vec<u8>, usize>>,
    /// Keys written since the last serving pass that someone waits on, in order.
    ready: Vec<DbKey>,
}

#[derive(Default)]
pub struct Blocking {
    count: AtomicUsize,
    any_ready: AtomicBool,
    reg: Mutex<Registry>,
    signals: Mutex<Signals>,
}

/// A parked blocking command, as its connection waits on it. Dropping it (the client
/// went away, or was killed) takes the waiter out.
pub struct Parked {
    pub client: u64,
    pub rx: oneshot::Receiver<Wake>,
    pub deadline: Option<Instant>,
    blocking: Arc<Blocking>,
}

impl std::fmt::Debug for Parked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blocked(client {}, {:?})", self.client, self.deadline)
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        self.blocking.cancel(self.client);
    }
}

impl Parked {
    /// The time is up: the waiter comes out, and gets its timeout reply, unless it was
    /// served (or unblocked) meanwhile, in which case that is the reply.
    pub fn expire(&mut self) -> Wake {
        match self.blocking.take(self.client) {
            Some(w) => Wake::Reply(w.timeout_reply()),
            None => self
                .rx
                .try_recv()
                .unwrap_or_else(|_| Wake::Error("ERR blocked command lost its waiter".into())),
        }
    }
}

impl Blocking {
    /// Blocked clients (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    /// Registers `w`; the connection parks on what comes back. The caller then switches
    /// the store's change reports on (`Server::refresh_observing`) and looks at the keys
    /// once more: one that holds something now was written between its first look and
    /// this registration, and goes to [`Blocking::mark_ready`], so that the serving pass
    /// at the end of this command serves it, in turn with those who blocked before.
    pub fn block(self: &Arc<Self>, mut w: Waiter, deadline: Option<Instant>) -> Parked {
        let (tx, rx) = oneshot::channel();
        w.tx = Some(tx);
        let client = w.client;
        let keys: Vec<DbKey> = w.keys.iter().map(|k| (w.db, k.clone())).collect();
        {
            let mut reg = self.reg.lock();
            if let Some(old) = reg.waiters.remove(&client) {
                // A client blocks once at a time; a rerun replaces its old entry.
                self.forget(&mut reg, &old);
            }
            let mut sig = self.signals.lock();
            for k in &keys {
                let q = reg.by_key.entry(k.clone()).or_default();
                if !q.contains(&client) {
                    q.push_back(client);
                    *sig.waited
                        .entry(k.0)
                        .or_default()
                        .entry(k.1.clone())
                        .or_insert(0) += 1;
                }
            }
            drop(sig);
            reg.waiters.insert(client, w);
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        Parked {
            client,
            rx,
            deadline,
            blocking: self.clone(),
        }
    }

    /// Takes `client`'s waiter out of the registry, if it is there.
    fn take(&self, client: u64) -> Option<Waiter> {
        let mut reg = self.reg.lock();
        let w = reg.waiters.remove(&client)?;
        self.forget(&mut reg, &w);
        Some(w)
    }

    /// Drops `w`'s place in the key queues (it is out of `waiters` already).
    fn forget(&self, reg: &mut Registry, w: &Waiter) {
        let mut sig = self.signals.lock();
        for k in &w.keys {
            let dk = (w.db, k.clone());
            if let Some(q) = reg.by_key.get_mut(&dk) {
                q.retain(|c| *c != w.client);
                if q.is_empty() {
                    reg.by_key.remove(&dk);
                }
            }
            if let Some(keys) = sig.waited.get_mut(&w.db) {
                if let Some(n) = keys.get_mut(k.as_slice()) {
                    *n -= 1;
                    if *n == 0 {
                        keys.remove(k.as_slice());
                    }
                }
                if keys.is_empty() {
                    sig.waited.remove(&w.db);
                }
            }
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
    }

    /// The client's waiter goes (it disconnected, or its park was dropped).
    pub fn cancel(&self, client: u64) {
        if !self.is_empty() {
            self.take(client);
        }
    }

    /// CLIENT UNBLOCK: true if `client` was blocked; it gets its timeout reply, or
    /// Redis's UNBLOCKED error.
    pub fn unblock(&self, client: u64, error: bool) -> bool {
        let Some(w) = self.take(client) else {
            return false;
        };
        let wake = if error {
            Wake::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
        } else {
            Wake::Reply(w.timeout_reply())
        };
        w.wake(wake);
        true
    }

    /// Wakes every waiter whose keys `moved` says are no longer served here (a slot
    /// migrated away, the node became a replica) to run its command again.
    pub fn rerun_if(&self, moved: impl Fn(&Waiter) -> bool) {
        if self.is_empty() {
            return;
        }
        let mut reg = self.reg.lock();
        let ids: Vec<u64> = reg
            .waiters
            .values()
            .filter(|w| moved(w))
            .map(|w| w.client)
            .collect();
        for id in ids {
            if let Some(w) = reg.waiters.remove(&id) {
                self.forget(&mut reg, &w);
                w.wake(Wake::Rerun);
            }
        }
    }

    /// Wakes every waiter with `error` (the node stopped being a primary).
    pub fn fail_all(&self, error: &str) {
        if self.is_empty() {
            return;
        }
        let mut reg = self.reg.lock();
        let all: Vec<u64> = reg.waiters.keys().copied().collect();
        for id in all {
            if let Some(w) = reg.waiters.remove(&id) {
                self.forget(&mut reg, &w);
                w.wake(Wake::Error(error.to_string()));
            }
        }
    }

    /// The store wrote `key` in `db` (called with its shard locked).
    pub fn written(&self, db: usize, key: &[u8]) {
        if self.is_empty() {
            return;
        }
        let trying = |t: &Option<DbKey>| t.as_ref().is_some_and(|(d, k)| *d == db && k == key);
        if TRYING.with(|t| trying(&t.borrow())) {
            return;
        }
        let mut sig = self.signals.lock();
        let waited = sig
            .waited
            .get(&db)
            .is_some_and(|keys| keys.contains_key(key));
        if waited {
            self.push_ready(&mut sig, db, key);
        }
    }

    /// Queues `key` of `db` for the next serving pass, once.
    fn push_ready(&self, sig: &mut Signals, db: usize, key: &[u8]) {
        if !sig.ready.iter().any(|(d, k)| *d == db && k == key) {
            sig.ready.push((db, key.to_vec()));
        }
        self.any_ready.store(true, Ordering::Release);
    }

    /// Every key of `db` may have changed (SWAPDB, FLUSHDB): all its waited keys are
    /// ready.
    pub fn flushed(&self, db: usize) {
        if self.is_empty() {
            return;
        }
        let mut sig = self.signals.lock();
        let keys: Vec<Vec<u8>> = sig
            .waited
            .get(&db)
            .map(|keys| keys.keys().cloned().collect())
            .unwrap_or_default();
        for key in keys {
            self.push_ready(&mut sig, db, &key);
        }
    }

    /// `key` may hold what its waiters wait for: served at the end of this command.
    pub fn mark_ready(&self, db: usize, key: &[u8]) {
        let mut sig = self.signals.lock();
        self.push_ready(&mut sig, db, key);
    }

    /// Serves the waiters of every key written since the last pass (see the module's
    /// doc). Called when a command ends, before its reply goes out.
    pub fn serve_ready(&self) {
        if self.is_empty() && !self.any_ready.load(Ordering::Acquire) {
            return;
        }
        // Taken even when nothing is ready: another thread may be serving a key this
        // command wrote, and its waiters must be served before this command's reply.
        let mut reg = self.reg.lock();
        loop {
            let ready = {
                let mut sig = self.signals.lock();
                self.any_ready.store(false, Ordering::Release);
                std::mem::take(&mut sig.ready)
            };
            if ready.is_empty() {
                return;
            }
            for dk in ready {
                self.serve_key(&mut reg, &dk);
            }
        }
    }

    fn serve_key(&self, reg: &mut Registry, dk: &DbKey) {
        let Some(queue) = reg.by_key.get(dk) else {
            return;
        };
        let queue: Vec<u64> = queue.iter().copied().collect();
        for id in queue {
            let Some(w) = reg.waiters.get(&id) else {
                continue;
            };
            // The try's own lookups of this key report it written; that is no news.
            TRYING.with(|t| *t.borrow_mut() = Some(dk.clone()));
            let outcome = (w.serve)(w, &dk.1);
            TRYING.with(|t| *t.borrow_mut() = None);
            let wake = match outcome {
                Served::Nothing => return,
                Served::NotYet => continue,
                Served::Reply(bytes) => Wake::Reply(bytes),
                Served::Error(e) => Wake::Error(e),
            };
            let w = reg.waiters.remove(&id).expect("present above");
            self.forget(reg, &w);
            w.wake(wake);
        }
    }
}
