//! Whole-table operations on the engine's tables, for databases that benchmarks and tests
//! start afresh: emptying them, vacuum, and the planner's statistics.

use sqlx::PgPool;

use crate::error::{QueueError, Result};

/// Empties every table of the engine: unfinished and finished jobs, their steps and
/// events, and the periodic schedules. Job ids keep counting up.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn truncate_all(pool: &PgPool) -> Result<()> {
    sqlx::query!("truncate jobs, finished_jobs, job_event_log, job_steps, periodic_jobs")
        .execute(pool)
        .await
        .map_err(QueueError::db("truncate_all"))?;
    Ok(())
}

/// Refreshes the planner's statistics of the claim table (after a bulk enqueue, so that
/// the claim is planned for the backlog it has).
///
/// # Errors
/// [`QueueError::Database`].
pub async fn analyze_claim_table(pool: &PgPool) -> Result<()> {
    sqlx::query!("analyze jobs")
        .execute(pool)
        .await
        .map_err(QueueError::db("analyze_claim_table"))?;
    Ok(())
}

/// Vacuums the claim table: what autovacuum would do soon after a burst.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn vacuum_claim_table(pool: &PgPool) -> Result<()> {
    sqlx::query!("vacuum jobs")
        .execute(pool)
        .await
        .map_err(QueueError::db("vacuum_claim_table"))?;
    Ok(())
}

/// Vacuums the claim table and refreshes its statistics.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn vacuum_analyze_claim_table(pool: &PgPool) -> Result<()> {
    sqlx::query!("vacuum analyze jobs")
        .execute(pool)
        .await
        .map_err(QueueError::db("vacuum_analyze_claim_table"))?;
    Ok(())
}

/// Vacuums every job table and refreshes their statistics (after a bulk load of history).
///
/// # Errors
/// [`QueueError::Database`].
pub async fn vacuum_analyze_all(pool: &PgPool) -> Result<()> {
    sqlx::query!("vacuum analyze finished_jobs, job_steps, job_event_log, jobs")
        .execute(pool)
        .await
        .map_err(QueueError::db("vacuum_analyze_all"))?;
    Ok(())
}
