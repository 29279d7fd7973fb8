//! Errors of the job engine: how a handler reports failure, and how the engine's own
//! database work fails.

use chrono::{DateTime, Utc};

pub use crate::fault::DbFault;

/// Failures of the engine's database work.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A statement failed.
    #[error("queue database operation {operation} failed")]
    Database {
        /// Which operation (e.g. `claim`, `complete`).
        operation: &'static str,
        /// The driver error (shared: one group-committed statement can fail for many jobs).
        #[source]
        source: std::sync::Arc<sqlx::Error>,
    },
    /// The worker's lease on the job was taken over: it must stop writing.
    #[error("lease on job {0} lost")]
    LeaseLost(super::JobId),
    /// A step's output could not be (de)serialised.
    #[error("step {step:?} output is not valid JSON for its type")]
    StepOutput {
        /// Step name.
        step: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A typed job's arguments could not be represented as JSON.
    #[error("the arguments of a {kind} job cannot be represented as JSON")]
    Arguments {
        /// The job kind.
        kind: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The worker stopped writing checkpoints (it is shutting down).
    #[error("the worker is stopping: checkpoint not written")]
    Stopped,
    /// A kind's end hook failed; the final state write was rolled back with it.
    #[error("the end hook of a {kind} job failed: {message}")]
    Hook {
        /// The job kind.
        kind: String,
        /// The hook's error, with its causes.
        message: String,
    },
    /// No such job.
    #[error("job {0} not found")]
    NotFound(super::JobId),
    /// The operation does not apply to the job's current state.
    #[error("job {id} is {state}: cannot {operation}")]
    InvalidState {
        /// Job id.
        id: super::JobId,
        /// Its current state.
        state: &'static str,
        /// What was asked.
        operation: &'static str,
    },
}

impl QueueError {
    pub(crate) fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Database {
            operation,
            source: std::sync::Arc::new(source),
        }
    }

    /// What this failure says about the database (unreachable, read-only, a timeout);
    /// `None` when it is not the database's fault.
    pub fn fault(&self) -> Option<DbFault> {
        match self {
            Self::Database { source, .. } => DbFault::of(source),
            _ => None,
        }
    }

    /// The same failure again, for each job of a statement they shared; `None` for
    /// failures that belong to a single job.
    pub(crate) fn shared(&self) -> Option<Self> {
        match self {
            Self::Database { operation, source } => Some(Self::Database {
                operation,
                source: source.clone(),
            }),
            Self::Stopped => Some(Self::Stopped),
            _ => None,
        }
    }
}

/// Result alias for engine operations.
pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// How a job handler (or one of its steps) failed, which decides what happens next.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt after a backoff (timeouts, 5xx/429, connection loss).
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help (invalid input, missing definition, 4xx validation).
    #[error("{0}")]
    Permanent(String),
    /// A cancel request was observed between steps.
    #[error("cancelled")]
    Cancelled,
    /// Release the job without counting an attempt and run it again at the given time
    /// (long durable timers use this instead of holding a worker slot).
    #[error("snoozed until {0}")]
    Snooze(DateTime<Utc>),
    /// The engine itself failed (database down, lease lost).
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl JobError {
    /// A transient failure described by `err` and its whole source chain.
    pub fn transient(err: impl std::error::Error) -> Self {
        Self::Transient(chain(&err))
    }

    /// A permanent failure described by `err` and its whole source chain.
    pub fn permanent(err: impl std::error::Error) -> Self {
        Self::Permanent(chain(&err))
    }

    /// Whether this error, returned by attempt `attempt` of `max_attempts`, ends the job
    /// for good (it fails): the one rule the executor applies, for handlers that must
    /// record a final failure of their own before returning it. Permanent errors end it;
    /// transient errors and the engine's own end it on the last attempt; a cancel, a
    /// snooze, a lost lease, or the engine's own database work failing because the
    /// database is unreachable or read-only ([`DbFault::is_unavailable`]: a failover, a
    /// restart) never fail it: the attempt is not the job's failure and is not counted.
    pub fn is_final(&self, attempt: i32, max_attempts: i32) -> bool {
        match self {
            Self::Permanent(_) => true,
            Self::Cancelled | Self::Snooze(_) | Self::Queue(QueueError::LeaseLost(_)) => false,
            err @ Self::Queue(_) if err.is_database_absence() => false,
            Self::Transient(_) | Self::Queue(_) => attempt >= max_attempts,
        }
    }

    /// Whether this is the engine's own database work failing because the database is
    /// unreachable or read-only: retried without counting the attempt.
    pub(crate) fn is_database_absence(&self) -> bool {
        matches!(self, Self::Queue(err) if err.fault().is_some_and(DbFault::is_unavailable))
    }

    /// A short label for metrics and events.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Transient(_) => "transient",
            Self::Permanent(_) => "permanent",
            Self::Cancelled => "cancelled",
            Self::Snooze(_) => "snooze",
            Self::Queue(QueueError::LeaseLost(_)) => "lease_lost",
            Self::Queue(_) => "queue",
        }
    }
}

/// Marks a fallible result's error as transient or permanent at the call site.
pub trait ResultExt<T> {
    /// Errors become [`JobError::Transient`].
    fn transient(self) -> Result<T, JobError>;
    /// Errors become [`JobError::Permanent`].
    fn permanent(self) -> Result<T, JobError>;
}

impl<T, E: std::error::Error> ResultExt<T> for Result<T, E> {
    fn transient(self) -> Result<T, JobError> {
        self.map_err(JobError::transient)
    }
    fn permanent(self) -> Result<T, JobError> {
        self.map_err(JobError::permanent)
    }
}

/// Renders an error with its causes: `outer: inner: root`.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Finding a fault in a chain of errors reads the engine's own errors, so it lives with
/// them (the fault itself knows only the driver's).
impl DbFault {
    /// The first fault found in `err` or its sources (a `sqlx::Error`, or an I/O error
    /// of the connection), for errors that wrap the driver's.
    pub fn in_chain(err: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut next = Some(err);
        while let Some(err) = next {
            if let Some(fault) = Self::of_one(err) {
                return Some(fault);
            }
            next = err.source();
        }
        None
    }

    /// The fault `err` itself reports. The engine's errors keep the driver's error in an
    /// `Arc`, whose `source` skips the error it holds, so each wrapper is asked directly.
    fn of_one(err: &(dyn std::error::Error + 'static)) -> Option<Self> {
        if let Some(err) = err.downcast_ref::<sqlx::Error>() {
            Self::of(err)
        } else if let Some(err) = err.downcast_ref::<std::sync::Arc<sqlx::Error>>() {
            Self::of(err)
        } else if let Some(err) = err.downcast_ref::<QueueError>() {
            err.fault()
        } else if let Some(JobError::Queue(err)) = err.downcast_ref::<JobError>() {
            err.fault()
        } else if err.downcast_ref::<std::io::Error>().is_some() {
            Some(Self::Unreachable)
        } else {
            None
        }
    }
}
