//! Retention: finished jobs pruned with their audit events and step checkpoints.

use sqlx::PgExecutor;

use crate::error::{QueueError, Result};

/// What one pruning statement removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Finished jobs.
    pub jobs: u64,
    /// Their audit events.
    pub events: u64,
    /// Their step checkpoints.
    pub steps: u64,
}

/// Removes up to `limit` jobs finished more than `retention_secs` ago, with their events
/// and steps, in one statement. Unfinished jobs' history is never touched: only ids found
/// in `finished_jobs` are pruned.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn prune_finished(
    executor: impl PgExecutor<'_>,
    retention_secs: f64,
    limit: i64,
) -> Result<Pruned> {
    let row = sqlx::query!(
        r#"with picked as (
               select id from finished_jobs
               where finished_at < now() - make_interval(secs => $1)
               limit $2
           ), jobs as (
               -- Events folded into the row (see `job_events`) go with it.
               delete from finished_jobs f using picked where f.id = picked.id
               returning f.id, num_nonnulls(f.enqueued_event_id, f.claimed_event_id,
                                           f.completed_event_id) as folded
           ), events as (
               delete from job_event_log e using picked where e.job_id = picked.id returning 1
           ), steps as (
               delete from job_steps s using picked where s.job_id = picked.id returning 1
           )
           select (select count(*) from jobs) as "jobs!",
                  (select count(*) from events)
                      + (select coalesce(sum(folded), 0) from jobs) as "events!",
                  (select count(*) from steps) as "steps!""#,
        retention_secs,
        limit
    )
    .fetch_one(executor)
    .await
    .map_err(QueueError::db("prune_finished"))?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Pruned {
        jobs: count(row.jobs),
        events: count(row.events),
        steps: count(row.steps),
    })
}
