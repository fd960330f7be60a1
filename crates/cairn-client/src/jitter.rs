//! Randomness where synchronised clients would otherwise act in lockstep: reconnect delays
//! and cache lifetimes.
//!
//! A thousand clients that lose a node at the same moment and retry after the same delay
//! hit it together when it comes back; a thousand keys written in one batch with one TTL
//! expire together and send their misses to the database together. Both get a random
//! spread here.

use std::time::Duration;

/// Exponential backoff with "full jitter": attempt `n` waits a uniformly random time in
/// `[0, min(max, base * 2^n)]`, which spreads retries best among the usual schemes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// The ceiling of the first wait.
    pub base: Duration,
    /// The ceiling no wait exceeds, however many attempts failed.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// A backoff between `base` and `max`.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max }
    }

    /// The ceiling of attempt `attempt`'s wait (0-based), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The wait before attempt `attempt + 1`, drawn from `rng`.
    pub fn delay_with(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let ceiling = self.ceiling(attempt).as_nanos().min(u64::MAX as u128) as u64;
        Duration::from_nanos(rng.u64(0..=ceiling))
    }

    /// The wait before attempt `attempt + 1`, from the thread's generator.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, &mut fastrand::Rng::new())
    }
}

/// `ttl` shortened by a random fraction of at most `spread` (0.0 - 1.0), so keys written
/// together do not expire together. Never returns less than a millisecond.
pub fn jitter_ttl_with(ttl: Duration, spread: f64, rng: &mut fastrand::Rng) -> Duration {
    let spread = spread.clamp(0.0, 1.0);
    let cut = ttl.mul_f64(spread * rng.f64());
    ttl.saturating_sub(cut).max(Duration::from_millis(1))
}

/// [`jitter_ttl_with`] from the thread's generator.
pub fn jitter_ttl(ttl: Duration, spread: f64) -> Duration {
    jitter_ttl_with(ttl, spread, &mut fastrand::Rng::new())
}

/// XFetch's early-expiry test (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic
/// Cache Stampede Prevention"): refresh now with a probability that grows as the deadline
/// nears and with how long the last load took (`delta`), so one caller refreshes a hot key
/// shortly before it expires instead of all callers right after.
///
/// True when `now - delta * beta * ln(u) >= fresh_until`, u uniform in (0, 1].
pub fn refresh_early(remaining: Duration, delta: Duration, beta: f64, u: f64) -> bool {
    if beta <= 0.0 {
        return false;
    }
    let u = u.clamp(f64::MIN_POSITIVE, 1.0);
    let gap = delta.as_secs_f64() * beta * -u.ln();
    gap >= remaining.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_ceilings_double_up_to_max() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        let c: Vec<u128> = (0..6).map(|a| b.ceiling(a).as_millis()).collect();
        assert_eq!(c, [10, 20, 40, 80, 100, 100]);
        assert_eq!(b.ceiling(200), Duration::from_millis(100));
    }

    #[test]
    fn backoff_delays_stay_under_the_ceiling_and_spread() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
        let mut rng = fastrand::Rng::with_seed(7);
        let delays: Vec<Duration> = (0..1000).map(|_| b.delay_with(3, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(80)));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 900, "jitter should spread the delays");
        let below_half = delays
            .iter()
            .filter(|d| **d < Duration::from_millis(40))
            .count();
        assert!((350..650).contains(&below_half), "{below_half}");
    }

    #[test]
    fn ttl_jitter_only_shortens_within_the_spread() {
        let mut rng = fastrand::Rng::with_seed(1);
        let ttl = Duration::from_secs(100);
        let ttls: Vec<Duration> = (0..1000)
            .map(|_| jitter_ttl_with(ttl, 0.1, &mut rng))
            .collect();
        assert!(
            ttls.iter()
                .all(|t| *t <= ttl && *t >= Duration::from_secs(90))
        );
        assert!(ttls.iter().any(|t| *t < Duration::from_secs(95)));
        assert_eq!(jitter_ttl_with(ttl, 0.0, &mut rng), ttl);
        assert_eq!(
            jitter_ttl_with(Duration::ZERO, 0.5, &mut rng),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn early_refresh_grows_near_the_deadline() {
        let delta = Duration::from_millis(100);
        // u = 1: ln(u) = 0, never early unless already expired.
        assert!(!refresh_early(Duration::from_millis(1), delta, 1.0, 1.0));
        assert!(refresh_early(Duration::ZERO, delta, 1.0, 1.0));
        // u = e^-1: the gap is exactly delta * beta.
        let u = (-1.0f64).exp();
        assert!(refresh_early(Duration::from_millis(99), delta, 1.0, u));
        assert!(!refresh_early(Duration::from_millis(101), delta, 1.0, u));
        // Far from the deadline, few draws say refresh; close to it, most do.
        let mut rng = fastrand::Rng::with_seed(3);
        let count = |remaining: Duration, rng: &mut fastrand::Rng| {
            (0..10_000)
                .filter(|_| refresh_early(remaining, delta, 1.0, rng.f64()))
                .count()
        };
        let far = count(Duration::from_millis(500), &mut rng);
        let near = count(Duration::from_millis(10), &mut rng);
        assert!(far < 200 && near > 8_000, "far {far} near {near}");
        assert!(
            !refresh_early(Duration::ZERO, delta, 0.0, 0.5),
            "beta 0 turns it off"
        );
    }
}
