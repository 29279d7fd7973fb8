//! The livelesson jobs as the engine knows them: the CREATE, MODIFY and DELETE kinds,
//! their arguments, and the one shape of such a job wherever it is enqueued (a learner's
//! request, a refill, a kill, an expiry). The workflows that run them are in
//! [`crate::workflow`].

use serde::{Deserialize, Serialize};

use crate::ids::LivelessonId;
use crate::queue::{JobKind, NewJob};

/// Provisioning: a livelesson's CREATE job.
#[derive(Debug)]
pub struct Create;
/// A stage change: a livelesson's MODIFY job.
#[derive(Debug)]
pub struct Modify;
/// Deletion: a livelesson's DELETE job.
#[derive(Debug)]
pub struct Delete;

impl JobKind for Create {
    const NAME: &'static str = "livelesson.create";
    type Args = Args;
}

impl JobKind for Modify {
    const NAME: &'static str = "livelesson.modify";
    type Args = Args;
}

impl JobKind for Delete {
    const NAME: &'static str = "livelesson.delete";
    type Args = Args;
}

/// Job kind of provisioning.
pub const CREATE: &str = Create::NAME;
/// Job kind of a stage change.
pub const MODIFY: &str = Modify::NAME;
/// Job kind of a deletion.
pub const DELETE: &str = Delete::NAME;

/// Arguments of every livelesson job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// The livelesson.
    pub livelesson: LivelessonId,
    /// Target stage (CREATE and MODIFY).
    pub stage: i32,
}

/// Every job of one livelesson shares this serial key, so they run one at a time, in
/// the order they were requested.
pub fn serial_key(livelesson_id: &LivelessonId) -> String {
    format!("livelesson:{livelesson_id}")
}

/// Attempts a livelesson job gets before it fails (and the livelesson with it).
pub const MAX_ATTEMPTS: i32 = 8;

/// The job of kind `K` (CREATE, MODIFY or DELETE) for livelesson `id` at `stage`, shaped
/// the same wherever it is enqueued (a learner's request, a kill, an expiry): one pending
/// job per livelesson and kind, since the unique key makes a repeated kill or stage change
/// while one is queued return the queued one.
///
/// # Errors
/// [`QueueError::Arguments`](crate::queue::QueueError::Arguments), which cannot happen for
/// these arguments but is not hidden.
pub fn livelesson_job<K: JobKind<Args = Args>>(
    id: &LivelessonId,
    stage: i32,
) -> Result<NewJob, crate::queue::QueueError> {
    let args = Args {
        livelesson: id.to_owned(),
        stage,
    };
    Ok(NewJob::of::<K>(&args)?
        .with_serial_key(serial_key(id))
        .with_unique_key(format!("{}:{id}", K::NAME))
        .with_max_attempts(MAX_ATTEMPTS))
}
