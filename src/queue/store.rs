//! Every SQL statement of the job engine, one small function each.
//!
//! Writes made on behalf of a running job present its `lease_token`; a write whose token no
//! longer matches changes nothing and returns [`QueueError::LeaseLost`]. That is the fencing
//! that keeps a worker which lost its lease (frozen, partitioned) from corrupting a job
//! another worker now owns.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::error::{QueueError, Result};
use super::job::{ClaimKey, ClaimedJob, Enqueued, JobId, JobState, NewJob};

/// Most events one statement numbers. An event id is a value of `job_event_seq` times this
/// plus the event's place in its statement, so a statement that records an event for each
/// job of a batch draws one sequence value, not one per job (see migration 0009).
pub const EVENTS_PER_STATEMENT: usize = 4096;

/// Inserts one job inside the caller's transaction (or on any connection). With a
/// `unique_key` already held by an unfinished job, returns that job instead.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn enqueue(conn: &mut PgConnection, job: &NewJob) -> Result<Enqueued> {
    // A conflicting job committed after this statement's snapshot is invisible to the
    // fallback select; the next round sees it.
    for _ in 0..5 {
        let row = sqlx::query!(
            r#"
            with ins as (
                -- The `enqueued` event is folded into the row (see `job_events`).
                insert into jobs (kind, args, queue, priority, state, max_attempts, run_at,
                                  unique_key, serial_key, traceparent, enqueued_event_id)
                values ($1, $2, $3, $4,
                        case when $5::timestamptz > now() then 'scheduled'::job_state
                             else 'available'::job_state end,
                        $6, coalesce($5, now()), $7, $8, $9, nextval('job_event_seq') * 4096)
                on conflict (unique_key) where unique_key is not null do nothing
                returning id
            )
            select id as "id!", true as "inserted!" from ins
            union all
            select id, false from jobs where unique_key = $7 and not exists (select 1 from ins)
            "#,
            job.kind,
            job.args,
            job.queue,
            job.priority,
            job.run_at,
            job.max_attempts,
            job.unique_key,
            job.serial_key,
            job.traceparent,
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(QueueError::db("enqueue"))?;
        if let Some(row) = row {
            return Ok(Enqueued {
                id: JobId(row.id),
                inserted: row.inserted,
            });
        }
    }
    Err(QueueError::db("enqueue")(sqlx::Error::Protocol(
        "unique job vanished between conflict and lookup".into(),
    )))
}

/// Inserts many jobs, in one statement per [`EVENTS_PER_STATEMENT`] jobs; results are in
/// input order. Jobs whose `unique_key` is already held return the existing job.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn enqueue_many(conn: &mut PgConnection, jobs: &[NewJob]) -> Result<Vec<Enqueued>> {
    let mut out = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(EVENTS_PER_STATEMENT) {
        out.extend(enqueue_chunk(conn, chunk).await?);
    }
    Ok(out)
}

async fn enqueue_chunk(conn: &mut PgConnection, jobs: &[NewJob]) -> Result<Vec<Enqueued>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let mut kinds = Vec::with_capacity(jobs.len());
    let mut args = Vec::with_capacity(jobs.len());
    let mut queues = Vec::with_capacity(jobs.len());
    let mut priorities = Vec::with_capacity(jobs.len());
    let mut run_ats: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(jobs.len());
    let mut max_attempts = Vec::with_capacity(jobs.len());
    let mut unique_keys: Vec<Option<String>> = Vec::with_capacity(jobs.len());
    let mut serial_keys: Vec<Option<String>> = Vec::with_capacity(jobs.len());
    let mut traceparents: Vec<Option<String>> = Vec::with_capacity(jobs.len());
    for job in jobs {
        kinds.push(job.kind.clone());
        args.push(job.args.clone());
        queues.push(job.queue.clone());
        priorities.push(job.priority);
        run_ats.push(job.run_at);
        max_attempts.push(job.max_attempts);
        unique_keys.push(job.unique_key.clone());
        serial_keys.push(job.serial_key.clone());
        traceparents.push(job.traceparent.clone());
    }
    // Identity values follow the order of the ordered select, so sorting the returned ids
    // restores input order for the inserted rows.
    let rows = sqlx::query!(
        r#"
        with input as (
            select * from unnest($1::text[], $2::jsonb[], $3::text[], $4::int2[],
                                 $5::timestamptz[], $6::int4[], $7::text[], $8::text[], $9::text[])
                with ordinality as t(kind, args, queue, priority, run_at, max_attempts,
                                     unique_key, serial_key, traceparent, ord)
        ), events as (
            select nextval('job_event_seq') * 4096 as first
        ), ins as (
            -- The `enqueued` events are folded into the rows, numbered in input order.
            insert into jobs (kind, args, queue, priority, state, max_attempts, run_at,
                              unique_key, serial_key, traceparent, enqueued_event_id)
            select kind, args, queue, priority,
                   case when run_at > now() then 'scheduled'::job_state
                        else 'available'::job_state end,
                   max_attempts, coalesce(run_at, now()), unique_key, serial_key, traceparent,
                   (select first from events) + ord - 1
            from input order by ord
            on conflict (unique_key) where unique_key is not null do nothing
            returning id, unique_key
        )
        select id as "id!", unique_key, true as "inserted!" from ins
        union all
        select j.id, j.unique_key, false from jobs j
        where j.unique_key = any($7) and not exists (select 1 from ins where ins.unique_key = j.unique_key)
        "#,
        &kinds,
        &args,
        &queues,
        &priorities,
        &run_ats as &[Option<DateTime<Utc>>],
        &max_attempts,
        &unique_keys as &[Option<String>],
        &serial_keys as &[Option<String>],
        &traceparents as &[Option<String>],
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(QueueError::db("enqueue_many"))?;

    let mut by_key: HashMap<String, Enqueued> = HashMap::new();
    let mut keyless: Vec<i64> = Vec::new();
    for row in rows {
        let enqueued = Enqueued {
            id: JobId(row.id),
            inserted: row.inserted,
        };
        match row.unique_key {
            Some(key) => {
                by_key.insert(key, enqueued);
            }
            None => keyless.push(row.id),
        }
    }
    keyless.sort_unstable();
    let mut keyless = keyless.into_iter();
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let found = match &job.unique_key {
            Some(key) => by_key.get(key).copied(),
            None => keyless.next().map(|id| Enqueued {
                id: JobId(id),
                inserted: true,
            }),
        };
        out.push(found.ok_or_else(|| QueueError::Database {
            operation: "enqueue_many",
            source: std::sync::Arc::new(sqlx::Error::Protocol(
                "a unique job vanished during a batch enqueue".into(),
            )),
        })?);
    }
    Ok(out)
}

/// Wakes workers listening on the queue's channel. Sent outside enqueue transactions so
/// that concurrent enqueues do not serialise on the notification queue lock.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn notify(executor: impl PgExecutor<'_>, channel: &str, queue: &str) -> Result<()> {
    sqlx::query!("select pg_notify($1, $2)", channel, queue)
        .execute(executor)
        .await
        .map_err(QueueError::db("notify"))?;
    Ok(())
}

/// Claims up to `limit` runnable jobs of `queue` for `worker`, by priority then run_at,
/// skipping jobs locked by other claimers and jobs whose serial_key has an older
/// unfinished job. With `after`, the scan starts after that place in the claim order
/// instead of at the beginning (see `claim_cursor`).
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
) -> Result<Vec<ClaimedJob>> {
    let limit = limit.clamp(0, EVENTS_PER_STATEMENT as i64);
    let rows = sqlx::query!(
        r#"
        with picked as (
            -- The claim index covers running jobs too (a claim is then a HOT update);
            -- the state filter skips them, and a resumed scan starts past most of them.
            select j.id, j.ctid, j.attempted_at is not null as resumed from jobs j
            where j.queue = $1 and j.state <> 'running' and j.run_at <= now()
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
                   now() + make_interval(secs => $4::float8 / 1000) as lease_until
        ), claimed as (
            -- The `claimed` event is folded into the row (see `job_events`), numbered by
            -- the job's place in the batch; the lease token is the caller's token for
            -- that place. The rows are updated where the scan locked them (a lock keeps
            -- a row in place), without a primary-key lookup each; unnesting keeps the
            -- update a nested loop, where a join with the CTE may be planned as a hash
            -- join over a scan of the whole table.
            update jobs j
            set state = 'running', attempt = j.attempt + 1, attempted_at = now(),
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
    )
    .fetch_all(executor)
    .await
    .map_err(QueueError::db("claim"))?;
    Ok(rows
        .into_iter()
        .map(|r| ClaimedJob {
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
        })
        .collect())
}

/// Fresh lease tokens for a claim of up to `n` jobs: a random 128-bit start and the ones
/// after it. A token only has to differ from every other claim's, and drawing one random
/// number per claim instead of `gen_random_uuid()` per row took a third off the cost of
/// the claim's update.
fn lease_tokens(n: i64) -> Vec<Uuid> {
    let start: u128 = rand::random();
    (0..n.max(0) as u128)
        .map(|i| Uuid::from_u128(start.wrapping_add(i)))
        .collect()
}

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
    pool: &PgPool,
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
    .fetch_one(pool)
    .await
    .map_err(QueueError::db("finish"))?;
    if moved == 0 {
        return Err(QueueError::LeaseLost(id));
    }
    Ok(())
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
    if released == 0 {
        return Err(QueueError::LeaseLost(id));
    }
    Ok(())
}

/// Extends the leases of the given running jobs. Returns the ids still held; a missing id
/// means that job's lease was lost.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn extend_leases(
    pool: &PgPool,
    ids: &[i64],
    tokens: &[Uuid],
    lease_ms: i64,
) -> Result<Vec<JobId>> {
    let rows = sqlx::query_scalar!(
        r#"
        update jobs j set lease_expires_at = now() + make_interval(secs => $3::float8 / 1000)
        from unnest($1::int8[], $2::uuid[]) as held(id, token)
        where j.id = held.id and j.lease_token = held.token
        returning j.id
        "#,
        ids,
        tokens,
        lease_ms as f64,
    )
    .fetch_all(pool)
    .await
    .map_err(QueueError::db("extend_leases"))?;
    Ok(rows.into_iter().map(JobId).collect())
}

/// A job whose expired lease was rescued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescued {
    /// The job.
    pub id: JobId,
    /// True when the job had no attempts left and was failed instead of made runnable.
    pub failed: bool,
}

/// Returns every running job whose lease expired to runnable (or failed, when it was on
/// its last attempt), recording who lost it.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn rescue_expired(pool: &PgPool) -> Result<Vec<Rescued>> {
    let rows = sqlx::query!(
        r#"
        with expired as (
            -- A scan of the claim table: an index on the lease would make every claim and
            -- renewal write index entries (see migration 0009), and the table holds only
            -- unfinished jobs.
            select id, lease_owner, attempt >= max_attempts as exhausted, claimed_event_id,
                   attempted_at, attempt
            from jobs
            where state = 'running' and lease_expires_at < now()
            for update skip locked
        ), gone as (
            delete from jobs j using expired e where j.id = e.id and e.exhausted returning j.*
        ), moved as (
            insert into finished_jobs (id, kind, args, queue, priority, state, attempt,
                max_attempts, run_at, created_at, attempted_at, last_error, traceparent,
                unique_key, serial_key, enqueued_event_id)
            select id, kind, args, queue, priority, 'failed', attempt, max_attempts, run_at,
                   created_at, attempted_at, 'lease expired on the last attempt', traceparent,
                   unique_key, serial_key, enqueued_event_id
            from gone
        ), back as (
            update jobs j
            set state = 'available', run_at = now(), last_error = 'lease expired: worker lost',
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
        select id as "id!", exhausted as "exhausted!" from expired
        "#,
    )
    .fetch_all(pool)
    .await
    .map_err(QueueError::db("rescue"))?;
    Ok(rows
        .into_iter()
        .map(|r| Rescued {
            id: JobId(r.id),
            failed: r.exhausted,
        })
        .collect())
}

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
    if stored == 0 {
        return Err(QueueError::LeaseLost(id));
    }
    Ok(())
}

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was not running: it is cancelled now.
    Cancelled,
    /// The job is running: its worker stops at the next step boundary.
    Requested,
}

/// Cancels a job: at once when it is waiting, at the next step boundary when it runs.
///
/// # Errors
/// [`QueueError::NotFound`], [`QueueError::InvalidState`] for finished jobs, or
/// [`QueueError::Database`].
pub async fn cancel(pool: &PgPool, id: JobId) -> Result<CancelOutcome> {
    let mut tx = pool.begin().await.map_err(QueueError::db("cancel"))?;
    let state = sqlx::query_scalar!(
        r#"select state as "state: JobState" from jobs where id = $1 for update"#,
        id.0
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(QueueError::db("cancel"))?;
    let outcome = match state {
        None => {
            let finished = sqlx::query_scalar!(
                r#"select state as "state: JobState" from finished_jobs where id = $1"#,
                id.0
            )
            .fetch_optional(&mut *tx)
            .await
            .map_err(QueueError::db("cancel"))?;
            return Err(match finished {
                Some(state) => QueueError::InvalidState {
                    id,
                    state: state.as_str(),
                    operation: "cancel",
                },
                None => QueueError::NotFound(id),
            });
        }
        Some(JobState::Running) => {
            sqlx::query!(
                r#"
                with upd as (update jobs set cancel_requested = true where id = $1 returning id, attempt)
                insert into job_event_log (job_id, kind, attempt) select id, 'cancel_requested', attempt from upd
                "#,
                id.0
            )
            .execute(&mut *tx)
            .await
            .map_err(QueueError::db("cancel"))?;
            CancelOutcome::Requested
        }
        Some(_) => {
            sqlx::query!(
                r#"
                with done as (delete from jobs where id = $1 returning *),
                moved as (
                    insert into finished_jobs (id, kind, args, queue, priority, state, attempt,
                        max_attempts, run_at, created_at, attempted_at, last_error, traceparent,
                        unique_key, serial_key, enqueued_event_id)
                    select id, kind, args, queue, priority, 'cancelled', attempt, max_attempts,
                           run_at, created_at, attempted_at, last_error, traceparent, unique_key,
                           serial_key, enqueued_event_id
                    from done
                )
                insert into job_event_log (job_id, kind, attempt) select id, 'cancelled', attempt from done
                "#,
                id.0
            )
            .execute(&mut *tx)
            .await
            .map_err(QueueError::db("cancel"))?;
            CancelOutcome::Cancelled
        }
    };
    tx.commit().await.map_err(QueueError::db("cancel"))?;
    Ok(outcome)
}

/// Puts a failed or cancelled job back to run, with a fresh attempt budget.
///
/// # Errors
/// [`QueueError::NotFound`], [`QueueError::InvalidState`] (unfinished or completed jobs),
/// or [`QueueError::Database`].
pub async fn retry_finished(pool: &PgPool, id: JobId) -> Result<()> {
    let mut tx = pool.begin().await.map_err(QueueError::db("retry"))?;
    let state = sqlx::query_scalar!(
        r#"select state as "state: JobState" from jobs_all where id = $1"#,
        id.0
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(QueueError::db("retry"))?
    .flatten();
    match state {
        None => return Err(QueueError::NotFound(id)),
        Some(JobState::Failed | JobState::Cancelled) => {}
        Some(state) => {
            return Err(QueueError::InvalidState {
                id,
                state: state.as_str(),
                operation: "retry",
            });
        }
    }
    sqlx::query!(
        r#"
        with gone as (delete from finished_jobs where id = $1 returning *),
        history as (
            -- The events folded into the finished row are written out (see `job_events`).
            insert into job_event_log (id, job_id, at, kind, attempt, worker)
            select e.id, g.id, e.at, e.kind, e.attempt, e.worker
            from gone g
            cross join lateral (values
                (g.enqueued_event_id, g.created_at, 'enqueued', null::integer, null::text),
                (g.claimed_event_id, g.attempted_at, 'claimed', g.attempt, g.worker),
                (g.completed_event_id, g.finished_at, 'completed', g.attempt, g.worker)
            ) as e (id, at, kind, attempt, worker)
            where e.id is not null
        ), back as (
            -- attempted_at is kept: a job claimed before may have stored steps.
            insert into jobs (id, kind, args, queue, priority, state, attempt, max_attempts,
                              run_at, created_at, attempted_at, last_error, traceparent,
                              unique_key, serial_key)
            overriding system value
            select id, kind, args, queue, priority, 'available', 0, max_attempts, now(),
                   created_at, attempted_at, last_error, traceparent, unique_key, serial_key
            from gone
        )
        insert into job_event_log (job_id, kind) select id, 'retried' from gone
        "#,
        id.0
    )
    .execute(&mut *tx)
    .await
    .map_err(QueueError::db("retry"))?;
    tx.commit().await.map_err(QueueError::db("retry"))?;
    Ok(())
}

/// Creates or updates a stored schedule. A changed interval takes effect from the next
/// slot boundary; the current `next_run_at` of an unchanged schedule is kept.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn upsert_periodic(
    pool: &PgPool,
    name: &str,
    kind: &str,
    args: &serde_json::Value,
    queue: &str,
    interval_ms: i64,
) -> Result<()> {
    sqlx::query!(
        r#"
        insert into periodic_jobs (name, kind, args, queue, interval_ms, next_run_at)
        values ($1, $2, $3, $4, $5::int8,
                to_timestamp((floor(extract(epoch from now()) * 1000 / $5::int8) + 1) * $5::int8 / 1000.0))
        on conflict (name) do update
            set kind = excluded.kind, args = excluded.args, queue = excluded.queue,
                interval_ms = excluded.interval_ms,
                next_run_at = case when periodic_jobs.interval_ms = excluded.interval_ms
                                   then periodic_jobs.next_run_at
                                   else excluded.next_run_at end,
                updated_at = now()
            where (periodic_jobs.kind, periodic_jobs.args, periodic_jobs.queue,
                   periodic_jobs.interval_ms)
                  is distinct from (excluded.kind, excluded.args, excluded.queue,
                                    excluded.interval_ms)
        "#,
        name,
        kind,
        args,
        queue,
        interval_ms,
    )
    .execute(pool)
    .await
    .map_err(QueueError::db("upsert_periodic"))?;
    Ok(())
}

/// A schedule whose slot came due and was advanced by this caller.
#[derive(Debug, Clone)]
pub struct DueSchedule {
    /// Schedule name.
    pub name: String,
    /// Job kind to enqueue.
    pub kind: String,
    /// Job arguments.
    pub args: serde_json::Value,
    /// Queue.
    pub queue: String,
    /// The slot number (milliseconds since the epoch divided by the interval).
    pub slot: i64,
}

/// Advances every due schedule to its next slot, inside the caller's transaction. The row
/// lock makes the advance exclusive: a racing worker re-checks `next_run_at` after the
/// winner commits and finds it no longer due.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn advance_due_periodic(conn: &mut PgConnection) -> Result<Vec<DueSchedule>> {
    let rows = sqlx::query!(
        r#"
        update periodic_jobs
        set last_slot = floor(extract(epoch from now()) * 1000 / interval_ms)::int8,
            next_run_at = to_timestamp(
                (floor(extract(epoch from now()) * 1000 / interval_ms) + 1) * interval_ms / 1000.0),
            updated_at = now()
        where next_run_at <= now()
        returning name, kind, args, queue, last_slot as "slot!"
        "#
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(QueueError::db("advance_periodic"))?;
    Ok(rows
        .into_iter()
        .map(|r| DueSchedule {
            name: r.name,
            kind: r.kind,
            args: r.args,
            queue: r.queue,
            slot: r.slot,
        })
        .collect())
}

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
    held.map(|_| ()).ok_or(QueueError::LeaseLost(id))
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

/// Bytes of the claim table's indexes, and its live jobs.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn claim_index_usage(pool: &PgPool) -> Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"
        select pg_indexes_size('jobs') as "bytes!",
               (select count(*) from jobs) as "live!"
        "#
    )
    .fetch_one(pool)
    .await
    .map_err(QueueError::db("claim_index_usage"))?;
    Ok((row.bytes, row.live))
}

/// Rebuilds the claim table's indexes without blocking claims or writes.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn rebuild_claim_indexes(pool: &PgPool) -> Result<()> {
    sqlx::query!("reindex table concurrently jobs")
        .execute(pool)
        .await
        .map_err(QueueError::db("rebuild_claim_indexes"))?;
    Ok(())
}

/// Drops the invalid index copies an interrupted concurrent rebuild leaves behind.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn drop_invalid_claim_indexes(pool: &PgPool) -> Result<()> {
    let invalid = sqlx::query_scalar!(
        r#"
        select indexrelid::regclass::text as "name!" from pg_index
        where indrelid = 'jobs'::regclass and not indisvalid
        "#
    )
    .fetch_all(pool)
    .await
    .map_err(QueueError::db("drop_invalid_claim_indexes"))?;
    for name in invalid {
        // An identifier cannot be a parameter; `regclass::text` is already quoted as needed.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop index concurrently if exists {name}"
        )))
        .execute(pool)
        .await
        .map_err(QueueError::db("drop_invalid_claim_indexes"))?;
    }
    Ok(())
}
