//! Job retention (`gc.retention`): jobs finished longer ago than the retention, with their
//! audit events and step checkpoints, are pruned in batches so no statement holds locks
//! on a large history for long.

use sqlx::PgPool;

use crate::queue::maintenance::{self as jobs, Pruned};

use super::{Config, Result, secs};

/// One pass: prunes until no finished job is older than the retention; returns totals.
///
/// # Errors
/// [`super::GcError`] when a statement fails; batches done before stay done.
pub async fn run_once(pool: &PgPool, config: &Config) -> Result<Pruned> {
    let mut total = Pruned::default();
    loop {
        let pruned = jobs::prune_finished(pool, secs(config.job_retention), config.batch()).await?;
        total.jobs += pruned.jobs;
        total.events += pruned.events;
        total.steps += pruned.steps;
        if i64::try_from(pruned.jobs).is_ok_and(|jobs| jobs < config.batch()) {
            return Ok(total);
        }
    }
}
