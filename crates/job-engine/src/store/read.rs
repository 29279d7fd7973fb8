//! Read models of one job and of job lists: the job, its audit events, its checkpoints,
//! filtered lists, and how far a serial key's jobs have got.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;

use crate::error::{QueueError, Result};
use crate::job::{JobId, JobState};

/// A job as stored, finished or not, for operators and tests.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    /// Job id.
    pub id: JobId,
    /// Handler kind.
    pub kind: String,
    /// Arguments.
    pub args: serde_json::Value,
    /// Queue.
    pub queue: String,
    /// Current state.
    pub state: JobState,
    /// Attempts made so far.
    pub attempt: i32,
    /// Attempt budget.
    pub max_attempts: i32,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// Enqueue time.
    pub created_at: DateTime<Utc>,
    /// Start of the latest attempt.
    pub attempted_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Latest error.
    pub last_error: Option<String>,
    /// Trace context.
    pub traceparent: Option<String>,
    /// Deduplication key.
    pub unique_key: Option<String>,
    /// Serialisation key.
    pub serial_key: Option<String>,
    /// Worker holding the lease, while running.
    pub lease_owner: Option<String>,
}

/// Filters for [`list_jobs`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this state.
    pub state: Option<JobState>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only jobs whose serial_key equals this.
    pub serial_key: Option<String>,
    /// At most this many (newest first).
    pub limit: i64,
}

/// One job by id, from either table.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn job(executor: impl PgExecutor<'_>, id: JobId) -> Result<Option<JobRecord>> {
    let row = sqlx::query_as!(
        JobRecord,
        r#"
        select id as "id!: JobId", kind as "kind!", args as "args!", queue as "queue!",
               state as "state!: JobState", attempt as "attempt!", max_attempts as "max_attempts!",
               run_at as "run_at!", created_at as "created_at!", attempted_at, finished_at,
               last_error, traceparent, unique_key, serial_key, lease_owner
        from jobs_all where id = $1
        "#,
        id.0
    )
    .fetch_optional(executor)
    .await
    .map_err(QueueError::db("job"))?;
    Ok(row)
}

/// Jobs matching `filter`, newest first.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn list_jobs(
    executor: impl PgExecutor<'_>,
    filter: &JobFilter,
) -> Result<Vec<JobRecord>> {
    sqlx::query_as!(
        JobRecord,
        r#"
        select id as "id!: JobId", kind as "kind!", args as "args!", queue as "queue!",
               state as "state!: JobState", attempt as "attempt!", max_attempts as "max_attempts!",
               run_at as "run_at!", created_at as "created_at!", attempted_at, finished_at,
               last_error, traceparent, unique_key, serial_key, lease_owner
        from jobs_all
        where ($1::job_state is null or state = $1)
          and ($2::text is null or kind = $2)
          and ($3::text is null or serial_key = $3)
        order by id desc
        limit $4
        "#,
        filter.state as Option<JobState>,
        filter.kind,
        filter.serial_key,
        filter.limit,
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("list_jobs"))
}

/// One audit event.
#[derive(Debug, Clone, Serialize)]
pub struct JobEvent {
    /// Event id (global order).
    pub id: i64,
    /// Job id.
    pub job_id: JobId,
    /// When.
    pub at: DateTime<Utc>,
    /// What happened (`claimed`, `step_completed`, ...).
    pub kind: String,
    /// The attempt it belongs to.
    pub attempt: Option<i32>,
    /// The worker involved.
    pub worker: Option<String>,
    /// The step involved.
    pub step: Option<String>,
    /// Error text or other detail.
    pub detail: Option<String>,
}

/// The audit trail of one job, in order.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn events(executor: impl PgExecutor<'_>, id: JobId) -> Result<Vec<JobEvent>> {
    sqlx::query_as!(
        JobEvent,
        r#"
        select id as "id!", job_id as "job_id!: JobId", at as "at!", kind as "kind!", attempt,
               worker, step, detail
        from job_events where job_id = $1 order by id
        "#,
        id.0
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("events"))
}

/// One stored checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// Step name.
    pub name: String,
    /// Stored output.
    pub output: serde_json::Value,
    /// Attempt that completed it.
    pub attempt: i32,
    /// Worker that completed it.
    pub worker: String,
    /// When.
    pub completed_at: DateTime<Utc>,
}

/// The checkpoints of one job, in completion order.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn steps(executor: impl PgExecutor<'_>, id: JobId) -> Result<Vec<StepRecord>> {
    sqlx::query_as!(
        StepRecord,
        "select name, output, attempt, worker, completed_at from job_steps where job_id = $1 order by completed_at, name",
        id.0
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("steps"))
}

/// Where the jobs of `serial_key` are: the step most recently started and how many steps
/// have completed, over all of the key's jobs (a progress display's view).
///
/// # Errors
/// [`QueueError::Database`].
pub async fn serial_progress(
    executor: impl PgExecutor<'_>,
    serial_key: &str,
) -> Result<(Option<String>, i64)> {
    let row = sqlx::query!(
        r#"
        with mine as (select id from jobs_all where serial_key = $1)
        select (select e.step from job_event_log e
                where e.job_id in (select id from mine) and e.kind = 'step_started'
                order by e.id desc limit 1) as step,
               (select count(*) from job_steps s where s.job_id in (select id from mine))
                   as "completed!"
        "#,
        serial_key
    )
    .fetch_one(executor)
    .await
    .map_err(QueueError::db("serial_progress"))?;
    Ok((row.step, row.completed))
}
