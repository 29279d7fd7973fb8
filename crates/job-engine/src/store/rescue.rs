//! Rescue of jobs whose worker is lost: their lease expired, or their worker's liveness
//! lock has been free for the grace (see `liveness`). A batch at a time: runnable again, or
//! failed when out of attempts, the lost claim written to the audit trail. Jobs failed whose
//! kind has an end hook are only locked by the batch and ended one by one
//! ([`fail_lost`]), each with its hook, so that a hook that fails holds back that job alone
//! ([`defer_end`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::liveness::LIVENESS_LOCK_CLASS;
use super::millis;
use crate::clock::Clock;
use crate::error::{QueueError, Result};
use crate::job::JobId;
use crate::retry::RetryPolicy;

/// Why a rescued job's worker is taken to be lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RescueCause {
    /// Its lease expired.
    LeaseExpired,
    /// Its worker's liveness lock was free for the grace: the worker is gone, though its
    /// lease had not expired yet.
    WorkerGone,
}

impl RescueCause {
    /// The error a job failed for this cause on its last attempt is left with, and its
    /// end hook is told.
    pub fn on_last_attempt(self) -> &'static str {
        match self {
            Self::LeaseExpired => LEASE_EXPIRED_ON_LAST_ATTEMPT,
            Self::WorkerGone => WORKER_GONE_ON_LAST_ATTEMPT,
        }
    }
}

/// A job whose lost worker was rescued.
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
    /// The attempt whose worker was lost.
    pub attempt: i32,
    /// Why the worker was taken to be lost.
    pub cause: RescueCause,
}

/// What one rescue batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescueBatch {
    /// Jobs made runnable again, or failed (those whose kind has no end hook among the
    /// batch's hooked kinds).
    pub rescued: Vec<Rescued>,
    /// Jobs to fail with their kind's end hook, each by [`fail_lost`] in the same
    /// transaction: locked by the batch, not written yet.
    pub to_end: Vec<Rescued>,
}

impl RescueBatch {
    /// Jobs the batch took: when as many as its limit, there may be more.
    pub fn taken(&self) -> usize {
        self.rescued.len() + self.to_end.len()
    }
}

/// The error a job failed by the rescuer when its lease expired is left with.
pub const LEASE_EXPIRED_ON_LAST_ATTEMPT: &str = "lease expired on the last attempt";

/// The error a job failed by the rescuer when its worker was gone is left with.
pub const WORKER_GONE_ON_LAST_ATTEMPT: &str =
    "worker gone (its liveness lock was released) on the last attempt";

/// Rescues a batch of at most `limit` running jobs whose lease expired (by `clock`) or
/// whose owner is one of `dead` (workers found gone by `check_liveness`; each is checked
/// again here: still registered, gone for `grace`, its lock still free, which this
/// transaction then holds): runnable again, or failed when it was their last attempt,
/// recording who lost them. Failed jobs of `hooked` kinds are only locked and returned in
/// [`RescueBatch::to_end`]: end each with [`fail_lost`] and its hook in the same
/// transaction. Run it in a transaction.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn rescue_batch(
    conn: &mut PgConnection,
    clock: &Clock,
    limit: usize,
    dead: &[String],
    grace: Duration,
    hooked: &[String],
) -> Result<RescueBatch> {
    let rows = sqlx::query!(
        r#"
        with dead as materialized (
            -- Its lock, free, is held until the commit: the worker cannot come back in
            -- the middle of the takeover of its jobs.
            select worker from job_workers
            where worker = any($4::text[])
              and lost_since <= now() - make_interval(secs => $5::float8 / 1000)
              and pg_try_advisory_xact_lock($6, lock_key)
        ), expired as (
            -- A scan of the claim table: an index on the lease would make every claim and
            -- renewal write index entries (see migration 0009), and the table holds only
            -- unfinished jobs.
            select id, lease_owner, attempt >= max_attempts as exhausted, claimed_event_id,
                   attempted_at, attempt, kind, args,
                   coalesce(not (lease_expires_at < coalesce($2::timestamptz, now())), true)
                       as worker_gone,
                   attempt >= max_attempts and kind = any($7::text[]) as hooked
            from jobs
            where state = 'running'
              and (lease_expires_at < coalesce($2::timestamptz, now())
                   or lease_owner in (select worker from dead))
            limit $3
            for update skip locked
        ), gone as (
            delete from jobs j using expired e
            where j.id = e.id and e.exhausted and not e.hooked
            returning j.*, e.worker_gone
        ), moved as (
            insert into finished_jobs (id, kind, args, queue, priority, state, attempt,
                max_attempts, run_at, created_at, attempted_at, last_error, traceparent,
                unique_key, serial_key, enqueued_event_id)
            select id, kind, args, queue, priority, 'failed', attempt, max_attempts, run_at,
                   created_at, attempted_at, case when worker_gone then $8 else $1 end,
                   traceparent, unique_key, serial_key, enqueued_event_id
            from gone
        ), back as (
            update jobs j
            set state = 'available', run_at = coalesce($2::timestamptz, now()),
                last_error = case when e.worker_gone
                                  then 'worker gone: its liveness lock was released'
                                  else 'lease expired: worker lost' end,
                lease_owner = null, lease_token = null, lease_expires_at = null,
                claimed_event_id = null
            from expired e where j.id = e.id and not e.exhausted
            returning j.id
        ), claim as (
            -- The lost claim is written out (see `job_events`) before the rescue.
            insert into job_event_log (id, job_id, at, kind, attempt, worker)
            select claimed_event_id, id, attempted_at, 'claimed', attempt, lease_owner
            from expired where claimed_event_id is not null and not hooked
        ), ev as (
            insert into job_event_log (job_id, kind, attempt, worker, detail)
            select id, case when exhausted then 'failed' else 'rescued' end, attempt,
                   lease_owner, case when worker_gone then 'worker gone' else 'lease expired' end
            from expired where not hooked
        )
        select id as "id!", exhausted as "exhausted!", kind as "kind!", attempt as "attempt!",
               case when hooked then args end as args, worker_gone as "worker_gone!",
               hooked as "hooked!"
        from expired
        "#,
        LEASE_EXPIRED_ON_LAST_ATTEMPT,
        clock.statement_time(),
        i64::try_from(limit).unwrap_or(i64::MAX),
        dead,
        millis(grace) as f64,
        LIVENESS_LOCK_CLASS,
        hooked,
        WORKER_GONE_ON_LAST_ATTEMPT,
    )
    .fetch_all(conn)
    .await
    .map_err(QueueError::db("rescue"))?;
    let mut batch = RescueBatch::default();
    for r in rows {
        let job = Rescued {
            id: JobId(r.id),
            failed: r.exhausted,
            kind: r.kind,
            args: r.args,
            attempt: r.attempt,
            cause: if r.worker_gone {
                RescueCause::WorkerGone
            } else {
                RescueCause::LeaseExpired
            },
        };
        if r.hooked {
            batch.to_end.push(job);
        } else {
            batch.rescued.push(job);
        }
    }
    Ok(batch)
}

/// Fails `job` (locked by [`rescue_batch`] in this transaction) for its lost worker,
/// writing out the lost claim. Returns false when it is no longer running.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn fail_lost(conn: &mut PgConnection, job: &Rescued) -> Result<bool> {
    let detail = match job.cause {
        RescueCause::LeaseExpired => "lease expired",
        RescueCause::WorkerGone => "worker gone",
    };
    let failed = sqlx::query_scalar!(
        r#"
        with gone as (
            delete from jobs where id = $1 and state = 'running' returning *
        ), moved as (
            insert into finished_jobs (id, kind, args, queue, priority, state, attempt,
                max_attempts, run_at, created_at, attempted_at, last_error, traceparent,
                unique_key, serial_key, enqueued_event_id)
            select id, kind, args, queue, priority, 'failed', attempt, max_attempts, run_at,
                   created_at, attempted_at, $2, traceparent, unique_key, serial_key,
                   enqueued_event_id
            from gone
        ), claim as (
            insert into job_event_log (id, job_id, at, kind, attempt, worker)
            select claimed_event_id, id, attempted_at, 'claimed', attempt, lease_owner
            from gone where claimed_event_id is not null
        ), ev as (
            insert into job_event_log (job_id, kind, attempt, worker, detail)
            select id, 'failed', attempt, lease_owner, $3 from gone
        )
        select count(*) as "n!" from gone
        "#,
        job.id.0,
        job.cause.on_last_attempt(),
        detail,
    )
    .fetch_one(conn)
    .await
    .map_err(QueueError::db("fail lost job"))?;
    Ok(failed > 0)
}

/// Records that the end hook of `id` (locked by [`rescue_batch`] in this transaction,
/// whose failure was rolled back) failed with `error`, in the audit trail as an
/// `end_hook_failed` event, and defers the job's end: it stays running, held by nobody
/// (no lease owner or token, so that no worker can write it), until its lease expiry,
/// pushed by `backoff` (its delay after as many failures as the trail holds, from
/// `clock`'s now), brings it to a rescuer again. The lost claim is written out now.
/// Returns when it will be tried again; `None` when the job is no longer running.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn defer_end(
    conn: &mut PgConnection,
    id: JobId,
    error: &str,
    backoff: &RetryPolicy,
    clock: &Clock,
) -> Result<Option<DateTime<Utc>>> {
    let failures = sqlx::query_scalar!(
        r#"
        select count(*) as "n!" from job_event_log
        where job_id = $1 and kind = 'end_hook_failed'
        "#,
        id.0
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(QueueError::db("defer end"))?;
    let attempt = i32::try_from(failures.saturating_add(1)).unwrap_or(i32::MAX);
    let until = clock.now()
        + chrono::Duration::from_std(backoff.delay(attempt)).unwrap_or(chrono::Duration::zero());
    sqlx::query_scalar!(
        r#"
        with held as (
            select id, claimed_event_id, attempted_at, attempt, lease_owner
            from jobs where id = $1 and state = 'running'
        ), upd as (
            update jobs j
            set lease_expires_at = $2, lease_owner = null, lease_token = null,
                claimed_event_id = null
            from held where j.id = held.id
            returning j.lease_expires_at
        ), claim as (
            insert into job_event_log (id, job_id, at, kind, attempt, worker)
            select claimed_event_id, id, attempted_at, 'claimed', attempt, lease_owner
            from held where claimed_event_id is not null
        ), ev as (
            insert into job_event_log (job_id, kind, attempt, worker, detail)
            select id, 'end_hook_failed', attempt, lease_owner, $3 from held
        )
        select lease_expires_at as "until!" from upd
        "#,
        id.0,
        until,
        error,
    )
    .fetch_optional(conn)
    .await
    .map_err(QueueError::db("defer end"))
}
