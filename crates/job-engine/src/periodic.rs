//! Periodic jobs from stored schedules: every worker ticks, and the one whose conditional
//! update advances a due schedule enqueues that slot's job in the same transaction. The
//! job's unique key is `name:slot`. Exactly one run per slot, no leader election. Each
//! enqueued slot is a `schedule <name>` span whose traceparent the job stores.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use super::error::QueueError;
use super::event::{Events, WorkerEvent};
use super::job::{JobId, NewJob};
use super::notifier::{Notifier, wait_or_shutdown};
use super::store;

/// A stored schedule: enqueue a `kind` job every `interval`, aligned to the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Unique schedule name.
    pub name: String,
    /// Job kind.
    pub kind: String,
    /// Job arguments.
    pub args: serde_json::Value,
    /// Queue.
    pub queue: String,
    /// Period.
    pub interval: Duration,
}

impl Schedule {
    /// A schedule on the default queue with empty arguments.
    pub fn new(name: impl Into<String>, kind: impl Into<String>, interval: Duration) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            args: serde_json::json!({}),
            queue: super::job::DEFAULT_QUEUE.to_owned(),
            interval,
        }
    }
}

/// Stores (or updates) a schedule; a new one's first slot is the next after `clock`'s now.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn register(pool: &PgPool, schedule: &Schedule, clock: &Clock) -> Result<(), QueueError> {
    let interval_ms = i64::try_from(schedule.interval.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    store::upsert_periodic(
        pool,
        &schedule.name,
        &schedule.kind,
        &schedule.args,
        &schedule.queue,
        interval_ms,
        clock,
    )
    .await
}

/// The job a pass enqueued for a schedule's slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotEnqueued {
    /// The schedule's name.
    pub schedule: String,
    /// The slot (milliseconds since the epoch divided by the schedule's interval).
    pub slot: i64,
    /// The queue the job went to.
    pub queue: String,
    /// The job.
    pub job: JobId,
}

/// What one pass of the periodic scheduler did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodicPass {
    /// The slots this caller won, each with its job.
    pub enqueued: Vec<SlotEnqueued>,
}

/// The periodic scheduler of a worker: the database, and the worker's events it tells of
/// each slot it enqueues.
#[derive(Debug, Clone)]
pub(crate) struct Periodic {
    pub pool: PgPool,
    /// Whose time decides that a slot is due.
    pub clock: Clock,
    pub events: Events,
}

impl Periodic {
    /// Runs a pass every `interval` until `stop` fires, waking the queues it enqueued to.
    pub async fn run(self, interval: Duration, notifier: Notifier, stop: CancellationToken) {
        loop {
            match self.run_once().await {
                Ok(pass) => {
                    for slot in &pass.enqueued {
                        notifier.notify(&slot.queue);
                    }
                }
                Err(err) => tracing::warn!(error = %err, "periodic scheduler pass failed"),
            }
            if wait_or_shutdown(&stop, interval).await {
                return;
            }
        }
    }

    /// One pass ([`run_once`]), telling the worker's events of each slot it enqueued.
    ///
    /// # Errors
    /// [`QueueError::Database`].
    pub async fn run_once(&self) -> Result<PeriodicPass, QueueError> {
        let pass = run_once(&self.pool, &self.clock).await?;
        for slot in &pass.enqueued {
            self.events.emit(WorkerEvent::SlotEnqueued {
                schedule: slot.schedule.clone(),
                slot: slot.slot,
                job: slot.job,
            });
        }
        Ok(pass)
    }
}

/// One pass: enqueues the job of every slot due by `clock` that this caller won, in one
/// transaction.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn run_once(pool: &PgPool, clock: &Clock) -> Result<PeriodicPass, QueueError> {
    let mut tx = pool.begin().await.map_err(QueueError::db("periodic"))?;
    let due = store::advance_due_periodic(&mut tx, clock).await?;
    let mut enqueued = Vec::with_capacity(due.len());
    for schedule in due {
        // A short span marks the slot; the job's attempts land in its trace, linked to it.
        let span = tracing::info_span!(
            "schedule",
            otel.name = format!("schedule {}", schedule.name),
            job.kind = %schedule.kind,
            job.schedule.slot = schedule.slot,
        );
        let mut job = NewJob::new(schedule.kind, schedule.args)
            .with_queue(schedule.queue.clone())
            .with_unique_key(format!("{}:{}", schedule.name, schedule.slot));
        job.traceparent = crate::trace::traceparent_of(&span);
        let id = store::enqueue(&mut tx, &job, clock).await?.id;
        enqueued.push(SlotEnqueued {
            schedule: schedule.name,
            slot: schedule.slot,
            queue: schedule.queue,
            job: id,
        });
    }
    tx.commit().await.map_err(QueueError::db("periodic"))?;
    Ok(PeriodicPass { enqueued })
}
