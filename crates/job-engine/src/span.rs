//! The OpenTelemetry span of one job attempt, named `<kind> attempt <n>`.
//!
//! It is made with the OpenTelemetry API rather than `tracing` because it starts in the
//! past: when the job became runnable (enqueued, or its retry, snooze or hand-back time),
//! so that its first child, `queue wait`, fills the time the job waited for a worker.
//! It is a root span in the trace of the job's cause (the stored `traceparent`: the
//! request or job run that enqueued it), linked to the cause rather than its child, since
//! it outlives it; every attempt of the job, on any worker, lands in that one trace.
//! Its status and last event say how the attempt ended.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use opentelemetry::trace::{Link, Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};

use super::job::ClaimedJob;
use crate::observer::Observer;
use crate::trace::{self, attributes as attr};

/// The span of one attempt. Ended by [`AttemptSpan::finish`], or when dropped.
pub(crate) struct AttemptSpan {
    cx: Context,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome<'a> {
    /// The handler succeeded (the completion is written in a batch).
    Completed,
    /// A transient failure; another attempt runs at the given time.
    Retry(&'a str, DateTime<Utc>),
    /// The job failed for good.
    Failed(&'a str),
    /// Cancelled at a step boundary.
    Cancelled,
    /// A durable timer released the worker slot until the given time.
    Snoozed(DateTime<Utc>),
    /// Handed back at shutdown: runnable at once, not counted as an attempt.
    HandedBack,
    /// Another worker took the job over; this attempt stopped without writing.
    LeaseLost,
}

impl Outcome<'_> {
    fn label(&self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Retry(..) => "retry",
            Self::Failed(_) => "failed",
            Self::Cancelled => "cancelled",
            Self::Snoozed(_) => "snoozed",
            Self::HandedBack => "handed_back",
            Self::LeaseLost => "lease_lost",
        }
    }
}

impl AttemptSpan {
    /// Starts the span of `job`'s attempt, claimed now by `worker`, with its `queue wait`;
    /// an empty context (no span) when the observer hands out no tracer.
    pub fn start(job: &ClaimedJob, worker: &str, observer: &Observer) -> Self {
        let Some(tracer) = observer.attempt_tracer() else {
            return Self { cx: Context::new() };
        };
        let claimed = SystemTime::now();
        // A first attempt waited since its enqueue; a later one since it became runnable
        // again (retry backoff, snooze deadline or hand-back).
        let became_runnable = if job.attempt <= 1 {
            job.created_at.max(job.key.run_at)
        } else {
            job.key.run_at
        };
        let ready = SystemTime::from(became_runnable).min(claimed);
        let waited_ms = claimed
            .duration_since(ready)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let cause = trace::span_context(job.traceparent.as_deref());
        let mut builder = tracer
            .span_builder(format!("{} attempt {}", job.kind, job.attempt))
            .with_kind(SpanKind::Consumer)
            .with_start_time(ready)
            .with_attributes([
                KeyValue::new(attr::JOB_ID, job.id.0),
                KeyValue::new(attr::JOB_KIND, job.kind.clone()),
                KeyValue::new(attr::JOB_ATTEMPT, i64::from(job.attempt)),
                KeyValue::new(attr::JOB_MAX_ATTEMPTS, i64::from(job.max_attempts)),
                KeyValue::new(attr::JOB_WORKER, worker.to_owned()),
                KeyValue::new(attr::JOB_QUEUE_WAIT_MS, waited_ms),
            ]);
        if let Some(cause) = &cause {
            builder = builder.with_links(vec![Link::new(
                cause.clone(),
                vec![KeyValue::new(attr::LINK_KIND, "cause")],
                0,
            )]);
        }
        let root = Context::new();
        let span = match &cause {
            Some(cause) => trace::in_trace(cause.trace_id(), || {
                tracer.build_with_context(builder, &root)
            }),
            None => tracer.build_with_context(builder, &root),
        };
        let cx = root.with_span(span);
        let attempt = cx.span();
        if job.attempt <= 1 {
            attempt.add_event_with_timestamp(
                "job.enqueued",
                SystemTime::from(job.created_at).min(claimed),
                vec![],
            );
        }
        attempt.add_event_with_timestamp(
            "job.claimed",
            claimed,
            vec![KeyValue::new(attr::JOB_WORKER, worker.to_owned())],
        );
        let mut wait = tracer
            .span_builder("queue wait")
            .with_start_time(ready)
            .with_attributes([
                KeyValue::new(attr::JOB_ID, job.id.0),
                KeyValue::new(attr::JOB_KIND, job.kind.clone()),
            ])
            .start_with_context(&tracer, &cx);
        wait.end_with_timestamp(claimed);
        Self { cx }
    }

    /// The context whose span is this attempt: the parent of the handler's spans.
    pub fn context(&self) -> Context {
        self.cx.clone()
    }

    /// Records how the attempt ended (status, `job.outcome`, an event) and ends the span.
    pub fn finish(&self, outcome: Outcome<'_>) {
        if !self.cx.has_active_span() {
            return;
        }
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(attr::JOB_OUTCOME, outcome.label()));
        let (status, event, attributes) = match outcome {
            Outcome::Completed => (Status::Ok, "job.completed", vec![]),
            Outcome::Retry(error, at) => (
                Status::error(format!("{error}; retry at {}", at.to_rfc3339())),
                "job.retry_scheduled",
                vec![KeyValue::new("job.retry_at", at.to_rfc3339())],
            ),
            Outcome::Failed(error) => (
                Status::error(error.to_owned()),
                "job.failed",
                vec![KeyValue::new("error.message", error.to_owned())],
            ),
            Outcome::Cancelled => (Status::error("cancelled"), "job.cancelled", vec![]),
            Outcome::Snoozed(until) => (
                Status::Ok,
                "job.snoozed",
                vec![KeyValue::new(attr::TIMER_DEADLINE, until.to_rfc3339())],
            ),
            Outcome::HandedBack => (
                Status::error("handed back at shutdown; runs again, not counted as an attempt"),
                "job.handed_back",
                vec![],
            ),
            Outcome::LeaseLost => (
                Status::error(
                    "lease lost; another worker runs the job, this attempt wrote nothing",
                ),
                "job.lease_lost",
                vec![],
            ),
        };
        span.add_event(event, attributes);
        span.set_status(status);
        span.end();
    }
}

impl Drop for AttemptSpan {
    fn drop(&mut self) {
        // A no-op when finished; otherwise (a panic unwinding) the span still ends.
        self.cx.span().end();
    }
}
