//! Step checkpoints: the stored outputs a resumed job reuses, group-committed checkpoint
//! writes, and step failures in the audit trail.

use std::collections::HashMap;

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::{QueueError, Result};
use crate::job::JobId;

/// The completed steps of a job: name → stored output.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn load_steps(
    executor: impl PgExecutor<'_>,
    id: JobId,
) -> Result<HashMap<String, serde_json::Value>> {
    let rows = sqlx::query!("select name, output from job_steps where job_id = $1", id.0)
        .fetch_all(executor)
        .await
        .map_err(QueueError::db("load_steps"))?;
    Ok(rows.into_iter().map(|r| (r.name, r.output)).collect())
}

/// Whether the job has any completed step (decides whether a claim must load them).
///
/// # Errors
/// [`QueueError::Database`].
pub async fn has_steps(executor: impl PgExecutor<'_>, id: JobId) -> Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from job_steps where job_id = $1) as "e!""#,
        id.0
    )
    .fetch_one(executor)
    .await
    .map_err(QueueError::db("has_steps"))
}

/// One step checkpoint of a batch: `output` is `None` when the step starts and its
/// stored output when it completed.
#[derive(Debug)]
pub struct CheckpointRow<'a> {
    /// Job.
    pub id: JobId,
    /// The claim's lease token, which fences the write.
    pub token: Uuid,
    /// Attempt.
    pub attempt: i32,
    /// Step name.
    pub step: &'a str,
    /// The completed step's output.
    pub output: Option<&'a serde_json::Value>,
}

/// Writes a batch of checkpoints of different jobs in one fenced statement: each row is
/// written only while its job is still leased by its token. A start is recorded only when
/// no cancel is requested; a completion stores the output and its event.
///
/// Returns, for each row whose lease held, whether a cancel is requested; rows missing
/// from the answer lost their lease.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn write_checkpoints(
    executor: impl PgExecutor<'_>,
    worker: &str,
    rows: &[CheckpointRow<'_>],
) -> Result<HashMap<(JobId, Uuid), bool>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id.0).collect();
    let tokens: Vec<Uuid> = rows.iter().map(|r| r.token).collect();
    let attempts: Vec<i32> = rows.iter().map(|r| r.attempt).collect();
    let steps: Vec<&str> = rows.iter().map(|r| r.step).collect();
    // A start has no output; `done` tells the rows apart (a step's output may be null).
    let done: Vec<bool> = rows.iter().map(|r| r.output.is_some()).collect();
    let outputs: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| r.output.cloned().unwrap_or_default())
        .collect();
    let fenced = sqlx::query!(
        r#"
        with input as (
            select * from unnest($1::int8[], $2::uuid[], $3::int4[], $4::text[], $5::bool[],
                                 $6::jsonb[])
                as i(id, token, attempt, step, done, output)
        ), lease as (
            select j.id, j.lease_token, j.cancel_requested
            from jobs j join (select distinct id, token from input) i
                on j.id = i.id and j.lease_token = i.token
            for share of j
        ), held as (
            select i.*, l.cancel_requested
            from input i join lease l on l.id = i.id and l.lease_token = i.token
        ), st as (
            insert into job_steps (job_id, name, output, attempt, worker)
            select id, step, output, attempt, $7 from held where done
            on conflict (job_id, name) do update
                set output = excluded.output, attempt = excluded.attempt,
                    worker = excluded.worker, completed_at = now()
        ), ev as (
            insert into job_event_log (job_id, kind, attempt, worker, step)
            select id, case when done then 'step_completed' else 'step_started' end,
                   attempt, $7, step
            from held where done or not cancel_requested
        )
        select id as "id!", token as "token!", cancel_requested as "cancel_requested!"
        from held
        "#,
        &ids,
        &tokens,
        &attempts,
        &steps as &[&str],
        &done,
        &outputs,
        worker,
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("checkpoint"))?;
    Ok(fenced
        .into_iter()
        .map(|r| ((JobId(r.id), r.token), r.cancel_requested))
        .collect())
}

/// Records that a step failed, fenced by the lease token.
///
/// # Errors
/// [`QueueError::LeaseLost`] or [`QueueError::Database`].
pub async fn step_failed(
    pool: &PgPool,
    id: JobId,
    token: Uuid,
    step: &str,
    attempt: i32,
    worker: &str,
    error: &str,
) -> Result<()> {
    let stored = sqlx::query_scalar!(
        r#"
        with lease as (
            select id from jobs where id = $1 and lease_token = $2 for share
        ), ev as (
            insert into job_event_log (job_id, kind, attempt, worker, step, detail)
            select $1, 'step_failed', $3, $4, $5, $6 from lease
        )
        select count(*) as "n!" from lease
        "#,
        id.0,
        token,
        attempt,
        worker,
        step,
        error,
    )
    .fetch_one(pool)
    .await
    .map_err(QueueError::db("step_failed"))?;
    super::fenced(id, stored)
}
