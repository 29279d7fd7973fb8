//! Every SQL statement of the job engine, one small function each, a file per concern.
//!
//! Writes made on behalf of a running job present its `lease_token`; a write whose token no
//! longer matches changes nothing and returns [`QueueError::LeaseLost`]. That is the fencing
//! that keeps a worker which lost its lease (frozen, partitioned) from corrupting a job
//! another worker now owns.
//!
//! - `enqueue`: inserting jobs, waking workers.
//! - `claim`: the claim scan; `claim_one`: claiming one named job (for the test kit).
//! - `lease`: a claimed job's fenced writes (complete, fail, release, renew).
//! - `rescue`: jobs of lost workers (expired leases, released liveness locks), a batch at
//!   a time, and the end hooks' failures.
//! - `liveness`: workers' liveness locks.
//! - `health`: whether a long-lived connection's server takes writes; server keepalives.
//! - `checkpoint`: step outputs and step failures.
//! - `admin`: cancel and retry.
//! - `periodic`: schedules and their slots.
//! - `read`: read models of jobs, events and steps.
//! - `maintenance`: the claim table's indexes.
//! - `retention`: pruning finished jobs and their history.
//! - `tables`: whole-table operations (emptying, vacuum, statistics) for fresh starts.
//! - `figures`: whole-queue counts and spans that benchmarks report.
//! - `synthetic`: a history of finished jobs loaded in bulk, a benchmark's fixture.

/// Most events one statement numbers. An event id is a value of `job_event_seq` times this
/// plus the event's place in its statement, so a statement that records an event for each
/// job of a batch draws one sequence value, not one per job (see migration 0009).
pub const EVENTS_PER_STATEMENT: usize = 4096;

mod admin;
mod checkpoint;
mod claim;
// Claiming one named job is the test kit's (`testing::TestRunner`).
#[cfg(feature = "testing")]
mod claim_one;
mod enqueue;
pub mod figures;
mod health;
mod lease;
mod liveness;
mod maintenance;
mod periodic;
mod read;
mod rescue;
mod retention;
pub mod synthetic;
pub mod tables;

pub use admin::*;
pub use checkpoint::*;
pub use claim::*;
#[cfg(feature = "testing")]
pub use claim_one::*;
pub use enqueue::*;
pub use health::*;
pub use lease::*;
pub use liveness::*;
pub use maintenance::*;
pub use periodic::*;
pub use read::*;
pub use rescue::*;

use crate::error::{QueueError, Result};
use crate::job::JobId;

/// The one place a fenced write of job `id` that matched `rows` rows is judged: none
/// means its lease token no longer matches, so the lease was lost.
pub(crate) fn fenced(id: JobId, rows: i64) -> Result<()> {
    if rows == 0 {
        Err(QueueError::LeaseLost(id))
    } else {
        Ok(())
    }
}
pub use retention::*;

/// `duration` in whole milliseconds, as the store's statements take lease lengths.
pub(crate) fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
