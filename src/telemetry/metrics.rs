//! Process-wide Prometheus metrics: what this process observed (latencies, retries,
//! rescues, Kubernetes API errors, GC work). Gauges of durable state (jobs by state and
//! kind, livelessons by status) are counted from the database at scrape time by
//! `/metrics` instead, so that every replica reports the same truth.
//!
//! # Series
//!
//! | name | type | labels |
//! | --- | --- | --- |
//! | `antidote_job_enqueue_to_start_seconds` | histogram | `kind` |
//! | `antidote_step_duration_seconds` | histogram | `kind`, `step`, `outcome` |
//! | `antidote_job_retries_total` | counter | `kind` |
//! | `antidote_lease_rescues_total` | counter | |
//! | `antidote_end_hook_failures_total` | counter | `kind` |
//! | `antidote_livelesson_time_to_ready_seconds` | histogram | |
//! | `antidote_pool_time_to_ready_seconds` | histogram | `outcome` (`hit`, `miss`) |
//! | `antidote_pool_requests_total` | counter | `outcome` (`hit`, `miss`) |
//! | `antidote_pool_spares_created_total` | counter | `lesson` |
//! | `antidote_pool_spares_failed_total` | counter | `lesson` |
//! | `antidote_capacity_wait_seconds` | histogram | |
//! | `antidote_kubernetes_api_errors_total` | counter | `verb`, `resource` |
//! | `antidote_gc_deleted_total` | counter | |
//! | `antidote_gc_orphans_swept_total` | counter | |
//! | `antidote_gc_reconciled_total` | counter | `reason` |
//! | `antidote_terminals_open` | gauge | |
//! | `antidote_terminal_bytes_total` | counter | `direction` (`in`: typed, `out`: shown) |
//! | `antidote_terminal_refusals_total` | counter | `reason` |
//! | `antidote_terminal_closes_total` | counter | `reason` |
//!
//! Step labels drop per-livelesson detail (`endpoint:vqfx1` counts as `endpoint`,
//! `config-wait:2` as `config-wait`) to keep the series count bounded.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Buckets for latencies from milliseconds to minutes (provisioning takes minutes).
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Every series this process records, registered in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Seconds from enqueue to the start of a job's first attempt, by kind.
    pub enqueue_to_start: HistogramVec,
    /// Seconds a step's body ran, by job kind, step and outcome (`ok`, `error`).
    pub step_duration: HistogramVec,
    /// Transient failures that scheduled another attempt, by job kind.
    pub retries: IntCounterVec,
    /// Jobs returned to runnable (or failed) after their lease expired.
    pub lease_rescues: IntCounter,
    /// End hooks that failed in a rescue (the job is retried alone, after a backoff).
    pub end_hook_failures: IntCounterVec,
    /// Seconds from a learner's request to READY (spares are not counted until taken).
    pub time_to_ready: Histogram,
    /// The same by outcome: `hit` (taken from a pool), `miss` (provisioned on request).
    pub pool_time_to_ready: HistogramVec,
    /// Requests of lessons with a pool, by outcome (`hit`: a spare was taken, `miss`).
    pub pool_requests: IntCounterVec,
    /// Spares created by refill passes, by lesson.
    pub pool_spares_created: IntCounterVec,
    /// Spares that failed and were replaced, by lesson.
    pub pool_spares_failed: IntCounterVec,
    /// Seconds a request waited in line for capacity before it was admitted.
    pub capacity_wait: Histogram,
    /// Kubernetes API errors that reached a workflow, by verb and resource.
    pub kubernetes_api_errors: IntCounterVec,
    /// Objects (livelessons, sessions) deleted by garbage collection. For the GC:
    /// `telemetry::metrics().gc_deleted.inc_by(n)`.
    pub gc_deleted: IntCounter,
    /// Orphaned namespaces (no livelesson row) swept by garbage collection. For the GC:
    /// `telemetry::metrics().gc_orphans_swept.inc_by(n)`.
    pub gc_orphans_swept: IntCounter,
    /// READY livelessons marked ERROR by reconciliation, by reason
    /// (`namespace_missing`, `pods_down`).
    pub gc_reconciled: IntCounterVec,
    /// Terminals open in this process's gateway.
    pub terminals_open: IntGauge,
    /// Terminal bytes by direction (`in`: typed by the learner, `out`: shown to them).
    pub terminal_bytes: IntCounterVec,
    /// Terminals the gateway refused, by reason (`gateway::Refusal::label`).
    pub terminal_refusals: IntCounterVec,
    /// Open terminals that ended, by reason (`gateway::Ending::label`).
    pub terminal_closes: IntCounterVec,
}

/// The process's metrics, created on first use.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

fn histogram(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(SECONDS_BUCKETS.to_vec());
    match HistogramVec::new(opts, labels) {
        Ok(h) => h,
        // Names and labels are constants checked by the tests: this cannot happen.
        Err(err) => unreachable!("invalid histogram {name}: {err}"),
    }
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    match IntCounterVec::new(Opts::new(name, help), labels) {
        Ok(c) => c,
        Err(err) => unreachable!("invalid counter {name}: {err}"),
    }
}

fn counter(name: &str, help: &str) -> IntCounter {
    match IntCounter::new(name, help) {
        Ok(c) => c,
        Err(err) => unreachable!("invalid counter {name}: {err}"),
    }
}

impl Metrics {
    fn new() -> Self {
        let metrics = Self {
            registry: Registry::new(),
            enqueue_to_start: histogram(
                "antidote_job_enqueue_to_start_seconds",
                "Seconds from enqueue to the start of a job's first attempt.",
                &["kind"],
            ),
            step_duration: histogram(
                "antidote_step_duration_seconds",
                "Seconds a workflow step ran.",
                &["kind", "step", "outcome"],
            ),
            retries: counter_vec(
                "antidote_job_retries_total",
                "Transient job failures that scheduled another attempt.",
                &["kind"],
            ),
            lease_rescues: counter(
                "antidote_lease_rescues_total",
                "Jobs rescued after their lease expired.",
            ),
            end_hook_failures: counter_vec(
                "antidote_end_hook_failures_total",
                "End hooks that failed when the rescuer ended a job; it is retried alone.",
                &["kind"],
            ),
            time_to_ready: match Histogram::with_opts(
                HistogramOpts::new(
                    "antidote_livelesson_time_to_ready_seconds",
                    "Seconds from a learner's request to READY.",
                )
                .buckets(SECONDS_BUCKETS.to_vec()),
            ) {
                Ok(h) => h,
                Err(err) => unreachable!("invalid histogram: {err}"),
            },
            pool_time_to_ready: histogram(
                "antidote_pool_time_to_ready_seconds",
                "Seconds from a learner's request to READY, by outcome (hit: taken from a pool).",
                &["outcome"],
            ),
            pool_requests: counter_vec(
                "antidote_pool_requests_total",
                "Requests of lessons with a pool, by outcome (hit: a spare was taken).",
                &["outcome"],
            ),
            pool_spares_created: counter_vec(
                "antidote_pool_spares_created_total",
                "Spares created by refill passes.",
                &["lesson"],
            ),
            pool_spares_failed: counter_vec(
                "antidote_pool_spares_failed_total",
                "Spares that failed and were replaced.",
                &["lesson"],
            ),
            capacity_wait: match Histogram::with_opts(
                HistogramOpts::new(
                    "antidote_capacity_wait_seconds",
                    "Seconds a request waited in line for capacity.",
                )
                .buckets(SECONDS_BUCKETS.to_vec()),
            ) {
                Ok(h) => h,
                Err(err) => unreachable!("invalid histogram: {err}"),
            },
            kubernetes_api_errors: counter_vec(
                "antidote_kubernetes_api_errors_total",
                "Kubernetes API errors that reached a workflow step.",
                &["verb", "resource"],
            ),
            gc_deleted: counter(
                "antidote_gc_deleted_total",
                "Livelessons and sessions deleted by garbage collection.",
            ),
            gc_orphans_swept: counter(
                "antidote_gc_orphans_swept_total",
                "Orphaned namespaces swept by garbage collection.",
            ),
            gc_reconciled: counter_vec(
                "antidote_gc_reconciled_total",
                "READY livelessons marked ERROR because their infrastructure vanished or stopped.",
                &["reason"],
            ),
            terminals_open: match IntGauge::new(
                "antidote_terminals_open",
                "Terminals open in this process's gateway.",
            ) {
                Ok(g) => g,
                Err(err) => unreachable!("invalid gauge: {err}"),
            },
            terminal_bytes: counter_vec(
                "antidote_terminal_bytes_total",
                "Terminal bytes by direction (in: typed, out: shown).",
                &["direction"],
            ),
            terminal_refusals: counter_vec(
                "antidote_terminal_refusals_total",
                "Terminals the gateway refused, by reason.",
                &["reason"],
            ),
            terminal_closes: counter_vec(
                "antidote_terminal_closes_total",
                "Open terminals that ended, by reason.",
                &["reason"],
            ),
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 19] = [
            Box::new(metrics.terminals_open.clone()),
            Box::new(metrics.terminal_bytes.clone()),
            Box::new(metrics.terminal_refusals.clone()),
            Box::new(metrics.terminal_closes.clone()),
            Box::new(metrics.pool_time_to_ready.clone()),
            Box::new(metrics.pool_requests.clone()),
            Box::new(metrics.pool_spares_created.clone()),
            Box::new(metrics.pool_spares_failed.clone()),
            Box::new(metrics.capacity_wait.clone()),
            Box::new(metrics.enqueue_to_start.clone()),
            Box::new(metrics.step_duration.clone()),
            Box::new(metrics.retries.clone()),
            Box::new(metrics.lease_rescues.clone()),
            Box::new(metrics.end_hook_failures.clone()),
            Box::new(metrics.time_to_ready.clone()),
            Box::new(metrics.kubernetes_api_errors.clone()),
            Box::new(metrics.gc_deleted.clone()),
            Box::new(metrics.gc_orphans_swept.clone()),
            Box::new(metrics.gc_reconciled.clone()),
        ];
        for collector in collectors {
            if let Err(err) = metrics.registry.register(collector) {
                unreachable!("metric registered twice: {err}");
            }
        }
        metrics
    }

    /// Every series in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(error = %err, "encoding metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// Records a step that ran for `seconds`.
    pub fn observe_step(&self, kind: &str, step: &str, ok: bool, seconds: f64) {
        self.step_duration
            .with_label_values(&[kind, step_label(step), if ok { "ok" } else { "error" }])
            .observe(seconds);
    }
}

/// The step's metric label: its name without per-livelesson detail after `:`, except the
/// status steps whose detail is the (bounded) status.
pub fn step_label(step: &str) -> &str {
    if step.starts_with("status:") {
        return step;
    }
    step.split_once(':').map_or(step, |(head, _)| head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_labels_drop_per_livelesson_detail() {
        assert_eq!(step_label("endpoint:vqfx1"), "endpoint");
        assert_eq!(step_label("config-wait:2"), "config-wait");
        assert_eq!(step_label("status:READY"), "status:READY");
        assert_eq!(step_label("namespace"), "namespace");
    }

    #[test]
    fn every_series_renders_once_touched() {
        let m = metrics();
        m.lease_rescues.inc();
        m.gc_deleted.inc_by(2);
        m.observe_step("k", "endpoint:x", true, 0.1);
        let text = m.render();
        for name in [
            "antidote_lease_rescues_total",
            "antidote_gc_deleted_total",
            "antidote_gc_orphans_swept_total",
            "antidote_step_duration_seconds_bucket",
        ] {
            assert!(text.contains(name), "{name} in {text}");
        }
    }
}
