//! A circuit breaker per node: after a run of failures, stop sending to the node for a while
//! and answer at once instead, then let one probe through to see whether it is back.
//!
//! A node that is down costs every caller a timeout; with the breaker open they fail in
//! nanoseconds and fall back to the source of truth. In sharded mode an open breaker is also
//! memcached's "dead server": its keys are *not* moved to other nodes (they would read cold
//! or, worse, old copies when the node returns), they just bypass the cache until it is back.
//!
//! The state machine is pure: time comes in as an argument, so tests drive it without sleeps.
//!
//! ```text
//!            N failures in a row               open_for elapsed: admit one probe
//!  Closed ─────────────────────────▶ Open ──────────────────────────────────▶ HalfOpen
//!    ▲                                ▲                                          │
//!    │             probe fails        └──────────────────────────────────────────┤
//!    └───────────────────────────────────────────────────────────────────────────┘
//!                                     probe succeeds
//! ```

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// When a breaker opens and how long it stays open.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerOptions {
    /// Consecutive failures that open the breaker (0 turns the breaker off).
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before it lets a probe through; in sharded
    /// mode this is the `dead_timeout` of memcached clients.
    pub open_for: Duration,
}

impl Default for BreakerOptions {
    fn default() -> BreakerOptions {
        BreakerOptions {
            failure_threshold: 5,
            open_for: Duration::from_secs(10),
        }
    }
}

impl BreakerOptions {
    /// Opens after `failure_threshold` failures in a row, for `open_for`.
    pub fn new(failure_threshold: u32, open_for: Duration) -> BreakerOptions {
        BreakerOptions {
            failure_threshold,
            open_for,
        }
    }
}

/// What the breaker is doing, as reported in metrics (`cairn_client_breaker_state`: 0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// One probe is out; other calls are refused until it reports.
    HalfOpen,
    /// Calls are refused.
    Open,
}

impl BreakerState {
    /// The gauge value exported for this state.
    pub fn as_gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// The breaker's answer to "may I call the node?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allowed,
    /// Go ahead: you are the probe that decides whether the breaker closes.
    Probe,
    /// Do not call; the node is considered down.
    Rejected,
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// `since`: when the probe was let through; a probe that never reports (its caller was
    /// cancelled) is replaced after another `open_for`.
    HalfOpen {
        since: Instant,
    },
}

/// One node's breaker. Cheap to consult: one uncontended mutex.
#[derive(Debug)]
pub struct Breaker {
    options: BreakerOptions,
    inner: Mutex<Inner>,
}

/// What a report changed, so the caller can log and export transitions once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state before the report.
    pub from: BreakerState,
    /// The state after it.
    pub to: BreakerState,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(options: BreakerOptions) -> Breaker {
        Breaker {
            options,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    /// Asks to call the node at `now`.
    pub fn admit(&self, now: Instant) -> Admission {
        if self.options.failure_threshold == 0 {
            return Admission::Allowed;
        }
        let mut inner = self.inner.lock();
        match *inner {
            Inner::Closed { .. } => Admission::Allowed,
            Inner::Open { until } if now >= until => {
                *inner = Inner::HalfOpen { since: now };
                Admission::Probe
            }
            Inner::Open { .. } => Admission::Rejected,
            Inner::HalfOpen { since } if now >= since + self.options.open_for => {
                *inner = Inner::HalfOpen { since: now };
                Admission::Probe
            }
            Inner::HalfOpen { .. } => Admission::Rejected,
        }
    }

    /// Reports a call that reached the node and got an answer.
    pub fn on_success(&self) -> Option<Transition> {
        let mut inner = self.inner.lock();
        let from = state_of(&inner);
        *inner = Inner::Closed { failures: 0 };
        (from != BreakerState::Closed).then_some(Transition {
            from,
            to: BreakerState::Closed,
        })
    }

    /// Reports a call that failed for the node's sake (I/O error, timeout, refused
    /// connection), at `now`. Server error replies are answers, not failures.
    pub fn on_failure(&self, now: Instant) -> Option<Transition> {
        if self.options.failure_threshold == 0 {
            return None;
        }
        let mut inner = self.inner.lock();
        let from = state_of(&inner);
        let open = Inner::Open {
            until: now + self.options.open_for,
        };
        match *inner {
            Inner::Closed { failures } if failures + 1 >= self.options.failure_threshold => {
                *inner = open
            }
            Inner::Closed { failures } => {
                *inner = Inner::Closed {
                    failures: failures + 1,
                }
            }
            Inner::HalfOpen { .. } => *inner = open,
            // A straggler that was admitted before the breaker opened: it does not extend it.
            Inner::Open { .. } => {}
        }
        let to = state_of(&inner);
        (from != to).then_some(Transition { from, to })
    }

    /// The state at `now` (an open breaker whose time is up reads as half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        match *self.inner.lock() {
            Inner::Open { until } if now >= until => BreakerState::HalfOpen,
            ref inner => state_of(inner),
        }
    }
}

fn state_of(inner: &Inner) -> BreakerState {
    match inner {
        Inner::Closed { .. } => BreakerState::Closed,
        Inner::Open { .. } => BreakerState::Open,
        Inner::HalfOpen { .. } => BreakerState::HalfOpen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> (Breaker, Instant) {
        (
            Breaker::new(BreakerOptions::new(3, Duration::from_secs(10))),
            Instant::now(),
        )
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let (b, t) = breaker();
        assert_eq!(b.on_failure(t), None);
        assert_eq!(b.on_failure(t), None);
        assert_eq!(b.admit(t), Admission::Allowed);
        let tr = b.on_failure(t).expect("third failure opens");
        assert_eq!((tr.from, tr.to), (BreakerState::Closed, BreakerState::Open));
        assert_eq!(b.admit(t + Duration::from_secs(9)), Admission::Rejected);
        assert_eq!(b.state(t), BreakerState::Open);
    }

    #[test]
    fn a_success_resets_the_count() {
        let (b, t) = breaker();
        b.on_failure(t);
        b.on_failure(t);
        b.on_success();
        b.on_failure(t);
        b.on_failure(t);
        assert_eq!(b.state(t), BreakerState::Closed);
    }

    #[test]
    fn half_open_admits_one_probe_and_closes_on_success() {
        let (b, t) = breaker();
        for _ in 0..3 {
            b.on_failure(t);
        }
        let later = t + Duration::from_secs(10);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        assert_eq!(b.admit(later), Admission::Probe);
        assert_eq!(b.admit(later), Admission::Rejected, "one probe at a time");
        let tr = b.on_success().unwrap();
        assert_eq!(
            (tr.from, tr.to),
            (BreakerState::HalfOpen, BreakerState::Closed)
        );
        assert_eq!(b.admit(later), Admission::Allowed);
    }

    #[test]
    fn a_failed_probe_reopens_for_another_period() {
        let (b, t) = breaker();
        for _ in 0..3 {
            b.on_failure(t);
        }
        let t1 = t + Duration::from_secs(10);
        assert_eq!(b.admit(t1), Admission::Probe);
        let tr = b.on_failure(t1).unwrap();
        assert_eq!(
            (tr.from, tr.to),
            (BreakerState::HalfOpen, BreakerState::Open)
        );
        assert_eq!(b.admit(t1 + Duration::from_secs(9)), Admission::Rejected);
        assert_eq!(b.admit(t1 + Duration::from_secs(10)), Admission::Probe);
    }

    #[test]
    fn a_lost_probe_is_replaced_after_open_for() {
        let (b, t) = breaker();
        for _ in 0..3 {
            b.on_failure(t);
        }
        let t1 = t + Duration::from_secs(10);
        assert_eq!(b.admit(t1), Admission::Probe);
        // the probe's caller went away without reporting
        assert_eq!(b.admit(t1 + Duration::from_secs(5)), Admission::Rejected);
        assert_eq!(b.admit(t1 + Duration::from_secs(10)), Admission::Probe);
    }

    #[test]
    fn stragglers_do_not_extend_an_open_breaker() {
        let (b, t) = breaker();
        for _ in 0..3 {
            b.on_failure(t);
        }
        assert_eq!(b.on_failure(t + Duration::from_secs(9)), None);
        assert_eq!(b.admit(t + Duration::from_secs(10)), Admission::Probe);
    }

    #[test]
    fn threshold_zero_never_opens() {
        let b = Breaker::new(BreakerOptions::new(0, Duration::from_secs(1)));
        let t = Instant::now();
        for _ in 0..100 {
            b.on_failure(t);
        }
        assert_eq!(b.admit(t), Admission::Allowed);
    }
}
