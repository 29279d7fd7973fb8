//! `antidoted serve`: the API and the job workers in one process, stopped together on
//! SIGINT or SIGTERM (the worker hands unfinished jobs back).

use std::process::ExitCode;

use antidote_scheduler::api::AppState;
use antidote_scheduler::startup;

use super::config::ConfigArgs;

/// Arguments of `antidoted serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Apply pending migrations before starting.
    #[arg(long)]
    migrate: bool,
    /// Serve this built front end (antidote-web's build output) at `/`, with the API also
    /// under `/acore/` (overrides `api.webRoot`).
    #[arg(long, value_name = "DIR")]
    web_root: Option<std::path::PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = args.config.load()?;
    if let Some(dir) = args.web_root.clone() {
        config.api.web_root = Some(dir);
    }
    let telemetry = super::logging::init(config.log_format)?;
    let (client, listener) = super::api::prepare(&args.config, &config, args.migrate).await?;
    let worker_pool = startup::worker_pool(&config).await?;
    let kube = startup::kube_client(&config).await?;
    let worker = startup::worker(&config, worker_pool, kube, Some(client.notifier().clone()))?;
    tracing::info!(address = %listener.local_addr()?, worker = worker.id(), "serving");
    let terminals = super::api::bind_gateway(&mut config, client.pool()).await?;

    let state = AppState::new(client.pool().clone(), client, &config);
    let stats = super::halves::run(
        |stop| super::api::serve_with_terminals(listener, state, terminals, stop),
        worker,
    )
    .await?;
    tracing::info!(?stats, "stopped");
    telemetry.shutdown();
    Ok(ExitCode::SUCCESS)
}
