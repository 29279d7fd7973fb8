//! Ends a job for good on behalf of its attempt: writes the final state (`failed` or
//! `cancelled`) fenced by the lease and calls the kind's end hook in the same transaction,
//! so the hook's writes commit with the final state or not at all.

use std::sync::Arc;

use sqlx::PgPool;

use crate::ending::{EndHook, Ended, FailureNote};
use crate::error::QueueError;
use crate::event::{Events, WorkerEvent};
use crate::job::JobState;
use crate::lease::Lease;

/// What ending this attempt's job for good needs: the kind's hook and what it is told.
pub(crate) struct Ending {
    pub hook: Option<Arc<dyn EndHook>>,
    /// The job's arguments, kept when there is a hook to tell.
    pub args: Option<serde_json::Value>,
    pub kind: String,
    /// This attempt's number, from 1.
    pub attempt: i32,
    pub note: Arc<FailureNote>,
}

impl Ending {
    /// Fails the job with `message` as its last error, telling the hook `reason`.
    pub async fn fail(
        &self,
        pool: &PgPool,
        events: &Events,
        lease: Lease,
        message: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        tracing::warn!(error = %message, "job failed");
        self.end(pool, lease, JobState::Failed, message, reason)
            .await
            .map(|()| events.emit(WorkerEvent::Failed(lease.id)))
    }

    /// Writes the final state (`message` as the job's last error), fenced by the lease,
    /// and calls the kind's hook, told `reason`, in the same transaction.
    pub async fn end(
        &self,
        pool: &PgPool,
        lease: Lease,
        state: JobState,
        message: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        let Some(hook) = &self.hook else {
            return lease.finish(pool, state, Some(message)).await;
        };
        let mut tx = pool.begin().await.map_err(QueueError::db("begin end"))?;
        lease.finish(&mut *tx, state, Some(message)).await?;
        let ended = Ended {
            id: lease.id,
            kind: self.kind.clone(),
            args: self.args.clone().unwrap_or_default(),
            attempt: self.attempt,
            state,
            reason: reason.to_owned(),
            step: self.note.step(),
            detail: self.note.kept(),
        };
        ended.tell(hook.as_ref(), &mut tx).await?;
        tx.commit().await.map_err(QueueError::db("commit end"))
    }
}
