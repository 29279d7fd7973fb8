//! Enqueueing jobs (one, or many in array-bound batches) and waking the workers that
//! listen for them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use super::EVENTS_PER_STATEMENT;
use crate::clock::Clock;
use crate::error::{QueueError, Result};
use crate::job::{Enqueued, JobId, NewJob};

/// Inserts one job inside the caller's transaction (or on any connection). With a
/// `unique_key` already held by an unfinished job, returns that job instead. A job
/// without a `run_at` is due at `clock`'s now.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn enqueue(conn: &mut PgConnection, job: &NewJob, clock: &Clock) -> Result<Enqueued> {
    enqueue_waking(conn, job, None, clock).await
}

/// Like [`enqueue`], and when the job is inserted and `channel` is given, the same
/// statement sends `NOTIFY channel, queue`: it is delivered when the statement's
/// transaction commits, so listeners hear of the job without a round trip after the
/// commit. Every transaction that notifies takes PostgreSQL's notification lock at its
/// commit, so concurrent enqueuers should not all do this (see `Client::enqueue`).
///
/// # Errors
/// [`QueueError::Database`].
pub async fn enqueue_waking(
    conn: &mut PgConnection,
    job: &NewJob,
    channel: Option<&str>,
    clock: &Clock,
) -> Result<Enqueued> {
    let now = clock.statement_time();
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
                        case when $5::timestamptz > coalesce($11::timestamptz, now())
                             then 'scheduled'::job_state else 'available'::job_state end,
                        $6, coalesce($5, $11::timestamptz, now()), $7, $8, $9,
                        nextval('job_event_seq') * 4096)
                on conflict (unique_key) where unique_key is not null do nothing
                -- The wake-up rides on the inserted row, so a duplicate sends none.
                returning id, case when $10::text is not null
                                   then pg_notify($10, $3)::text end as woken
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
            channel,
            now,
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
/// input order. Jobs whose `unique_key` is already held return the existing job. Jobs
/// without a `run_at` are due at `clock`'s now.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn enqueue_many(
    conn: &mut PgConnection,
    jobs: &[NewJob],
    clock: &Clock,
) -> Result<Vec<Enqueued>> {
    let mut out = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(EVENTS_PER_STATEMENT) {
        out.extend(enqueue_chunk(conn, chunk, clock).await?);
    }
    Ok(out)
}

async fn enqueue_chunk(
    conn: &mut PgConnection,
    jobs: &[NewJob],
    clock: &Clock,
) -> Result<Vec<Enqueued>> {
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
                   case when run_at > coalesce($10::timestamptz, now()) then 'scheduled'::job_state
                        else 'available'::job_state end,
                   max_attempts, coalesce(run_at, $10::timestamptz, now()), unique_key, serial_key, traceparent,
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
        clock.statement_time(),
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
