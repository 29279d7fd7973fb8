//! Records how an attempt ended: a completion goes to the batching completer; a retry, a
//! snooze or a hand-back returns the job to the table; a failure for good or a cancel
//! goes through [`Ending`]. Every write is fenced by the attempt's lease, and one that
//! meets a database fault is tried again while the lease lasts (see [`persist`]).

use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::completer::{CompletedCount, Completion};
use crate::config::WorkerConfig;
use crate::error::{JobError, QueueError, chain};
use crate::event::{Events, WorkerEvent};
use crate::finish::Ending;
use crate::held::HeldLeases;
use crate::job::JobState;
use crate::lease::Lease;
use crate::notifier::Notifier;
use crate::retry::RetryPolicy;
use crate::span::{AttemptSpan, Outcome};
use crate::store::{self, Release};

/// What recording an outcome uses of its worker, borrowed for one write: the executor
/// lends it (see `Executor::recorder`).
pub(crate) struct Recorder<'a> {
    pub pool: &'a PgPool,
    /// The lease length (how long a write is retried), the default retry policy, the
    /// clock, the observer and the queue a hand-back wakes.
    pub config: &'a WorkerConfig,
    pub held: &'a HeldLeases,
    pub events: &'a Events,
    /// Where successful attempts go to be stored.
    pub completions: &'a mpsc::UnboundedSender<Completion>,
    /// Counted here when the completer is gone and a completion is written directly.
    pub completed: &'a CompletedCount,
    /// Wakes the queue's workers after a hand-back.
    pub notifier: Option<&'a Notifier>,
}

/// What recording an outcome needs to know of its attempt.
pub(crate) struct Attempt {
    pub lease: Lease,
    /// Where the claim left the job's row (for the completer).
    pub row: String,
    pub max_attempts: i32,
    /// The kind's retry policy, when it has its own.
    pub retry: Option<RetryPolicy>,
    pub span: AttemptSpan,
    /// The job's kind and attempt number, and what ending it for good needs.
    pub ending: Ending,
}

/// What became of an attempt.
#[derive(Debug)]
pub(crate) enum Recorded {
    /// It succeeded; the completion was handed to the completer, which stores it.
    Completing,
    /// It succeeded and the completion is stored.
    Completed,
    /// It failed transiently; a retry is scheduled.
    RetryScheduled,
    /// A long durable timer released the job until its deadline.
    Snoozed,
    /// The job failed for good.
    Failed,
    /// The job was cancelled (at a step boundary, or stopped by its worker).
    Cancelled,
    /// The worker shut down and returned the job to the table.
    HandedBack,
    /// The lease was lost: nothing was written.
    LeaseLost,
    /// The outcome could not be written; the lease will expire and the rescuer makes the
    /// job runnable again.
    NotWritten(
        #[cfg_attr(
            not(feature = "testing"),
            expect(dead_code, reason = "a worker logs it; only the test kit returns it")
        )]
        QueueError,
    ),
}

impl Recorder<'_> {
    /// Writes the outcome of `attempt` (the handler's result), fenced by its lease.
    pub(crate) async fn record(&self, attempt: Attempt, outcome: Result<(), JobError>) -> Recorded {
        let Attempt {
            lease,
            row,
            max_attempts,
            retry,
            span,
            ending,
        } = attempt;
        let (id, token) = (lease.id, lease.token);
        let number = ending.attempt;
        let (pool, events) = (self.pool, self.events);
        let lease_length = self.config.lease;
        let written = match outcome {
            Ok(()) => {
                span.finish(Outcome::Completed);
                // The completer forgets the held lease once the completion is stored.
                if self.completions.send(Completion { id, token, row }).is_ok() {
                    return Recorded::Completing;
                }
                // The completer is gone (shutdown raced us): write it ourselves.
                let (ids, tokens) = ([id.0], [token]);
                persist(lease_length, || store::complete_many(pool, &ids, &tokens))
                    .await
                    .map(|done| {
                        if done.contains(&id) {
                            self.completed.add(1);
                            events.emit(WorkerEvent::Completed(id));
                            Recorded::Completed
                        } else {
                            Recorded::LeaseLost
                        }
                    })
            }
            Err(JobError::Cancelled) => {
                span.finish(Outcome::Cancelled);
                let message = "cancelled";
                persist(lease_length, || {
                    ending.end(pool, lease, JobState::Cancelled, message, message)
                })
                .await
                .map(|()| {
                    events.emit(WorkerEvent::Cancelled(id));
                    Recorded::Cancelled
                })
            }
            Err(JobError::Snooze(until)) => {
                span.finish(Outcome::Snoozed(until));
                persist(lease_length, || {
                    lease.release(pool, Release::Snooze, until, None)
                })
                .await
                .map(|()| {
                    events.emit(WorkerEvent::Snoozed(id));
                    Recorded::Snoozed
                })
            }
            Err(JobError::Queue(QueueError::LeaseLost(_))) => {
                span.finish(Outcome::LeaseLost);
                tracing::warn!("lease lost while writing a checkpoint; job stopped");
                events.emit(WorkerEvent::LeaseLost(id));
                Ok(Recorded::LeaseLost)
            }
            Err(JobError::Permanent(message)) => {
                span.finish(Outcome::Failed(&message));
                persist(lease_length, || {
                    ending.fail(pool, events, lease, &message, &message)
                })
                .await
                .map(|()| Recorded::Failed)
            }
            Err(err @ (JobError::Transient(_) | JobError::Queue(_))) => {
                let message = match &err {
                    // The cause in the job's last error: the engine's own message names only
                    // the operation.
                    JobError::Queue(queue) => match queue.fault() {
                        Some(fault) => format!("{fault}: {}", chain(queue)),
                        None => chain(queue),
                    },
                    _ => err.to_string(),
                };
                if err.is_final(number, max_attempts) {
                    let recorded = format!("{message} (attempt {number} of {max_attempts})");
                    span.finish(Outcome::Failed(&recorded));
                    persist(lease_length, || {
                        ending.fail(pool, events, lease, &recorded, &message)
                    })
                    .await
                    .map(|()| Recorded::Failed)
                } else {
                    let delay = retry.unwrap_or(self.config.retry).delay(number);
                    let run_at = self.config.clock.now()
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
                    // The database's absence is not the job's failure: its attempt is not
                    // counted, so a failover on the last attempt does not end the job.
                    let how = if err.is_database_absence() {
                        Release::Fault
                    } else {
                        Release::Retry
                    };
                    self.config.observer.retry_scheduled(&ending.kind);
                    span.finish(Outcome::Retry(&message, run_at));
                    tracing::info!(error = %message, delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "transient failure; retry scheduled");
                    persist(lease_length, || {
                        lease.release(pool, how, run_at, Some(&message))
                    })
                    .await
                    .map(|()| {
                        events.emit(WorkerEvent::RetryScheduled(id));
                        Recorded::RetryScheduled
                    })
                }
            }
        };
        self.held.release(id, token);
        written.unwrap_or_else(|err| {
            // The lease will expire and the rescuer will make the job runnable again.
            tracing::warn!(error = %err, "could not record the job's outcome");
            Recorded::NotWritten(err)
        })
    }

    /// Returns a job stopped by the worker's shutdown to the table, runnable at once, and
    /// wakes the queue's workers.
    pub(crate) async fn hand_back(&self, lease: Lease) -> Recorded {
        let recorded = match lease
            .release(self.pool, Release::HandBack, self.config.clock.now(), None)
            .await
        {
            Ok(()) => {
                self.events.emit(WorkerEvent::HandedBack(lease.id));
                if let Some(notifier) = self.notifier {
                    notifier.notify(&self.config.queue);
                }
                Recorded::HandedBack
            }
            Err(err) => {
                tracing::warn!(error = %err, "hand-back failed; the lease will expire instead");
                Recorded::NotWritten(err)
            }
        };
        self.held.release(lease.id, lease.token);
        recorded
    }
}

/// Runs `write` until it is stored, for at most `lease` (the lease's length): a write that
/// failed because the database was unreachable, read-only or timed out (a failover, a
/// restart) is tried again after a short backoff, while the heartbeat keeps the job's
/// lease, so that the job's outcome lands as soon as the database is back instead of
/// waiting for its lease to expire. Past `lease` the rescuer owns the job; a write that
/// finds the lease lost is fenced and stops at once.
async fn persist<T, F, Fut>(lease: Duration, mut write: F) -> Result<T, QueueError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, QueueError>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        match write().await {
            Err(err) if err.fault().is_some() && started.elapsed() + delay < lease => {
                tracing::warn!(error = %err, "outcome not written; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            written => return written,
        }
    }
}
