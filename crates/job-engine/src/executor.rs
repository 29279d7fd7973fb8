//! Runs one claimed job: calls its handler, then records the outcome (completion goes to
//! the batching completer; failures, retries, snoozes and hand-backs are written here).

use std::sync::{Arc, Mutex};

use chrono::Utc;
use opentelemetry::context::FutureExt as _;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::checkpoints::Checkpoints;
use super::completer::Completion;
use super::context::JobContext;
use super::ending::{EndHook, Ended, FailureNote};
use super::error::{JobError, QueueError, chain};
use super::job::{ClaimedJob, JobState};
use super::lease::Lease;
use super::registry::RegisteredKind;
use super::span::{AttemptSpan, Outcome};
use super::store::{self, Release};
use super::worker::{AbortReason, Held, Shared, WorkerEvent};

/// Starts `job` on its own task; the permit (a worker slot) is released when the handler
/// is done, before the completion is written, so the next claim is not held up by it.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    job: ClaimedJob,
    permit: OwnedSemaphorePermit,
    completions: mpsc::UnboundedSender<Completion>,
    checkpoints: Checkpoints,
) {
    let abort = CancellationToken::new();
    let reason = Arc::new(Mutex::new(None));
    shared.hold(
        job.id,
        Held {
            token: job.lease_token,
            abort: abort.clone(),
            reason: reason.clone(),
        },
    );
    shared.emit(WorkerEvent::Claimed(job.id));
    // The exported span of this attempt, and a log-only span (its target is outside this
    // crate, so the OpenTelemetry layer skips it) that puts the job on every log line.
    let attempt = AttemptSpan::start(&job, &shared.id, &shared.config.observer);
    let log_span = tracing::info_span!(
        target: "job",
        "job",
        job_id = %job.id,
        kind = %job.kind,
        attempt = job.attempt,
        worker = %shared.id,
    );
    if job.attempt == 1 {
        let waited = (Utc::now() - job.created_at).to_std().unwrap_or_default();
        shared
            .config
            .observer
            .first_attempt_started(&job.kind, waited);
    }
    let cx = attempt.context();
    tokio::spawn(
        async move {
            let _permit = permit;
            run(
                shared,
                job,
                attempt,
                abort,
                reason,
                completions,
                checkpoints,
            )
            .await;
        }
        .instrument(log_span)
        .with_context(cx),
    );
}

async fn run(
    shared: Arc<Shared>,
    mut job: ClaimedJob,
    attempt_span: AttemptSpan,
    abort: CancellationToken,
    reason: Arc<Mutex<Option<AbortReason>>>,
    completions: mpsc::UnboundedSender<Completion>,
    checkpoints: Checkpoints,
) {
    let (id, token, attempt, max_attempts) =
        (job.id, job.lease_token, job.attempt, job.max_attempts);
    let lease = job.lease();
    let row = std::mem::take(&mut job.row);
    let kind = job.kind.clone();
    shared.emit(WorkerEvent::Started(id));
    let registered = shared.registry.get(&job.kind).cloned();
    let options = registered.as_ref().map(|r| r.options).unwrap_or_default();
    let note = Arc::new(FailureNote::default());
    let ending = Ending {
        hook: registered.as_ref().and_then(|r| r.on_end.clone()),
        // Kept only for a hook: most kinds have none, and most jobs complete.
        args: registered
            .as_ref()
            .is_some_and(|r| r.on_end.is_some())
            .then(|| job.args.clone()),
        kind: kind.clone(),
        attempt,
        note: note.clone(),
    };
    let outcome = match registered {
        None => Err(JobError::Permanent(format!(
            "no handler is registered for job kind {:?}",
            job.kind
        ))),
        Some(RegisteredKind { handler, .. }) => {
            let ctx = JobContext::new(
                job,
                shared.pool.clone(),
                shared.id.clone(),
                checkpoints,
                &shared.config,
                note,
            );
            // Its own task, so that a panicking handler fails its job, not the worker.
            // The handler's spans are children of the attempt's span.
            let mut task = tokio::spawn(
                handler(ctx)
                    .in_current_span()
                    .with_context(attempt_span.context()),
            );
            let deadline = async {
                match options.timeout {
                    Some(limit) => tokio::time::sleep(limit).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                joined = &mut task => joined.unwrap_or_else(|err| {
                    Err(JobError::Transient(format!("handler panicked: {err}")))
                }),
                () = deadline => {
                    // Stopped here; the outcome below is written at once and the claim
                    // forgotten, so the heartbeat renews its lease no more.
                    task.abort();
                    let limit = options.timeout.unwrap_or_default();
                    Err(JobError::Transient(format!(
                        "timed out: the attempt ran past its kind's limit of {} ms",
                        limit.as_millis()
                    )))
                }
                () = abort.cancelled() => {
                    task.abort();
                    let why = *reason.lock().unwrap_or_else(|p| p.into_inner());
                    match why {
                        Some(AbortReason::Shutdown) => {
                            attempt_span.finish(Outcome::HandedBack);
                            hand_back(&shared, lease).await;
                        }
                        _ => {
                            attempt_span.finish(Outcome::LeaseLost);
                            tracing::warn!("lease lost; job stopped without writing");
                            shared.emit(WorkerEvent::LeaseLost(id));
                        }
                    }
                    shared.release(id, token);
                    return;
                }
            }
        }
    };

    let written = match outcome {
        Ok(()) => {
            attempt_span.finish(Outcome::Completed);
            // The completer removes the job from `held` once the completion is stored.
            if completions.send(Completion { id, token, row }).is_ok() {
                return;
            }
            // The completer is gone (shutdown raced us): write it ourselves.
            store::complete_many(&shared.pool, &[id.0], &[token])
                .await
                .map(|done| {
                    if done.contains(&id) {
                        shared.completed.add(1);
                        shared.emit(WorkerEvent::Completed(id));
                    }
                })
        }
        Err(JobError::Cancelled) => {
            attempt_span.finish(Outcome::Cancelled);
            let message = "cancelled at a step boundary";
            ending
                .end(&shared, lease, JobState::Cancelled, message, message)
                .await
                .map(|()| shared.emit(WorkerEvent::Cancelled(id)))
        }
        Err(JobError::Snooze(until)) => {
            attempt_span.finish(Outcome::Snoozed(until));
            lease
                .release(&shared.pool, Release::Snooze, until, None)
                .await
                .map(|()| shared.emit(WorkerEvent::Snoozed(id)))
        }
        Err(JobError::Queue(QueueError::LeaseLost(_))) => {
            attempt_span.finish(Outcome::LeaseLost);
            tracing::warn!("lease lost while writing a checkpoint; job stopped");
            shared.emit(WorkerEvent::LeaseLost(id));
            Ok(())
        }
        Err(JobError::Permanent(message)) => {
            attempt_span.finish(Outcome::Failed(&message));
            ending.fail(&shared, lease, &message, &message).await
        }
        Err(err @ (JobError::Transient(_) | JobError::Queue(_))) => {
            let message = err.to_string();
            if err.is_final(attempt, max_attempts) {
                let recorded = format!("{message} (attempt {attempt} of {max_attempts})");
                attempt_span.finish(Outcome::Failed(&recorded));
                ending.fail(&shared, lease, &recorded, &message).await
            } else {
                let delay = options.retry.unwrap_or(shared.config.retry).delay(attempt);
                let run_at = shared.config.clock.now()
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
                shared.config.observer.retry_scheduled(&kind);
                attempt_span.finish(Outcome::Retry(&message, run_at));
                tracing::info!(error = %message, delay_ms = delay.as_millis() as u64, "transient failure; retry scheduled");
                lease
                    .release(&shared.pool, Release::Retry, run_at, Some(&message))
                    .await
                    .map(|()| shared.emit(WorkerEvent::RetryScheduled(id)))
            }
        }
    };
    if let Err(err) = written {
        // The lease will expire and the rescuer will make the job runnable again.
        tracing::warn!(error = %err, "could not record the job's outcome");
    }
    shared.release(id, token);
}

/// What ending this attempt's job for good needs: the kind's hook and what it is told.
struct Ending {
    hook: Option<Arc<dyn EndHook>>,
    /// The job's arguments, kept when there is a hook to tell.
    args: Option<serde_json::Value>,
    kind: String,
    attempt: i32,
    note: Arc<FailureNote>,
}

impl Ending {
    async fn fail(
        &self,
        shared: &Shared,
        lease: Lease,
        message: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        tracing::warn!(error = %message, "job failed");
        self.end(shared, lease, JobState::Failed, message, reason)
            .await
            .map(|()| shared.emit(WorkerEvent::Failed(lease.id)))
    }

    /// Writes the final state (`message` as the job's last error), fenced by the lease,
    /// and calls the kind's hook, told `reason`, in the same transaction.
    async fn end(
        &self,
        shared: &Shared,
        lease: Lease,
        state: JobState,
        message: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        let Some(hook) = &self.hook else {
            return lease.finish(&shared.pool, state, Some(message)).await;
        };
        let mut tx = shared
            .pool
            .begin()
            .await
            .map_err(QueueError::db("begin end"))?;
        lease.finish(&mut *tx, state, Some(message)).await?;
        let ended = Ended {
            id: lease.id,
            kind: self.kind.clone(),
            args: self.args.clone().unwrap_or_default(),
            attempt: self.attempt,
            state,
            reason: reason.to_owned(),
            step: self.note.step(),
            detail: self.note.kept(),
        };
        hook.ended(&mut tx, &ended)
            .await
            .map_err(|err| QueueError::Hook {
                kind: self.kind.clone(),
                message: chain(err.as_ref()),
            })?;
        tx.commit().await.map_err(QueueError::db("commit end"))
    }
}

async fn hand_back(shared: &Shared, lease: Lease) {
    match lease
        .release(
            &shared.pool,
            Release::HandBack,
            shared.config.clock.now(),
            None,
        )
        .await
    {
        Ok(()) => {
            shared.emit(WorkerEvent::HandedBack(lease.id));
            shared.notifier.notify(&shared.config.queue);
        }
        Err(err) => tracing::warn!(error = %err, "hand-back failed; the lease will expire instead"),
    }
}
