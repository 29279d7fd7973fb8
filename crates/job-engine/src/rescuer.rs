//! Returns jobs whose lease expired (their worker crashed or froze) to runnable, or fails
//! them when they were on their last attempt, calling their kind's end hook (from this
//! worker's registry) in the same transaction. Every worker runs it; `SKIP LOCKED` keeps
//! racing rescuers from rescuing a job twice.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::ending::Ended;
use super::error::QueueError;
use super::event::{Events, WorkerEvent};
use super::job::JobState;
use super::notifier::{Notifier, wait_or_shutdown};
use super::observer::Observer;
use super::registry::Registry;
use super::store::{self, LEASE_EXPIRED_ON_LAST_ATTEMPT, Rescued};

/// What the rescuer works with.
#[derive(Debug, Clone)]
pub struct Rescuer {
    /// The database.
    pub pool: PgPool,
    /// The end hooks of the kinds of jobs it fails.
    pub registry: Registry,
    /// Told how many jobs each pass rescued.
    pub observer: Observer,
    /// Whose time decides that a lease expired.
    pub clock: Clock,
    /// The events of the worker it runs in, told of each job it rescued.
    events: Option<Events>,
}

/// What one rescue pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescuePass {
    /// The jobs whose expired lease it rescued.
    pub jobs: Vec<Rescued>,
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
    /// by `clock`.
    pub fn new(pool: PgPool, registry: Registry, observer: Observer, clock: Clock) -> Self {
        Self {
            pool,
            registry,
            observer,
            clock,
            events: None,
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
                Ok(pass) if !pass.jobs.is_empty() => {
                    tracing::info!(
                        requeued = pass.requeued(),
                        failed = pass.failed(),
                        "rescued jobs with expired leases"
                    );
                    notifier.notify(&queue);
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "rescue pass failed"),
            }
        }
    }

    /// One pass, in one transaction with the end hooks of the jobs it fails; returns what
    /// it rescued, and tells the worker's events of each job after the commit.
    ///
    /// # Errors
    /// [`QueueError::Database`], or [`QueueError::Hook`] (the whole pass is rolled back
    /// and runs again at the next tick).
    pub async fn run_once(&self) -> Result<RescuePass, QueueError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(QueueError::db("begin rescue"))?;
        let rescued = store::rescue_expired(&mut tx, &self.clock).await?;
        for job in rescued.iter().filter(|job| job.failed) {
            let Some(hook) = self
                .registry
                .get(&job.kind)
                .and_then(|kind| kind.on_end.clone())
            else {
                continue;
            };
            let ended = Ended {
                id: job.id,
                kind: job.kind.clone(),
                args: job.args.clone().unwrap_or_default(),
                attempt: job.attempt,
                state: JobState::Failed,
                reason: LEASE_EXPIRED_ON_LAST_ATTEMPT.to_owned(),
                step: None,
                detail: None,
            };
            ended.tell(hook.as_ref(), &mut tx).await?;
        }
        tx.commit().await.map_err(QueueError::db("commit rescue"))?;
        self.observer.leases_rescued(rescued.len());
        if let Some(events) = &self.events {
            for job in &rescued {
                events.emit(WorkerEvent::Rescued {
                    job: job.id,
                    failed: job.failed,
                });
            }
        }
        Ok(RescuePass { jobs: rescued })
    }
}

/// One pass of a [`Rescuer`] over `registry`'s end hooks, leases expired by `clock`.
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
