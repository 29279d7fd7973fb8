//! Claiming one named job, whatever its `run_at`, for a test that runs it to its end
//! without a claim loop (`testing`). Serial keys are respected as by the claim scan.

use sqlx::PgExecutor;
use uuid::Uuid;

use super::claim::ClaimRow;
use crate::clock::Clock;
use crate::error::{QueueError, Result};
use crate::job::{ClaimedJob, JobId};

/// Claims job `id` for `worker` under lease `token` for `lease_ms` from `clock`'s now,
/// unless it is running, finished, locked by another claimer, or waits behind an older job
/// of its serial key: then `None`.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn claim_one(
    executor: impl PgExecutor<'_>,
    id: JobId,
    worker: &str,
    token: Uuid,
    lease_ms: i64,
    clock: &Clock,
) -> Result<Option<ClaimedJob>> {
    let row = sqlx::query_as!(
        ClaimRow,
        r#"
        with picked as (
            select j.id, j.attempted_at is not null as resumed from jobs j
            where j.id = $1 and j.state <> 'running'
              and (j.serial_key is null or not exists (
                    select 1 from jobs p where p.serial_key = j.serial_key and p.id < j.id))
            for update skip locked
        ), claimed as (
            -- As a claim of one: the `claimed` event folded into the row (see `job_events`).
            update jobs j
            -- "Now" is the clock's time, or the database's when it passes none.
            set state = 'running', attempt = j.attempt + 1,
                attempted_at = coalesce($5::timestamptz, now()),
                lease_owner = $2, lease_token = $3,
                lease_expires_at = coalesce($5::timestamptz, now())
                    + make_interval(secs => $4::float8 / 1000),
                claimed_event_id = nextval('job_event_seq') * 4096
            from picked p
            where j.id = p.id
            returning j.id, j.kind, j.args, j.attempt, j.max_attempts, j.created_at,
                      j.traceparent, j.lease_token, j.priority, j.run_at, j.ctid, p.resumed
        )
        select id as "id!", kind as "kind!", args as "args!", attempt as "attempt!",
               max_attempts as "max_attempts!", created_at as "created_at!", traceparent,
               lease_token as "lease_token!", priority as "priority!", run_at as "run_at!",
               ctid::text as "row!",
               -- Only a job claimed before can have stored steps.
               (resumed and exists(select 1 from job_steps s where s.job_id = claimed.id))
                   as "has_steps!"
        from claimed
        "#,
        id.0,
        worker,
        token,
        lease_ms as f64,
        clock.statement_time(),
    )
    .fetch_optional(executor)
    .await
    .map_err(QueueError::db("claim one"))?;
    Ok(row.map(ClaimedJob::from))
}
