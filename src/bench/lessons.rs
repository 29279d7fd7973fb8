//! `bench lessons`: N livelessons of a two-endpoint lesson (one configuration job each),
//! requested through the store as the API does and provisioned by one worker process
//! against an embedded kubesim with zero latency.
//!
//! The benchmark process keeps kubesim and the requesters (a bounded number of concurrent
//! tasks calling [`request::create_session`] and [`request::request_livelesson`], as the
//! API handlers do). The worker runs apart, normally as a child process (see
//! [`ProvisioningWorker`]), so that its peak memory is its own and not kubesim's.
//!
//! Pods run on node agents in processes of their own (see [`NodeAgents`]): every pod port
//! and every service port is a listening socket, and one process may hold only as many as
//! its descriptor limit allows (20,000 on this project's machines, four per livelesson),
//! so the benchmark spreads them over as many agents as [`agents_for`] says.
//!
//! Figures: total time and time to READY, Kubernetes API requests per livelesson by verb
//! (every request kubesim served from the worker's start, shared watches included),
//! objects per livelesson, SQL statements per livelesson (worker and requesters, counted
//! by [`StatementCounter`]; transactions from `pg_stat_database` are reported next to
//! them) and the worker's peak RSS.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;
use tracing::Instrument;

use crate::backend::Settings;
use crate::backend::kubernetes::KubernetesBackend;
use crate::curriculum::{self, Options};
use crate::queue::{Client, Worker, WorkerConfig};
use crate::startup::JobSettings;
use crate::store;
use crate::workflow::request;

use super::statements::StatementCounter;
use super::{quantile, round2};

/// Kubernetes objects one livelesson of the bench lesson creates: namespace, resource
/// quota and limit range (its budget), network policy, TLS secret copy, configuration
/// credentials, lesson files, 2 pods, 2 services, 2 configuration jobs.
pub const OBJECTS_PER_LIVELESSON: u64 = 13;

/// The span the benchmark's own queries (progress, figures) run in; a
/// [`StatementCounter::excluding`] it counts only the requesters' statements.
pub const OBSERVE_SPAN: &str = "bench.observe";

/// The tracing target of [`OBSERVE_SPAN`], to enable in the counter's filter.
pub const OBSERVE_TARGET: &str = module_path!();

/// Watch events kubesim keeps for resuming watches (its default is 200,000). A livelesson
/// makes about 50, so the default kept every version of every object of a 1,000-livelesson
/// run (1.05 GB of this process; 0.78 GB with this bound) and a quarter of kubesim's CPU
/// went to growing the heap (a seventh with it). The worker's watches follow live, far
/// inside this bound; one that fell behind would get `410 Gone` and list again, as it
/// would from a real API server after compaction.
const EVENT_HISTORY: usize = 20_000;

/// Listening sockets a livelesson of the bench lesson keeps open: its two pods' SSH ports
/// and its two services' ports.
pub const LISTENERS_PER_LIVELESSON: usize = 4;

/// Share of an agent's descriptor limit its steady listeners may take; the rest is for
/// connections (probes, configuration dials, forwarding, the API) and the runtime.
const LISTENER_SHARE: f64 = 0.6;

/// Node agent processes for `livelessons` when each process may open `nofile_limit`
/// descriptors (unlimited: one).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a float-to-integer `as` saturates, and the value is rounded and not negative"
)]
pub fn agents_for(livelessons: usize, nofile_limit: Option<u64>) -> usize {
    let Some(limit) = nofile_limit else {
        return 1;
    };
    let per_agent = ((limit as f64 * LISTENER_SHARE) as usize).max(1);
    (livelessons * LISTENERS_PER_LIVELESSON)
        .div_ceil(per_agent)
        .max(1)
}

/// How long the node agents get to register their nodes.
const AGENTS_WITHIN: Duration = Duration::from_secs(60);

/// Longest wait for every livelesson to be READY.
const READY_WITHIN: Duration = Duration::from_secs(600);

/// Size of a run.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Livelessons to provision.
    pub livelessons: usize,
    /// Concurrent requesters (API handlers under load).
    pub requesters: usize,
    /// Job tasks of the worker.
    pub concurrency: usize,
    /// Node agent processes.
    pub agents: usize,
}

/// Figures of a run; the JSON keys are a stable interface.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Livelessons provisioned.
    pub livelessons: usize,
    /// From the first request to the last READY.
    pub total_s: f64,
    /// From the first request to the last request's commit.
    pub requests_s: f64,
    /// Time to READY (creation to READY), median.
    pub ready_p50_s: f64,
    /// 99th percentile.
    pub ready_p99_s: f64,
    /// Kubernetes API requests per livelesson (all verbs, shared watches included).
    pub k8s_requests_per_livelesson: f64,
    /// Kubernetes API requests per livelesson by verb.
    pub k8s_requests_by_verb: BTreeMap<String, f64>,
    /// Objects each livelesson creates.
    pub objects_per_livelesson: u64,
    /// SQL statements per livelesson sent by the requesters and the worker, `BEGIN` and
    /// `COMMIT` included (see [`StatementCounter`]).
    pub db_statements_per_livelesson: f64,
    /// The same, by who sent them: `requests` and `worker`.
    pub db_statements_by_sender: BTreeMap<&'static str, f64>,
    /// Committed and rolled-back transactions per livelesson in the database (every
    /// statement outside an explicit transaction is one; from `pg_stat_database`, so it
    /// also counts the benchmark's own progress queries).
    pub db_transactions_per_livelesson: f64,
    /// Peak resident memory of the worker process (`VmHWM`), MB.
    pub peak_rss_mb: f64,
    /// Peak resident memory of the benchmark process (kubesim and the requesters), MB.
    pub bench_rss_mb: f64,
    /// CPU time of the worker process, user and system, from its start.
    pub worker_cpu_s: f64,
    /// CPU time of the benchmark process (kubesim, requesters, set-up), user and system.
    pub bench_cpu_s: f64,
    /// Node agent processes that ran the pods.
    pub agents: usize,
    /// Peak resident memory of the node agents, summed, MB.
    pub agents_rss_mb: f64,
    /// CPU time of the node agents, summed, user and system.
    pub agents_cpu_s: f64,
    /// Latency of one request (session and livelesson), median, ms.
    pub request_p50_ms: f64,
    /// 99th percentile.
    pub request_p99_ms: f64,
    /// Concurrent requesters.
    pub requesters: usize,
    /// Job tasks of the worker.
    pub concurrency: usize,
}

/// Failures of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum LessonsError {
    /// A query of the benchmark's own failed.
    #[error("{0}")]
    Database(&'static str, #[source] sqlx::Error),
    /// The bench curriculum did not load or import.
    #[error("preparing the bench curriculum: {0}")]
    Curriculum(String),
    /// Writing the curriculum or the kubeconfig failed.
    #[error("writing {0}")]
    Write(&'static str, #[source] std::io::Error),
    /// kubesim did not start.
    #[error("starting kubesim")]
    Kubesim(#[source] kubesim::Error),
    /// Seeding the secrets namespace failed.
    #[error("seeding {0}")]
    Seed(&'static str, #[source] kube::Error),
    /// A request was refused.
    #[error("requesting a livelesson")]
    Request(#[source] request::RequestError),
    /// The worker failed to start, answer or stop.
    #[error("bench worker: {0}")]
    Worker(String),
    /// A node agent failed to start or stop, or its node was not Ready in time.
    #[error("node agents: {0}")]
    Agents(String),
    /// Some livelessons ended in ERROR.
    #[error("{failed} livelessons failed, e.g. at step {step}: {reason}")]
    Failed {
        /// How many.
        failed: i64,
        /// One failure's step.
        step: String,
        /// Its reason.
        reason: String,
    },
    /// Not every livelesson was READY in time.
    #[error("only {ready} of {wanted} livelessons READY after {} s", READY_WITHIN.as_secs())]
    Timeout {
        /// READY ones.
        ready: i64,
        /// All.
        wanted: usize,
    },
}

/// Result alias of this module.
pub type Result<T, E = LessonsError> = std::result::Result<T, E>;

/// The backend settings of the benchmark (worker and seeding must agree).
pub fn settings() -> Settings {
    Settings {
        instance_id: "bench".into(),
        ..Settings::default()
    }
}

/// Where the worker finds the database and the cluster.
#[derive(Debug, Clone)]
pub struct WorkerTarget {
    /// The benchmark database.
    pub database_url: String,
    /// A kubeconfig for the embedded kubesim.
    pub kubeconfig: PathBuf,
    /// Job tasks.
    pub concurrency: usize,
}

/// Where the node agents find kubesim, and how many there are.
#[derive(Debug, Clone)]
pub struct AgentTargets {
    /// kubesim's simulator URL (no knobs, not counted as the worker's requests).
    pub server: String,
    /// Agent processes; agent `i` serves the Services of shard `i`.
    pub count: usize,
}

/// The node agents, however they run.
pub trait NodeAgents {
    /// Their resource usage so far, summed, when known.
    fn usage(&self) -> Option<Usage>;
    /// Stops them and waits.
    fn stop(self) -> impl Future<Output = Result<()>>;
}

/// The name of node agent `index`.
pub fn agent_node(index: usize) -> String {
    format!("bench-node-{index}")
}

/// The worker under measurement, however it runs.
pub trait ProvisioningWorker {
    /// SQL statements it has sent so far, when it counts them.
    fn statements(&mut self) -> impl Future<Output = Result<Option<u64>>>;
    /// Its resource usage so far, when known.
    fn usage(&self) -> Option<Usage>;
    /// Stops it gracefully and waits.
    fn stop(self) -> impl Future<Output = Result<()>>;
}

/// The worker the benchmark measures: livelesson workflows only (no GC schedules), on
/// `pool` (from [`crate::db::connect_worker`]) and `kube`.
pub fn worker(pool: PgPool, kube: kube::Client, concurrency: usize) -> Result<Worker> {
    let settings = settings();
    let backend = Arc::new(KubernetesBackend::new(kube, settings.clone()));
    let registry = JobSettings::new(settings)
        .registry(backend)
        .map_err(|err| LessonsError::Worker(crate::queue::error::chain(&err)))?;
    Ok(Worker::new(
        pool,
        registry,
        WorkerConfig {
            concurrency,
            claim_batch: 50,
            observer: crate::telemetry::job_observer(),
            ..WorkerConfig::default()
        },
    ))
}

const LESSON: &str = r"name: Bench pair
slug: bench-pair
category: fundamentals
tier: prod
description: Two hosts, each configured by a script.
shortDescription: Two configured hosts
endpoints:
  - name: host-a
    image: utility
    configurationType: python
    presentations: [{name: cli, port: 22, type: ssh}]
  - name: host-b
    image: utility
    configurationType: python
    presentations: [{name: cli, port: 22, type: ssh}]
stages:
  - description: Only stage
    guideType: markdown
";

/// Writes the bench curriculum into `dir`.
fn write_curriculum(dir: &Path) -> std::io::Result<()> {
    let lesson = dir.join("lessons/bench-pair");
    std::fs::create_dir_all(lesson.join("stage0/configs"))?;
    std::fs::create_dir_all(dir.join("images/utility"))?;
    std::fs::write(
        dir.join("curriculum.meta.yaml"),
        "name: bench\ndescription: bench\nwebsite: https://example.org\naVer: 0.7.0\ngitRoot: https://example.org/bench\n",
    )?;
    std::fs::write(
        dir.join("images/utility/image.meta.yaml"),
        "slug: utility\ndescription: host\nflavor: untrusted\nsshUser: u\nsshPassword: p\nconfigUser: u\nconfigPassword: p\n",
    )?;
    std::fs::write(lesson.join("lesson.meta.yaml"), LESSON)?;
    std::fs::write(lesson.join("stage0/guide.md"), "# Bench\n")?;
    std::fs::write(lesson.join("stage0/configs/host-a.py"), "print('a')\n")?;
    std::fs::write(lesson.join("stage0/configs/host-b.py"), "print('b')\n")?;
    Ok(())
}

/// Runs the benchmark on `pool` (the database at `database_url`, which it empties first).
/// `start_worker` starts the worker on the embedded kubesim and returns once it serves;
/// `requests` counts the statements of this process outside [`OBSERVE_SPAN`] (it counts
/// nothing unless installed in the global subscriber).
///
/// # Errors
/// [`LessonsError`].
pub async fn run<W: ProvisioningWorker, A: NodeAgents>(
    pool: &PgPool,
    database_url: &str,
    params: Params,
    requests: &StatementCounter,
    start_worker: impl AsyncFnOnce(WorkerTarget) -> Result<W>,
    start_agents: impl AsyncFnOnce(AgentTargets) -> Result<A>,
) -> Result<Report> {
    sqlx::query("truncate livelessons, live_endpoints, livesessions cascade")
        .execute(pool)
        .await
        .map_err(|e| LessonsError::Database("emptying the database", e))?;
    crate::queue::bench::tables::truncate_all(pool)
        .await
        .map_err(|e| LessonsError::Database("emptying the database", super::engine_error(e)))?;
    let dir = tempfile::tempdir().map_err(|e| LessonsError::Write("a temporary directory", e))?;
    write_curriculum(dir.path()).map_err(|e| LessonsError::Write("the curriculum", e))?;
    let loaded = curriculum::load(dir.path(), &Options::default());
    let curriculum = loaded.valid().ok_or_else(|| {
        LessonsError::Curriculum(format!("invalid: {:?}", loaded.report.problems))
    })?;
    store::curriculum::import(pool, curriculum)
        .await
        .map_err(|e| LessonsError::Curriculum(e.to_string()))?;

    let sim = kubesim::KubeSim::start(kubesim::Config {
        event_history: EVENT_HISTORY,
        node_agent: false,
        ..kubesim::Config::default()
    })
    .await
    .map_err(LessonsError::Kubesim)?;
    let settings = settings();
    seed(&sim.client().map_err(LessonsError::Kubesim)?, &settings).await?;
    let agents = start_agents(AgentTargets {
        server: sim.simulator_url(),
        count: params.agents.max(1),
    })
    .await?;
    nodes_ready(
        &sim.simulator_client().map_err(LessonsError::Kubesim)?,
        params.agents.max(1),
    )
    .await?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sim.kubeconfig_yaml())
        .map_err(|e| LessonsError::Write("the kubeconfig", e))?;

    // From here on every Kubernetes request is the worker's, its first list and watch
    // included.
    let k8s_before = sim.requests();
    let mut worker = start_worker(WorkerTarget {
        database_url: database_url.to_owned(),
        kubeconfig,
        concurrency: params.concurrency,
    })
    .await?;
    let worker_before = worker.statements().await?;
    let xacts_before = transactions(pool).await?;
    let requests_before = requests.get();

    let started = Instant::now();
    let (requests_s, mut latencies) = send_requests(pool, &settings, params).await?;
    latencies.sort_by(f64::total_cmp);
    wait_ready(pool, params.livelessons).await?;
    let total_s = started.elapsed().as_secs_f64();

    let k8s = sim.requests();
    let worker_statements = worker.statements().await?;
    let request_statements = requests.get() - requests_before;
    let xacts = transactions(pool).await? - xacts_before;
    let worker_usage = worker.usage();
    let bench_usage = Usage::of("self");
    let agents_usage = agents.usage();
    worker.stop().await?;
    agents.stop().await?;

    let mut ready: Vec<f64> = sqlx::query_scalar(
        "select extract(epoch from ready_at - created_at)::float8 from livelessons",
    )
    .fetch_all(pool)
    .instrument(observe())
    .await
    .map_err(|e| LessonsError::Database("reading times to READY", e))?;
    ready.sort_by(f64::total_cmp);
    sim.shutdown().await;

    let n = params.livelessons.max(1) as f64;
    let mut by_verb = BTreeMap::new();
    for ((verb, resource), count) in &k8s.counts {
        let before = k8s_before.count(verb, resource);
        *by_verb.entry(verb.clone()).or_insert(0.0) += (count - before) as f64 / n;
    }
    let k8s_total: f64 = by_verb.values().sum();
    let worker_statements = match (worker_before, worker_statements) {
        (Some(before), Some(after)) => (after - before) as f64 / n,
        _ => 0.0,
    };
    let request_statements = request_statements as f64 / n;
    Ok(Report {
        livelessons: params.livelessons,
        total_s: round2(total_s),
        requests_s: round2(requests_s),
        ready_p50_s: round2(quantile(&ready, 0.5)),
        ready_p99_s: round2(quantile(&ready, 0.99)),
        k8s_requests_per_livelesson: round2(k8s_total),
        k8s_requests_by_verb: by_verb.into_iter().map(|(k, v)| (k, round2(v))).collect(),
        objects_per_livelesson: OBJECTS_PER_LIVELESSON,
        db_statements_per_livelesson: round2(worker_statements + request_statements),
        db_statements_by_sender: BTreeMap::from([
            ("requests", round2(request_statements)),
            ("worker", round2(worker_statements)),
        ]),
        db_transactions_per_livelesson: round2(xacts as f64 / n),
        peak_rss_mb: round2(worker_usage.map_or(0, |u| u.peak_rss_kb) as f64 / 1024.0),
        bench_rss_mb: round2(bench_usage.map_or(0, |u| u.peak_rss_kb) as f64 / 1024.0),
        worker_cpu_s: round2(worker_usage.map_or(0.0, |u| u.cpu_s)),
        bench_cpu_s: round2(bench_usage.map_or(0.0, |u| u.cpu_s)),
        agents: params.agents.max(1),
        agents_rss_mb: round2(agents_usage.map_or(0, |u| u.peak_rss_kb) as f64 / 1024.0),
        agents_cpu_s: round2(agents_usage.map_or(0.0, |u| u.cpu_s)),
        request_p50_ms: round2(quantile(&latencies, 0.5) * 1000.0),
        request_p99_ms: round2(quantile(&latencies, 0.99) * 1000.0),
        requesters: params.requesters,
        concurrency: params.concurrency,
    })
}

/// Sends `params.livelessons` requests (a new session each, then the lesson) from
/// `params.requesters` concurrent tasks, each on its own pooled connection as an API
/// handler would be; returns the seconds until the last one committed and the latency of
/// each request in seconds.
async fn send_requests(
    pool: &PgPool,
    settings: &Settings,
    params: Params,
) -> Result<(f64, Vec<f64>)> {
    let started = Instant::now();
    let client = Client::new(pool.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let mut requesters = tokio::task::JoinSet::new();
    for _ in 0..params.requesters.max(1) {
        let (pool, client, settings, next) =
            (pool.clone(), client.clone(), settings.clone(), next.clone());
        requesters.spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < params.livelessons {
                let sent = Instant::now();
                let session = request::create_session(&pool, None, request::Limits::default())
                    .await
                    .map_err(LessonsError::Request)?;
                request::request_livelesson(
                    &pool,
                    &client,
                    &settings,
                    request::Limits::default(),
                    &session.id,
                    "bench-pair",
                    0,
                )
                .await
                .map_err(LessonsError::Request)?;
                latencies.push(sent.elapsed().as_secs_f64());
            }
            Ok::<_, LessonsError>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(params.livelessons);
    while let Some(done) = requesters.join_next().await {
        latencies
            .extend(done.map_err(|e| LessonsError::Worker(format!("a requester panicked: {e}")))??);
    }
    Ok((started.elapsed().as_secs_f64(), latencies))
}

/// Waits until `wanted` nodes are Ready.
async fn nodes_ready(kube: &kube::Client, wanted: usize) -> Result<()> {
    use k8s_openapi::api::core::v1::Node;
    let nodes: kube::Api<Node> = kube::Api::all(kube.clone());
    let deadline = Instant::now() + AGENTS_WITHIN;
    loop {
        let ready = nodes
            .list(&kube::api::ListParams::default())
            .await
            .map_or(0, |list| {
                list.items
                    .iter()
                    .filter(|node| {
                        node.status
                            .iter()
                            .flat_map(|s| s.conditions.iter().flatten())
                            .any(|c| c.type_ == "Ready" && c.status == "True")
                    })
                    .count()
            });
        if ready >= wanted {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(LessonsError::Agents(format!(
                "{ready} of {wanted} nodes Ready after {} s",
                AGENTS_WITHIN.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `wanted` livelessons are READY; fails as soon as one is in ERROR.
pub(super) async fn wait_ready(pool: &PgPool, wanted: usize) -> Result<()> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let (ready, failed): (i64, i64) = sqlx::query_as(
            "select count(*) filter (where status = 'READY'), count(*) filter (where status = 'ERROR') from livelessons",
        )
        .fetch_one(pool)
        .instrument(observe())
        .await
        .map_err(|e| LessonsError::Database("reading progress", e))?;
        if failed > 0 {
            let (step, reason): (Option<String>, Option<String>) = sqlx::query_as(
                "select error_step, error_reason from livelessons where status = 'ERROR' limit 1",
            )
            .fetch_one(pool)
            .instrument(observe())
            .await
            .map_err(|e| LessonsError::Database("reading a failure", e))?;
            return Err(LessonsError::Failed {
                failed,
                step: step.unwrap_or_default(),
                reason: reason.unwrap_or_default(),
            });
        }
        if usize::try_from(ready).unwrap_or(0) >= wanted {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(LessonsError::Timeout { ready, wanted });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn observe() -> tracing::Span {
    tracing::info_span!("bench.observe")
}

async fn seed(kube: &kube::Client, settings: &Settings) -> Result<()> {
    use k8s_openapi::api::core::v1::{Namespace, Secret};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kube::Api;
    use kube::api::PostParams;
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(settings.secrets_namespace.clone()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(kube.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .map_err(|e| LessonsError::Seed("the secrets namespace", e))?;
    let tls = Secret {
        metadata: ObjectMeta {
            name: Some(settings.tls_cert_name.clone()),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([
            ("tls.crt".to_owned(), "bench".to_owned()),
            ("tls.key".to_owned(), "bench".to_owned()),
        ])),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(kube.clone(), &settings.secrets_namespace)
        .create(&PostParams::default(), &tls)
        .await
        .map_err(|e| LessonsError::Seed("the TLS secret", e))?;
    Ok(())
}

async fn transactions(pool: &PgPool) -> Result<i64> {
    sqlx::query_scalar(
        "select (xact_commit + xact_rollback)::int8 from pg_stat_database where datname = current_database()",
    )
    .fetch_one(pool)
    .instrument(observe())
    .await
    .map_err(|e| LessonsError::Database("reading pg_stat_database", e))
}

/// What a process used so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Peak resident set size (`VmHWM`), kB.
    pub peak_rss_kb: u64,
    /// Resident set size now (`VmRSS`), kB.
    pub rss_kb: u64,
    /// CPU time, user and system, every thread, seconds.
    pub cpu_s: f64,
}

/// Clock ticks per second of `/proc/<pid>/stat` times: `USER_HZ`, 100 on every Linux
/// architecture this runs on.
const USER_HZ: f64 = 100.0;

impl Usage {
    /// The sum of several processes' usage (peaks added: the processes run together).
    pub fn sum(all: impl IntoIterator<Item = Self>) -> Option<Self> {
        all.into_iter().reduce(|a, b| Self {
            peak_rss_kb: a.peak_rss_kb + b.peak_rss_kb,
            rss_kb: a.rss_kb + b.rss_kb,
            cpu_s: a.cpu_s + b.cpu_s,
        })
    }

    /// The usage of process `pid` (a number or `self`) from `/proc`; `None` when unknown
    /// (the process is gone, or this is not Linux).
    pub fn of(pid: &str) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb = |field: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        };
        let (peak_rss_kb, rss_kb) = (kb("VmHWM:")?, kb("VmRSS:")?);
        // The command name (field 2) may hold spaces; fields after it are plain numbers,
        // utime and stime being the 14th and 15th of the line.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after_name = &stat[stat.rfind(')')? + 1..];
        let mut fields = after_name.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(Self {
            peak_rss_kb,
            rss_kb,
            cpu_s: (utime + stime) as f64 / USER_HZ,
        })
    }
}
