//! Job identity, states and the description of a job to enqueue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Identifies a job in `jobs`, and later in `finished_jobs` (the id never changes).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a job is in its life. See `docs/job-states.md` for the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[sqlx(type_name = "job_state", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its `run_at` in the future.
    Scheduled,
    /// Runnable now.
    Available,
    /// Claimed by a worker holding a lease.
    Running,
    /// Failed transiently; runs again at `run_at`.
    Retryable,
    /// Finished successfully.
    Completed,
    /// Failed permanently or ran out of attempts.
    Failed,
    /// Cancelled before it completed.
    Cancelled,
}

impl JobState {
    /// The state's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Available => "available",
            Self::Running => "running",
            Self::Retryable => "retryable",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the job has left `jobs` for `finished_jobs`.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl std::str::FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Scheduled,
            Self::Available,
            Self::Running,
            Self::Retryable,
            Self::Completed,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| format!("unknown job state {s:?}"))
    }
}

/// A job to enqueue. Built with [`NewJob::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Which handler runs it.
    pub kind: String,
    /// Handler arguments.
    pub args: serde_json::Value,
    /// Queue name; workers claim from one queue.
    pub queue: String,
    /// Lower runs first.
    pub priority: i16,
    /// Attempts before a transient error becomes final.
    pub max_attempts: i32,
    /// Not before this time; `None` means now.
    pub run_at: Option<DateTime<Utc>>,
    /// Deduplication key among unfinished jobs.
    pub unique_key: Option<String>,
    /// Serialisation key: jobs sharing it run one at a time, in enqueue order.
    pub serial_key: Option<String>,
    /// W3C traceparent of the request that enqueued the job.
    pub traceparent: Option<String>,
}

/// Default queue name.
pub const DEFAULT_QUEUE: &str = "default";
/// Default priority (lower runs first).
pub const DEFAULT_PRIORITY: i16 = 1;
/// Default attempt budget.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 20;

impl NewJob {
    /// A job of `kind` with JSON `args` on the default queue.
    pub fn new(kind: impl Into<String>, args: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            args,
            queue: DEFAULT_QUEUE.to_owned(),
            priority: DEFAULT_PRIORITY,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            run_at: None,
            unique_key: None,
            serial_key: None,
            traceparent: None,
        }
    }

    /// Sets the queue.
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Sets the priority (lower runs first).
    pub fn with_priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the attempt budget.
    pub fn with_max_attempts(mut self, max_attempts: i32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Delays the job until `run_at`.
    pub fn with_run_at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = Some(run_at);
        self
    }

    /// Deduplicates against unfinished jobs with the same key.
    pub fn with_unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    /// Serialises with every other job of the same key.
    pub fn with_serial_key(mut self, key: impl Into<String>) -> Self {
        self.serial_key = Some(key.into());
        self
    }

    /// Records the W3C traceparent to continue in the worker.
    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }
}

/// The outcome of an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The new job, or the unfinished job that already held the unique key.
    pub id: JobId,
    /// False when an existing job was returned instead of inserting.
    pub inserted: bool,
}

/// A job as a worker holds it after a claim.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// Job id.
    pub id: JobId,
    /// Handler kind.
    pub kind: String,
    /// Handler arguments.
    pub args: serde_json::Value,
    /// This attempt's number, from 1.
    pub attempt: i32,
    /// Attempt budget.
    pub max_attempts: i32,
    /// When the job was enqueued.
    pub created_at: DateTime<Utc>,
    /// Trace context to continue.
    pub traceparent: Option<String>,
    /// Fencing token of this claim.
    pub lease_token: Uuid,
    /// Where the claim left the job's row (its `ctid`); completing the job looks there
    /// first.
    pub row: String,
    /// Whether an earlier attempt stored checkpoints (they are loaded on the first step).
    pub has_steps: bool,
    /// Its place in the claim order when it was claimed.
    pub key: ClaimKey,
}

/// A job's place in the claim order: priority, then `run_at`, then id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClaimKey {
    /// Priority (lower first).
    pub priority: i16,
    /// When it became runnable.
    pub run_at: DateTime<Utc>,
    /// Job id.
    pub id: i64,
}
