//! CREATE: provisions a livelesson, one checkpoint per step.
//!
//! ```text
//! images → namespace → budget → network-policy → secrets → lesson-files → networks
//!   → endpoint:<name> (lesson order, jupyter guide last) → status:BOOTING → pods-ready
//!   → hosts → reachability → status:CONFIGURATION → configure(stage) → ready-delay
//!   → status:READY
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::backend::Backend;
use crate::curriculum::names::JUPYTER_ENDPOINT;
use crate::queue::{JobContext, JobError};
use crate::store::livelesson::{self, Status};
use crate::telemetry::attributes::ENDPOINT;

use super::Args;
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
        self.create_steps(&ctx, &loaded, args.stage, &progress)
            .await
    }

    async fn create_steps(
        &self,
        ctx: &JobContext,
        loaded: &Loaded,
        stage: i32,
        progress: &Progress,
    ) -> Result<(), JobError> {
        let ll = loaded.view();
        let id = ll.id;
        let backend = &*self.backend;

        progress.at("images");
        ctx.step("images", || async {
            match missing_images(ll.lesson, ll.images).as_slice() {
                [] => Ok(()),
                missing => Err(JobError::Permanent(format!(
                    "the lesson uses images the curriculum does not define: {}",
                    missing.join(", ")
                ))),
            }
        })
        .await?;
        backend_step(ctx, progress, "namespace", || backend.create_namespace(&ll)).await?;
        // Before any pod: the quota admits pods only once it is in force.
        backend_step(ctx, progress, "budget", || backend.create_budget(&ll)).await?;
        if !self.settings.allow_egress {
            backend_step(ctx, progress, "network-policy", || {
                backend.create_network_policy(&ll)
            })
            .await?;
        }
        backend_step(ctx, progress, "secrets", || backend.copy_secrets(&ll)).await?;
        backend_step(ctx, progress, "lesson-files", || {
            backend.create_lesson_files(&ll)
        })
        .await?;
        if !ll.lesson.connections.is_empty() {
            backend_step(ctx, progress, "networks", || backend.create_networks(&ll)).await?;
        }
        let mut endpoints: Vec<&str> = ll
            .lesson
            .endpoints
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        if ll.lesson.uses_jupyter() {
            endpoints.push(JUPYTER_ENDPOINT);
        }
        for endpoint in endpoints {
            let step = format!("endpoint:{endpoint}");
            // The span names the endpoint, so that traces can be searched by it.
            backend_step_with(ctx, progress, &step, &[(ENDPOINT, endpoint)], || {
                backend.create_endpoint(&ll, endpoint)
            })
            .await?;
        }
        progress.at("status:BOOTING");
        ctx.step("status:BOOTING", || {
            self.set_status(ctx, id, Status::Booting)
        })
        .await?;
        backend_step(ctx, progress, "pods-ready", || backend.wait_pods_ready(&ll)).await?;
        progress.at("hosts");
        let hosts = ctx
            .step("hosts", || async {
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
        progress.at("reachability");
        ctx.step("reachability", || {
            reachability::wait_reachable(ctx, id, &loaded.row.endpoints, &hosts, &self.settings)
        })
        .await?;
        progress.at("status:CONFIGURATION");
        ctx.step("status:CONFIGURATION", || {
            self.set_status(ctx, id, Status::Configuration)
        })
        .await?;
        self.configure(ctx, loaded, stage, Some(&hosts), progress)
            .await?;
        if ll.lesson.ready_delay > 0 {
            progress.at("ready-delay");
            ctx.sleep(
                "ready-delay",
                Duration::from_secs(u64::from(ll.lesson.ready_delay)),
            )
            .await?;
        }
        progress.at("status:READY");
        ctx.step("status:READY", || self.set_status(ctx, id, Status::Ready))
            .await?;
        tracing::info!(livelesson = %id, "livelesson READY");
        Ok(())
    }

    /// configure(stage): old configuration jobs go, then one job per configurable endpoint
    /// runs in parallel against the endpoint hosts: `hosts` when the job itself stored
    /// them (CREATE), otherwise read back from the store (MODIFY).
    pub(crate) async fn configure(
        &self,
        ctx: &JobContext,
        loaded: &Loaded,
        stage: i32,
        hosts: Option<&BTreeMap<String, String>>,
        progress: &Progress,
    ) -> Result<(), JobError> {
        let ll = loaded.view();
        if !ll
            .lesson
            .endpoints
            .iter()
            .any(|e| e.configuration_type.is_some())
        {
            return Ok(());
        }
        let stage = usize::try_from(stage)
            .map_err(|_| JobError::Permanent(format!("stage {stage} is negative")))?;
        let backend = &*self.backend;
        let step = format!("config-cleanup:{stage}");
        backend_step(ctx, progress, &step, || backend.remove_config_jobs(&ll)).await?;
        let step = format!("config-start:{stage}");
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
                .start_config_jobs(&ll, stage, hosts)
                .await
                .map_err(|e| progress.backend(e))
        })
        .await?;
        let step = format!("config-wait:{stage}");
        backend_step(ctx, progress, &step, || {
            backend.wait_config_jobs(&ll, stage)
        })
        .await
    }
}
