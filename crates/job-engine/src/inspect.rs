//! Read models of the queue for operators' views (the dashboard, the admin API, the
//! command line): one job with its steps and audit trail, lists of jobs, a serial key's
//! progress, whether the server takes writes, pages of jobs under filters, job counts by
//! state and kind, the last hour's throughput and wait, and the workers holding leases. Reads go through `jobs_all` where they can, so that a change of
//! how finished jobs are stored stays inside the view.
//!
//! The job page's statement has optional filters (`$n is null or ...`). It runs with
//! `plan_cache_mode = force_custom_plan`, so that PostgreSQL plans it with the parameters'
//! values every time: a cached generic plan cannot pick the index the filters at hand need.

pub use crate::store::{
    JobEvent, JobFilter, JobRecord, StepRecord, events, job, list_jobs, serial_progress, steps,
    writable,
};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool};

use super::error::{QueueError, Result};
use super::job::{JobId, JobState};

/// Filters and position of a page of [`job_page`]; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobPageFilter {
    /// Only this state.
    pub state: Option<JobState>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only jobs whose serial key is this (`livelesson:<id>`).
    pub serial_key: Option<String>,
    /// Enqueued at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Enqueued before.
    pub created_to: Option<DateTime<Utc>>,
    /// Only jobs older than this one (the previous page's last id).
    pub before: Option<JobId>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// One line of a job list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobLine {
    /// Job id.
    pub id: JobId,
    /// Handler kind.
    pub kind: String,
    /// Queue.
    pub queue: String,
    /// State.
    pub state: JobState,
    /// Attempts made.
    pub attempt: i32,
    /// Attempt budget.
    pub max_attempts: i32,
    /// Enqueue time.
    pub created_at: DateTime<Utc>,
    /// Start of the latest attempt.
    pub attempted_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Serialisation key.
    pub serial_key: Option<String>,
    /// Worker holding the lease, while running.
    pub lease_owner: Option<String>,
    /// The start of the latest error (at most 200 characters).
    pub last_error: Option<String>,
}

/// Makes the rest of the caller's transaction plan every statement with its parameters.
async fn plan_with_parameters(conn: &mut PgConnection) -> Result<()> {
    sqlx::query!("set local plan_cache_mode = force_custom_plan")
        .execute(conn)
        .await
        .map_err(QueueError::db("plan_with_parameters"))?;
    Ok(())
}

/// `sqlx::$macro!` of the job page's statement under `$filter`, the SQL prefixed with
/// `$prefix` (`""`, or `"explain "`): one text for the page and for its plan, each still
/// checked at compile time.
macro_rules! job_page_query {
    ($macro:ident ($($record:ty)?), $prefix:tt, $filter:expr) => {
        sqlx::$macro!(
            $($record,)?
            $prefix
                + r#"
        select id as "id!: JobId", kind as "kind!", queue as "queue!",
               state as "state!: JobState", attempt as "attempt!",
               max_attempts as "max_attempts!", created_at as "created_at!", attempted_at,
               finished_at, serial_key, lease_owner, left(last_error, 200) as last_error
        from jobs_all
        where ($1::job_state is null or state = $1)
          and ($2::text is null or kind = $2)
          and ($3::text is null or queue = $3)
          and ($4::text is null or serial_key = $4)
          and ($5::timestamptz is null or created_at >= $5)
          and ($6::timestamptz is null or created_at < $6)
          and ($7::int8 is null or id < $7)
        order by id desc
        limit $8
        "#,
            $filter.state as Option<JobState>,
            $filter.kind,
            $filter.queue,
            $filter.serial_key,
            $filter.created_from,
            $filter.created_to,
            $filter.before.map(|id| id.0),
            $filter.limit,
        )
    };
}

/// A page of jobs matching `filter`, newest first.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn job_page(pool: &PgPool, filter: &JobPageFilter) -> Result<Vec<JobLine>> {
    let mut tx = pool.begin().await.map_err(QueueError::db("job_page"))?;
    plan_with_parameters(&mut tx).await?;
    let jobs = job_page_query!(query_as(JobLine), "", filter)
        .fetch_all(&mut *tx)
        .await
        .map_err(QueueError::db("job_page"))?;
    tx.commit().await.map_err(QueueError::db("job_page"))?;
    Ok(jobs)
}

/// The plan PostgreSQL makes for [`job_page`] under `filter`, one line per row of
/// `EXPLAIN`, for benchmarks and the test that the list stays on indexes.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn explain_job_page(pool: &PgPool, filter: &JobPageFilter) -> Result<Vec<String>> {
    let mut tx = pool
        .begin()
        .await
        .map_err(QueueError::db("explain_job_page"))?;
    plan_with_parameters(&mut tx).await?;
    let lines = job_page_query!(query_scalar(), "explain ", filter)
        .fetch_all(&mut *tx)
        .await
        .map_err(QueueError::db("explain_job_page"))?;
    tx.commit()
        .await
        .map_err(QueueError::db("explain_job_page"))?;
    Ok(lines.into_iter().flatten().collect())
}

/// How many jobs of one kind are in one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateCount {
    /// State.
    pub state: JobState,
    /// Kind.
    pub kind: String,
    /// How many.
    pub count: i64,
}

/// Every job, finished or not, counted by state and kind, in the order of the state's
/// name, then the kind.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn counts(executor: impl PgExecutor<'_>) -> Result<Vec<StateCount>> {
    sqlx::query_as!(
        StateCount,
        r#"
        select state as "state!: JobState", kind as "kind!", count(*) as "count!"
        from jobs_all
        group by state, kind order by state::text, kind
        "#
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("counts"))
}

/// Unfinished jobs counted by state and kind. The states name the claim table's rows
/// only, so PostgreSQL leaves the history out by its check constraint.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn unfinished_counts(executor: impl PgExecutor<'_>) -> Result<Vec<StateCount>> {
    sqlx::query_as!(
        StateCount,
        r#"
        select state as "state!: JobState", kind as "kind!", count(*) as "count!"
        from jobs_all
        where state in ('scheduled', 'available', 'running', 'retryable')
        group by state, kind order by kind, state
        "#
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("unfinished_counts"))
}

/// Jobs finished since `since`, counted by state and kind.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn finished_counts(
    executor: impl PgExecutor<'_>,
    since: DateTime<Utc>,
) -> Result<Vec<StateCount>> {
    sqlx::query_as!(
        StateCount,
        r#"
        select state as "state!: JobState", kind as "kind!", count(*) as "count!"
        from jobs_all where finished_at >= $1
        group by state, kind order by kind, state
        "#,
        since
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("finished_counts"))
}

/// Jobs finished in one minute, and how long they waited to start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinuteStats {
    /// Start of the minute.
    pub minute: DateTime<Utc>,
    /// Completed in that minute.
    pub completed: i64,
    /// Failed in that minute.
    pub failed: i64,
    /// Cancelled in that minute.
    pub cancelled: i64,
    /// Median wait from due (`run_at`: enqueue, or the end of a backoff or timer) to the
    /// start of the attempt that finished, in milliseconds.
    pub wait_p50_ms: Option<f64>,
    /// 95th percentile of that wait.
    pub wait_p95_ms: Option<f64>,
}

/// Per minute since `since`: jobs finished and their wait to start. Minutes without a
/// finished job are absent.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn minutes_since(
    executor: impl PgExecutor<'_>,
    since: DateTime<Utc>,
) -> Result<Vec<MinuteStats>> {
    sqlx::query_as!(
        MinuteStats,
        r#"
        select date_trunc('minute', finished_at) as "minute!",
               count(*) filter (where state = 'completed') as "completed!",
               count(*) filter (where state = 'failed') as "failed!",
               count(*) filter (where state = 'cancelled') as "cancelled!",
               -- date_part is float8; extract would compute in numeric, several times slower.
               percentile_cont(0.5) within group (
                   order by date_part('epoch', attempted_at - run_at) * 1000) as wait_p50_ms,
               percentile_cont(0.95) within group (
                   order by date_part('epoch', attempted_at - run_at) * 1000) as wait_p95_ms
        from jobs_all where finished_at >= $1
        group by 1 order by 1
        "#,
        since
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("minutes_since"))
}

/// A job a worker holds a lease on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeasedJob {
    /// The worker holding the lease.
    pub worker: String,
    /// Job id.
    pub id: JobId,
    /// Kind.
    pub kind: String,
    /// This attempt.
    pub attempt: i32,
    /// When this attempt started.
    pub attempted_at: Option<DateTime<Utc>>,
}

/// Running jobs with the workers holding them, by worker then id.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn leased_jobs(executor: impl PgExecutor<'_>) -> Result<Vec<LeasedJob>> {
    sqlx::query_as!(
        LeasedJob,
        r#"
        select lease_owner as "worker!", id as "id!: JobId", kind as "kind!",
               attempt as "attempt!", attempted_at
        from jobs_all
        where state = 'running' and lease_owner is not null
        order by lease_owner, id
        "#
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("leased_jobs"))
}

/// A worker seen in the audit trail lately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeenWorker {
    /// Worker id.
    pub worker: String,
    /// Its latest event.
    pub last_seen: DateTime<Utc>,
    /// Its events since `since`.
    pub events: i64,
}

/// Workers that recorded an event (claim, step, completion) since `since`, most recent
/// first. There is no worker registry: an idle worker shows only once it works.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn workers_seen_since(
    executor: impl PgExecutor<'_>,
    since: DateTime<Utc>,
) -> Result<Vec<SeenWorker>> {
    sqlx::query_as!(
        SeenWorker,
        r#"
        -- The sources of the `job_events` view, each searched where it is indexed (the
        -- view's `at` of a folded event is a plain column of the job row): the log by
        -- time, unfinished jobs whole (few), finished jobs by `finished_at`, which no
        -- event of theirs follows.
        with seen (worker, at) as (
            select worker, at from job_event_log where at >= $1 and worker is not null
            union all
            select lease_owner, attempted_at from jobs
            where claimed_event_id is not null and attempted_at >= $1
              and lease_owner is not null
            union all
            select f.worker, e.at
            from finished_jobs f
            cross join lateral (values (f.claimed_event_id, f.attempted_at),
                                       (f.completed_event_id, f.finished_at)) as e (id, at)
            where f.finished_at >= $1 and f.worker is not null
              and e.id is not null and e.at >= $1
        )
        select worker as "worker!", max(at) as "last_seen!", count(*) as "events!"
        from seen group by worker order by 2 desc
        "#,
        since
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("workers_seen_since"))
}
