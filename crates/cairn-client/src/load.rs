//! `get_or_load`: a read that falls back to the source of truth, with the stampede
//! defences the seeds ask for.
//!
//! ```text
//! L1 fresh ─────────────────────────────────────────────▶ value (maybe refresh early)
//! L1 stale & stale_for ─────────────────────────────────▶ stale value + background refresh
//! otherwise, single-flight per key:
//!   GET ─ fresh ────────────────────────────────────────▶ value (maybe refresh early)
//!       ─ stale & stale_for ────────────────────────────▶ stale value + background refresh
//!       ─ miss / tombstone ─▶ WATCH, GET, load, MULTI SET EXEC ─▶ value
//!       ─ cache error ──────▶ load (no fill) ───────────▶ value   (graceful degradation)
//! ```
//!
//! The guarded fill is what makes "delete on write" safe: a writer that updates the source
//! and then calls [`CacheClient::invalidate`] changes the key, so a fill whose load began
//! before that write fails its EXEC and stores nothing. Without it the classic race stores
//! the value the slow reader loaded before the write, after the write's invalidation.

use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{CacheClient, bump};
use crate::envelope::{Envelope, Kind, now_ms};
use crate::error::{LoadError, SourceError};
use crate::jitter::{jitter_ttl, refresh_early};
use crate::metrics as m;

/// How `get_or_load` caches what it loads.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoadOptions {
    /// How long a loaded value is fresh.
    pub ttl: Duration,
    /// Fraction (0-1) of `ttl` randomly taken off each fill, so keys loaded together do
    /// not expire together.
    pub ttl_jitter: f64,
    /// How long past `ttl` a stale value may still be served while one caller refreshes it
    /// in the background (stale-while-revalidate); zero turns it off.
    pub stale_for: Duration,
    /// XFetch's beta: > 0 lets a reader refresh a fresh value early, with a probability
    /// that grows near expiry and with the load's duration (1.0 is the paper's default).
    pub early_refresh_beta: f64,
    /// Cache "not found" for this long (negative caching); `None` caches nothing on a miss.
    pub negative_ttl: Option<Duration>,
    /// Run at most one load per key at a time in this process.
    pub single_flight: bool,
    /// Fill under WATCH so a concurrent invalidation wins (see the module doc); off, the
    /// fill is a plain SET, one round trip cheaper and open to the stale-fill race.
    pub guarded_fill: bool,
}

impl LoadOptions {
    /// Fresh for `ttl`, 10% TTL jitter, single-flight and guarded fills on, the rest off.
    pub fn new(ttl: Duration) -> LoadOptions {
        LoadOptions {
            ttl,
            ttl_jitter: 0.1,
            stale_for: Duration::ZERO,
            early_refresh_beta: 0.0,
            negative_ttl: None,
            single_flight: true,
            guarded_fill: true,
        }
    }

    /// Serves stale values for up to `stale_for` past `ttl` while refreshing.
    pub fn stale_while_revalidate(mut self, stale_for: Duration) -> LoadOptions {
        self.stale_for = stale_for;
        self
    }

    /// Refreshes early with XFetch's `beta`.
    pub fn early_refresh(mut self, beta: f64) -> LoadOptions {
        self.early_refresh_beta = beta;
        self
    }

    /// Caches "not found" for `ttl`.
    pub fn negative_ttl(mut self, ttl: Duration) -> LoadOptions {
        self.negative_ttl = Some(ttl);
        self
    }

    /// Sets the TTL jitter fraction.
    pub fn ttl_jitter(mut self, fraction: f64) -> LoadOptions {
        self.ttl_jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// Turns single-flight on or off (off only to measure what it saves).
    pub fn single_flight(mut self, on: bool) -> LoadOptions {
        self.single_flight = on;
        self
    }

    /// Turns guarded fills on or off.
    pub fn guarded_fill(mut self, on: bool) -> LoadOptions {
        self.guarded_fill = on;
        self
    }
}

/// What a read of the cache said, before any load.
enum Cached {
    /// A fresh value or negative entry.
    Fresh(Envelope),
    /// Past its freshness but still stored.
    Stale(Envelope),
    /// Nothing usable.
    Absent,
}

fn classify(raw: Option<&Bytes>, now: u64) -> Cached {
    match raw.and_then(Envelope::decode) {
        Some(e) if e.kind == Kind::Tombstone => Cached::Absent,
        Some(e) if e.remaining(now) > Duration::ZERO => Cached::Fresh(e),
        Some(e) => Cached::Stale(e),
        None => Cached::Absent,
    }
}

impl CacheClient {
    /// Reads `key`, loading it from the source with `loader` when the cache cannot answer.
    ///
    /// `Ok(None)` means the source said the key does not exist. A cache failure never fails
    /// this call: it is counted and the source answers; only the loader can fail it.
    pub async fn get_or_load<F, Fut>(
        &self,
        key: impl AsRef<[u8]>,
        options: &LoadOptions,
        loader: F,
    ) -> Result<Option<Bytes>, LoadError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<Bytes>, SourceError>> + Send + 'static,
    {
        let key = Bytes::copy_from_slice(key.as_ref());
        let inner = &self.inner;
        // The near cache first: no network at all.
        if let Some(near) = &inner.near
            && near.eligible(&key)
            && let Some(raw) = near.get(&key)
        {
            match classify(raw.as_ref(), now_ms()) {
                Cached::Fresh(e) => {
                    self.maybe_refresh_early(&key, &e, options, loader);
                    return Ok(e.answer());
                }
                Cached::Stale(e) if !options.stale_for.is_zero() => {
                    self.serve_stale(key, options, loader);
                    return Ok(e.answer());
                }
                _ => {}
            }
        }
        let this = self.clone();
        let opts = options.clone();
        let k = key.clone();
        let work = move || async move { this.read_or_load(k, opts, loader).await };
        if options.single_flight {
            inner.flights.run(&key, work).await.0
        } else {
            work().await
        }
    }

    /// Starts a background refresh of a fresh value when XFetch says so.
    fn maybe_refresh_early<F, Fut>(
        &self,
        key: &Bytes,
        e: &Envelope,
        options: &LoadOptions,
        loader: F,
    ) where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<Bytes>, SourceError>> + Send + 'static,
    {
        if options.early_refresh_beta > 0.0
            && refresh_early(
                e.remaining(now_ms()),
                Duration::from_millis(u64::from(e.load_ms)),
                options.early_refresh_beta,
                fastrand::f64(),
            )
        {
            bump(&self.inner.counters.early_refreshes);
            metrics::counter!(m::EARLY_REFRESHES).increment(1);
            self.spawn_refresh(key.clone(), options, loader);
        }
    }

    /// Counts a stale answer and refreshes behind it.
    fn serve_stale<F, Fut>(&self, key: Bytes, options: &LoadOptions, loader: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<Bytes>, SourceError>> + Send + 'static,
    {
        bump(&self.inner.counters.stale_served);
        metrics::counter!(m::STALE_SERVED).increment(1);
        self.spawn_refresh(key, options, loader);
    }

    /// Loads and fills in a task of its own; concurrent refreshes of a key share one load.
    fn spawn_refresh<F, Fut>(&self, key: Bytes, options: &LoadOptions, loader: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<Bytes>, SourceError>> + Send + 'static,
    {
        let this = self.clone();
        let opts = options.clone();
        tokio::spawn(async move {
            let k = key.clone();
            let t = this.clone();
            let work = move || async move { t.load_and_fill(k, &opts, loader).await };
            let _ = this.inner.flights.run(&key, work).await;
        });
    }

    /// The remote read and, when it does not answer, the load.
    async fn read_or_load<F, Fut>(
        &self,
        key: Bytes,
        options: LoadOptions,
        loader: F,
    ) -> Result<Option<Bytes>, LoadError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<Bytes>, SourceError>> + Send + 'static,
    {
        let c = &self.inner.counters;
        match self.read(&key).await {
            Ok((raw, _)) => match classify(raw.as_ref(), now_ms()) {
                Cached::Fresh(e) => {
                    bump(&c.hits);
                    metrics::counter!(m::HITS).increment(1);
                    self.maybe_refresh_early(&key, &e, &options, loader);
                    Ok(e.answer())
                }
                Cached::Stale(e) if !options.stale_for.is_zero() => {
                    bump(&c.hits);
                    metrics::counter!(m::HITS).increment(1);
                    // We hold this key's flight: refresh in our own task would deadlock on
                    // the flight, so refresh without it (the flight still dedupes readers).
                    bump(&c.stale_served);
                    metrics::counter!(m::STALE_SERVED).increment(1);
                    let this = self.clone();
                    tokio::spawn(async move {
                        let _ = this.load_and_fill(key, &options, loader).await;
                    });
                    Ok(e.answer())
                }
                _ => {
                    bump(&c.misses);
                    metrics::counter!(m::MISSES).increment(1);
                    self.load_and_fill(key, &options, loader).await
                }
            },
            Err(e) => {
                // Graceful degradation: the cache failed this read; the source answers.
                bump(&c.degraded);
                metrics::counter!(m::DEGRADED).increment(1);
                tracing::debug!(error = %e, "cache read failed; loading from the source");
                let (value, _) = self.load(loader).await?;
                bump(&c.fills_skipped);
                Ok(value)
            }
        }
    }

    /// Calls the loader, timing and counting it.
    pub(crate) async fn load<F, Fut>(
        &self,
        loader: F,
    ) -> Result<(Option<Bytes>, Duration), LoadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Bytes>, SourceError>>,
    {
        let c = &self.inner.counters;
        bump(&c.loads);
        metrics::counter!(m::LOADS).increment(1);
        let started = Instant::now();
        let r = loader().await;
        let took = started.elapsed();
        metrics::histogram!(m::LOAD_SECONDS).record(took.as_secs_f64());
        match r {
            Ok(v) => Ok((v, took)),
            Err(e) => {
                bump(&c.load_errors);
                metrics::counter!(m::LOAD_ERRORS).increment(1);
                Err(LoadError::Source(Arc::new(e)))
            }
        }
    }

    /// What to store for a loaded value, and for how long the server keeps it.
    fn envelope_for(
        value: &Option<Bytes>,
        options: &LoadOptions,
        took: Duration,
    ) -> Option<(Bytes, Duration)> {
        match value {
            Some(v) => {
                let fresh = jitter_ttl(options.ttl, options.ttl_jitter);
                let env = Envelope::value(v.clone(), fresh, took);
                Some((env.encode(), fresh + options.stale_for))
            }
            None => options.negative_ttl.map(|ttl| {
                let fresh = jitter_ttl(ttl, options.ttl_jitter);
                (Envelope::missing(fresh, took).encode(), fresh)
            }),
        }
    }

    /// Loads `key` and stores the result, guarded by WATCH unless turned off.
    pub(crate) async fn load_and_fill<F, Fut>(
        &self,
        key: Bytes,
        options: &LoadOptions,
        loader: F,
    ) -> Result<Option<Bytes>, LoadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<Bytes>, SourceError>>,
    {
        let inner = &self.inner;
        let c = &inner.counters;
        if !options.guarded_fill {
            let (value, took) = self.load(loader).await?;
            if let Some((env, ttl)) = CacheClient::envelope_for(&value, options, took) {
                let r = inner.backend.set(&key, &env, Some(ttl)).await;
                self.after_write(&key, &r);
                if r.is_ok() {
                    bump(&c.fills);
                }
            }
            return Ok(value);
        }
        let Some(mut fc) = inner.backend.fill_conn(&key).await else {
            bump(&c.fills_skipped);
            return Ok(self.load(loader).await?.0);
        };
        let current = match fc.watch_get(&key).await {
            Ok(v) => v,
            Err(_) => {
                bump(&c.errors);
                bump(&c.fills_skipped);
                return Ok(self.load(loader).await?.0);
            }
        };
        // Someone (another process) filled it since our read: use theirs.
        if let Cached::Fresh(e) = classify(current.as_ref(), now_ms()) {
            fc.unwatch().await;
            return Ok(e.answer());
        }
        let loaded = self.load(loader).await;
        let (value, took) = match loaded {
            Ok(x) => x,
            Err(e) => {
                fc.unwatch().await;
                return Err(e);
            }
        };
        match CacheClient::envelope_for(&value, options, took) {
            Some((env, ttl)) => match fc.exec_set(&key, &env, ttl).await {
                Ok(true) => {
                    bump(&c.fills);
                    // our own write: L1 must not keep what it held before
                    if let Some(near) = &inner.near {
                        near.invalidate(&key);
                    }
                }
                Ok(false) => {
                    bump(&c.fills_aborted);
                    metrics::counter!(m::FILLS_ABORTED).increment(1);
                }
                Err(_) => bump(&c.errors),
            },
            None => fc.unwatch().await,
        }
        Ok(value)
    }
}
