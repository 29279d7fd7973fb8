//! `antidoted api`: the HTTP API alone (no workers); jobs it enqueues wait for workers
//! started elsewhere (`antidoted worker`).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::{db, queue};

use super::config::ConfigArgs;

/// Arguments of `antidoted api`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Apply pending migrations before serving.
    #[arg(long)]
    migrate: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = args.config.load()?;
    if let Some(dir) = &config.api.web_root {
        api::web_root::check(dir).map_err(|problem| anyhow::anyhow!("api.webRoot: {problem}"))?;
    }
    let telemetry = super::logging::init(config.log_format)?;
    let pool = db::connect_with(
        config.database_url.expose(),
        config.database_max_connections,
        config.engine_schema.as_ref(),
        &config.database.api,
    )
    .await
    .context("connecting to PostgreSQL (set DATABASE_URL)")?;
    if args.migrate {
        db::migrate(&pool, config.engine_schema.as_ref())
            .await
            .context("applying migrations")?;
    }
    super::config::apply_pool_settings(&args.config, &config, &pool).await?;
    let address = SocketAddr::new(config.http_address, config.http_port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address} (httpAddress, httpPort)"))?;
    tracing::info!(%address, "API listening");
    let state = AppState::new(pool.clone(), queue::Client::new(pool), &config);
    api::serve(listener, state, shutdown_signal())
        .await
        .context("serving the API")?;
    tracing::info!("API stopped");
    telemetry.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested");
}
