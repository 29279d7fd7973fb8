//! Livelesson expiry (`gc.expire`): inactive, errored and over-age livelessons are marked
//! deleting and get the DELETE job a kill would enqueue, in one transaction per batch.
//!
//! The DELETE job shares the livelesson's serial key, so it runs only after a CREATE or
//! MODIFY in progress has finished, and it removes the namespace before the state: the
//! original deleted state first and leaked namespaces when the namespace delete failed.
//!
//! Ages are measured by the client's clock: the worker's, which is the database's `now()`
//! in production and a test clock that tests move instead of rewriting timestamps.

use crate::queue::job::DEFAULT_QUEUE;
use crate::queue::{Client, NewJob};
use crate::store::gc::{self as sql, ExpiryCause};
use crate::workflow;

use super::{Config, GcError, Result, secs};
use crate::ids::LivelessonId;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Livelessons inactive for the TTL.
    pub inactive: u64,
    /// Livelessons in ERROR for the error TTL.
    pub errored: u64,
    /// Persistent sessions' livelessons past the maximum age.
    pub persistent_max_age: u64,
    /// Learners' livelessons past their hard deadline (`lifetime.maxAgeMins`).
    pub max_age: u64,
    /// DELETE jobs newly enqueued (a kill's queued DELETE is reused, not counted).
    pub enqueued: u64,
}

impl Counts {
    /// Livelessons expired by this pass.
    pub fn expired(&self) -> u64 {
        self.inactive + self.errored + self.persistent_max_age + self.max_age
    }
}

/// The DELETE job of `id`, shaped exactly as `request::kill` enqueues it, so that a kill
/// and an expiry of the same livelesson share one pending job.
pub fn delete_job(id: &LivelessonId) -> Result<NewJob> {
    Ok(workflow::livelesson_job::<workflow::Delete>(id, 0)?)
}

/// One pass: expires livelessons in batches of `config.batch_size` until none is left.
///
/// # Errors
/// [`GcError`] when a statement fails; batches committed before stay done.
pub async fn run_once(client: &Client, config: &Config) -> Result<Counts> {
    let mut counts = Counts::default();
    loop {
        let batch = run_batch(client, config, &mut counts).await?;
        if batch < config.batch() {
            break;
        }
    }
    if counts.enqueued > 0 {
        client.wake(DEFAULT_QUEUE);
    }
    Ok(counts)
}

async fn run_batch(client: &Client, config: &Config, counts: &mut Counts) -> Result<i64> {
    let mut tx = client.pool().begin().await.map_err(GcError::Transaction)?;
    let expired = sql::expire_livelessons(
        &mut tx,
        client.clock().statement_time(),
        secs(config.livelesson_ttl),
        secs(config.errored_ttl),
        secs(config.persistent_max_age),
        secs(config.max_age),
        config.batch(),
    )
    .await?;
    if expired.is_empty() {
        return Ok(0);
    }
    // Each DELETE carries this run's traceparent: its spans land in the run's trace,
    // linked to the run.
    let cause = crate::telemetry::current_traceparent();
    let new_jobs = expired
        .iter()
        .map(|e| {
            delete_job(&e.id).map(|job| NewJob {
                traceparent: cause.clone(),
                ..job
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Marking deleting and enqueueing commit together: a crash between them can neither
    // hide a livelesson from requests without deleting it, nor delete one still in use.
    let enqueued = client.enqueue_many_using(&mut tx, &new_jobs).await?;
    tx.commit().await.map_err(GcError::Transaction)?;
    for e in &expired {
        match e.cause {
            ExpiryCause::Inactive => counts.inactive += 1,
            ExpiryCause::Errored => counts.errored += 1,
            ExpiryCause::PersistentMaxAge => counts.persistent_max_age += 1,
            ExpiryCause::MaxAge => counts.max_age += 1,
        }
    }
    counts.enqueued += enqueued.iter().filter(|e| e.inserted).count() as u64;
    Ok(i64::try_from(expired.len()).unwrap_or(i64::MAX))
}
