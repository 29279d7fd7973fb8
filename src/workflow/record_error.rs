//! The end hook of CREATE and MODIFY: a job that ends failed leaves its livelesson in
//! ERROR, with the step that failed, the reason and the logs kept. The engine calls it in
//! the transaction of the job's final state write, so ERROR is recorded exactly once per
//! failed job, on the last attempt as on a permanent failure or a rescue, and never by a
//! worker that lost the job. A cancelled job records nothing.

use futures::future::BoxFuture;
use sqlx::PgConnection;

use crate::queue::{EndHook, Ended, HookError, JobState};
use crate::store::livelesson;

use super::Args;

/// Records ERROR on the livelesson of a job that failed for good.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RecordError;

impl EndHook for RecordError {
    fn ended<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        ended: &'a Ended,
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            if ended.state != JobState::Failed {
                return Ok(());
            }
            // Arguments that name no livelesson failed the job at once; nothing to mark.
            let Ok(args) = serde_json::from_value::<Args>(ended.args.clone()) else {
                return Ok(());
            };
            let step = ended.step.as_deref().unwrap_or_default();
            tracing::warn!(livelesson = %args.livelesson, step, error = %ended.reason, "livelesson failed");
            // The engine's final write commits asynchronously on the worker's pool; ERROR
            // is what the learner sees, so this commit waits for it to be durable.
            super::run::set_durable(&mut *conn).await?;
            livelesson::set_error(
                &mut *conn,
                &args.livelesson,
                step,
                &ended.reason,
                ended.detail.as_deref(),
            )
            .await?;
            Ok(())
        })
    }
}
