//! MODIFY: a stage change. The API already set the stage, the guide and CONFIGURATION;
//! this reconfigures the endpoints for the new stage and returns to READY.

use crate::backend::Backend;
use crate::queue::{JobContext, JobError};
use crate::store::livelesson::Status;

use super::Args;
use super::run::{Progress, Workflows};

impl<B: Backend> Workflows<B> {
    /// The MODIFY job.
    pub(crate) async fn modify(&self, ctx: JobContext) -> Result<(), JobError> {
        let args: Args = ctx.args()?;
        let Some(loaded) = self.load(&ctx, &args.livelesson).await? else {
            return Ok(());
        };
        if loaded.row.deleting {
            return Ok(());
        }
        let progress = Progress::of(&ctx);
        self.configure(&ctx, &loaded, args.stage, None, &progress)
            .await?;
        progress.at("status:READY");
        ctx.step("status:READY", || {
            self.set_status(&ctx, &args.livelesson, Status::Ready)
        })
        .await
    }
}
