//! Holding every shard for a transaction, and the guard every shard lock returns.
//!
//! EXEC must run its queued commands with no other client seeing any state in between,
//! on any number of shards. The commands lock shards themselves, as they do outside a
//! transaction, so EXEC takes every shard first (in ascending order, like any multi-shard
//! lock) as a [`Hold`] registered with its thread; while the hold lasts, a shard lock taken
//! on that thread is *lent* from the hold instead of waiting on the mutex the thread
//! already owns. Lending is checked at run time: a shard already lent panics, exactly
//! where a second lock of the same mutex would have deadlocked, so two `&mut Shard` never
//! exist at once. Outside a transaction the cost is one thread-local read per lock.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use parking_lot::MutexGuard;

use crate::shard::Shard;

/// A locked shard.
pub struct ShardGuard<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Own(MutexGuard<'a, Shard>),
    Lent {
        shard: NonNull<Shard>,
        lent: &'a Cell<bool>,
        _shard: PhantomData<&'a mut Shard>,
    },
}

impl<'a> ShardGuard<'a> {
    #[inline]
    pub(crate) fn own(g: MutexGuard<'a, Shard>) -> ShardGuard<'a> {
        ShardGuard {
            inner: Inner::Own(g),
        }
    }
}

impl Deref for ShardGuard<'_> {
    type Target = Shard;
    #[inline]
    fn deref(&self) -> &Shard {
        match &self.inner {
            Inner::Own(g) => g,
            // SAFETY: the hold keeps the shard's mutex locked and lends each shard to one
            // guard at a time (see `Held::lend`); the hold outlives its guards (`Hold::drop`).
            Inner::Lent { shard, .. } => unsafe { shard.as_ref() },
        }
    }
}

impl DerefMut for ShardGuard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Shard {
        match &mut self.inner {
            Inner::Own(g) => g,
            // SAFETY: as in `deref`; this guard is the only one lent this shard.
            Inner::Lent { shard, .. } => unsafe { shard.as_mut() },
        }
    }
}

impl Drop for ShardGuard<'_> {
    fn drop(&mut self) {
        if let Inner::Lent { lent, .. } = &self.inner {
            lent.set(false);
        }
    }
}

/// The state a hold registers with its thread.
pub(crate) struct Held {
    /// Which keyspace (tests build several in one thread).
    owner: usize,
    shards: Vec<NonNull<Shard>>,
    lent: Vec<Cell<bool>>,
}

thread_local! {
    static HELD: Cell<Option<NonNull<Held>>> = const { Cell::new(None) };
}

/// Every shard of a keyspace, locked by this thread until dropped.
pub struct Hold<'a> {
    held: Box<Held>,
    guards: Vec<MutexGuard<'a, Shard>>,
}

impl<'a> Hold<'a> {
    /// Registers `guards` (every shard, in index order) with this thread.
    pub(crate) fn new(owner: usize, mut guards: Vec<MutexGuard<'a, Shard>>) -> Hold<'a> {
        assert!(
            HELD.with(Cell::get).is_none(),
            "a shard hold is already active on this thread"
        );
        let shards = guards.iter_mut().map(|g| NonNull::from(&mut **g)).collect();
        let lent = (0..guards.len()).map(|_| Cell::new(false)).collect();
        let held = Box::new(Held {
            owner,
            shards,
            lent,
        });
        HELD.with(|h| h.set(Some(NonNull::from(&*held))));
        Hold { held, guards }
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        HELD.with(|h| h.set(None));
        if self.held.lent.iter().any(Cell::get) {
            // A guard lent from this hold is still alive and would point at a shard whose
            // mutex is about to be released. Only a bug gets here; stop before it corrupts.
            eprintln!("cairn: a shard guard outlived its transaction hold; aborting");
            std::process::abort();
        }
        self.guards.clear();
    }
}

/// Shard `index` of keyspace `owner`, lent from this thread's hold if it has one.
#[inline]
pub(crate) fn lend<'a>(owner: usize, index: usize) -> Option<ShardGuard<'a>> {
    let held = HELD.with(Cell::get)?;
    // SAFETY: the pointer was registered by a live `Hold` on this thread (it unregisters
    // itself before it goes), and only this thread reads it.
    let held: &'a Held = unsafe { held.as_ref() };
    if held.owner != owner {
        return None;
    }
    let lent = &held.lent[index];
    assert!(
        !lent.get(),
        "shard {index} locked twice on one thread (this would deadlock outside a transaction)"
    );
    lent.set(true);
    Some(ShardGuard {
        inner: Inner::Lent {
            shard: held.shards[index],
            lent,
            _shard: PhantomData,
        },
    })
}
