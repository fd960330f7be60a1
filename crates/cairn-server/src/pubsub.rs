//! Pub/Sub: who listens to which channel, pattern or shard channel, and delivery to them.
//!
//! Subscriptions live in one registry behind a read-write lock: PUBLISH takes it shared,
//! so publishers on different threads do not wait for each other, and (un)subscribing
//! takes it exclusively, which is rare next to publishing. A message is encoded at most
//! once per protocol and handed to each subscriber's [`Outbox`](crate::outbox::Outbox);
//! the subscriber's own connection task writes it out. A subscriber over its output
//! buffer limit is disconnected and no longer counted as a receiver.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;

use crate::clients::ClientInfo;
use crate::outbox::{OutputLimit, Refused};

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The three subscription spaces. Shard channels (SSUBSCRIBE, SPUBLISH) are apart from
/// plain ones: in a cluster a shard channel lives on the node owning its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// Position in per-kind arrays (a session's subscriptions, CLIENT LIST's counts).
    pub fn index(self) -> usize {
        match self {
            Kind::Channel => 0,
            Kind::Pattern => 1,
            Kind::Shard => 2,
        }
    }

    /// The first element of a (un)subscribe confirmation.
    pub fn verb(self, subscribe: bool) -> &'static str {
        match (self, subscribe) {
            (Kind::Channel, true) => "subscribe",
            (Kind::Channel, false) => "unsubscribe",
            (Kind::Pattern, true) => "psubscribe",
            (Kind::Pattern, false) => "punsubscribe",
            (Kind::Shard, true) => "ssubscribe",
            (Kind::Shard, false) => "sunsubscribe",
        }
    }
}

type Subscribers = FastMap<u64, Arc<ClientInfo>>;

/// One connection's own view of what it listens to.
#[derive(Default, Debug)]
pub struct Subscriptions {
    sets: [std::collections::HashSet<Vec<u8>, foldhash::fast::RandomState>; 3],
}

impl Subscriptions {
    /// Records a subscription; false if it was there already.
    pub fn add(&mut self, kind: Kind, name: &[u8]) -> bool {
        let set = &mut self.sets[kind.index()];
        !set.contains(name) && set.insert(name.to_vec())
    }

    pub fn remove(&mut self, kind: Kind, name: &[u8]) -> bool {
        self.sets[kind.index()].remove(name)
    }

    pub fn len(&self, kind: Kind) -> usize {
        self.sets[kind.index()].len()
    }

    /// The count a (P)SUBSCRIBE / (P)UNSUBSCRIBE confirmation carries: channels and
    /// patterns; shard channels are counted on their own.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.sets[2].len(),
            _ => self.sets[0].len() + self.sets[1].len(),
        }
    }

    /// RESP2's subscribed mode: any subscription at all.
    pub fn any(&self) -> bool {
        self.sets.iter().any(|s| !s.is_empty())
    }

    /// Every subscription of `kind`, for UNSUBSCRIBE without arguments.
    pub fn all(&self, kind: Kind) -> Vec<Vec<u8>> {
        self.sets[kind.index()].iter().cloned().collect()
    }
}

#[derive(Default)]
struct Registry {
    channels: FastMap<Vec<u8>, Subscribers>,
    patterns: FastMap<Vec<u8>, Subscribers>,
    shard: FastMap<Vec<u8>, Subscribers>,
}

impl Registry {
    fn space(&self, kind: Kind) -> &FastMap<Vec<u8>, Subscribers> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    fn space_mut(&mut self, kind: Kind) -> &mut FastMap<Vec<u8>, Subscribers> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

#[derive(Default)]
pub struct PubSub {
    registry: RwLock<Registry>,
    /// `client-output-buffer-limit pubsub`: hard, soft, soft seconds (read on every
    /// delivery, so atomics rather than the config lock).
    limit: [AtomicU64; 3],
    /// Subscribers disconnected for passing their output buffer limit (INFO stats
    /// client_output_buffer_limit_disconnections).
    pub disconnected: AtomicU64,
}

/// A message encoded lazily, once per protocol.
struct Encoded<'a> {
    parts: [&'a [u8]; 4],
    len: usize,
    resp2: Option<Bytes>,
    resp3: Option<Bytes>,
}

impl<'a> Encoded<'a> {
    fn new(parts: &[&'a [u8]]) -> Encoded<'a> {
        let mut all: [&[u8]; 4] = [b""; 4];
        all[..parts.len()].copy_from_slice(parts);
        Encoded {
            parts: all,
            len: parts.len(),
            resp2: None,
            resp3: None,
        }
    }

    fn for_protocol(&mut self, resp3: bool) -> Bytes {
        let slot = if resp3 {
            &mut self.resp3
        } else {
            &mut self.resp2
        };
        slot.get_or_insert_with(|| frame(resp3, &self.parts[..self.len]))
            .clone()
    }
}

/// An array (RESP2) or push (RESP3) frame of bulk strings.
pub fn frame(resp3: bool, parts: &[&[u8]]) -> Bytes {
    let size = parts.iter().map(|p| p.len() + 16).sum::<usize>() + 8;
    let mut b = Vec::with_capacity(size);
    cairn_protocol::resp::write_bulks(&mut b, if resp3 { b'>' } else { b'*' }, parts);
    Bytes::from(b)
}

impl PubSub {
    pub fn set_limit(&self, l: OutputLimit) {
        for (cell, v) in self.limit.iter().zip([l.hard, l.soft, l.soft_seconds]) {
            cell.store(v, Ordering::Relaxed);
        }
    }

    /// `client-output-buffer-limit pubsub`.
    pub fn limit(&self) -> OutputLimit {
        let [hard, soft, soft_seconds] = self.limit.each_ref().map(|c| c.load(Ordering::Relaxed));
        OutputLimit {
            hard,
            soft,
            soft_seconds,
        }
    }

    /// Adds `client` to `name`; false if it was subscribed already.
    pub fn subscribe(&self, kind: Kind, name: &[u8], client: &Arc<ClientInfo>) -> bool {
        let mut reg = self.registry.write();
        let subs = reg.space_mut(kind).entry(name.to_vec()).or_default();
        subs.insert(client.id, client.clone()).is_none()
    }

    /// Removes client `id` from `name`; false if it was not subscribed.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], id: u64) -> bool {
        let mut reg = self.registry.write();
        let space = reg.space_mut(kind);
        let Some(subs) = space.get_mut(name) else {
            return false;
        };
        let removed = subs.remove(&id).is_some();
        if subs.is_empty() {
            space.remove(name);
        }
        removed
    }

    /// Removes client `id` from everything (a connection that ended without cleaning up,
    /// which only a bug can cause: walks every subscription).
    pub fn forget(&self, id: u64) {
        let mut reg = self.registry.write();
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            let space = reg.space_mut(kind);
            space.retain(|_, subs| {
                subs.remove(&id);
                !subs.is_empty()
            });
        }
    }

    /// Sends `message` to the subscribers of `channel` and of every pattern matching it
    /// (or, for [`Kind::Shard`], of the shard channel). Returns how many received it.
    pub fn publish(&self, kind: Kind, channel: &[u8], message: &[u8]) -> usize {
        let mut receivers = 0;
        let reg = self.registry.read();
        let (space, verb): (_, &[u8]) = match kind {
            Kind::Shard => (&reg.shard, b"smessage"),
            _ => (&reg.channels, b"message"),
        };
        if let Some(subs) = space.get(channel) {
            receivers += self.deliver(subs, &mut Encoded::new(&[verb, channel, message]));
        }
        if kind == Kind::Channel {
            for (pattern, subs) in &reg.patterns {
                if cairn_store::glob::matches(pattern, channel, false) {
                    let mut msg = Encoded::new(&[b"pmessage", pattern, channel, message]);
                    receivers += self.deliver(subs, &mut msg);
                }
            }
        }
        receivers
    }

    /// Offers `msg` to each subscriber; counts the ones that took it.
    fn deliver(&self, subs: &Subscribers, msg: &mut Encoded<'_>) -> usize {
        subs.values()
            .filter(|c| self.offer(c, msg.for_protocol(c.resp.load(Ordering::Relaxed) == 3)))
            .count()
    }

    /// Queues `frame` for `client` within `client-output-buffer-limit pubsub`; a client
    /// over it is disconnected. False if the client did not take the frame. Invalidations
    /// go through here too.
    pub fn offer(&self, client: &ClientInfo, frame: Bytes) -> bool {
        if client.is_killed() {
            return false;
        }
        match client.outbox.offer(frame, self.limit()) {
            Ok(()) => true,
            Err(Refused::OverLimit) => {
                tracing::warn!(client = client.id, addr = %client.addr, "closing client: output buffer over client-output-buffer-limit pubsub");
                self.disconnected.fetch_add(1, Ordering::Relaxed);
                client.kill();
                false
            }
            Err(Refused::Closed) => false,
        }
    }

    /// Channels (or shard channels) with at least one subscriber, matching `pattern`.
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let reg = self.registry.read();
        reg.space(kind)
            .keys()
            .filter(|c| pattern.is_none_or(|p| cairn_store::glob::matches(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of one channel, pattern or shard channel.
    pub fn count(&self, kind: Kind, name: &[u8]) -> usize {
        self.registry
            .read()
            .space(kind)
            .get(name)
            .map_or(0, |s| s.len())
    }

    /// How many distinct channels, patterns or shard channels have subscribers.
    pub fn len(&self, kind: Kind) -> usize {
        self.registry.read().space(kind).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_in_both_protocols() {
        assert_eq!(
            &frame(false, &[b"message", b"ch", b"hi"])[..],
            b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        );
        assert_eq!(&frame(true, &[b"x"])[..], b">1\r\n$1\r\nx\r\n");
    }
}
