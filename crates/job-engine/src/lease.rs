//! A claimed job's lease: its id and the token its claim drew. Every state change of the
//! job made on behalf of the attempt goes through it (final state, release, the lock a
//! fenced transaction takes, a step's failure), and each is fenced by the token: a write
//! whose token no longer matches changes nothing and is [`QueueError::LeaseLost`]
//! (`store::fenced` is the one place that decides it). Batched writes of many jobs
//! (completions, checkpoints, renewals) present the same tokens in arrays.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::{QueueError, Result};
use crate::job::{ClaimedJob, JobId, JobState};
use crate::store::{self, Release};

/// The lease of one claimed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub id: JobId,
    /// The token of the claim holding it.
    pub token: Uuid,
}

impl Lease {
    /// Ends the job as `failed` or `cancelled` with `error` as its last error.
    ///
    /// # Errors
    /// [`QueueError::LeaseLost`] or [`QueueError::Database`].
    pub async fn finish(
        &self,
        executor: impl PgExecutor<'_>,
        state: JobState,
        error: Option<&str>,
    ) -> Result<()> {
        store::finish(executor, self.id, self.token, state, error).await
    }

    /// Returns the job to the table, runnable at `run_at`, as `how` says.
    ///
    /// # Errors
    /// [`QueueError::LeaseLost`] or [`QueueError::Database`].
    pub async fn release(
        &self,
        pool: &PgPool,
        how: Release,
        run_at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<()> {
        store::release(pool, self.id, self.token, how, run_at, error).await
    }

    /// Locks the job's row for the rest of `conn`'s transaction, so that what it writes
    /// commits only while the lease holds.
    ///
    /// # Errors
    /// [`QueueError::LeaseLost`] or [`QueueError::Database`].
    pub async fn hold(&self, conn: &mut PgConnection) -> Result<()> {
        store::hold_lease(conn, self.id, self.token).await
    }

    /// Records that `step` of `attempt` failed with `error` on `worker`.
    ///
    /// # Errors
    /// [`QueueError::LeaseLost`] or [`QueueError::Database`].
    pub async fn step_failed(
        &self,
        pool: &PgPool,
        step: &str,
        attempt: i32,
        worker: &str,
        error: &str,
    ) -> Result<()> {
        store::step_failed(pool, self.id, self.token, step, attempt, worker, error).await
    }

    /// Whether `err` says this lease was lost.
    pub fn lost(&self, err: &QueueError) -> bool {
        matches!(err, QueueError::LeaseLost(id) if *id == self.id)
    }
}

impl ClaimedJob {
    /// The lease this claim holds, through which its fenced writes go.
    pub fn lease(&self) -> Lease {
        Lease {
            id: self.id,
            token: self.lease_token,
        }
    }
}
