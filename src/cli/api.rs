//! `antidoted api`: the HTTP API alone (no workers); jobs it enqueues wait for workers
//! started elsewhere (`antidoted worker`).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::config::Config;
use antidote_scheduler::gateway::{self, Gateway};
use antidote_scheduler::{db, queue, startup};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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
    let mut config = args.config.load()?;
    let telemetry = super::logging::init(config.log_format)?;
    let (client, listener) = prepare(&args.config, &config, args.migrate).await?;
    tracing::info!(address = %listener.local_addr()?, "API listening");
    let terminals = bind_gateway(&mut config, client.pool()).await?;
    let state = AppState::new(client.pool().clone(), client, &config);
    let stop = CancellationToken::new();
    let signal = {
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            stop.cancel();
        }
    };
    let (served, ()) = tokio::join!(
        serve_with_terminals(listener, state, terminals, stop),
        signal
    );
    served.context("serving the API")?;
    tracing::info!("API stopped");
    telemetry.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// What `api` and `serve` do before serving: check the web root, open the API's pool
/// (migrating first when `migrate`) and its job client, store the pools and capacity
/// settings (again on SIGHUP), and bind the HTTP listener.
pub async fn prepare(
    args: &ConfigArgs,
    config: &Config,
    migrate: bool,
) -> anyhow::Result<(queue::Client, TcpListener)> {
    if let Some(dir) = &config.api.web_root {
        api::web_root::check(dir).map_err(|problem| anyhow::anyhow!("api.webRoot: {problem}"))?;
    }
    let pool = startup::api_pool(config).await?;
    if migrate {
        db::migrate(&pool, config.engine_schema.as_ref())
            .await
            .context("applying migrations")?;
    }
    let client = queue::Client::new(pool);
    super::config::apply_pool_settings(args, config, &client).await?;
    let address = SocketAddr::new(config.http_address, config.http_port);
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address} (httpAddress, httpPort)"))?;
    Ok((client, listener))
}

/// The terminal gateway on its own listener, when `gateway.enabled`; its origin is noted
/// in `config.api` for a served front end.
pub async fn bind_gateway(
    config: &mut Config,
    pool: &sqlx::PgPool,
) -> anyhow::Result<Option<(Gateway, TcpListener)>> {
    if !config.gateway.enabled {
        return Ok(None);
    }
    let listener = Gateway::bind(&config.gateway).await?;
    tracing::info!(address = %listener.local_addr()?, "terminal gateway listening");
    config.api.terminals_origin = Some(Gateway::origin(&config.gateway, listener.local_addr()?));
    let clients = gateway::Clients {
        trusted_proxies: config.trusted_proxies.clone(),
        forwarded_header: config.forwarded_header,
        ipv6_prefix: config.ipv6_prefix_length,
    };
    Ok(Some((
        Gateway::new(pool.clone(), config.gateway.clone(), clients),
        listener,
    )))
}

/// Serves the API and, when given, the terminal gateway until `stop`.
///
/// # Errors
/// Either server's I/O failure.
pub async fn serve_with_terminals(
    listener: TcpListener,
    state: AppState,
    terminals: Option<(Gateway, TcpListener)>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let api_stop = stop.clone();
    let api = api::serve(listener, state, async move { api_stop.cancelled().await });
    match terminals {
        Some((gateway, gateway_listener)) => {
            let (api, terminals) = tokio::join!(
                api,
                gateway.serve(gateway_listener, async move { stop.cancelled().await })
            );
            api.and(terminals)
        }
        None => api.await,
    }
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
