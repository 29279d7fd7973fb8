//! The end of a job's life. A kind may register an [`EndHook`], called exactly once when
//! one of its jobs ends for good (failed after its last attempt, failed permanently,
//! failed by the rescuer when its lease expired on the last attempt, or cancelled at a
//! step boundary), inside the transaction that writes that final state: the hook's writes
//! commit with it or not at all, and a worker that lost the job's lease writes neither.
//!
//! A handler keeps a [`FailureNote`] of where it is (the engine notes each step as it
//! starts) and of anything worth keeping about a failure (a script's output); the hook
//! receives both in [`Ended`]. A job cancelled before any worker claimed it
//! (`store::cancel`) ends without its hook: no worker holds the kind's registration there.

use std::sync::Mutex;

use futures::future::BoxFuture;
use sqlx::PgConnection;

use crate::error::{QueueError, chain};
use crate::job::{JobId, JobState};

/// How a job ended for good, as its kind's [`EndHook`] learns it.
#[derive(Debug, Clone)]
pub struct Ended {
    /// The job.
    pub id: JobId,
    /// Its kind.
    pub kind: String,
    /// Its arguments.
    pub args: serde_json::Value,
    /// The attempt that ended it.
    pub attempt: i32,
    /// `Failed` or `Cancelled`.
    pub state: JobState,
    /// Why: the handler's error, as it rendered it.
    pub reason: String,
    /// The last step the handler noted (see [`FailureNote::at`]); `None` when it noted
    /// none or the attempt's worker was lost.
    pub step: Option<String>,
    /// What the handler kept about the failure (see [`FailureNote::detail`]).
    pub detail: Option<String>,
}

impl Ended {
    /// Tells `hook` of this end on `conn` (the final write's transaction); a hook's error
    /// is the kind's [`QueueError::Hook`].
    pub(crate) async fn tell(
        &self,
        hook: &dyn EndHook,
        conn: &mut PgConnection,
    ) -> Result<(), QueueError> {
        hook.ended(conn, self)
            .await
            .map_err(|err| QueueError::Hook {
                kind: self.kind.clone(),
                message: chain(err.as_ref()),
            })
    }
}

/// Errors an [`EndHook`] returns: the final write is rolled back with its own, and the job
/// is ended again (its lease expires, then the rescuer fails it and calls the hook anew).
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Called once per job of a kind that ends for good, on `conn`: the transaction of the
/// final state write.
pub trait EndHook: Send + Sync + 'static {
    /// Records what the end of `ended` means to the application.
    fn ended<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ended: &'a Ended,
    ) -> BoxFuture<'a, Result<(), HookError>>;
}

/// Where a handler is and what it kept about a failure, for its kind's [`EndHook`].
#[derive(Debug)]
pub struct FailureNote {
    /// Whether an end hook will read the note: the engine notes every step as it starts,
    /// which a job of a kind without a hook should not pay for.
    read: bool,
    step: Mutex<Option<String>>,
    detail: Mutex<Option<String>>,
}

impl Default for FailureNote {
    fn default() -> Self {
        Self {
            read: true,
            step: Mutex::default(),
            detail: Mutex::default(),
        }
    }
}

impl FailureNote {
    /// A note nobody reads (the job's kind has no end hook): it keeps nothing.
    pub(crate) fn unread() -> Self {
        Self {
            read: false,
            ..Self::default()
        }
    }

    /// Notes that the handler is now at `step`.
    pub fn at(&self, step: &str) {
        if !self.read {
            return;
        }
        *self
            .step
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(step.to_owned());
    }

    /// Keeps `detail` about the failure in progress (the last one kept wins).
    pub fn detail(&self, detail: impl Into<String>) {
        if !self.read {
            return;
        }
        *self
            .detail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(detail.into());
    }

    /// The step noted last.
    pub fn step(&self) -> Option<String> {
        self.step
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The detail kept last.
    pub fn kept(&self) -> Option<String> {
        self.detail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
