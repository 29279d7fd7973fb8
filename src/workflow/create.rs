//! CREATE: provisions a livelesson, one checkpoint per step of its plan
//! ([`super::plan::create_plan`], checkpointed first as step `plan`):
//!
//! ```text
//! plan → images → namespace → network-policy → secrets → lesson-files → networks
//!   → endpoint:<name> (lesson order, jupyter guide last) → status:BOOTING → pods-ready
//!   → hosts → reachability → status:CONFIGURATION → configure(stage) → ready-delay
//!   → status:READY
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::backend::Backend;
use crate::queue::{JobContext, JobError};
use crate::store::livelesson::{self, Status};
use crate::telemetry::attributes::ENDPOINT;

use super::Args;
use super::plan::{PLAN_STEP, Step, create_plan};
use super::reachability;
use super::request::missing_images;
use super::run::{Loaded, Progress, Workflows, backend_step, backend_step_with, durable, store};

impl<B: Backend> Workflows<B> {
    /// The CREATE job.
    pub(crate) async fn create(&self, ctx: JobContext) -> Result<(), JobError> {
        let args: Args = ctx.args()?;
        let Some(loaded) = self.load(&ctx, &args.livelesson).await? else {
            tracing::info!(livelesson = %args.livelesson, "livelesson is gone; nothing to create");
            return Ok(());
        };
        if loaded.row.deleting {
            tracing::info!(livelesson = %args.livelesson, "livelesson is being deleted; not creating it");
            return Ok(());
        }
        let progress = Progress::of(&ctx);
        // The plan as first decided: a retry after a settings change runs the steps the
        // progress stream already reports.
        progress.at(PLAN_STEP);
        let plan: Vec<Step> = ctx
            .step(PLAN_STEP, || async {
                Ok(create_plan(
                    &loaded.lesson,
                    args.stage,
                    self.settings.allow_egress,
                ))
            })
            .await?;
        let mut hosts = None;
        for step in &plan {
            self.create_step(&ctx, &loaded, step, &mut hosts, &progress)
                .await?;
        }
        tracing::info!(livelesson = %args.livelesson, "livelesson READY");
        Ok(())
    }

    /// Runs one step of the plan; `hosts` holds the endpoints' hosts once the `hosts` step
    /// has run (configuration needs them).
    async fn create_step(
        &self,
        ctx: &JobContext,
        loaded: &Loaded,
        step: &Step,
        hosts: &mut Option<BTreeMap<String, String>>,
        progress: &Progress,
    ) -> Result<(), JobError> {
        let ll = loaded.view();
        let id = ll.id;
        let backend = &*self.backend;
        let name = step.checkpoint();
        match step {
            Step::Images => {
                progress.at(&name);
                ctx.step(&name, || async {
                    match missing_images(ll.lesson, ll.images).as_slice() {
                        [] => Ok(()),
                        missing => Err(JobError::Permanent(format!(
                            "the lesson uses images the curriculum does not define: {}",
                            missing.join(", ")
                        ))),
                    }
                })
                .await
            }
            Step::Namespace => {
                backend_step(ctx, progress, &name, || backend.create_namespace(&ll)).await
            }
            Step::NetworkPolicy => {
                backend_step(ctx, progress, &name, || backend.create_network_policy(&ll)).await
            }
            Step::Secrets => backend_step(ctx, progress, &name, || backend.copy_secrets(&ll)).await,
            Step::LessonFiles => {
                backend_step(ctx, progress, &name, || backend.create_lesson_files(&ll)).await
            }
            Step::Networks => {
                backend_step(ctx, progress, &name, || backend.create_networks(&ll)).await
            }
            Step::Endpoint { name: endpoint } => {
                // The span names the endpoint, so that traces can be searched by it.
                backend_step_with(ctx, progress, &name, &[(ENDPOINT, endpoint)], || {
                    backend.create_endpoint(&ll, endpoint)
                })
                .await
            }
            Step::Booting => {
                self.status_step(ctx, id, &name, Status::Booting, progress)
                    .await
            }
            Step::PodsReady => {
                backend_step(ctx, progress, &name, || backend.wait_pods_ready(&ll)).await
            }
            Step::Hosts => {
                progress.at(&name);
                let stored = ctx
                    .step(&name, || async {
                        let hosts = backend
                            .endpoint_hosts(&ll)
                            .await
                            .map_err(|e| progress.backend(e))?;
                        let mut tx = durable(ctx).await?;
                        livelesson::set_hosts(&mut *tx, id, &hosts)
                            .await
                            .map_err(store)?;
                        tx.commit().await.map_err(JobError::transient)?;
                        Ok(hosts)
                    })
                    .await?;
                *hosts = Some(stored);
                Ok(())
            }
            Step::Reachability => {
                let known = hosts.as_ref().ok_or_else(|| {
                    JobError::Permanent("the plan probes endpoints before their hosts".into())
                })?;
                progress.at(&name);
                ctx.step(&name, || {
                    reachability::wait_reachable(
                        ctx,
                        id,
                        &loaded.row.endpoints,
                        known,
                        &self.settings,
                    )
                })
                .await
            }
            Step::Configuration => {
                self.status_step(ctx, id, &name, Status::Configuration, progress)
                    .await
            }
            Step::ConfigCleanup { stage } => {
                self.config_cleanup(ctx, loaded, *stage, progress).await
            }
            Step::ConfigStart { stage } => {
                self.config_start(ctx, loaded, *stage, hosts.as_ref(), progress)
                    .await
            }
            Step::ConfigWait { stage } => self.config_wait(ctx, loaded, *stage, progress).await,
            Step::ReadyDelay { secs } => {
                progress.at(&name);
                ctx.sleep(&name, Duration::from_secs(u64::from(*secs)))
                    .await
            }
            Step::Ready => {
                self.status_step(ctx, id, &name, Status::Ready, progress)
                    .await
            }
        }
    }

    /// Sets `status` as checkpointed step `name`.
    async fn status_step(
        &self,
        ctx: &JobContext,
        id: &crate::ids::LivelessonId,
        name: &str,
        status: Status,
        progress: &Progress,
    ) -> Result<(), JobError> {
        progress.at(name);
        ctx.step(name, || self.set_status(ctx, id, status)).await
    }

    /// configure(stage): old configuration jobs go, then one job per configurable endpoint
    /// runs in parallel against the endpoint hosts: `hosts` when the job itself stored
    /// them (CREATE), otherwise read back from the store (MODIFY). CREATE runs the same
    /// three steps from its plan.
    pub(crate) async fn configure(
        &self,
        ctx: &JobContext,
        loaded: &Loaded,
        stage: i32,
        hosts: Option<&BTreeMap<String, String>>,
        progress: &Progress,
    ) -> Result<(), JobError> {
        if !loaded
            .lesson
            .endpoints
            .iter()
            .any(|e| e.configuration_type.is_some())
        {
            return Ok(());
        }
        self.config_cleanup(ctx, loaded, stage, progress).await?;
        self.config_start(ctx, loaded, stage, hosts, progress)
            .await?;
        self.config_wait(ctx, loaded, stage, progress).await
    }

    /// Step `config-cleanup:<stage>`: configuration jobs of earlier stages go.
    async fn config_cleanup(
        &self,
        ctx: &JobContext,
        loaded: &Loaded,
        stage: i32,
        progress: &Progress,
    ) -> Result<(), JobError> {
        let ll = loaded.view();
        checked_stage(stage)?;
        let step = Step::ConfigCleanup { stage }.checkpoint();
        backend_step(ctx, progress, &step, || {
            self.backend.remove_config_jobs(&ll)
        })
        .await
    }

    /// Step `config-start:<stage>`: one configuration job per configurable endpoint.
    async fn config_start(
        &self,
        ctx: &JobContext,
        loaded: &Loaded,
        stage: i32,
        hosts: Option<&BTreeMap<String, String>>,
        progress: &Progress,
    ) -> Result<(), JobError> {
        let ll = loaded.view();
        let index = checked_stage(stage)?;
        let backend = &*self.backend;
        let step = Step::ConfigStart { stage }.checkpoint();
        progress.at(&step);
        ctx.step(&step, || async {
            let stored;
            let hosts = if let Some(hosts) = hosts {
                hosts
            } else {
                // The hosts as stored by CREATE, not the copy loaded with the
                // livelesson, which may predate them.
                let mut conn = ctx.pool().acquire().await.map_err(JobError::transient)?;
                let row = livelesson::get(&mut conn, ll.id)
                    .await
                    .map_err(store)?
                    .ok_or_else(|| JobError::Permanent(format!("livelesson {} vanished", ll.id)))?;
                stored = row
                    .endpoints
                    .into_iter()
                    .filter_map(|e| Some((e.name, e.host?)))
                    .collect();
                &stored
            };
            backend
                .start_config_jobs(&ll, index, hosts)
                .await
                .map_err(|e| progress.backend(e))
        })
        .await
    }

    /// Step `config-wait:<stage>`: waits for the stage's configuration jobs.
    async fn config_wait(
        &self,
        ctx: &JobContext,
        loaded: &Loaded,
        stage: i32,
        progress: &Progress,
    ) -> Result<(), JobError> {
        let ll = loaded.view();
        let stage_index = checked_stage(stage)?;
        let step = Step::ConfigWait { stage }.checkpoint();
        backend_step(ctx, progress, &step, || {
            self.backend.wait_config_jobs(&ll, stage_index)
        })
        .await
    }
}

/// A stage as an index; a negative one is a permanent failure.
fn checked_stage(stage: i32) -> Result<usize, JobError> {
    usize::try_from(stage).map_err(|_| JobError::Permanent(format!("stage {stage} is negative")))
}
