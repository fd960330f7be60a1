//! Leases: one reader refills a missing or stale key while the others wait or take the
//! stale value, and a refill that raced with an invalidation is refused (Facebook's
//! memcache leases, NSDI'13; memcached's meta protocol flags W, Z and X).
//!
//! The state lives in the entry itself (see [`crate::entry::Mc`]), so the two protocols
//! share one primitive: a RESP `LEASE GET` and a memcached `mg` on the same key see the
//! same winner, and either protocol's refill is checked against the same CAS unique.
//!
//! - The **token** a winner receives is the key's CAS unique. Any write gives the key a
//!   new CAS (or none), an invalidation gives it a new one, and a delete removes the key:
//!   a refill that presents an old token finds a different CAS or no key and is refused.
//! - A **miss** is turned into a placeholder (an empty value with the lease's TTL) whose
//!   win token went to the caller, as memcached's `mg ... N<ttl>` does; readers that come
//!   after see "someone refills" until the winner stores the value or the TTL runs out.
//! - An **invalidation** marks the key stale instead of deleting it: readers keep getting
//!   the old value, flagged stale, and the first of them wins the right to refill.

use crate::entry::{Entry, Mc};

/// What a lease-aware read tells its caller, besides the value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// W: this caller should refill the key (and store with the key's CAS as token).
    pub won: bool,
    /// Z: a win token for this key was already handed to someone else.
    pub already_sent: bool,
    /// X: the value is stale (invalidated); serve it while the winner refills.
    pub stale: bool,
}

/// Decides a lease-aware read of `e` and records a win in it, exactly as memcached's
/// `mg` does: a placeholder the caller just `created` is won; a key whose TTL ends before
/// `recache_before` (Unix ms, meta `R`) is won by the first reader that sees it so; a
/// stale key is won by its first reader. Once a token is out, later readers get Z.
pub fn decide(e: &mut Entry, created: bool, recache_before: Option<u64>) -> Verdict {
    let mut mc = e.mc();
    let sent = mc.state & Mc::WON != 0;
    let stale = mc.state & Mc::STALE != 0;
    let mut won = created;
    if let Some(limit) = recache_before
        && !sent
        && !created
        && e.expire_at().is_some_and(|at| at < limit)
    {
        won = true;
    }
    if stale && !sent {
        won = true;
    }
    if won {
        mc.state |= Mc::WON;
        e.set_mc(mc);
    }
    Verdict {
        won,
        already_sent: sent,
        stale,
    }
}

/// The key's CAS unique, assigning one from `next` if it has none yet (CAS values are
/// handed out lazily: a key nobody asked about costs no CAS bytes).
pub fn cas(e: &mut Entry, next: impl FnOnce() -> u64) -> u64 {
    let mut mc = e.mc();
    if mc.cas == 0 {
        mc.cas = next();
        e.set_mc(mc);
    }
    mc.cas
}

/// Marks `e` stale (meta `md I`, RESP `LEASE INVALIDATE`): the value stays, readers see
/// it flagged stale, the next reader wins a refill, and outstanding tokens die with the
/// old CAS.
pub fn invalidate(e: &mut Entry, new_cas: u64) {
    let mut mc = e.mc();
    mc.state = (mc.state | Mc::STALE) & !Mc::WON;
    mc.cas = new_cas;
    e.set_mc(mc);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(deadline: u64) -> Entry {
        Entry::with_mc(b"k", b"v", deadline, 0, 0)
    }

    #[test]
    fn first_reader_of_a_placeholder_wins_the_rest_wait() {
        let mut e = entry(0);
        let first = decide(&mut e, true, None);
        assert!(first.won && !first.already_sent && !first.stale);
        let second = decide(&mut e, false, None);
        assert!(!second.won && second.already_sent);
    }

    #[test]
    fn a_stale_key_is_won_once_and_served_stale_to_all() {
        let mut e = entry(0);
        invalidate(&mut e, 7);
        assert_eq!(e.mc().cas, 7);
        let first = decide(&mut e, false, None);
        assert!(first.won && first.stale && !first.already_sent);
        let second = decide(&mut e, false, None);
        assert!(!second.won && second.stale && second.already_sent);
        // A second invalidation gives the next reader a new chance.
        invalidate(&mut e, 8);
        assert!(decide(&mut e, false, None).won);
    }

    #[test]
    fn recache_wins_only_when_the_ttl_is_short_enough() {
        let mut e = entry(10_000);
        assert!(!decide(&mut e, false, Some(5_000)).won);
        assert!(decide(&mut e, false, Some(20_000)).won);
        assert!(!decide(&mut e, false, Some(20_000)).won);
    }

    #[test]
    fn cas_is_assigned_once_and_survives_in_place_state_changes() {
        let mut e = entry(0);
        let mut n = 40;
        let c = cas(&mut e, || {
            n += 1;
            n
        });
        assert_eq!(c, 41);
        assert_eq!(cas(&mut e, || unreachable!()), 41);
        decide(&mut e, true, None);
        assert_eq!(e.mc().cas, 41);
        assert_eq!(e.value().as_bytes().as_ref(), b"v");
        assert_eq!(e.key(), b"k");
    }
}
