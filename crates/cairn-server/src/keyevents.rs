//! The store's reports of changed keys (`cairn_store::observe`), handed to client-side
//! caching, to keyspace notifications and to clients blocked on keys. Called with the key's shard locked.

use std::sync::Arc;

use cairn_store::observe::{Change, Observer};

use crate::blocking::Blocking;
use crate::notify::{Notifier, class};
use crate::tracking::Tracking;

pub struct KeyEvents {
    pub tracking: Arc<Tracking>,
    pub notifier: Arc<Notifier>,
    pub blocking: Arc<Blocking>,
}

impl Observer for KeyEvents {
    fn changed(&self, db: usize, key: &[u8], change: Change) {
        // A creation always follows a `Written` report of the same key, and a miss
        // changes nothing: neither invalidates.
        if self.tracking.is_active() && !matches!(change, Change::Created | Change::Missed) {
            self.tracking.changed(key);
        }
        match change {
            Change::Expired => self.notifier.notify(class::EXPIRED, "expired", key, db),
            Change::Evicted => self.notifier.notify(class::EVICTED, "evicted", key, db),
            Change::Created => self.notifier.notify(class::NEW_KEY, "new", key, db),
            Change::Missed => self.notifier.notify(class::KEY_MISS, "keymiss", key, db),
            Change::FieldsExpired => self.notifier.notify(class::HASH, "hexpired", key, db),
            Change::Emptied => self.notifier.notify(class::GENERIC, "del", key, db),
            Change::Written => self.blocking.written(db, key),
            // A deleted key wakes its waiters too: a blocked XREADGROUP answers UNBLOCKED.
            Change::Deleted => self.blocking.written(db, key),
        }
    }

    fn flushed(&self, db: usize) {
        if self.tracking.is_active() {
            self.tracking.flushed();
        }
        self.blocking.flushed(db);
    }
}
