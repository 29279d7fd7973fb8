//! Runs one claimed job's attempt: holds its lease, calls its handler on a task of its own
//! under the kind's timeout, stops it when the lease is lost or the worker shuts down, and
//! hands the result to its outcome's recorder (`outcome::Recorder`).

use std::sync::Arc;

use chrono::Utc;
use opentelemetry::context::FutureExt as _;
use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tracing::Instrument;

use crate::checkpoints::Checkpoints;
use crate::client::Client;
use crate::completer::{CompletedCount, Completion};
use crate::config::WorkerConfig;
use crate::context::JobContext;
use crate::ending::FailureNote;
use crate::error::JobError;
use crate::event::{Events, WorkerEvent};
use crate::finish::Ending;
use crate::held::{AbortReason, HeldLeases, Stop};
use crate::job::ClaimedJob;
use crate::notifier::Notifier;
use crate::outcome::{Attempt, Recorded, Recorder};
use crate::registry::{RegisteredKind, Registry};
use crate::span::{AttemptSpan, Outcome};

/// The executor: what running attempts and recording their outcomes needs.
pub(crate) struct Executor {
    /// The worker's id, recorded in checkpoints and spans.
    pub worker: Arc<str>,
    pub pool: PgPool,
    pub registry: Registry,
    /// The settings handlers' contexts get (snooze threshold, step hook, observer), the
    /// default retry policy, and the queue a hand-back wakes.
    pub config: WorkerConfig,
    pub held: HeldLeases,
    pub events: Events,
    /// Where successful attempts go to be stored.
    pub completions: mpsc::UnboundedSender<Completion>,
    pub checkpoints: Checkpoints,
    /// Counted here when the completer is gone and a completion is written directly.
    pub completed: CompletedCount,
    /// Wakes the queue's workers after a hand-back; `None` when nothing else is waiting.
    pub notifier: Option<Notifier>,
    /// What handlers see of the worker: its pool, clock and notifier (the clock is
    /// `config.clock`).
    pub client: Client,
}

impl Executor {
    /// What recording an outcome uses of this executor.
    fn recorder(&self) -> Recorder<'_> {
        Recorder {
            pool: &self.pool,
            config: &self.config,
            held: &self.held,
            events: &self.events,
            completions: &self.completions,
            completed: &self.completed,
            notifier: self.notifier.as_ref(),
        }
    }

    /// Starts `job` on its own task; the permit (a worker slot) is released when the
    /// handler is done, before the completion is written, so the next claim is not held
    /// up by it.
    pub fn spawn(self: &Arc<Self>, job: ClaimedJob, permit: OwnedSemaphorePermit) {
        let (span, stop, log_span) = self.begin(&job);
        let cx = span.context();
        let executor = self.clone();
        tokio::spawn(
            async move {
                let _permit = permit;
                executor.run(job, span, stop).await;
            }
            .instrument(log_span)
            .with_context(cx),
        );
    }

    /// Runs `job`'s attempt on the caller's task and returns what became of it.
    #[cfg(feature = "testing")]
    pub async fn run_now(&self, job: ClaimedJob) -> Recorded {
        let (span, stop, log_span) = self.begin(&job);
        let cx = span.context();
        self.run(job, span, stop)
            .instrument(log_span)
            .with_context(cx)
            .await
    }

    /// Holds the job's lease and opens its spans: the exported span of the attempt, and a
    /// log-only span (its target is outside this crate, so the OpenTelemetry layer skips
    /// it) that puts the job on every log line.
    fn begin(&self, job: &ClaimedJob) -> (AttemptSpan, Stop, tracing::Span) {
        let stop = self.held.hold(job.id, job.lease_token);
        self.events.emit(WorkerEvent::Claimed(job.id));
        let span = AttemptSpan::start(job, &self.worker, &self.config.observer);
        let log_span = tracing::info_span!(
            target: "job",
            "job",
            job_id = %job.id,
            kind = %job.kind,
            attempt = job.attempt,
            worker = %self.worker,
        );
        if job.attempt == 1 {
            let waited = (Utc::now() - job.created_at).to_std().unwrap_or_default();
            self.config
                .observer
                .first_attempt_started(&job.kind, waited);
        }
        (span, stop, log_span)
    }

    async fn run(&self, mut job: ClaimedJob, span: AttemptSpan, stop: Stop) -> Recorded {
        let id = job.id;
        let lease = job.lease();
        let row = std::mem::take(&mut job.row);
        self.events.emit(WorkerEvent::Started(id));
        let registered = self.registry.get(&job.kind).cloned();
        let options = registered.as_ref().map(|r| r.options).unwrap_or_default();
        let hook = registered.as_ref().and_then(|r| r.on_end.clone());
        // Kept only for a hook: most kinds have none, and most jobs complete.
        let note = Arc::new(if hook.is_some() {
            FailureNote::default()
        } else {
            FailureNote::unread()
        });
        let ending = Ending {
            args: hook.is_some().then(|| job.args.clone()),
            hook,
            kind: job.kind.clone(),
            attempt: job.attempt,
            note: note.clone(),
        };
        let attempt = Attempt {
            lease,
            row,
            max_attempts: job.max_attempts,
            retry: options.retry,
            span,
            ending,
        };
        let result = match registered {
            None => Err(JobError::Permanent(format!(
                "no handler is registered for job kind {:?}",
                job.kind
            ))),
            Some(RegisteredKind { handler, .. }) => {
                let ctx = JobContext::new(
                    job,
                    self.client.clone(),
                    self.worker.clone(),
                    self.checkpoints.clone(),
                    &self.config,
                    note,
                    self.events.clone(),
                );
                // Its own task, so that a panicking handler fails its job, not the worker.
                // The handler's spans are children of the attempt's span.
                let mut task = tokio::spawn(
                    handler(ctx)
                        .in_current_span()
                        .with_context(attempt.span.context()),
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
                        // Stopped here; the outcome is written at once and the claim
                        // forgotten, so the heartbeat renews its lease no more.
                        task.abort();
                        let limit = options.timeout.unwrap_or_default();
                        Err(JobError::Transient(format!(
                            "timed out: the attempt ran past its kind's limit of {} ms",
                            limit.as_millis()
                        )))
                    }
                    () = stop.abort.cancelled() => {
                        task.abort();
                        match stop.reason() {
                            // Ends cancelled, as at a step boundary.
                            Some(AbortReason::Cancelled) => Err(JobError::Cancelled),
                            reason => return self.stopped(attempt, reason).await,
                        }
                    }
                }
            }
        };
        self.recorder().record(attempt, result).await
    }

    /// Ends an attempt stopped from outside: handed back at shutdown, or abandoned without
    /// a write when its lease was lost.
    async fn stopped(&self, attempt: Attempt, reason: Option<AbortReason>) -> Recorded {
        let lease = attempt.lease;
        if let Some(AbortReason::Shutdown) = reason {
            attempt.span.finish(Outcome::HandedBack);
            self.recorder().hand_back(lease).await
        } else {
            attempt.span.finish(Outcome::LeaseLost);
            tracing::warn!("lease lost; job stopped without writing");
            self.events.emit(WorkerEvent::LeaseLost(lease.id));
            self.held.release(lease.id, lease.token);
            Recorded::LeaseLost
        }
    }
}
