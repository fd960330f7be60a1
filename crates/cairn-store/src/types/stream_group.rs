//! A stream's consumer group, as Redis keeps one: the last id delivered to it, its
//! logical read counter, the pending entries list (PEL: entries delivered and not yet
//! acknowledged, each with its consumer, last delivery time and delivery count), and its
//! consumers, each with the ids of the PEL it owns. Groups and consumers are kept in byte
//! order of their names, as XINFO lists them.

use std::collections::{BTreeMap, BTreeSet};

use crate::alloc::alloc_class;
use crate::types::stream_id::StreamId;

/// A pending entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The consumer it was last delivered to.
    pub consumer: Vec<u8>,
    /// Unix ms of its last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Unix ms of its last attempted interaction (XREADGROUP, XCLAIM, XAUTOCLAIM).
    pub seen_time: u64,
    /// Unix ms of its last successful one (something read or claimed), `None` if never.
    pub active_time: Option<u64>,
    /// The ids of the group's PEL it owns.
    pub pending: BTreeSet<StreamId>,
}

/// What one PEL entry and one consumer cost in memory, roughly (tree node shares).
const PEL_BYTES: usize = 80;
const CONSUMER_BYTES: usize = 96;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// Entries the group has read (Redis's `entries_read`), `None` when unknown.
    pub entries_read: Option<u64>,
    pel: BTreeMap<StreamId, Pending>,
    consumers: BTreeMap<Vec<u8>, Consumer>,
    heap: usize,
}

impl Group {
    pub fn new(name: &[u8], last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
            heap: alloc_class(name.len()) + 96,
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.heap
    }

    /// XGROUP SETID.
    pub fn set_id(&mut self, last: StreamId, entries_read: Option<u64>) {
        self.last_id = last;
        self.entries_read = entries_read;
    }

    pub fn pel(&self) -> &BTreeMap<StreamId, Pending> {
        &self.pel
    }

    pub fn pending(&self, id: StreamId) -> Option<&Pending> {
        self.pel.get(&id)
    }

    pub fn consumers(&self) -> &BTreeMap<Vec<u8>, Consumer> {
        &self.consumers
    }

    pub fn consumer(&self, name: &[u8]) -> Option<&Consumer> {
        self.consumers.get(name)
    }

    /// The consumer named so, made (seen now, never active) when new; whether it was made.
    pub fn ensure_consumer(&mut self, name: &[u8], now_ms: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.to_vec(),
            Consumer {
                seen_time: now_ms,
                active_time: None,
                pending: BTreeSet::new(),
            },
        );
        self.heap += CONSUMER_BYTES + alloc_class(name.len());
        true
    }

    /// Records an interaction of a consumer (which must exist): seen now, and active now
    /// when it got something.
    pub fn touch(&mut self, name: &[u8], now_ms: u64, active: bool) {
        if let Some(c) = self.consumers.get_mut(name) {
            c.seen_time = now_ms;
            if active {
                c.active_time = Some(now_ms);
            }
        }
    }

    /// Restores a consumer's times as a load found them.
    pub fn set_consumer_times(&mut self, name: &[u8], seen: u64, active: Option<u64>) {
        if let Some(c) = self.consumers.get_mut(name) {
            c.seen_time = seen;
            c.active_time = active;
        }
    }

    /// XGROUP DELCONSUMER: its pending entries leave the PEL; how many it had, or `None`
    /// when there is no such consumer.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pending {
            self.pel.remove(id);
        }
        self.heap -= CONSUMER_BYTES + alloc_class(name.len()) + c.pending.len() * PEL_BYTES;
        Some(c.pending.len())
    }

    /// Puts `id` in the PEL as delivered to `consumer` (which must exist) at `time` with
    /// `count` deliveries, moving it from its previous owner if it had one.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], time: u64, count: u64) {
        match self.pel.get_mut(&id) {
            Some(p) => {
                if p.consumer != consumer {
                    if let Some(old) = self.consumers.get_mut(&p.consumer) {
                        old.pending.remove(&id);
                    }
                    p.consumer = consumer.to_vec();
                }
                p.delivery_time = time;
                p.delivery_count = count;
            }
            None => {
                self.pel.insert(
                    id,
                    Pending {
                        consumer: consumer.to_vec(),
                        delivery_time: time,
                        delivery_count: count,
                    },
                );
                self.heap += PEL_BYTES;
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
        }
    }

    /// A history read delivered `id` again: its time is now and its count one more.
    pub fn redeliver(&mut self, id: StreamId, now_ms: u64) {
        if let Some(p) = self.pel.get_mut(&id) {
            p.delivery_time = now_ms;
            p.delivery_count += 1;
        }
    }

    /// XACK of one id: whether it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(p) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&p.consumer) {
            c.pending.remove(&id);
        }
        self.heap -= PEL_BYTES;
        true
    }
}
