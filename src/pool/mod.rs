//! Warm pools and capacity admission.
//!
//! A spare is a livelesson provisioned ahead of time by the ordinary CREATE, at stage 0, in
//! the reserved pool session ([`crate::store::pool::POOL_SESSION`]); a learner's request
//! for its lesson takes it in the request's own transaction
//! ([`crate::workflow::request::request_livelesson`]). Capacity admission makes a request
//! beyond the cluster's (or the lesson's) maximum of live livelessons wait in line, first
//! come first served, without a CREATE until it is admitted.
//!
//! # Layout
//!
//! - [`settings`]: the `pools:` and `capacity:` configuration and its validation.
//! - [`apply`]: storing those settings (at start and on SIGHUP) so that every process uses
//!   the same numbers.
//! - [`refill`] (`pool.refill`): one pass under the capacity lock: admit the waiting line,
//!   retire failed, aged and unwanted spares (a failure backs its lesson off), and create
//!   the spares each lesson lacks, exactly once across all workers.
//!
//! Kubernetes objects carry no session label: a spare is provisioned before it has a
//! learner, and relabelling every object on a take would add a backend step (and patch
//! rights on every kind) to the path that must answer at once, while nothing selects by
//! session. The session lives in the state only.

pub mod apply;
pub mod refill;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use crate::backend::Settings;
use crate::queue::{JobContext, JobError, NewJob, QueueError, Registry, Schedule};
use crate::store::StoreError;

pub use apply::apply_settings;
pub use settings::PoolConfig;

/// Job kind of the refill pass.
pub const REFILL: &str = "pool.refill";

/// Failures of a refill pass.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The state could not be read or written.
    #[error("pool storage")]
    Store(#[from] StoreError),
    /// Jobs could not be enqueued.
    #[error("pool enqueue")]
    Queue(#[from] QueueError),
    /// A transaction could not begin or commit.
    #[error("pool transaction")]
    Transaction(#[source] sqlx::Error),
}

/// Result alias of this module.
pub type Result<T, E = PoolError> = std::result::Result<T, E>;

/// A refill pass caused by `trigger` (a take, a waiting request, a deletion that frees
/// capacity). Each trigger has its own unique key: a pass already running may have
/// counted before the trigger's change committed, so deduplicating against it could leave
/// the change to the next periodic pass. Triggered passes share one serial key, so they
/// run one after another: a class taking a thousand spares at once queues a thousand
/// cheap passes, where running them together held a thousand worker slots and database
/// connections waiting on the capacity lock that serialises them anyway.
pub fn refill_job(trigger: &str) -> NewJob {
    NewJob {
        traceparent: crate::telemetry::current_traceparent(),
        ..NewJob::new(REFILL, serde_json::json!({}))
            .with_unique_key(format!("{REFILL}:{trigger}"))
            .with_serial_key(REFILL)
    }
}

/// The periodic refill schedule.
pub fn schedules(interval: Duration) -> Vec<Schedule> {
    vec![Schedule::new(REFILL, REFILL, interval)]
}

/// Registers the refill handler; new spares get endpoints shaped by `settings`.
pub fn register(registry: &mut Registry, settings: Arc<Settings>) {
    registry.register(REFILL, move |ctx: JobContext| {
        let settings = settings.clone();
        async move {
            let counts = refill::run_once(ctx.client(), &settings)
                .await
                .map_err(JobError::transient)?;
            if counts.changed() {
                tracing::info!(?counts, "pool refill");
            }
            Ok(())
        }
    });
}
