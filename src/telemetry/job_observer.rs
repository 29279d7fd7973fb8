//! The job engine's measurements into this process's Prometheus metrics (same series and
//! labels as before the engine was its own crate), and the tracer of its attempt spans.

use std::time::Duration;

use job_engine::{JobObserver, Observer};
use opentelemetry::global::BoxedTracer;

use super::metrics;

/// Records the engine's measurements in [`metrics()`](super::metrics()) and hands out
/// the global tracer while spans are exported.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsObserver;

impl JobObserver for MetricsObserver {
    fn first_attempt_started(&self, kind: &str, waited: Duration) {
        metrics()
            .enqueue_to_start
            .with_label_values(&[kind])
            .observe(waited.as_secs_f64());
    }

    fn step_finished(&self, kind: &str, step: &str, ok: bool, took: Duration) {
        metrics().observe_step(kind, step, ok, took.as_secs_f64());
    }

    fn retry_scheduled(&self, kind: &str) {
        metrics().retries.with_label_values(&[kind]).inc();
    }

    fn leases_rescued(&self, count: usize) {
        metrics().lease_rescues.inc_by(count as u64);
    }

    fn end_hook_failed(&self, kind: &str) {
        metrics().end_hook_failures.with_label_values(&[kind]).inc();
    }

    fn attempt_tracer(&self) -> Option<BoxedTracer> {
        super::exporting().then(super::tracer)
    }
}

/// The observer every worker of this application runs with.
pub fn job_observer() -> Observer {
    Observer::new(MetricsObserver)
}
