//! Claiming runnable jobs for a worker: the `FOR UPDATE SKIP LOCKED` scan in claim order,
//! serial keys respected, a lease token per claim.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::EVENTS_PER_STATEMENT;
use crate::clock::Clock;
use crate::error::{QueueError, Result};
use crate::job::{ClaimKey, ClaimedJob, JobId};

/// Claims up to `limit` runnable jobs of `queue` for `worker`, by priority then run_at,
/// skipping jobs locked by other claimers and jobs whose serial_key has an older
/// unfinished job. With `after`, the scan starts after that place in the claim order
/// instead of at the beginning (see `claim_cursor`). Due jobs and the lease's expiry
/// go by `clock`.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn claim(
    executor: impl PgExecutor<'_>,
    queue: &str,
    worker: &str,
    limit: i64,
    lease_ms: i64,
    after: Option<ClaimKey>,
    clock: &Clock,
) -> Result<Vec<ClaimedJob>> {
    let limit = limit.clamp(0, i64::try_from(EVENTS_PER_STATEMENT).unwrap_or(i64::MAX));
    let rows = sqlx::query_as!(
        ClaimRow,
        r#"
        with picked as (
            -- The claim index covers running jobs too (a claim is then a HOT update);
            -- the state filter skips them, and a resumed scan starts past most of them.
            -- "Now" is the clock's time, or the database's when it passes none; the
            -- coalesce is still a bound of the index scan in a generic plan.
            select j.id, j.ctid, j.attempted_at is not null as resumed from jobs j
            where j.queue = $1 and j.state <> 'running'
              and j.run_at <= coalesce($9::timestamptz, now())
              -- The scan's start bound in the index: the beginning, or after `after`.
              and (j.queue, j.priority, j.run_at, j.id)
                  > ($1, coalesce($5::int2, -32768), coalesce($6::timestamptz, '-infinity'),
                     coalesce($7::int8, 0))
              and (j.serial_key is null or not exists (
                    select 1 from jobs p where p.serial_key = j.serial_key and p.id < j.id))
            order by j.priority, j.run_at, j.id
            limit $2
            for update skip locked
        ), events as (
            select nextval('job_event_seq') * 4096 as first,
                   coalesce($9::timestamptz, now()) + make_interval(secs => $4::float8 / 1000)
                       as lease_until
        ), claimed as (
            -- The `claimed` event is folded into the row (see `job_events`), numbered by
            -- the job's place in the batch; the lease token is the caller's token for
            -- that place. The rows are updated where the scan locked them (a lock keeps
            -- a row in place), without a primary-key lookup each; unnesting keeps the
            -- update a nested loop, where a join with the CTE may be planned as a hash
            -- join over a scan of the whole table.
            update jobs j
            set state = 'running', attempt = j.attempt + 1,
                attempted_at = coalesce($9::timestamptz, now()),
                lease_owner = $3, lease_token = ($8::uuid[])[p.place],
                lease_expires_at = (select lease_until from events),
                claimed_event_id = (select first from events) + p.place - 1
            from unnest(array(select ctid from picked)) with ordinality as p(row, place)
            where j.ctid = p.row
            returning j.id, j.kind, j.args, j.attempt, j.max_attempts, j.created_at,
                      j.traceparent, j.lease_token, j.priority, j.run_at, j.ctid
        )
        select id as "id!", kind as "kind!", args as "args!", attempt as "attempt!",
               max_attempts as "max_attempts!", created_at as "created_at!", traceparent,
               lease_token as "lease_token!", priority as "priority!", run_at as "run_at!",
               ctid::text as "row!",
               -- Only a job claimed before can have stored steps.
               (claimed.id = any(array(select id from picked where resumed))
                and exists(select 1 from job_steps s where s.job_id = claimed.id))
                   as "has_steps!"
        from claimed
        "#,
        queue,
        limit,
        worker,
        lease_ms as f64,
        after.map(|k| k.priority) as Option<i16>,
        after.map(|k| k.run_at) as Option<DateTime<Utc>>,
        after.map(|k| k.id) as Option<i64>,
        &lease_tokens(limit) as &[Uuid],
        clock.statement_time(),
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("claim"))?;
    Ok(rows.into_iter().map(ClaimedJob::from).collect())
}

/// A claimed job as the claim statements (`claim`, `claim_one`) return it.
pub(super) struct ClaimRow {
    pub id: i64,
    pub kind: String,
    pub args: serde_json::Value,
    pub attempt: i32,
    pub max_attempts: i32,
    pub created_at: DateTime<Utc>,
    pub traceparent: Option<String>,
    pub lease_token: Uuid,
    pub priority: i16,
    pub run_at: DateTime<Utc>,
    pub row: String,
    pub has_steps: bool,
}

impl From<ClaimRow> for ClaimedJob {
    fn from(r: ClaimRow) -> Self {
        Self {
            id: JobId(r.id),
            kind: r.kind,
            args: r.args,
            attempt: r.attempt,
            max_attempts: r.max_attempts,
            created_at: r.created_at,
            traceparent: r.traceparent,
            lease_token: r.lease_token,
            row: r.row,
            has_steps: r.has_steps,
            key: ClaimKey {
                priority: r.priority,
                run_at: r.run_at,
                id: r.id,
            },
        }
    }
}

/// Fresh lease tokens for a claim of up to `n` jobs: a random 128-bit start and the ones
/// after it. A token only has to differ from every other claim's, and drawing one random
/// number per claim instead of `gen_random_uuid()` per row took a third off the cost of
/// the claim's update.
fn lease_tokens(n: i64) -> Vec<Uuid> {
    let start: u128 = rand::random();
    (0..u128::try_from(n).unwrap_or(0))
        .map(|i| Uuid::from_u128(start.wrapping_add(i)))
        .collect()
}
