//! Operators' and applications' actions on jobs: cancel (at once when not running, through
//! its worker otherwise) and retry of a finished job.

use sqlx::{PgConnection, PgPool};

use crate::clock::Clock;
use crate::error::{QueueError, Result};
use crate::job::{JobId, JobState};

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was not running: it is cancelled now.
    Cancelled,
    /// The job is running: its worker is told to stop it (at the next step boundary or
    /// lease renewal if the notice is lost).
    Requested,
}

/// Cancels a job: at once when it is waiting; when it runs, its worker is told on the
/// cancel channel of the default wake-up channel ([`crate::notifier::cancel_channel`]) and
/// stops it at once, or at the next step boundary or lease renewal if the notice is lost.
///
/// # Errors
/// [`QueueError::NotFound`], [`QueueError::InvalidState`] for finished jobs, or
/// [`QueueError::Database`].
pub async fn cancel(pool: &PgPool, id: JobId) -> Result<CancelOutcome> {
    let mut tx = pool.begin().await.map_err(QueueError::db("cancel"))?;
    let outcome = cancel_in(&mut tx, id, crate::notifier::DEFAULT_CHANNEL).await?;
    tx.commit().await.map_err(QueueError::db("cancel"))?;
    Ok(outcome)
}

/// [`cancel`] in the caller's transaction; a running job's worker is told on the cancel
/// channel of wake-up `channel` when the transaction commits.
///
/// # Errors
/// As [`cancel`].
pub async fn cancel_in(conn: &mut PgConnection, id: JobId, channel: &str) -> Result<CancelOutcome> {
    let state = sqlx::query_scalar!(
        r#"select state as "state: JobState" from jobs where id = $1 for update"#,
        id.0
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(QueueError::db("cancel"))?;
    match state {
        None => {
            let finished = sqlx::query_scalar!(
                r#"select state as "state: JobState" from finished_jobs where id = $1"#,
                id.0
            )
            .fetch_optional(&mut *conn)
            .await
            .map_err(QueueError::db("cancel"))?;
            Err(match finished {
                Some(state) => QueueError::InvalidState {
                    id,
                    state: state.as_str(),
                    operation: "cancel",
                },
                None => QueueError::NotFound(id),
            })
        }
        Some(JobState::Running) => {
            sqlx::query!(
                r#"
                with upd as (update jobs set cancel_requested = true where id = $1 returning id, attempt),
                logged as (
                    insert into job_event_log (job_id, kind, attempt)
                    select id, 'cancel_requested', attempt from upd
                )
                select pg_notify($2, $1::text)
                "#,
                id.0,
                crate::notifier::cancel_channel(channel),
            )
            .execute(&mut *conn)
            .await
            .map_err(QueueError::db("cancel"))?;
            Ok(CancelOutcome::Requested)
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
            .execute(&mut *conn)
            .await
            .map_err(QueueError::db("cancel"))?;
            Ok(CancelOutcome::Cancelled)
        }
    }
}

/// Cancels, as [`cancel_in`] does, every unfinished job of `serial_key` whose kind is one
/// of `kinds` (e.g. a resource's provisioning when it is deleted): those waiting at once,
/// the running one at once through its worker. Returns the jobs and what became of each.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn cancel_serial(
    conn: &mut PgConnection,
    serial_key: &str,
    kinds: &[&str],
    channel: &str,
) -> Result<Vec<(JobId, CancelOutcome)>> {
    let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
    let ids = sqlx::query_scalar!(
        "select id from jobs where serial_key = $1 and kind = any($2) order by id",
        serial_key,
        &kinds,
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(QueueError::db("cancel_serial"))?;
    let mut cancelled = Vec::with_capacity(ids.len());
    for id in ids {
        let id = JobId(id);
        match cancel_in(conn, id, channel).await {
            Ok(outcome) => cancelled.push((id, outcome)),
            // Finished since the read (its worker ended it): nothing to cancel.
            Err(QueueError::NotFound(_) | QueueError::InvalidState { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(cancelled)
}

/// Puts a failed or cancelled job back to run at `clock`'s now, with a fresh attempt
/// budget. Returns its queue, whose workers the caller wakes once this has committed.
///
/// # Errors
/// [`QueueError::NotFound`], [`QueueError::InvalidState`] (unfinished or completed jobs),
/// or [`QueueError::Database`].
pub async fn retry_finished(pool: &PgPool, id: JobId, clock: &Clock) -> Result<String> {
    let mut tx = pool.begin().await.map_err(QueueError::db("retry"))?;
    let found = sqlx::query!(
        r#"select state as "state!: JobState", queue as "queue!" from jobs_all where id = $1"#,
        id.0
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(QueueError::db("retry"))?;
    let queue = match found {
        None => return Err(QueueError::NotFound(id)),
        Some(row) if matches!(row.state, JobState::Failed | JobState::Cancelled) => row.queue,
        Some(row) => {
            return Err(QueueError::InvalidState {
                id,
                state: row.state.as_str(),
                operation: "retry",
            });
        }
    };
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
            select id, kind, args, queue, priority, 'available', 0, max_attempts,
                   coalesce($2::timestamptz, now()),
                   created_at, attempted_at, last_error, traceparent, unique_key, serial_key
            from gone
        )
        insert into job_event_log (job_id, kind) select id, 'retried' from gone
        "#,
        id.0,
        clock.statement_time(),
    )
    .execute(&mut *tx)
    .await
    .map_err(QueueError::db("retry"))?;
    tx.commit().await.map_err(QueueError::db("retry"))?;
    Ok(queue)
}
