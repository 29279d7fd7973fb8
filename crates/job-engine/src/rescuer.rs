//! Takes over the jobs of lost workers (any worker's): those whose lease expired (the
//! worker crashed or froze), and those whose worker's liveness lock has been free for the
//! grace (the worker died; see `liveness`). They become runnable again, resuming at their
//! stored checkpoints, or fail when it was their last attempt, with their kind's end hook
//! (from this worker's registry). Every worker runs it; `SKIP LOCKED` keeps racing
//! rescuers from rescuing a job twice.
//!
//! A pass works in batches of a set size, each in a transaction, until a batch comes back
//! short (or a cap of batches). The end hook of each failed job runs in a savepoint of its
//! own with the job's final write: a hook that fails rolls back that job alone, which is
//! recorded in the audit trail (`end_hook_failed`), reported to the observer, and deferred
//! by a backoff (`store::defer_end`): its final write and hook are tried again later,
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
use super::liveness::LivenessLock;
use super::notifier::Notifier;
use super::observer::Observer;
use super::registry::Registry;
use super::retry::RetryPolicy;
use super::store::{self, LivenessCheck, RescueBatch, Rescued};

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
    /// How long a worker's liveness lock must stay free before its jobs are taken over.
    /// Default 2 s.
    pub grace: Duration,
    /// The backoff of a failed end hook, by the number of its failures. Default
    /// [`RetryPolicy::default`] (1 s doubling, at most 10 minutes).
    pub hook_retry: RetryPolicy,
    /// The events of the worker it runs in, told of each job it rescued.
    events: Option<Events>,
    /// The liveness lock of the worker it runs in: it judges others only while that is
    /// held (see `store::check_liveness`).
    own: Option<LivenessLock>,
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
    /// The jobs of lost workers it rescued.
    pub jobs: Vec<Rescued>,
    /// The end hooks that failed: their jobs were left for later, the others rescued.
    pub hook_failures: Vec<HookFailure>,
    /// Batches it took.
    pub batches: usize,
    /// Registered workers whose liveness lock it found free for the grace, with jobs to
    /// take over.
    pub workers_gone: Vec<String>,
}

impl RescuePass {
    /// Jobs made runnable again.
    pub fn requeued(&self) -> usize {
        self.jobs.iter().filter(|job| !job.failed).count()
    }

    /// Jobs failed: their worker was lost on their last attempt.
    pub fn failed(&self) -> usize {
        self.jobs.iter().filter(|job| job.failed).count()
    }
}

impl Rescuer {
    /// A rescuer on `pool` calling the end hooks of `registry`'s kinds, leases expired
    /// by `clock`, with the default batch size, grace and hook backoff.
    pub fn new(pool: PgPool, registry: Registry, observer: Observer, clock: Clock) -> Self {
        Self {
            pool,
            registry,
            observer,
            clock,
            batch: 100,
            grace: Duration::from_secs(2),
            hook_retry: RetryPolicy::default(),
            events: None,
            own: None,
        }
    }

    /// A rescuer with a worker's settings: its observer and clock, its batch size and
    /// liveness grace, and its retry policy as the end hooks' backoff.
    pub(crate) fn configured(pool: PgPool, registry: Registry, config: &WorkerConfig) -> Self {
        Self {
            batch: config.rescue_batch,
            grace: config.liveness_grace,
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

    /// The same rescuer, judging others' liveness only while `own` is held.
    pub(crate) fn with_liveness(self, own: LivenessLock) -> Self {
        Self {
            own: Some(own),
            ..self
        }
    }

    /// Looks at the workers' liveness locks every `tick`, and passes over lost workers'
    /// jobs whenever some worker is found gone and at least every `scan` (expired leases),
    /// until `stop` fires; wakes `queue`'s workers after a pass that made jobs runnable.
    pub(crate) async fn run(
        self,
        tick: Duration,
        scan: Duration,
        notifier: Notifier,
        queue: String,
        stop: CancellationToken,
    ) {
        let tick = tick.min(scan).max(Duration::from_millis(1));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is at once; the first scan after a whole interval, as before.
        ticker.tick().await;
        let mut next_scan = tokio::time::Instant::now() + scan;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let gone = match self.check_liveness().await {
                Ok(check) => check.map(|check| check.dead).unwrap_or_default(),
                Err(err) => {
                    tracing::warn!(error = %err, "liveness check failed");
                    Vec::new()
                }
            };
            let now = tokio::time::Instant::now();
            if gone.is_empty() && now < next_scan {
                continue;
            }
            if now >= next_scan {
                next_scan = now + scan;
            }
            match self.rescue(gone).await {
                Ok(pass) => {
                    if !pass.jobs.is_empty() {
                        tracing::info!(
                            requeued = pass.requeued(),
                            failed = pass.failed(),
                            workers_gone = ?pass.workers_gone,
                            "rescued jobs of lost workers"
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

    /// One pass: looks at the workers' liveness locks, then takes over, in batches, every
    /// job whose lease expired or whose worker is gone; returns what it rescued and the end
    /// hooks that failed, and tells the worker's events of each job after its batch
    /// committed.
    ///
    /// # Errors
    /// [`QueueError::Database`]: a batch failed as a whole (the batches before it are
    /// committed). A failing end hook is no error of the pass.
    pub async fn run_once(&self) -> Result<RescuePass, QueueError> {
        let gone = self
            .check_liveness()
            .await?
            .map(|check| check.dead)
            .unwrap_or_default();
        self.rescue(gone).await
    }

    /// Probes the registered workers' liveness locks; `None` when this rescuer's own
    /// worker does not hold its lock now (it judges nobody then).
    async fn check_liveness(&self) -> Result<Option<LivenessCheck>, QueueError> {
        let own = match &self.own {
            None => None,
            Some(lock) => match lock.key() {
                Some(key) => Some(key),
                None => return Ok(None),
            },
        };
        let check = store::check_liveness(&self.pool, self.grace, own).await?;
        if !check.newly_lost.is_empty() {
            tracing::info!(workers = ?check.newly_lost, "liveness lock free: worker gone or reconnecting");
        }
        Ok(Some(check))
    }

    /// Batches over the jobs whose lease expired or whose worker is one of `gone`.
    async fn rescue(&self, gone: Vec<String>) -> Result<RescuePass, QueueError> {
        let hooked = self.registry.hooked_kinds();
        let limit = self.batch.max(1);
        let mut pass = RescuePass::default();
        let result = loop {
            let taken = match self.batch_once(&gone, &hooked, &mut pass).await {
                Ok(taken) => taken,
                Err(err) => break Err(err),
            };
            pass.batches += 1;
            if taken < limit || pass.batches >= MAX_BATCHES_PER_PASS {
                break Ok(());
            }
        };
        self.observer.leases_rescued(pass.jobs.len());
        pass.workers_gone = gone;
        result.map(|()| pass)
    }

    /// One batch in one transaction; returns how many jobs it took.
    async fn batch_once(
        &self,
        gone: &[String],
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
        } = store::rescue_batch(
            &mut tx,
            &self.clock,
            self.batch.max(1),
            gone,
            self.grace,
            hooked,
        )
        .await?;
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
                    reason: job.cause.on_last_attempt().to_owned(),
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
/// the default batch size, grace and hook backoff.
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
