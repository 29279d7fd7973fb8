//! What a handler sees of its job: arguments, checkpointed steps, durable timers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgPool;
use tracing::Instrument;

use super::checkpoints::{Checkpoints, Mark, Stored};
use super::client::Client;
use super::clock::Clock;
use super::config::{StepHook, WorkerConfig};
use super::ending::FailureNote;
use super::error::{JobError, QueueError};
use super::event::{Events, WorkerEvent};
use super::job::{ClaimedJob, JobId};
use super::observer::Observer;
use super::store;

/// A claimed job, handed to its handler. Steps run through [`JobContext::step`] are
/// checkpointed: on a later attempt they are skipped and their stored output returned.
pub struct JobContext {
    job: ClaimedJob,
    /// The worker's pool, clock and notifier.
    client: Client,
    worker: Arc<str>,
    checkpoints: Checkpoints,
    snooze_threshold: Duration,
    step_hook: Option<StepHook>,
    events: Events,
    observer: Observer,
    note: Arc<FailureNote>,
    has_steps: bool,
    annotations: Mutex<Vec<(&'static str, String)>>,
    completed: tokio::sync::OnceCell<Mutex<HashMap<String, serde_json::Value>>>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("id", &self.job.id)
            .field("kind", &self.job.kind)
            .field("attempt", &self.job.attempt)
            .finish_non_exhaustive()
    }
}

impl JobContext {
    /// The context of `job`'s attempt on `worker`, with the worker's `config` (its snooze
    /// threshold, step hook and observer) and `client` (its pool, clock and notifier);
    /// each stored step is told on `events`.
    pub(crate) fn new(
        job: ClaimedJob,
        client: Client,
        worker: Arc<str>,
        checkpoints: Checkpoints,
        config: &WorkerConfig,
        note: Arc<FailureNote>,
        events: Events,
    ) -> Self {
        Self {
            has_steps: job.has_steps,
            job,
            client,
            worker,
            checkpoints,
            snooze_threshold: config.snooze_threshold,
            step_hook: config.step_hook.clone(),
            events,
            observer: config.observer.clone(),
            note,
            annotations: Mutex::new(Vec::new()),
            completed: tokio::sync::OnceCell::new(),
        }
    }

    /// The job's id.
    pub fn id(&self) -> JobId {
        self.job.id
    }

    /// The job's kind.
    pub fn kind(&self) -> &str {
        &self.job.kind
    }

    /// This attempt's number, from 1.
    pub fn attempt(&self) -> i32 {
        self.job.attempt
    }

    /// The job's attempt budget.
    pub fn max_attempts(&self) -> i32 {
        self.job.max_attempts
    }

    /// When the job was enqueued.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.job.created_at
    }

    /// The W3C traceparent recorded at enqueue.
    pub fn traceparent(&self) -> Option<&str> {
        self.job.traceparent.as_deref()
    }

    /// The id of the worker running this attempt.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Where this attempt is and what it kept about a failure, for the kind's end hook
    /// (see [`crate::ending`]). Each step notes itself as it starts; for a kind without an
    /// end hook the note keeps nothing.
    pub fn failure_note(&self) -> &Arc<FailureNote> {
        &self.note
    }

    /// The worker's clock ([`crate::WorkerConfig::clock`]), for handlers that enqueue
    /// follow-up jobs or reason about due times the way the engine does.
    pub fn clock(&self) -> &Clock {
        self.client.clock()
    }

    /// A client going by the worker's clock and waking through its notifier: jobs a
    /// handler enqueues (in its own transaction with [`Client::enqueue_using`], then
    /// [`Client::wake`] after the commit) are due when the worker's clock says, and wake
    /// workers on the worker's channel.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The database pool, for handlers that keep state of their own.
    pub fn pool(&self) -> &PgPool {
        self.client.pool()
    }

    /// Begins a transaction fenced by this job's lease: writes made in it commit only if
    /// no other worker took the job over (the job row stays share-locked until commit).
    ///
    /// # Errors
    /// [`QueueError::LeaseLost`] or [`QueueError::Database`].
    pub async fn fenced(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, QueueError> {
        let mut tx = self
            .client
            .pool()
            .begin()
            .await
            .map_err(QueueError::db("begin fenced"))?;
        self.job.lease().hold(&mut tx).await?;
        Ok(tx)
    }

    /// Adds the attribute `key = value` to the span of every step and timer started after
    /// this call (handlers name what the job is about in their own attribute names).
    /// Never pass secrets.
    pub fn annotate(&self, key: &'static str, value: impl Into<String>) {
        self.annotations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((key, value.into()));
    }

    /// The job's arguments as `T`.
    ///
    /// # Errors
    /// [`JobError::Permanent`] when they do not fit `T`: retrying cannot fix them.
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_value(self.job.args.clone())
            .map_err(|e| JobError::Permanent(format!("invalid job arguments: {e}")))
    }

    /// Runs `body` as the checkpointed step `name` unless an earlier attempt completed it,
    /// in which case its stored output is returned without running `body`.
    ///
    /// A step may be interrupted after its side effect and before its checkpoint, so
    /// `body` must be idempotent. A cancel request is honoured here, before the step.
    ///
    /// # Errors
    /// The step's own error, [`JobError::Cancelled`], or [`JobError::Queue`] when the
    /// checkpoint cannot be written (including a lost lease).
    pub async fn step<T, F, Fut>(&self, name: &str, body: F) -> Result<T, JobError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, JobError>>,
    {
        self.step_with(name, &[], body).await
    }

    /// [`JobContext::step`] whose span also carries `attributes` (what this one step is
    /// about, e.g. the endpoint it works on). Never pass secrets.
    ///
    /// # Errors
    /// As [`JobContext::step`].
    pub async fn step_with<T, F, Fut>(
        &self,
        name: &str,
        attributes: &[(&'static str, &str)],
        body: F,
    ) -> Result<T, JobError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, JobError>>,
    {
        self.note.at(name);
        if let Some(stored) = self.stored_output(name).await? {
            tracing::debug!(job_id = %self.job.id, step = name, "step already completed; reusing its output");
            return serde_json::from_value(stored).map_err(|source| {
                JobError::Queue(QueueError::StepOutput {
                    step: name.to_owned(),
                    source,
                })
            });
        }
        let job = &self.job;
        let started = self
            .checkpoints
            .write(job.id, job.lease_token, job.attempt, name, Mark::Started)
            .await?;
        if started == Stored::CancelRequested {
            return Err(JobError::Cancelled);
        }
        let span = self.span(
            tracing::info_span!(
                "step",
                otel.name = format!("step {name}"),
                job.step = name,
                job.id = job.id.0,
                job.kind = %job.kind,
                job.attempt = job.attempt,
            ),
            attributes,
        );
        let started = std::time::Instant::now();
        let result = body().instrument(span.clone()).await;
        self.observer
            .step_finished(&job.kind, name, result.is_ok(), started.elapsed());
        match result {
            Ok(output) => {
                let stored =
                    serde_json::to_value(&output).map_err(|source| QueueError::StepOutput {
                        step: name.to_owned(),
                        source,
                    })?;
                self.checkpoints
                    .write(
                        job.id,
                        job.lease_token,
                        job.attempt,
                        name,
                        Mark::Completed(stored.clone()),
                    )
                    .await?;
                self.remember(name, stored);
                self.events.emit_with(|| WorkerEvent::StepDone {
                    job: job.id,
                    step: name.to_owned(),
                });
                if let Some(hook) = &self.step_hook {
                    (hook.0)(job.id, name.to_owned()).await;
                }
                Ok(output)
            }
            Err(err) => {
                let text = err.to_string();
                if !matches!(err, JobError::Snooze(_) | JobError::Cancelled) {
                    crate::trace::record_error(&span, &text);
                }
                if let Err(write) = job
                    .lease()
                    .step_failed(self.client.pool(), name, job.attempt, &self.worker, &text)
                    .await
                {
                    tracing::warn!(job_id = %job.id, step = name, error = %write, "could not record the step failure");
                }
                Err(err)
            }
        }
    }

    /// A durable timer: waits until `duration` after the first time this step ran (by the
    /// worker's clock). The deadline is stored, so a resumed job waits only for what
    /// remains. A long remainder releases the worker slot and resumes the job at the
    /// deadline.
    ///
    /// # Errors
    /// As [`JobContext::step`], and [`JobError::Snooze`] for long waits (the engine
    /// handles it; handlers just propagate it with `?`).
    pub async fn sleep(&self, name: &str, duration: Duration) -> Result<(), JobError> {
        let deadline: DateTime<Utc> = self
            .step(name, || async move {
                let span = chrono::Duration::from_std(duration)
                    .map_err(|e| JobError::Permanent(format!("timer {name} too long: {e}")))?;
                // PostgreSQL keeps microseconds; so must the stored deadline.
                Ok((self.client.clock().now() + span).trunc_subsecs(6))
            })
            .await?;
        let remaining = (deadline - self.client.clock().now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        if remaining.is_zero() {
            return Ok(());
        }
        // The wait itself is a span, so a trace shows where the time went.
        let job = &self.job;
        let span = self.span(
            tracing::info_span!(
                "timer",
                otel.name = format!("wait {name}"),
                job.step = name,
                job.timer.deadline = %deadline.to_rfc3339(),
                job.id = job.id.0,
                job.kind = %job.kind,
                job.attempt = job.attempt,
            ),
            &[],
        );
        if remaining > self.snooze_threshold {
            // The worker slot is released; the job resumes at the deadline.
            span.in_scope(
                || tracing::info!(deadline = %deadline.to_rfc3339(), "timer snoozes the job"),
            );
            return Err(JobError::Snooze(deadline));
        }
        tokio::time::sleep(remaining).instrument(span).await;
        Ok(())
    }

    /// `span` with the handler's annotations and this step's own `attributes`.
    fn span(&self, span: tracing::Span, attributes: &[(&'static str, &str)]) -> tracing::Span {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        for (key, value) in self
            .annotations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            span.set_attribute(*key, value.clone());
        }
        for (key, value) in attributes {
            span.set_attribute(*key, (*value).to_owned());
        }
        span
    }

    async fn stored_output(&self, name: &str) -> Result<Option<serde_json::Value>, JobError> {
        let completed = self
            .completed
            .get_or_try_init(|| async {
                let map = if self.has_steps {
                    store::load_steps(self.client.pool(), self.job.id).await?
                } else {
                    HashMap::new()
                };
                Ok::<_, QueueError>(Mutex::new(map))
            })
            .await?;
        Ok(completed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned())
    }

    fn remember(&self, name: &str, output: serde_json::Value) {
        if let Some(completed) = self.completed.get() {
            completed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(name.to_owned(), output);
        }
    }
}
