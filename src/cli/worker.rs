//! `antidoted worker`: job workers only (livelesson workflows on the Kubernetes backend,
//! GC and pool refill), no API: on `httpAddress:httpPort` it serves only its probes and
//! its own metrics ([`antidote_scheduler::api::worker_probes`]).

use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::api::worker_probes;
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
    let address = std::net::SocketAddr::from((config.http_address, config.http_port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("listening for probes on {address}"))?;
    let probes = worker_probes::router(pool.clone(), config.engine_schema.clone());
    let worker = startup::worker(&config, pool, kube, Some(client.notifier().clone()))?;
    tracing::info!(worker = worker.id(), probes = %listener.local_addr()?, "worker started");
    let stats = super::halves::run(
        |stop| worker_probes::serve(listener, probes, async move { stop.cancelled().await }),
        worker,
    )
    .await?;
    tracing::info!(?stats, "worker stopped");
    telemetry.shutdown();
    Ok(ExitCode::SUCCESS)
}
