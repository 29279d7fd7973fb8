//! `antidoted serve`: the API and the job workers in one process, stopped together on
//! SIGINT or SIGTERM (the worker hands unfinished jobs back).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::{db, queue};

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
    if let Some(dir) = &config.api.web_root {
        api::web_root::check(dir).map_err(|problem| anyhow::anyhow!("api.webRoot: {problem}"))?;
    }
    let telemetry = super::logging::init(config.log_format)?;
    let url = config.database_url.expose();
    let engine_schema = config.engine_schema.as_ref();
    let pool = db::connect_with(
        url,
        config.database_max_connections,
        engine_schema,
        &config.database.api,
    )
    .await
    .context("connecting to PostgreSQL (set DATABASE_URL)")?;
    if args.migrate {
        db::migrate(&pool, engine_schema)
            .await
            .context("applying migrations")?;
    }
    super::config::apply_pool_settings(&args.config, &config, &pool).await?;
    let worker_pool = db::connect_worker_with(
        url,
        super::worker::worker_connections(&config),
        engine_schema,
        &config.database.worker,
    )
    .await
    .context("connecting the worker pool")?;
    let client = queue::Client::new(pool.clone());
    let worker =
        super::worker::build(&config, worker_pool, Some(client.notifier().clone())).await?;

    let address = SocketAddr::new(config.http_address, config.http_port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address} (httpAddress, httpPort)"))?;
    tracing::info!(%address, worker = worker.id(), "serving");

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
        AppState::new(pool, client, &config),
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
