//! Periodic schedules: stored, and advanced slot by slot by whichever worker's
//! conditional update wins, which enqueues the slot's job.

use sqlx::{PgConnection, PgPool};

use crate::clock::Clock;
use crate::error::{QueueError, Result};

/// Creates or updates a stored schedule. A changed interval takes effect from the next
/// slot boundary after `clock`'s now; the current `next_run_at` of an unchanged schedule
/// is kept.
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
    clock: &Clock,
) -> Result<()> {
    sqlx::query!(
        r#"
        insert into periodic_jobs (name, kind, args, queue, interval_ms, next_run_at)
        values ($1, $2, $3, $4, $5::int8,
                to_timestamp((floor(extract(epoch from coalesce($6::timestamptz, now())) * 1000
                              / $5::int8) + 1) * $5::int8 / 1000.0))
        on conflict (name) do update
            set kind = excluded.kind, args = excluded.args, queue = excluded.queue,
                interval_ms = excluded.interval_ms,
                next_run_at = case when periodic_jobs.interval_ms = excluded.interval_ms
                                   then periodic_jobs.next_run_at
                                   else excluded.next_run_at end,
                updated_at = coalesce($6::timestamptz, now())
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
        clock.statement_time(),
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

/// Advances every schedule due by `clock` to its next slot, inside the caller's
/// transaction. The row lock makes the advance exclusive: a racing worker re-checks
/// `next_run_at` after the winner commits and finds it no longer due.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn advance_due_periodic(
    conn: &mut PgConnection,
    clock: &Clock,
) -> Result<Vec<DueSchedule>> {
    let rows = sqlx::query!(
        r#"
        update periodic_jobs
        set last_slot = floor(extract(epoch from coalesce($1::timestamptz, now())) * 1000
                              / interval_ms)::int8,
            next_run_at = to_timestamp(
                (floor(extract(epoch from coalesce($1::timestamptz, now())) * 1000 / interval_ms)
                 + 1) * interval_ms / 1000.0),
            updated_at = coalesce($1::timestamptz, now())
        where next_run_at <= coalesce($1::timestamptz, now())
        returning name, kind, args, queue, last_slot as "slot!"
        "#,
        clock.statement_time(),
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
