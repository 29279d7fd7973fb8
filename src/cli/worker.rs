//! `antidoted worker`: job workers only (livelesson workflows on the Kubernetes backend,
//! GC and pool refill), no API.

use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::{queue, startup};

use super::config::ConfigArgs;

/// Arguments of `antidoted worker`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    let telemetry = super::logging::init(config.log_format)?;
    let pool = startup::worker_pool(&config).await?;
    let client = queue::Client::new(pool.clone());
    super::config::apply_pool_settings(&args.config, &config, &client).await?;
    let kube = startup::kube_client(&config).await?;
    let worker = startup::worker(&config, pool, kube, Some(client.notifier().clone()))?;
    tracing::info!(worker = worker.id(), "worker started");
    let stats = worker
        .run(super::api::shutdown_signal())
        .await
        .context("running the worker")?;
    tracing::info!(?stats, "worker stopped");
    telemetry.shutdown();
    Ok(ExitCode::SUCCESS)
}
