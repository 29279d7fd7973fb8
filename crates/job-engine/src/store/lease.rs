//! The fenced writes of a claimed job, each presenting its lease token: completion (in
//! batches), failure or cancellation, release (retry, snooze, hand-back), lease renewal,
//! and the lock a step takes on its own job's row. A token that no longer matches writes
//! nothing and is [`QueueError::LeaseLost`].

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::EVENTS_PER_STATEMENT;
use crate::clock::Clock;
use crate::error::{QueueError, Result};
use crate::job::{JobId, JobState};

/// Moves every job whose lease token still matches to `finished_jobs` as completed, in
/// one statement per [`EVENTS_PER_STATEMENT`] jobs. Returns the ids that were completed;
/// the others had lost their lease.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn complete_many(pool: &PgPool, ids: &[i64], tokens: &[Uuid]) -> Result<Vec<JobId>> {
    let mut conn = pool.acquire().await.map_err(QueueError::db("complete"))?;
    complete_at(&mut conn, ids, tokens, &vec![String::new(); ids.len()]).await
}

/// Like [`complete_many`], looking first where each job's row was when it was claimed
/// ([`ClaimedJob::row`], empty when unknown): that saves a primary-key lookup per job. A
/// row that moved since (a lease renewal writes a new version) is found by its id.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn complete_at(
    conn: &mut PgConnection,
    ids: &[i64],
    tokens: &[Uuid],
    rows: &[String],
) -> Result<Vec<JobId>> {
    let mut done = Vec::with_capacity(ids.len());
    for ((ids, tokens), rows) in ids
        .chunks(EVENTS_PER_STATEMENT)
        .zip(tokens.chunks(EVENTS_PER_STATEMENT))
        .zip(rows.chunks(EVENTS_PER_STATEMENT))
    {
        let rows = sqlx::query_scalar!(
            r#"
            with input as (
                select * from unnest($1::int8[], $2::uuid[], $3::text[]) as i(id, token, row)
            ), at_row as (
                delete from jobs j using input i
                where j.ctid = nullif(i.row, '')::tid and j.id = i.id and j.lease_token = i.token
                returning j.*
            ), by_id as (
                delete from jobs j using input i
                where j.id = i.id and j.lease_token = i.token
                  and i.id not in (select id from at_row)
                returning j.*
            ), done as (
                select * from at_row union all select * from by_id
            ), events as (
                select nextval('job_event_seq') * 4096 as first
            )
            -- The claim and its completion stay folded into the row (see `job_events`).
            insert into finished_jobs (id, kind, args, queue, priority, state, attempt,
                max_attempts, run_at, created_at, attempted_at, last_error, traceparent,
                unique_key, serial_key, enqueued_event_id, claimed_event_id,
                completed_event_id, worker)
            select id, kind, args, queue, priority, 'completed', attempt, max_attempts, run_at,
                   created_at, attempted_at, last_error, traceparent, unique_key, serial_key,
                   enqueued_event_id, claimed_event_id,
                   (select first from events) + row_number() over () - 1,
                   lease_owner
            from done
            returning id
            "#,
            ids,
            tokens,
            rows,
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(QueueError::db("complete"))?;
        done.extend(rows.into_iter().map(JobId));
    }
    Ok(done)
}

/// Ends a running job as `failed` or `cancelled`, fenced by its lease token.
///
/// # Errors
/// [`QueueError::LeaseLost`] or [`QueueError::Database`].
pub async fn finish(
    executor: impl PgExecutor<'_>,
    id: JobId,
    token: Uuid,
    state: JobState,
    error: Option<&str>,
) -> Result<()> {
    let event = state.as_str();
    let moved = sqlx::query_scalar!(
        r#"
        with done as (
            delete from jobs where id = $1 and lease_token = $2 returning *
        ), moved as (
            insert into finished_jobs (id, kind, args, queue, priority, state, attempt,
                max_attempts, run_at, created_at, attempted_at, last_error, traceparent,
                unique_key, serial_key, enqueued_event_id)
            select id, kind, args, queue, priority, $3, attempt, max_attempts, run_at,
                   created_at, attempted_at, coalesce($4, last_error), traceparent, unique_key,
                   serial_key, enqueued_event_id
            from done
        ), claim as (
            -- A claim that ends without a completion is written out (see `job_events`).
            insert into job_event_log (id, job_id, at, kind, attempt, worker)
            select claimed_event_id, id, attempted_at, 'claimed', attempt, lease_owner
            from done where claimed_event_id is not null
        ), ev as (
            insert into job_event_log (job_id, kind, attempt, worker, detail)
            select id, $5, attempt, lease_owner, $4 from done
        )
        select count(*) as "n!" from done
        "#,
        id.0,
        token,
        state as JobState,
        error,
        event,
    )
    .fetch_one(executor)
    .await
    .map_err(QueueError::db("finish"))?;
    super::fenced(id, moved)
}

/// Why a running job is released back to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// A transient failure: runs again at `run_at`, and the attempt counts.
    Retry,
    /// A long durable timer: runs again at `run_at`; the attempt does not count.
    Snooze,
    /// Graceful shutdown: runnable at once; the attempt does not count.
    HandBack,
    /// The engine's own database work failed because the database was unreachable or
    /// read-only: runs again at `run_at`, and the attempt does not count (it was not the
    /// job's failure). Recorded as a scheduled retry.
    Fault,
}

/// Releases a running job (fenced by its token) to run again at `run_at`.
///
/// # Errors
/// [`QueueError::LeaseLost`] or [`QueueError::Database`].
pub async fn release(
    pool: &PgPool,
    id: JobId,
    token: Uuid,
    how: Release,
    run_at: DateTime<Utc>,
    error: Option<&str>,
) -> Result<()> {
    let (state, keep_attempt, event) = match how {
        Release::Retry => (JobState::Retryable, true, "retry_scheduled"),
        Release::Snooze => (JobState::Scheduled, false, "snoozed"),
        Release::HandBack => (JobState::Available, false, "handed_back"),
        Release::Fault => (JobState::Retryable, false, "retry_scheduled"),
    };
    let released = sqlx::query_scalar!(
        r#"
        with held as (
            select id, claimed_event_id, attempted_at, attempt, lease_owner from jobs
            where id = $1 and lease_token = $2
            for update
        ), upd as (
            update jobs j
            set state = $3, run_at = $4,
                attempt = case when $5 then j.attempt else j.attempt - 1 end,
                last_error = coalesce($6, j.last_error),
                lease_owner = null, lease_token = null, lease_expires_at = null,
                claimed_event_id = null
            from held where j.id = held.id
            returning j.id, j.attempt
        ), claim as (
            -- A claim that ends without a completion is written out (see `job_events`).
            insert into job_event_log (id, job_id, at, kind, attempt, worker)
            select claimed_event_id, id, attempted_at, 'claimed', attempt, lease_owner
            from held where claimed_event_id is not null
        ), ev as (
            insert into job_event_log (job_id, kind, attempt, worker, detail)
            select id, $7, attempt, $8, coalesce($6, $4::timestamptz::text) from upd
        )
        select count(*) as "n!" from upd
        "#,
        id.0,
        token,
        state as JobState,
        run_at,
        keep_attempt,
        error,
        event,
        None::<String>,
    )
    .fetch_one(pool)
    .await
    .map_err(QueueError::db("release"))?;
    super::fenced(id, released)
}

/// Extends the leases of the given running jobs to `lease_ms` after `clock`'s now.
/// Returns the ids still held, each with whether its cancel was requested; a missing id
/// means that job's lease was lost.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn extend_leases(
    pool: &PgPool,
    ids: &[i64],
    tokens: &[Uuid],
    lease_ms: i64,
    clock: &Clock,
) -> Result<Vec<(JobId, bool)>> {
    let rows = sqlx::query!(
        r#"
        update jobs j
        set lease_expires_at = coalesce($4::timestamptz, now())
                               + make_interval(secs => $3::float8 / 1000)
        from unnest($1::int8[], $2::uuid[]) as held(id, token)
        where j.id = held.id and j.lease_token = held.token
        returning j.id, j.cancel_requested
        "#,
        ids,
        tokens,
        lease_ms as f64,
        clock.statement_time(),
    )
    .fetch_all(pool)
    .await
    .map_err(QueueError::db("extend_leases"))?;
    Ok(rows
        .into_iter()
        .map(|row| (JobId(row.id), row.cancel_requested))
        .collect())
}

/// Locks the job row for the rest of the caller's transaction if `token` still holds its
/// lease, so that state written in that transaction is fenced like a checkpoint.
///
/// # Errors
/// [`QueueError::LeaseLost`] or [`QueueError::Database`].
pub async fn hold_lease(conn: &mut PgConnection, id: JobId, token: Uuid) -> Result<()> {
    let held = sqlx::query_scalar!(
        r#"select true as "held!" from jobs where id = $1 and lease_token = $2 for share"#,
        id.0,
        token
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(QueueError::db("hold_lease"))?;
    super::fenced(id, i64::from(held.is_some()))
}
