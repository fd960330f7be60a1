//! The metrics the client reports through the `metrics` facade, so whatever exporter the
//! application installed (Prometheus, StatsD, ...) picks them up with no extra wiring.
//! With no recorder installed every update is a no-op.

/// Reads answered by the remote cache (a value or a cached "not found").
pub const HITS: &str = "cairn_client_hits_total";
/// Reads the remote cache could not answer.
pub const MISSES: &str = "cairn_client_misses_total";
/// Reads answered by the near cache.
pub const L1_HITS: &str = "cairn_client_l1_hits_total";
/// Keys dropped from the near cache by server invalidations or our own writes.
pub const L1_INVALIDATIONS: &str = "cairn_client_l1_invalidations_total";
/// Whole near-cache flushes, by reason.
pub const L1_FLUSHES: &str = "cairn_client_l1_flushes_total";
/// Near-cache inserts refused because an invalidation may have overtaken the read.
pub const L1_REFUSED: &str = "cairn_client_l1_refused_inserts_total";
/// Calls to a loader (the source of truth).
pub const LOADS: &str = "cairn_client_loads_total";
/// Loader failures.
pub const LOAD_ERRORS: &str = "cairn_client_load_errors_total";
/// How long loads took, in seconds.
pub const LOAD_SECONDS: &str = "cairn_client_load_seconds";
/// Cache errors, by node and kind.
pub const ERRORS: &str = "cairn_client_errors_total";
/// Reads that went to the source because the cache failed (graceful degradation).
pub const DEGRADED: &str = "cairn_client_degraded_reads_total";
/// Circuit breaker state per node: 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "cairn_client_breaker_state";
/// Stale values served while a refresh runs.
pub const STALE_SERVED: &str = "cairn_client_stale_served_total";
/// Refreshes started early by the probabilistic test.
pub const EARLY_REFRESHES: &str = "cairn_client_early_refreshes_total";
/// Guarded fills that lost to a concurrent write or invalidation and stored nothing.
pub const FILLS_ABORTED: &str = "cairn_client_fills_aborted_total";
/// Writes queued by write-behind and not yet applied to the source.
pub const WRITE_BEHIND_PENDING: &str = "cairn_client_write_behind_pending";
/// Write-behind batches that failed and will be retried.
pub const WRITE_BEHIND_FAILURES: &str = "cairn_client_write_behind_failures_total";
/// Writes write-behind applied to the source.
pub const WRITE_BEHIND_APPLIED: &str = "cairn_client_write_behind_applied_total";

/// Registers every metric's description with the installed recorder (call once after
/// installing it; the client calls it when it connects).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HITS, "Reads answered by the remote cache");
    describe_counter!(MISSES, "Reads the remote cache could not answer");
    describe_counter!(L1_HITS, "Reads answered by the near cache");
    describe_counter!(L1_INVALIDATIONS, "Near-cache keys dropped on invalidation");
    describe_counter!(L1_FLUSHES, "Whole near-cache flushes, by reason");
    describe_counter!(
        L1_REFUSED,
        "Near-cache inserts refused by a newer invalidation"
    );
    describe_counter!(LOADS, "Calls to the source of truth");
    describe_counter!(LOAD_ERRORS, "Failed calls to the source of truth");
    describe_histogram!(LOAD_SECONDS, Unit::Seconds, "Time to load from the source");
    describe_counter!(ERRORS, "Cache errors by node and kind");
    describe_counter!(
        DEGRADED,
        "Reads served by the source because the cache failed"
    );
    describe_gauge!(
        BREAKER_STATE,
        "Circuit breaker: 0 closed, 1 half-open, 2 open"
    );
    describe_counter!(STALE_SERVED, "Stale values served while a refresh runs");
    describe_counter!(EARLY_REFRESHES, "Probabilistic early refreshes");
    describe_counter!(
        FILLS_ABORTED,
        "Fills that lost to a concurrent invalidation"
    );
    describe_gauge!(WRITE_BEHIND_PENDING, "Write-behind writes not yet applied");
    describe_counter!(WRITE_BEHIND_FAILURES, "Write-behind batches that failed");
    describe_counter!(
        WRITE_BEHIND_APPLIED,
        "Write-behind writes applied to the source"
    );
}
