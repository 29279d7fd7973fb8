//! Rescue of jobs whose lease expired: runnable again, or failed when out of attempts,
//! the lost claim written to the audit trail.

use sqlx::PgConnection;

use crate::clock::Clock;
use crate::error::{QueueError, Result};
use crate::job::JobId;

/// A job whose expired lease was rescued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescued {
    /// The job.
    pub id: JobId,
    /// True when the job had no attempts left and was failed instead of made runnable.
    pub failed: bool,
    /// Its kind.
    pub kind: String,
    /// Its arguments when it was failed (for its kind's end hook); `None` otherwise.
    pub args: Option<serde_json::Value>,
    /// The attempt whose lease expired.
    pub attempt: i32,
}

/// The error a job failed by the rescuer is left with.
pub const LEASE_EXPIRED_ON_LAST_ATTEMPT: &str = "lease expired on the last attempt";

/// Returns every running job whose lease expired (by `clock`) to runnable (or failed, when
/// it was on its last attempt), recording who lost it. Run it in a transaction when the
/// failed jobs' end hooks must commit with it.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn rescue_expired(conn: &mut PgConnection, clock: &Clock) -> Result<Vec<Rescued>> {
    let rows = sqlx::query!(
        r#"
        with expired as (
            -- A scan of the claim table: an index on the lease would make every claim and
            -- renewal write index entries (see migration 0009), and the table holds only
            -- unfinished jobs.
            select id, lease_owner, attempt >= max_attempts as exhausted, claimed_event_id,
                   attempted_at, attempt, kind, args
            from jobs
            where state = 'running' and lease_expires_at < coalesce($2::timestamptz, now())
            for update skip locked
        ), gone as (
            delete from jobs j using expired e where j.id = e.id and e.exhausted returning j.*
        ), moved as (
            insert into finished_jobs (id, kind, args, queue, priority, state, attempt,
                max_attempts, run_at, created_at, attempted_at, last_error, traceparent,
                unique_key, serial_key, enqueued_event_id)
            select id, kind, args, queue, priority, 'failed', attempt, max_attempts, run_at,
                   created_at, attempted_at, $1, traceparent,
                   unique_key, serial_key, enqueued_event_id
            from gone
        ), back as (
            update jobs j
            set state = 'available', run_at = coalesce($2::timestamptz, now()),
                last_error = 'lease expired: worker lost',
                lease_owner = null, lease_token = null, lease_expires_at = null,
                claimed_event_id = null
            from expired e where j.id = e.id and not e.exhausted
            returning j.id, j.attempt
        ), claim as (
            -- The lost claim is written out (see `job_events`) before the rescue.
            insert into job_event_log (id, job_id, at, kind, attempt, worker)
            select claimed_event_id, id, attempted_at, 'claimed', attempt, lease_owner
            from expired where claimed_event_id is not null
        ), ev as (
            insert into job_event_log (job_id, kind, attempt, worker, detail)
            select e.id, case when e.exhausted then 'failed' else 'rescued' end, j.attempt,
                   e.lease_owner, 'lease expired'
            from expired e join jobs j on j.id = e.id
        )
        select id as "id!", exhausted as "exhausted!", kind as "kind!", attempt as "attempt!",
               case when exhausted then args end as args
        from expired
        "#,
        LEASE_EXPIRED_ON_LAST_ATTEMPT,
        clock.statement_time(),
    )
    .fetch_all(conn)
    .await
    .map_err(QueueError::db("rescue"))?;
    Ok(rows
        .into_iter()
        .map(|r| Rescued {
            id: JobId(r.id),
            failed: r.exhausted,
            kind: r.kind,
            args: r.args,
            attempt: r.attempt,
        })
        .collect())
}
