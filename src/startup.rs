//! The composition root: what a process is made of, built from its [`Config`]. The
//! subsystems know only their own settings; this is the one place that reads the whole
//! configuration and hands each its part: the database pools, the API's state, the
//! Kubernetes client, and the worker with every production job kind and schedule.
//!
//! The CLI commands, the demo, the benchmarks and the tests all build their workers here
//! (the tests with test-sized [`JobSettings`]), so that what is tested is what runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::api::{AppState, rate_limit};
use crate::backend::kubernetes::KubernetesBackend;
use crate::backend::{Backend, Settings as BackendSettings};
use crate::config::Config;
use crate::db::{self, DbError};
use crate::kinds::Contracts;
use crate::queue::notifier::Notifier;
use crate::queue::{Client, Registry, Schedule, Worker, WorkerConfig};
use crate::{gc, pool, telemetry, workflow};

/// Why a process could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A database pool could not be opened.
    #[error("connecting to PostgreSQL ({pool} pool; set DATABASE_URL)")]
    Database {
        /// Which pool: `api` or `worker`.
        pool: &'static str,
        /// What failed.
        #[source]
        source: DbError,
    },
    /// The configured kubeconfig could not be read or used.
    #[error("loading kubeconfig {} (kubernetes.kubeconfig)", path.display())]
    Kubeconfig {
        /// The configured file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// In-cluster configuration was asked for and is not there.
    #[error("in-cluster configuration (kubernetes.inCluster)")]
    InCluster(#[source] kube::config::InClusterError),
    /// Neither a kubeconfig nor an in-cluster configuration was found.
    #[error("finding a Kubernetes configuration (set kubernetes.kubeconfig or KUBECONFIG)")]
    NoKubernetes(#[source] kube::config::InferConfigError),
    /// The Kubernetes client could not be built from its configuration.
    #[error("building the Kubernetes client")]
    KubeClient(#[source] kube::Error),
    /// `worker.kinds` names something wrong.
    #[error("worker.kinds: {0}")]
    Contracts(String),
    /// A registered kind has no contract, so one attempt of it could run forever.
    #[error("job kinds without a contract: {0:?}")]
    Uncontracted(Vec<String>),
}

impl AppState {
    /// The API's state for `config` over `pool`, enqueueing through `client`.
    pub fn new(pool: PgPool, client: Client, config: &Config) -> Self {
        let pool_for_progress = pool.clone();
        let livelessons = crate::api::livelesson_cache::LivelessonCache::new(pool.clone());
        Self {
            pool,
            client,
            settings: Arc::new(config.backend.clone()),
            limits: config.limits(),
            admin_token: Arc::new(config.admin_token.clone()),
            trusted_proxies: config.trusted_proxies.clone().into(),
            forwarded_header: config.forwarded_header,
            ipv6_prefix_length: config.ipv6_prefix_length,
            body_limit: config.body_limit,
            api: Arc::new(config.api.clone()),
            http: config.http.clone(),
            rate_limits: rate_limit::RateLimits::new(&config.rate_limit),
            ui: config.api.ui,
            engine_schema: config.engine_schema.clone().map(Arc::new),
            writable_wait: config.database.writable_wait(),
            lifetime: Arc::new(config.lifetime_policy()),
            progress: crate::api::progress::Streams::new(pool_for_progress, &config.progress),
            livelessons,
        }
    }
}

/// The API's pool: `databaseMaxConnections` connections under the API's limits.
///
/// # Errors
/// [`StartupError::Database`].
pub async fn api_pool(config: &Config) -> Result<PgPool, StartupError> {
    db::connect_with(
        config.database_url.expose(),
        config.database_max_connections,
        config.engine_schema.as_ref(),
        &config.database.api,
    )
    .await
    .map_err(|source| StartupError::Database {
        pool: "api",
        source,
    })
}

/// The worker's pool ([`worker_connections`]), under the worker's limits.
///
/// # Errors
/// [`StartupError::Database`].
pub async fn worker_pool(config: &Config) -> Result<PgPool, StartupError> {
    db::connect_worker_with(
        config.database_url.expose(),
        worker_connections(config),
        config.engine_schema.as_ref(),
        &config.database.worker,
    )
    .await
    .map_err(|source| StartupError::Database {
        pool: "worker",
        source,
    })
}

/// Running jobs that may each hold a connection at once, at most: a job holds one only
/// for a statement or a short transaction, never while it waits on Kubernetes, so more
/// would only queue inside a server with a few cores, and a pool of one per job (a class
/// provisioning 200 labs opened 204) takes every slot of a default server
/// (`max_connections` 100), leaving the API none: its reads then failed for 3 s each.
pub const WORKER_POOL_JOBS: u32 = 32;

/// Connections of a worker's pool: one per running job up to [`WORKER_POOL_JOBS`], plus
/// its services (claims, leases, notifications).
fn worker_connections(config: &Config) -> u32 {
    u32::try_from(config.worker.concurrency)
        .unwrap_or(u32::MAX)
        .min(WORKER_POOL_JOBS)
        .saturating_add(4)
}

/// A kube client: the configured kubeconfig, in-cluster, or the standard discovery.
///
/// # Errors
/// Which of the three failed, and why.
pub async fn kube_client(config: &Config) -> Result<kube::Client, StartupError> {
    let kube_config = if let Some(path) = &config.kubernetes.kubeconfig {
        let kubeconfig_error = |source: kube::config::KubeconfigError| StartupError::Kubeconfig {
            path: path.clone(),
            source: Box::new(source),
        };
        let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
        kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .map_err(kubeconfig_error)?
    } else if config.kubernetes.in_cluster {
        kube::Config::incluster().map_err(StartupError::InCluster)?
    } else {
        kube::Config::infer()
            .await
            .map_err(StartupError::NoKubernetes)?
    };
    kube::Client::try_from(kube_config).map_err(StartupError::KubeClient)
}

/// What the production job kinds are made with: each subsystem's own settings. From a
/// [`Config`] in production ([`JobSettings::from_config`]); sized by hand in tests.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// The livelesson workflows' backend settings (also the shape of new spares).
    pub backend: BackendSettings,
    /// Garbage collection's intervals, TTLs and batch sizes.
    pub gc: gc::Config,
    /// How often the pools are refilled.
    pub refill_interval: Duration,
    /// Every kind's attempt timeout and backoff.
    pub contracts: Contracts,
}

impl JobSettings {
    /// The production defaults for every kind, the workflows on `backend` settings.
    pub fn new(backend: BackendSettings) -> Self {
        Self {
            gc: gc::Config::default(),
            refill_interval: pool::PoolConfig::default().refill_interval(),
            contracts: Contracts::for_backend(&backend),
            backend,
        }
    }

    /// The settings `config` gives the job kinds.
    ///
    /// # Errors
    /// [`StartupError::Contracts`] when `worker.kinds` is wrong.
    pub fn from_config(config: &Config) -> Result<Self, StartupError> {
        Ok(Self {
            backend: config.backend.clone(),
            gc: config.gc(),
            refill_interval: config.pools.refill_interval(),
            contracts: config.contracts().map_err(StartupError::Contracts)?,
        })
    }

    /// Every production job kind (the livelesson workflows, GC, pool refill) on
    /// `backend`, each under its contract.
    ///
    /// # Errors
    /// [`StartupError::Uncontracted`] if a kind has no contract (a table out of date).
    pub fn registry<B: Backend>(&self, backend: Arc<B>) -> Result<Registry, StartupError> {
        let settings = Arc::new(self.backend.clone());
        let mut registry = Registry::new();
        gc::register(&mut registry, &backend, self.gc.clone());
        pool::register(&mut registry, settings.clone());
        workflow::register(&mut registry, backend, settings);
        self.contracts
            .apply(&mut registry)
            .map_err(StartupError::Uncontracted)?;
        Ok(registry)
    }

    /// The periodic jobs every worker carries (the engine runs each slot once across all
    /// workers): the GC passes and the pool refill.
    pub fn schedules(&self) -> Vec<Schedule> {
        let mut schedules = gc::schedules(&self.gc);
        schedules.extend(pool::schedules(self.refill_interval));
        schedules
    }
}

/// The worker's own settings from `config.worker`, carrying `schedules`.
pub fn worker_config(config: &Config, schedules: Vec<Schedule>) -> WorkerConfig {
    let lease = Duration::from_secs(config.worker.lease_secs);
    WorkerConfig {
        concurrency: config.worker.concurrency,
        lease,
        heartbeat: lease / 3,
        poll_interval: Duration::from_millis(config.worker.poll_interval_ms),
        shutdown_grace: Duration::from_secs(config.worker.shutdown_grace_secs),
        schedules,
        observer: telemetry::job_observer(),
        ..WorkerConfig::default()
    }
}

/// A production worker of `config` on `pool`, its workflows talking to `kube`, sharing
/// `notifier` when given (so that the API of the same process wakes it at once).
///
/// # Errors
/// What [`JobSettings::from_config`] and [`JobSettings::registry`] refuse.
pub fn worker(
    config: &Config,
    pool: PgPool,
    kube: kube::Client,
    notifier: Option<Notifier>,
) -> Result<Worker, StartupError> {
    let jobs = JobSettings::from_config(config)?;
    let backend = Arc::new(KubernetesBackend::new(kube, jobs.backend.clone()));
    let registry = jobs.registry(backend)?;
    let worker_config = worker_config(config, jobs.schedules());
    Ok(match notifier {
        Some(notifier) => Worker::with_notifier(pool, registry, worker_config, notifier),
        None => Worker::new(pool, registry, worker_config),
    })
}
