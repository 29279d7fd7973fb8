//! `antidoted serve`: the API and the job workers in one process, stopped together on
//! SIGINT or SIGTERM (the worker hands unfinished jobs back).

use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use antidote_scheduler::api::{self, AppState};
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

    let stop = CancellationToken::new();
    let signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            super::api::shutdown_signal().await;
            stop.cancel();
        })
    };
    let api_stop = stop.clone();
    let api = tokio::spawn(api::serve(
        listener,
        AppState::new(client.pool().clone(), client, &config),
        async move { api_stop.cancelled().await },
    ));
    let worker_stop = stop.clone();
    let worker = tokio::spawn(worker.run(async move { worker_stop.cancelled().await }));

    // Either half ending on its own is a failure: stop the other one too.
    let (api_result, worker_result) = tokio::join!(
        async {
            let result = api.await;
            stop.cancel();
            result
        },
        async {
            let result = worker.await;
            stop.cancel();
            result
        }
    );
    signal.abort();
    api_result.context("API task")?.context("serving the API")?;
    let stats = worker_result
        .context("worker task")?
        .context("running the worker")?;
    tracing::info!(?stats, "stopped");
    telemetry.shutdown();
    Ok(ExitCode::SUCCESS)
}
