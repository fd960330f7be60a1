//! Pacing and stopping a long migration: a token bucket for `--max-keys-per-sec`, and the
//! Ctrl-C flag that makes a migration stop after its current batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A token bucket: `rate` keys per second, holding at most `capacity` (one batch), so a
/// pause is not followed by a burst.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(rate: u64, capacity: usize, now: Instant) -> TokenBucket {
        let capacity = capacity.max(1) as f64;
        TokenBucket {
            rate: rate.max(1) as f64,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes `n` tokens (at most the capacity) at `now` and says how long to wait before
    /// spending them; the tokens are owed from then on, so the caller just sleeps.
    pub fn take(&mut self, n: usize, now: Instant) -> Duration {
        let n = (n as f64).min(self.capacity);
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.tokens -= n;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Set when the user pressed Ctrl-C (SIGINT): long operations finish their current batch,
/// leave the slot as it is and say how to resume. A second Ctrl-C exits at once.
#[derive(Clone)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// A flag nobody sets (for operations that are not interruptible).
    pub fn never() -> Interrupt {
        Interrupt(Arc::new(AtomicBool::new(false)))
    }

    /// Catches SIGINT from now on, on a thread of its own running a one-thread tokio
    /// runtime (tokio's signal handling is the process's only signal code).
    pub fn install() -> Interrupt {
        let flag = Interrupt::never();
        let set = flag.0.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(runtime) = runtime {
            // Register the handler before returning, so no early Ctrl-C is lost.
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                runtime.block_on(async move {
                    use tokio::signal::unix::{SignalKind, signal};
                    let Ok(mut int) = signal(SignalKind::interrupt()) else {
                        let _ = ready_tx.send(());
                        return;
                    };
                    let _ = ready_tx.send(());
                    int.recv().await;
                    set.store(true, Ordering::SeqCst);
                    eprintln!(
                        "\nInterrupted: stopping after the current batch (Ctrl-C again to quit at once)"
                    );
                    int.recv().await;
                    eprintln!("Interrupted twice: quitting now; `cairn cluster fix` repairs any open slot");
                    std::process::exit(130);
                });
            });
            let _ = ready_rx.recv();
        }
        flag
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sleeps `d`, waking early when interrupted; says whether it was.
    pub fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.requested() {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(50)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_paces_to_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, 10, t0);
        assert_eq!(b.take(10, t0), Duration::ZERO, "starts full");
        // the next 10 keys are owed for 100 ms
        assert_eq!(b.take(10, t0), Duration::from_millis(100));
        // after sleeping it off, 50 ms buys 5 more
        let t1 = t0 + Duration::from_millis(100);
        let d = b.take(5, t1 + Duration::from_millis(50));
        assert_eq!(d, Duration::ZERO);
        // over a long run, 1000 keys in batches of 10 take 10 s at 100/s
        let mut b = TokenBucket::new(100, 10, t0);
        let mut now = t0;
        for _ in 0..100 {
            now += b.take(10, now);
        }
        let took = now - t0;
        assert!(
            took >= Duration::from_millis(9_890) && took <= Duration::from_millis(9_910),
            "{took:?}"
        );
    }

    #[test]
    fn an_idle_bucket_does_not_save_up_a_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 5, t0);
        b.take(5, t0);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.take(5, later), Duration::ZERO);
        assert_eq!(b.take(5, later), Duration::from_millis(500));
    }

    #[test]
    fn an_interrupted_sleep_returns_early() {
        let i = Interrupt::never();
        assert!(!i.sleep(Duration::from_millis(1)));
        i.0.store(true, Ordering::SeqCst);
        assert!(i.sleep(Duration::from_secs(3600)));
    }
}
