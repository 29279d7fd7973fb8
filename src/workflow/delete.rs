//! DELETE: infrastructure first, state last. One namespace delete cascades to every
//! object; the state goes only once the namespace is gone, and the audit trail stays.
//! Removing the state frees capacity: a refill pass is enqueued when requests wait for it.

use crate::backend::Backend;
use crate::queue::{JobContext, JobError};
use crate::store::livelesson;

use super::Args;
use super::run::{Progress, Workflows, describe, durable, store};

impl<B: Backend> Workflows<B> {
    /// The DELETE job.
    pub(crate) async fn delete(&self, ctx: JobContext) -> Result<(), JobError> {
        let args: Args = ctx.args()?;
        let id = &args.livelesson;
        {
            // Only to describe the spans: a livelesson already gone is deleted all the same.
            let mut conn = ctx.pool().acquire().await.map_err(JobError::transient)?;
            if let Some(row) = livelesson::get(&mut conn, id).await.map_err(store)? {
                describe(&ctx, &mut conn, &row).await?;
            }
        }
        let progress = Progress::of(&ctx);
        let backend = &*self.backend;
        ctx.step("delete-namespace", || async {
            backend
                .delete_namespace(id)
                .await
                .map_err(|e| progress.backend(e))
        })
        .await?;
        ctx.step("namespace-gone", || async {
            // A slow namespace is worth waiting for again later, not a final failure.
            backend
                .wait_namespace_gone(id)
                .await
                .map_err(|e| JobError::Transient(e.to_string()))
        })
        .await?;
        ctx.step("remove-state", || async {
            let mut tx = durable(&ctx).await?;
            livelesson::delete(&mut *tx, id).await.map_err(store)?;
            // The room this frees goes to the first request waiting for capacity.
            if crate::store::pool::any_waiting(&mut *tx)
                .await
                .map_err(store)?
            {
                ctx.client()
                    .enqueue_using(&mut tx, &crate::pool::refill_job(&format!("freed:{id}")))
                    .await
                    .map_err(JobError::transient)?;
            }
            tx.commit().await.map_err(JobError::transient)?;
            Ok(())
        })
        .await?;
        tracing::info!(livelesson = %id, "livelesson deleted");
        Ok(())
    }
}
