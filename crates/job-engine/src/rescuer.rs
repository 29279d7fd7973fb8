//! Returns jobs whose lease expired (their worker crashed or froze) to runnable, or fails
//! them when they were on their last attempt, with their kind's end hook (from this
//! worker's registry). Every worker runs it; `SKIP LOCKED` keeps racing rescuers from
//! rescuing a job twice.
//!
//! A pass works in batches of a set size, each in a transaction, until a batch comes back
//! short (or a cap of batches). The end hook of each failed job runs in a savepoint of its
//! own with the job's final write: a hook that fails rolls back that job alone, which is
//! recorded in the audit trail (`end_hook_failed`), reported to the observer, and deferred
//! by a backoff ([`store::defer_end`]): its final write and hook are tried again later,
//! while the rest of the batch commits. The end hook is how the application learns that a
//! job ended (a lesson shown as failed, capacity given back), so a job is never ended
//! without it; a hook that keeps failing is retried at the backoff's cap, in sight in the
//! trail and the metric, and holds back nothing else.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Acquire, PgPool};
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::config::WorkerConfig;
use super::ending::Ended;
use super::error::QueueError;
use super::event::{Events, WorkerEvent};
use super::job::{JobId, JobState};
use super::notifier::{Notifier, wait_or_shutdown};
use super::observer::Observer;
use super::registry::Registry;
use super::retry::RetryPolicy;
use super::store::{self, LEASE_EXPIRED_ON_LAST_ATTEMPT, RescueBatch, Rescued};

/// Most batches one pass takes (at the default batch size, 10,000 jobs): a pass that has
/// more to do leaves it to the next tick, so that one pass never holds the rescuer for
/// long.
pub const MAX_BATCHES_PER_PASS: usize = 100;

/// What the rescuer works with.
#[derive(Debug, Clone)]
pub struct Rescuer {
    /// The database.
    pub pool: PgPool,
    /// The end hooks of the kinds of jobs it fails.
    pub registry: Registry,
    /// Told how many jobs each pass rescued, and of each end hook that failed.
    pub observer: Observer,
    /// Whose time decides that a lease expired.
    pub clock: Clock,
    /// Most jobs one batch takes. Default 100.
    pub batch: usize,
    /// The backoff of a failed end hook, by the number of its failures. Default
    /// [`RetryPolicy::default`] (1 s doubling, at most 10 minutes).
    pub hook_retry: RetryPolicy,
    /// The events of the worker it runs in, told of each job it rescued.
    events: Option<Events>,
}

/// An end hook that failed in a rescue, and when its job is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookFailure {
    /// The job, still running, held by nobody until `retry_at`.
    pub id: JobId,
    /// Its kind.
    pub kind: String,
    /// The hook's error.
    pub error: String,
    /// When its end is tried again.
    pub retry_at: DateTime<Utc>,
}

/// What one rescue pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescuePass {
    /// The jobs whose expired lease it rescued.
    pub jobs: Vec<Rescued>,
    /// The end hooks that failed: their jobs were left for later, the others rescued.
    pub hook_failures: Vec<HookFailure>,
    /// Batches it took.
    pub batches: usize,
}

impl RescuePass {
    /// Jobs made runnable again.
    pub fn requeued(&self) -> usize {
        self.jobs.iter().filter(|job| !job.failed).count()
    }

    /// Jobs failed: their lease expired on their last attempt.
    pub fn failed(&self) -> usize {
        self.jobs.iter().filter(|job| job.failed).count()
    }
}

impl Rescuer {
    /// A rescuer on `pool` calling the end hooks of `registry`'s kinds, leases expired
    /// by `clock`, with the default batch size and hook backoff.
    pub fn new(pool: PgPool, registry: Registry, observer: Observer, clock: Clock) -> Self {
        Self {
            pool,
            registry,
            observer,
            clock,
            batch: 100,
            hook_retry: RetryPolicy::default(),
            events: None,
        }
    }

    /// A rescuer with a worker's settings: its observer and clock, its batch size, and its
    /// retry policy as the end hooks' backoff.
    pub(crate) fn configured(pool: PgPool, registry: Registry, config: &WorkerConfig) -> Self {
        Self {
            batch: config.rescue_batch,
            hook_retry: config.retry,
            ..Self::new(
                pool,
                registry,
                config.observer.clone(),
                config.clock.clone(),
            )
        }
    }

    /// The same rescuer, telling `events` of each job it rescues.
    pub(crate) fn with_events(self, events: Events) -> Self {
        Self {
            events: Some(events),
            ..self
        }
    }

    /// Ticks every `interval` until `stop` fires, waking `queue`'s workers after a pass
    /// that made jobs runnable.
    pub(crate) async fn run(
        self,
        interval: Duration,
        notifier: Notifier,
        queue: String,
        stop: CancellationToken,
    ) {
        loop {
            if wait_or_shutdown(&stop, interval).await {
                return;
            }
            match self.run_once().await {
                Ok(pass) => {
                    if !pass.jobs.is_empty() {
                        tracing::info!(
                            requeued = pass.requeued(),
                            failed = pass.failed(),
                            "rescued jobs with expired leases"
                        );
                        notifier.notify(&queue);
                    }
                    for failure in &pass.hook_failures {
                        tracing::warn!(
                            job_id = %failure.id, kind = %failure.kind, error = %failure.error,
                            retry_at = %failure.retry_at, "end hook failed in a rescue; deferred"
                        );
                    }
                }
                Err(err) => tracing::warn!(error = %err, "rescue pass failed"),
            }
        }
    }

    /// One pass: takes, in batches, every job whose lease expired; returns what it
    /// rescued and the end hooks that failed, and tells the worker's events of each job
    /// after its batch committed.
    ///
    /// # Errors
    /// [`QueueError::Database`]: a batch failed as a whole (the batches before it are
    /// committed). A failing end hook is no error of the pass.
    pub async fn run_once(&self) -> Result<RescuePass, QueueError> {
        let hooked = self.registry.hooked_kinds();
        let limit = self.batch.max(1);
        let mut pass = RescuePass::default();
        let result = loop {
            let taken = match self.batch_once(&hooked, &mut pass).await {
                Ok(taken) => taken,
                Err(err) => break Err(err),
            };
            pass.batches += 1;
            if taken < limit || pass.batches >= MAX_BATCHES_PER_PASS {
                break Ok(());
            }
        };
        self.observer.leases_rescued(pass.jobs.len());
        result.map(|()| pass)
    }

    /// One batch in one transaction; returns how many jobs it took.
    async fn batch_once(
        &self,
        hooked: &[String],
        pass: &mut RescuePass,
    ) -> Result<usize, QueueError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(QueueError::db("begin rescue"))?;
        let RescueBatch {
            mut rescued,
            to_end,
        } = store::rescue_batch(&mut tx, &self.clock, self.batch.max(1), hooked).await?;
        let taken = rescued.len() + to_end.len();
        let mut failures = Vec::new();
        for job in to_end {
            let Some(hook) = self
                .registry
                .get(&job.kind)
                .and_then(|kind| kind.on_end.clone())
            else {
                continue;
            };
            let mut savepoint = tx
                .begin()
                .await
                .map_err(QueueError::db("savepoint rescue"))?;
            let ended = match store::fail_lost(&mut savepoint, &job).await {
                Ok(false) => Ok(false),
                Ok(true) => Ended {
                    id: job.id,
                    kind: job.kind.clone(),
                    args: job.args.clone().unwrap_or_default(),
                    attempt: job.attempt,
                    state: JobState::Failed,
                    reason: LEASE_EXPIRED_ON_LAST_ATTEMPT.to_owned(),
                    step: None,
                    detail: None,
                }
                .tell(hook.as_ref(), &mut savepoint)
                .await
                .map(|()| true),
                Err(err) => Err(err),
            };
            match ended {
                Ok(true) => {
                    savepoint
                        .commit()
                        .await
                        .map_err(QueueError::db("release savepoint"))?;
                    rescued.push(job);
                }
                Ok(false) => {
                    savepoint
                        .rollback()
                        .await
                        .map_err(QueueError::db("rollback savepoint"))?;
                }
                Err(err) => {
                    // Only this job's final write and hook are undone; the connection is
                    // usable again (an error that broke it fails the rollback, and so the
                    // batch).
                    savepoint
                        .rollback()
                        .await
                        .map_err(QueueError::db("rollback savepoint"))?;
                    let error = err.to_string();
                    if let Some(retry_at) =
                        store::defer_end(&mut tx, job.id, &error, &self.hook_retry, &self.clock)
                            .await?
                    {
                        failures.push(HookFailure {
                            id: job.id,
                            kind: job.kind,
                            error,
                            retry_at,
                        });
                    }
                }
            }
        }
        tx.commit().await.map_err(QueueError::db("commit rescue"))?;
        for failure in &failures {
            self.observer.end_hook_failed(&failure.kind);
        }
        if let Some(events) = &self.events {
            for job in &rescued {
                events.emit(WorkerEvent::Rescued {
                    job: job.id,
                    failed: job.failed,
                });
            }
        }
        pass.jobs.append(&mut rescued);
        pass.hook_failures.append(&mut failures);
        Ok(taken)
    }
}

/// One pass of a [`Rescuer`] over `registry`'s end hooks, leases expired by `clock`, with
/// the default batch size and hook backoff.
///
/// # Errors
/// As [`Rescuer::run_once`].
pub async fn run_once(
    pool: &PgPool,
    registry: &Registry,
    observer: &Observer,
    clock: &Clock,
) -> Result<RescuePass, QueueError> {
    Rescuer::new(
        pool.clone(),
        registry.clone(),
        observer.clone(),
        clock.clone(),
    )
    .run_once()
    .await
}
