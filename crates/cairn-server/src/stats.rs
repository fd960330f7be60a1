//! Counters for INFO: totals, per-command calls and latency, errors by prefix.
//!
//! Connections add to their worker thread's [`WorkerStats`] once per batch of commands
//! (one uncontended lock per read, whatever the pipeline depth), and INFO sums the
//! workers. No counter on the request path is shared between cores.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// Calls, time and outcomes of one command on one worker.
#[derive(Default)]
pub struct CommandCounters {
    pub calls: u64,
    pub usec: u64,
    /// Refused before running (arity, OOM, unknown subcommand...).
    pub rejected: u64,
    /// Ran and answered with an error.
    pub failed: u64,
    /// Latency in nanoseconds, created on the command's first call.
    pub latency: Option<Box<Histogram<u64>>>,
}

impl CommandCounters {
    fn merge(&mut self, other: &CommandCounters) {
        self.calls += other.calls;
        self.usec += other.usec;
        self.rejected += other.rejected;
        self.failed += other.failed;
        if let Some(h) = &other.latency {
            match &mut self.latency {
                Some(mine) => {
                    let _ = mine.add(&**h);
                }
                None => self.latency = Some(h.clone()),
            }
        }
    }
}

fn new_histogram() -> Box<Histogram<u64>> {
    // 1 ns to 1 hour at 2 significant digits: about 10 KB per command that was called.
    Box::new(Histogram::new_with_bounds(1, 3_600_000_000_000, 2).expect("valid bounds"))
}

/// What one worker thread counted.
#[derive(Default)]
pub struct WorkerStats {
    pub commands: Vec<CommandCounters>,
    pub errors: HashMap<String, u64>,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
}

/// What one connection counted since its last flush.
#[derive(Default)]
pub struct BatchStats {
    /// (command id, nanoseconds, outcome)
    pub calls: Vec<(usize, u64, Outcome)>,
    pub errors: Vec<String>,
    pub input: u64,
    pub output: u64,
    /// The write stream offset this batch's writes reached: with `appendfsync always`, its
    /// replies wait until the stream is durable that far.
    pub appended: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    Rejected,
}

impl BatchStats {
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.errors.is_empty() && self.input == 0 && self.output == 0
    }
}

/// Server-wide counters.
pub struct Stats {
    workers: Mutex<Vec<Arc<Mutex<WorkerStats>>>>,
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    /// Samples of total_commands_processed for instantaneous_ops_per_sec.
    ops_samples: Mutex<OpsSamples>,
    latency_tracking: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct OpsSamples {
    last: Option<(std::time::Instant, u64)>,
    rates: [f64; 16],
    next: usize,
}

thread_local! {
    static WORKER: std::cell::RefCell<Option<Arc<Mutex<WorkerStats>>>> = const { std::cell::RefCell::new(None) };
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            workers: Mutex::new(Vec::new()),
            connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            ops_samples: Mutex::new(OpsSamples::default()),
            latency_tracking: std::sync::atomic::AtomicBool::new(true),
        }
    }
}

impl Stats {
    pub fn set_latency_tracking(&self, on: bool) {
        self.latency_tracking.store(on, Ordering::Relaxed);
    }

    /// Adds a connection's batch to the current thread's counters.
    pub fn record(&self, batch: &mut BatchStats) {
        WORKER.with(|w| {
            let mut w = w.borrow_mut();
            let worker = w.get_or_insert_with(|| {
                let s = Arc::new(Mutex::new(WorkerStats::default()));
                self.workers.lock().push(s.clone());
                s
            });
            self.add(&mut worker.lock(), batch);
        });
    }

    fn add(&self, w: &mut WorkerStats, batch: &mut BatchStats) {
        let track = self.latency_tracking.load(Ordering::Relaxed);
        for &(id, ns, outcome) in &batch.calls {
            if w.commands.len() <= id {
                w.commands.resize_with(id + 1, CommandCounters::default);
            }
            let c = &mut w.commands[id];
            match outcome {
                Outcome::Rejected => c.rejected += 1,
                _ => {
                    c.calls += 1;
                    c.usec += ns / 1000;
                    if outcome == Outcome::Failed {
                        c.failed += 1;
                    }
                    if track {
                        let _ = c
                            .latency
                            .get_or_insert_with(new_histogram)
                            .record(ns.max(1));
                    }
                }
            }
        }
        for e in batch.errors.drain(..) {
            *w.errors.entry(e).or_insert(0) += 1;
        }
        w.net_input_bytes += batch.input;
        w.net_output_bytes += batch.output;
        batch.calls.clear();
        batch.input = 0;
        batch.output = 0;
    }

    /// Every worker's counters added up.
    pub fn snapshot(&self) -> WorkerStats {
        let mut total = WorkerStats::default();
        for w in self.workers.lock().iter() {
            let w = w.lock();
            if total.commands.len() < w.commands.len() {
                total
                    .commands
                    .resize_with(w.commands.len(), CommandCounters::default);
            }
            for (t, c) in total.commands.iter_mut().zip(&w.commands) {
                t.merge(c);
            }
            for (k, v) in &w.errors {
                *total.errors.entry(k.clone()).or_insert(0) += v;
            }
            total.net_input_bytes += w.net_input_bytes;
            total.net_output_bytes += w.net_output_bytes;
        }
        total
    }

    /// Commands processed so far (cheap enough for the cron: no histograms are copied).
    pub fn total_commands(&self) -> u64 {
        self.workers
            .lock()
            .iter()
            .map(|w| w.lock().commands.iter().map(|c| c.calls).sum::<u64>())
            .sum()
    }

    /// Zeroes everything CONFIG RESETSTAT resets.
    pub fn reset(&self) {
        for w in self.workers.lock().iter() {
            *w.lock() = WorkerStats::default();
        }
        self.connections_received.store(0, Ordering::Relaxed);
        self.rejected_connections.store(0, Ordering::Relaxed);
        *self.ops_samples.lock() = OpsSamples::default();
    }

    /// Called by the cron: records the command rate since the previous call.
    pub fn sample_ops(&self) {
        let now = std::time::Instant::now();
        let total = self.total_commands();
        let mut s = self.ops_samples.lock();
        if let Some((t, n)) = s.last {
            let secs = now.duration_since(t).as_secs_f64();
            if secs > 0.0 {
                let i = s.next;
                s.rates[i] = total.saturating_sub(n) as f64 / secs;
                s.next = (i + 1) % s.rates.len();
            }
        }
        s.last = Some((now, total));
    }

    /// Mean of the recent rate samples, as Redis computes instantaneous_ops_per_sec.
    pub fn ops_per_sec(&self) -> u64 {
        let s = self.ops_samples.lock();
        (s.rates.iter().sum::<f64>() / s.rates.len() as f64) as u64
    }
}
