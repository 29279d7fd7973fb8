//! Whole-queue figures that benchmarks report: completions and the time they took, steps
//! and events written, completions per time window, unfinished jobs, and the claim table's
//! size and dead rows.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::{QueueError, Result};

/// Completed jobs, and the seconds from the first attempt's start among them to the last
/// completion (0 when there is none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompletedSpan {
    /// Jobs completed.
    pub completed: i64,
    /// From the earliest `attempted_at` to the latest `finished_at`, in seconds.
    pub seconds: f64,
}

/// The completed jobs of the history and the span they took, by the server's timestamps.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn completed_span(pool: &PgPool) -> Result<CompletedSpan> {
    let row = sqlx::query!(
        r#"
        select coalesce(extract(epoch from max(finished_at) - min(attempted_at))::float8, 0)
                   as "seconds!",
               count(*) as "completed!"
        from finished_jobs where state = 'completed'
        "#
    )
    .fetch_one(pool)
    .await
    .map_err(QueueError::db("completed_span"))?;
    Ok(CompletedSpan {
        completed: row.completed,
        seconds: row.seconds,
    })
}

/// Jobs not finished yet (waiting, scheduled or running).
///
/// # Errors
/// [`QueueError::Database`].
pub async fn unfinished(pool: &PgPool) -> Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from jobs"#)
        .fetch_one(pool)
        .await
        .map_err(QueueError::db("unfinished"))
}

/// Jobs of `kind` not finished yet.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn unfinished_of_kind(pool: &PgPool, kind: &str) -> Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from jobs where kind = $1"#, kind)
        .fetch_one(pool)
        .await
        .map_err(QueueError::db("unfinished_of_kind"))
}

/// Step checkpoints stored.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn steps(pool: &PgPool) -> Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from job_steps"#)
        .fetch_one(pool)
        .await
        .map_err(QueueError::db("steps"))
}

/// Events of the audit trail (stored and folded into job rows).
///
/// # Errors
/// [`QueueError::Database`].
pub async fn events(pool: &PgPool) -> Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from job_events"#)
        .fetch_one(pool)
        .await
        .map_err(QueueError::db("events"))
}

/// Finished jobs in one window of [`finished_per_window`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// The window's number: it starts `bucket` widths after the origin (negative before).
    pub bucket: i64,
    /// Jobs that finished in it.
    pub jobs: i64,
}

/// Finished jobs per window of `width_s` seconds from `origin`, windows in order; windows
/// without a finish are left out.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn finished_per_window(
    pool: &PgPool,
    origin: DateTime<Utc>,
    width_s: f64,
) -> Result<Vec<WindowCount>> {
    sqlx::query_as!(
        WindowCount,
        r#"
        select floor(extract(epoch from finished_at - $1)::float8 / $2::float8)::int8 as "bucket!",
               count(*) as "jobs!"
        from finished_jobs
        group by 1 order by 1
        "#,
        origin,
        width_s,
    )
    .fetch_all(pool)
    .await
    .map_err(QueueError::db("finished_per_window"))
}

/// Jobs finished at or after `since`, and the seconds from `since` to the last of them.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn finished_since(pool: &PgPool, since: DateTime<Utc>) -> Result<(i64, f64)> {
    let row = sqlx::query!(
        r#"
        select count(*) as "jobs!",
               coalesce(extract(epoch from max(finished_at) - $1)::float8, 0) as "seconds!"
        from finished_jobs where finished_at >= $1
        "#,
        since,
    )
    .fetch_one(pool)
    .await
    .map_err(QueueError::db("finished_since"))?;
    Ok((row.jobs, row.seconds))
}

/// The claim table's heap, indexes and TOAST, in bytes.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn claim_table_bytes(pool: &PgPool) -> Result<i64> {
    sqlx::query_scalar!(r#"select pg_total_relation_size('jobs') as "bytes!""#)
        .fetch_one(pool)
        .await
        .map_err(QueueError::db("claim_table_bytes"))
}

/// Dead row versions of the claim table, as the statistics collector last counted them.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn claim_table_dead_rows(pool: &PgPool) -> Result<i64> {
    sqlx::query_scalar!(
        r#"select coalesce(n_dead_tup, 0) as "n!" from pg_stat_user_tables
           where relid = 'jobs'::regclass"#
    )
    .fetch_one(pool)
    .await
    .map_err(QueueError::db("claim_table_dead_rows"))
}
