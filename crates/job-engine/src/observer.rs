//! How the engine reports what it measures: an application implements [`JobObserver`]
//! (metrics, its tracer) and hands it to each worker in
//! [`WorkerConfig::observer`](crate::WorkerConfig::observer). The engine keeps no global
//! of its own; without an observer nothing is recorded and attempts make no root span.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::global::BoxedTracer;

/// Receives the engine's measurements. Every method has a no-op default; each is called
/// on the worker's hot path, so implementations should be cheap (a counter increment).
pub trait JobObserver: Send + Sync + 'static {
    /// A job's first attempt started, `waited` after the job was enqueued.
    fn first_attempt_started(&self, kind: &str, waited: Duration) {
        let _ = (kind, waited);
    }

    /// A step's body ran for `took` and succeeded (`ok`) or failed.
    fn step_finished(&self, kind: &str, step: &str, ok: bool, took: Duration) {
        let _ = (kind, step, ok, took);
    }

    /// A transient failure scheduled another attempt of a job of `kind`.
    fn retry_scheduled(&self, kind: &str) {
        let _ = kind;
    }

    /// A rescue pass returned `count` jobs of lost workers (expired lease, or worker gone).
    fn leases_rescued(&self, count: usize) {
        let _ = count;
    }

    /// The end hook of a job of `kind` failed when the rescuer ended the job; its end was
    /// deferred (see [`crate::rescuer`]) and recorded in the audit trail.
    fn end_hook_failed(&self, kind: &str) {
        let _ = kind;
    }

    /// The tracer of each attempt's root span, or `None` to make none (spans cost
    /// allocations per job even when nothing exports them).
    fn attempt_tracer(&self) -> Option<BoxedTracer> {
        None
    }
}

/// A shared [`JobObserver`]; the default observes nothing. Cheap to clone.
#[derive(Clone)]
pub struct Observer(Arc<dyn JobObserver>);

impl Observer {
    /// Wraps `observer`.
    pub fn new(observer: impl JobObserver) -> Self {
        Self(Arc::new(observer))
    }
}

impl std::ops::Deref for Observer {
    type Target = dyn JobObserver;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}

impl Default for Observer {
    fn default() -> Self {
        Self::new(Unobserved)
    }
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// Records nothing.
struct Unobserved;

impl JobObserver for Unobserved {}
