//! Garbage collection and reconciliation as periodic jobs on the job engine.
//!
//! # Layout
//!
//! - [`expiry`] (`gc.expire`): inactive, errored and over-age livelessons are deleted
//!   through the same DELETE job a kill enqueues (infrastructure first, state last,
//!   serialised with the livelesson's other jobs).
//! - [`sessions`] (`gc.sessions`): inactive sessions without livelessons are deleted.
//! - [`orphans`] (`gc.orphans`): namespaces of this instance whose livelesson is not in the
//!   store are deleted after a grace period.
//! - [`reconcile`] (`gc.reconcile`): READY livelessons whose namespace or pods are gone are
//!   marked ERROR with the reason.
//! - [`retention`] (`gc.retention`): finished jobs, their events and steps are pruned,
//!   and the claim table's indexes are rebuilt when they have grown mostly empty
//!   ([`crate::queue::maintenance`]).
//!
//! Each job is a stored schedule ([`schedules`]) every worker carries: the engine enqueues
//! exactly one run per slot across the pool. Each module's `run_once` does one pass and
//! returns counts; the handlers registered by [`register`] only call it and log them.

pub mod expiry;
pub mod orphans;
pub mod reconcile;
pub mod retention;
pub mod sessions;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, BackendError};
use crate::queue::{JobContext, JobError, QueueError, Registry, Schedule};
use crate::store::StoreError;

/// Job kind of livelesson expiry.
pub const EXPIRE: &str = "gc.expire";
/// Job kind of session expiry.
pub const SESSIONS: &str = "gc.sessions";
/// Job kind of the orphan sweep.
pub const ORPHANS: &str = "gc.orphans";
/// Job kind of reconciliation.
pub const RECONCILE: &str = "gc.reconcile";
/// Job kind of job retention.
pub const RETENTION: &str = "gc.retention";

/// Every interval, TTL and batch size of garbage collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// A livelesson inactive this long is deleted (`liveLessonTTL`). Default 30 min.
    pub livelesson_ttl: Duration,
    /// A livelesson in ERROR this long is deleted, so the lesson can be requested again
    /// (`gc.erroredTtlMins`). Default 10 min.
    pub errored_ttl: Duration,
    /// A persistent session's livelessons are exempt from the TTL but deleted at this age
    /// (`gc.persistentMaxAgeMins`). Default 7 days.
    pub persistent_max_age: Duration,
    /// A learner's livelesson is deleted this long after the learner got it, however
    /// active (`lifetime.maxAgeMins`). Default 8 hours.
    pub max_age: Duration,
    /// A session inactive this long and without livelessons is deleted
    /// (`liveSessionTTL`). Default 1440 min.
    pub session_ttl: Duration,
    /// A namespace without livelesson is left alone this long (`gc.orphanGraceSecs`).
    /// Default 300 s.
    pub orphan_grace: Duration,
    /// Finished jobs are kept this long (`gc.jobRetentionHours`). Default 7 days.
    pub job_retention: Duration,
    /// Period of livelesson and session expiry (`gc.intervalSecs`). Default 60 s.
    pub expiry_interval: Duration,
    /// Period of the orphan sweep (`gc.orphanIntervalSecs`). Default 300 s.
    pub orphan_interval: Duration,
    /// Period of reconciliation (`gc.reconcileIntervalSecs`). Default 60 s.
    pub reconcile_interval: Duration,
    /// Period of job retention (`gc.retentionIntervalSecs`). Default 3600 s.
    pub retention_interval: Duration,
    /// Rows handled by one expiry or pruning statement (`gc.batchSize`). Default 5000.
    pub batch_size: u32,
    /// Health checks run at once by reconciliation (`gc.reconcileConcurrency`). Default 8.
    pub reconcile_concurrency: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            livelesson_ttl: Duration::from_secs(30 * 60),
            max_age: Duration::from_secs(8 * 3600),
            errored_ttl: Duration::from_secs(10 * 60),
            persistent_max_age: Duration::from_secs(7 * 24 * 3600),
            session_ttl: Duration::from_secs(1440 * 60),
            orphan_grace: Duration::from_secs(300),
            job_retention: Duration::from_secs(7 * 24 * 3600),
            expiry_interval: Duration::from_secs(60),
            orphan_interval: Duration::from_secs(300),
            reconcile_interval: Duration::from_secs(60),
            retention_interval: Duration::from_secs(3600),
            batch_size: 5000,
            reconcile_concurrency: 8,
        }
    }
}

impl Config {
    fn batch(&self) -> i64 {
        i64::from(self.batch_size.max(1))
    }
}

/// Failures of a collection pass.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The scheduler's state could not be read or written.
    #[error("garbage collection storage")]
    Store(#[from] StoreError),
    /// Jobs could not be enqueued.
    #[error("garbage collection enqueue")]
    Queue(#[from] QueueError),
    /// The backend failed.
    #[error("garbage collection backend call")]
    Backend(#[from] BackendError),
    /// A transaction could not begin or commit.
    #[error("garbage collection transaction")]
    Transaction(#[source] sqlx::Error),
}

/// Result alias of this module.
pub type Result<T, E = GcError> = std::result::Result<T, E>;

/// The schedules of the five jobs, with the configured intervals. Every worker may carry
/// the same list: the engine runs each slot once across the pool.
pub fn schedules(config: &Config) -> Vec<Schedule> {
    vec![
        Schedule::new(EXPIRE, EXPIRE, config.expiry_interval),
        Schedule::new(SESSIONS, SESSIONS, config.expiry_interval),
        Schedule::new(ORPHANS, ORPHANS, config.orphan_interval),
        Schedule::new(RECONCILE, RECONCILE, config.reconcile_interval),
        Schedule::new(RETENTION, RETENTION, config.retention_interval),
    ]
}

/// Registers the handlers of the five jobs.
pub fn register<B: Backend>(registry: &mut Registry, backend: &Arc<B>, config: Config) {
    let config = Arc::new(config);
    {
        let config = config.clone();
        registry.register(EXPIRE, move |ctx: JobContext| {
            let config = config.clone();
            async move {
                let counts = expiry::run_once(ctx.client(), &config)
                    .await
                    .map_err(fail)?;
                crate::telemetry::metrics()
                    .gc_deleted
                    .inc_by(counts.expired());
                if counts.enqueued > 0 {
                    tracing::info!(?counts, "expired livelessons");
                }
                Ok(())
            }
        });
    }
    {
        let config = config.clone();
        registry.register(SESSIONS, move |ctx: JobContext| {
            let config = config.clone();
            async move {
                let deleted = sessions::run_once(ctx.client(), &config)
                    .await
                    .map_err(fail)?;
                crate::telemetry::metrics().gc_deleted.inc_by(deleted);
                if deleted > 0 {
                    tracing::info!(deleted, "expired livesessions");
                }
                Ok(())
            }
        });
    }
    {
        let config = config.clone();
        let backend = backend.clone();
        registry.register(ORPHANS, move |ctx: JobContext| {
            let config = config.clone();
            let backend = backend.clone();
            async move {
                let counts = orphans::run_once(ctx.pool(), &*backend, &config)
                    .await
                    .map_err(fail)?;
                crate::telemetry::metrics()
                    .gc_orphans_swept
                    .inc_by(counts.deleted);
                if counts.deleted > 0 || counts.failed > 0 {
                    tracing::info!(?counts, "swept orphan namespaces");
                }
                Ok(())
            }
        });
    }
    {
        let config = config.clone();
        let backend = backend.clone();
        registry.register(RECONCILE, move |ctx: JobContext| {
            let config = config.clone();
            let backend = backend.clone();
            async move {
                let counts = reconcile::run_once(ctx.pool(), &*backend, &config)
                    .await
                    .map_err(fail)?;
                let reconciled = &crate::telemetry::metrics().gc_reconciled;
                reconciled
                    .with_label_values(&["namespace_missing"])
                    .inc_by(counts.namespace_missing);
                reconciled
                    .with_label_values(&["pods_down"])
                    .inc_by(counts.pods_down);
                if counts.marked() > 0 || counts.failed > 0 {
                    tracing::warn!(?counts, "reconciliation marked livelessons");
                }
                Ok(())
            }
        });
    }
    registry.register(RETENTION, move |ctx: JobContext| {
        let config = config.clone();
        async move {
            let counts = retention::run_once(ctx.pool(), &config)
                .await
                .map_err(fail)?;
            if counts.jobs > 0 {
                tracing::info!(?counts, "pruned finished jobs");
            }
            // Hourly is often enough to give back what a pinned vacuum let the claim
            // table's indexes grow to.
            crate::queue::maintenance::compact(
                ctx.pool(),
                crate::queue::maintenance::DEFAULT_MIN_BYTES,
            )
            .await
            .map_err(|e| fail(e.into()))?;
            Ok(())
        }
    });
}

/// A failed pass is retried by the engine; the next slot runs anyway.
fn fail(err: GcError) -> JobError {
    JobError::transient(err)
}

/// Seconds as PostgreSQL's `make_interval(secs => ...)` takes them.
fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// An error and its causes on one line, for logs.
fn chain(err: &GcError) -> String {
    crate::queue::error::chain(err)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Config, schedules};

    #[test]
    fn every_gc_job_has_a_schedule_with_its_interval() {
        let config = Config {
            expiry_interval: Duration::from_secs(7),
            orphan_interval: Duration::from_secs(11),
            reconcile_interval: Duration::from_secs(13),
            retention_interval: Duration::from_secs(17),
            ..Config::default()
        };
        let got: Vec<(String, String, u64)> = schedules(&config)
            .into_iter()
            .map(|s| (s.name, s.kind, s.interval.as_secs()))
            .collect();
        let want = [
            (super::EXPIRE, 7),
            (super::SESSIONS, 7),
            (super::ORPHANS, 11),
            (super::RECONCILE, 13),
            (super::RETENTION, 17),
        ]
        .map(|(kind, secs)| (kind.to_owned(), kind.to_owned(), secs));
        assert_eq!(got, want);
    }
}
