//! The lab of the lifecycle, GC, observability and deploy tests, and what the real
//! control plane's lab shares with it: a `#[sqlx::test]` database with the example
//! curriculum, kubesim on loopback with the secrets livelessons copy, workers running the
//! production registry (workflows, GC, pool refill) through kube-rs; test-sized settings; requesting a
//! livelesson as the API does; waiting for a job's end.

// Each test crate uses part of the lab.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use antidote_scheduler::backend::Settings;
use antidote_scheduler::backend::kubernetes::KubernetesBackend;
use antidote_scheduler::curriculum::{self, ContentHash, Options};
use antidote_scheduler::gc;
use antidote_scheduler::ids::{LivelessonId, SessionId};
use antidote_scheduler::kinds::{ContractSettings, Contracts};
use antidote_scheduler::queue::{
    Client, Clock, JobId, Registry, RetryPolicy, Worker, WorkerConfig, WorkerEvent,
};
use antidote_scheduler::startup::JobSettings;
use antidote_scheduler::store;
use antidote_scheduler::store::livelesson::Livelesson;
use antidote_scheduler::workflow::request;
use antidote_scheduler::workflow::request::Requested;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::PostParams;
use sqlx::PgPool;
use tokio::sync::{broadcast, oneshot};

/// Backend settings sized for tests: failures surface in seconds.
pub fn settings() -> Settings {
    Settings {
        instance_id: "test".into(),
        pod_ready_timeout: Duration::from_secs(20),
        // Each ssh probe is a full SSH handshake with kubesim's server, in the same
        // process as the workers: under the chaos tests' load on two cores one can take
        // longer than the half second that reading a greeting line did.
        reachability_timeout: Duration::from_secs(10),
        probe_timeout: Duration::from_secs(2),
        job_cleanup_timeout: Duration::from_secs(20),
        config_timeout: Duration::from_secs(20),
        namespace_delete_timeout: Duration::from_secs(20),
        ..Settings::default()
    }
}

/// Worker settings sized for tests.
pub fn worker_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 8,
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_millis(1500),
        heartbeat: Duration::from_millis(300),
        rescue_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_millis(500),
        retry: RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.0,
        },
        observer: antidote_scheduler::telemetry::job_observer(),
        ..WorkerConfig::default()
    }
}

/// Creates the secrets namespace with the TLS secret every livelesson copies (and the
/// image pull secret, when `settings` names one); returns the secrets as stored.
pub async fn seed_cluster(client: &kube::Client, settings: &Settings) -> Vec<Secret> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": { "name": settings.secrets_namespace }
    }))
    .expect("namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("secrets namespace");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.secrets_namespace);
    let mut sources = vec![serde_json::json!({
        "metadata": { "name": settings.tls_cert_name },
        "type": "kubernetes.io/tls",
        "stringData": { "tls.crt": "certificate", "tls.key": "key" },
    })];
    if let Some(pull) = &settings.pull_cred_name {
        sources.push(serde_json::json!({
            "metadata": { "name": pull },
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": { ".dockerconfigjson": "{\"auths\":{}}" },
        }));
    }
    let mut created = Vec::new();
    for source in sources {
        let secret: Secret = serde_json::from_value(source).expect("secret");
        created.push(
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .expect("secret created"),
        );
    }
    created
}

/// Starts `worker` on a task; the sender stops it.
pub fn start(worker: Worker) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, run) = job_engine::testing::start(worker);
    let handle = tokio::spawn(async move {
        run.await.expect("worker task").expect("worker run");
    });
    (stop, handle)
}

/// Waits until `job` completes or fails; returns which. On a timeout, panics with the
/// job's audit trail.
pub async fn finished(
    events: &mut broadcast::Receiver<WorkerEvent>,
    job: JobId,
    within: Duration,
) -> WorkerEvent {
    match wait_finished(events, job, within).await {
        Some(event) => event,
        None => panic!("job {job} did not finish within {within:?}"),
    }
}

/// Like [`finished`], `None` on a timeout.
pub async fn wait_finished(
    events: &mut broadcast::Receiver<WorkerEvent>,
    job: JobId,
    within: Duration,
) -> Option<WorkerEvent> {
    job_engine::testing::wait_for(
        events,
        within,
        |event| matches!(event, WorkerEvent::Completed(j) | WorkerEvent::Failed(j) if *j == job),
    )
    .await
}

/// The production job kinds' settings sized for tests: `backend`, `gc`, a refill every
/// second, and every kind backing off from 100 ms to 1 s (as [`worker_config`]'s retry).
pub fn job_settings(backend: Settings, gc: gc::Config) -> JobSettings {
    let quick = Contracts::default()
        .iter()
        .map(|(kind, _)| {
            let settings = ContractSettings {
                timeout_secs: None,
                retry_base_ms: Some(100),
                retry_max_ms: Some(1000),
            };
            (kind.to_owned(), settings)
        })
        .collect();
    JobSettings {
        contracts: Contracts::new(&backend, &quick).expect("valid contracts"),
        gc,
        refill_interval: Duration::from_secs(1),
        backend,
    }
}

/// The production registry (every kind under its contract, GC with production settings)
/// on a backend talking to `client`.
pub fn registry(client: kube::Client, settings: &Settings) -> Registry {
    job_settings(settings.clone(), gc::Config::default())
        .registry(Arc::new(KubernetesBackend::new(client, settings.clone())))
        .expect("every kind has a contract")
}

/// Database, curriculum and kubesim.
pub struct Lab {
    pub pool: PgPool,
    pub sim: kubesim::KubeSim,
    pub kube: kube::Client,
    pub settings: Settings,
    pub queue: Client,
    pub backend: Arc<KubernetesBackend>,
}

impl Lab {
    pub async fn start(pool: PgPool) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-curriculum");
        let loaded = curriculum::load(&dir, &Options::default());
        let curriculum = loaded.valid().expect("the example curriculum is valid");
        store::curriculum::import(&pool, curriculum)
            .await
            .expect("import");
        let sim = kubesim::KubeSim::start(kubesim::Config::default())
            .await
            .expect("kubesim starts");
        let kube = sim.client().expect("kube client");
        let settings = settings();
        seed_cluster(&kube, &settings).await;
        let queue = Client::new(pool.clone());
        let backend = Arc::new(KubernetesBackend::new(kube.clone(), settings.clone()));
        Self {
            pool,
            sim,
            kube,
            settings,
            queue,
            backend,
        }
    }

    /// The production registry on this lab's backend, GC with `gc_config`.
    pub fn registry(&self, gc_config: gc::Config) -> Registry {
        job_settings(self.settings.clone(), gc_config)
            .registry(self.backend.clone())
            .expect("every kind has a contract")
    }

    /// A worker running the production registry (production GC settings) in this
    /// process; no schedules unless `config` has them.
    pub fn worker(&self, config: WorkerConfig) -> Worker {
        self.worker_with(self.registry(gc::Config::default()), config)
    }

    /// A worker running `registry` in this process, woken by this lab's requests.
    pub fn worker_with(&self, registry: Registry, config: WorkerConfig) -> Worker {
        Worker::with_notifier(
            self.pool.clone(),
            registry,
            config,
            self.queue.notifier().clone(),
        )
    }

    pub async fn session(&self) -> SessionId {
        new_session(&self.pool).await
    }

    pub async fn request(&self, session: &SessionId, lesson: &str, stage: i64) -> Livelesson {
        request_lesson(
            &self.pool,
            &self.queue,
            &self.settings,
            session,
            lesson,
            stage,
        )
        .await
    }

    pub async fn livelesson(&self, id: &LivelessonId) -> Option<Livelesson> {
        read_livelesson(&self.pool, id).await
    }

    /// The newest job of `kind` for livelesson `id`.
    pub async fn job(&self, kind: &str, id: impl AsRef<str>) -> JobId {
        newest_job(&self.pool, kind, id).await
    }

    /// Like [`Lab::job`], `None` when there is none.
    pub async fn try_job(&self, kind: &str, id: impl AsRef<str>) -> Option<JobId> {
        try_newest_job(&self.pool, kind, id).await
    }

    /// The lab's queue client with a test clock standing `ahead` of the database's time:
    /// what the lab's jobs (GC's expiry among them) see when that much time has passed,
    /// without rewriting a timestamp or waiting.
    pub async fn later(&self, ahead: Duration) -> Client {
        let now: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("select now()")
            .fetch_one(&self.pool)
            .await
            .expect("the database's time");
        let ahead = chrono::Duration::from_std(ahead).expect("a representable duration");
        self.queue.clone().with_clock(Clock::fixed(now + ahead))
    }

    /// Moves a livelesson's activity clock back by `minutes`: for rows that need pasts of
    /// their own (one idle, another not); [`Lab::later`] moves everything's time at once.
    pub async fn age_activity(&self, id: impl AsRef<str>, minutes: i64) {
        sqlx::query(
            "update livelessons set last_active_at = now() - make_interval(mins => $2::int) where id = $1",
        )
        .bind(id.as_ref())
        .bind(minutes)
        .execute(&self.pool)
        .await
        .expect("age activity");
    }
}

/// A new livesession.
pub async fn new_session(pool: &PgPool) -> SessionId {
    request::create_session(pool, None, request::Limits::default())
        .await
        .expect("session")
        .id
}

/// Requests `lesson` at `stage` in `session`, as the API does.
pub async fn request_lesson(
    pool: &PgPool,
    queue: &Client,
    settings: &Settings,
    session: &SessionId,
    lesson: &str,
    stage: i64,
) -> Livelesson {
    request_outcome(pool, queue, settings, session, lesson, stage)
        .await
        .livelesson()
        .clone()
}

/// Like [`request_lesson`], with the request's whole outcome: created, taken from a pool,
/// waiting in line, ...
pub async fn request_outcome(
    pool: &PgPool,
    queue: &Client,
    settings: &Settings,
    session: &SessionId,
    lesson: &str,
    stage: i64,
) -> Requested {
    request::request_livelesson(
        pool,
        queue,
        settings,
        request::Limits::default(),
        session,
        lesson,
        stage,
    )
    .await
    .expect("request accepted")
}

/// Livelesson `id` as stored.
pub async fn read_livelesson(pool: &PgPool, id: &LivelessonId) -> Option<Livelesson> {
    let mut conn = pool.acquire().await.expect("connection");
    store::livelesson::get(&mut conn, id).await.expect("read")
}

/// The newest job of `kind` for livelesson `id`.
pub async fn newest_job(pool: &PgPool, kind: &str, id: impl AsRef<str>) -> JobId {
    try_newest_job(pool, kind, id).await.expect("job exists")
}

/// Like [`newest_job`], `None` when there is none.
pub async fn try_newest_job(pool: &PgPool, kind: &str, id: impl AsRef<str>) -> Option<JobId> {
    let job: Option<i64> = sqlx::query_scalar(
        "select id from jobs_all where unique_key = $1 order by id desc limit 1",
    )
    .bind(format!("{kind}:{}", id.as_ref()))
    .fetch_optional(pool)
    .await
    .expect("job lookup");
    job.map(JobId)
}

/// Starts the configuration jobs of stage 0 of stored livelesson `row` on `backend` again,
/// as a CREATE retried after a crash between creating them and its checkpoint does.
pub async fn start_config_jobs_again(
    pool: &PgPool,
    backend: &KubernetesBackend,
    row: &Livelesson,
) -> Result<(), antidote_scheduler::backend::BackendError> {
    use antidote_scheduler::backend::Backend;
    let mut conn = pool.acquire().await.expect("connection");
    let lesson = store::curriculum::lesson_version(
        &mut *conn,
        &row.lesson_slug,
        &ContentHash::from_hex(row.lesson_hash.clone()),
    )
    .await
    .expect("read")
    .expect("pinned lesson");
    drop(conn);
    let hosts: BTreeMap<String, String> = row
        .endpoints
        .iter()
        .filter_map(|e| Some((e.name.clone(), e.host.clone()?)))
        .collect();
    let view = antidote_scheduler::backend::Livelesson {
        id: &row.id,
        session_id: &row.session_id,
        lesson: &lesson,
        images: &row.images,
    };
    backend.start_config_jobs(&view, 0, &hosts).await
}
