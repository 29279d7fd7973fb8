//! `antidoted worker`: job workers only (livelesson workflows on the Kubernetes backend),
//! no API. Also the pieces `serve` shares: the kube client and the worker itself.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use antidote_scheduler::backend::kubernetes::KubernetesBackend;
use antidote_scheduler::config::Config;
use antidote_scheduler::queue::notifier::Notifier;
use antidote_scheduler::queue::{Registry, Worker, WorkerConfig};
use antidote_scheduler::{db, gc, pool, telemetry, workflow};

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
    let pool = db::connect_worker_with(
        config.database_url.expose(),
        worker_connections(&config),
        config.engine_schema.as_ref(),
        &config.database.worker,
    )
    .await
    .context("connecting to PostgreSQL (set DATABASE_URL)")?;
    super::config::apply_pool_settings(&args.config, &config, &pool).await?;
    let worker = build(&config, pool, None).await?;
    tracing::info!(worker = worker.id(), "worker started");
    let stats = worker
        .run(super::api::shutdown_signal())
        .await
        .context("running the worker")?;
    tracing::info!(?stats, "worker stopped");
    telemetry.shutdown();
    Ok(ExitCode::SUCCESS)
}

/// Connections a worker pool needs: one per running job plus its services.
pub fn worker_connections(config: &Config) -> u32 {
    u32::try_from(config.worker.concurrency)
        .unwrap_or(u32::MAX)
        .saturating_add(4)
}

/// A kube client: the configured kubeconfig, in-cluster, or the standard discovery.
pub async fn kube_client(config: &Config) -> anyhow::Result<kube::Client> {
    let kube_config = if let Some(path) = &config.kubernetes.kubeconfig {
        let kubeconfig = kube::config::Kubeconfig::read_from(path).with_context(|| {
            format!(
                "reading kubeconfig {} (kubernetes.kubeconfig)",
                path.display()
            )
        })?;
        kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .context("loading kubeconfig (kubernetes.kubeconfig)")?
    } else if config.kubernetes.in_cluster {
        kube::Config::incluster().context("in-cluster configuration (kubernetes.inCluster)")?
    } else {
        kube::Config::infer().await.context(
            "finding a Kubernetes configuration (set kubernetes.kubeconfig or KUBECONFIG)",
        )?
    };
    kube::Client::try_from(kube_config).context("building the Kubernetes client")
}

/// A worker running the livelesson workflows on Kubernetes, sharing `notifier` when given
/// (so that the API of the same process wakes it at once).
pub async fn build(
    config: &Config,
    pool: sqlx::PgPool,
    notifier: Option<Notifier>,
) -> anyhow::Result<Worker> {
    let client = kube_client(config).await?;
    build_on(config, pool, notifier, client)
}

/// Like [`build`], on a given Kubernetes client (the demo's embedded kubesim). Every kind
/// runs under its contract ([`antidote_scheduler::kinds`]).
pub fn build_on(
    config: &Config,
    pool: sqlx::PgPool,
    notifier: Option<Notifier>,
    client: kube::Client,
) -> anyhow::Result<Worker> {
    let backend = Arc::new(KubernetesBackend::new(client, config.backend.clone()));
    let mut registry = Registry::new();
    workflow::register(
        &mut registry,
        backend.clone(),
        Arc::new(config.backend.clone()),
    );
    // Every worker carries the GC schedules; the engine runs each slot once in the pool.
    let gc_config = config.gc();
    gc::register(&mut registry, &backend, gc_config.clone());
    pool::register(&mut registry, Arc::new(config.backend.clone()));
    config
        .contracts()
        .map_err(|message| anyhow::anyhow!("worker.kinds: {message}"))?
        .apply(&mut registry)
        .map_err(|missing| anyhow::anyhow!("job kinds without a contract: {missing:?}"))?;
    let mut schedules = gc::schedules(&gc_config);
    schedules.extend(pool::schedules(config.pools.refill_interval()));
    let lease = Duration::from_secs(config.worker.lease_secs);
    let worker_config = WorkerConfig {
        concurrency: config.worker.concurrency,
        lease,
        heartbeat: lease / 3,
        poll_interval: Duration::from_millis(config.worker.poll_interval_ms),
        shutdown_grace: Duration::from_secs(config.worker.shutdown_grace_secs),
        schedules,
        observer: telemetry::job_observer(),
        ..WorkerConfig::default()
    };
    Ok(match notifier {
        Some(notifier) => Worker::with_notifier(pool, registry, worker_config, notifier),
        None => Worker::new(pool, registry, worker_config),
    })
}
