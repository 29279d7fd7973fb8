//! A lab for GC tests: a `#[sqlx::test]` database with the example curriculum, kubesim on
//! loopback with the secrets livelessons copy, and workers running the real workflows and
//! GC jobs against it through kube-rs. Adapted from the lifecycle tests' lab.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use antidote_scheduler::backend::Settings;
use antidote_scheduler::backend::kubernetes::KubernetesBackend;
use antidote_scheduler::curriculum::{self, Options};
use antidote_scheduler::gc;
use antidote_scheduler::queue::{
    Client, JobId, Registry, RetryPolicy, Worker, WorkerConfig, WorkerEvent,
};
use antidote_scheduler::store;
use antidote_scheduler::store::livelesson::Livelesson;
use antidote_scheduler::workflow::{self, request};
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
        reachability_timeout: Duration::from_secs(4),
        probe_timeout: Duration::from_millis(500),
        job_cleanup_timeout: Duration::from_secs(20),
        config_timeout: Duration::from_secs(20),
        namespace_delete_timeout: Duration::from_secs(20),
        ..Settings::default()
    }
}

/// GC settings with the production TTLs; tests move timestamps instead of shortening them.
pub fn gc_config() -> gc::Config {
    gc::Config::default()
}

/// Worker settings sized for tests.
pub fn worker_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 8,
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_millis(1500),
        heartbeat: Duration::from_millis(300),
        rescue_interval: Duration::from_millis(100),
        periodic_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_millis(500),
        retry: RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.0,
        },
        ..WorkerConfig::default()
    }
}

/// Creates the secrets namespace and the TLS secret every livelesson copies.
pub async fn seed_cluster(client: &kube::Client, settings: &Settings) {
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
    let tls: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": settings.tls_cert_name },
        "type": "kubernetes.io/tls",
        "stringData": { "tls.crt": "certificate", "tls.key": "key" }
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &tls)
        .await
        .expect("tls secret");
}

/// Database, curriculum and kubesim.
pub struct Lab {
    pub pool: PgPool,
    /// Kept so the simulated cluster lives as long as the lab.
    pub _sim: kubesim::KubeSim,
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
            _sim: sim,
            kube,
            settings,
            queue,
            backend,
        }
    }

    /// The workflows and the GC jobs on this lab's backend.
    pub fn registry(&self, gc_config: gc::Config) -> Registry {
        let mut registry = Registry::new();
        workflow::register(
            &mut registry,
            self.backend.clone(),
            Arc::new(self.settings.clone()),
        );
        gc::register(&mut registry, self.backend.clone(), gc_config);
        registry
    }

    /// A worker running the workflows and GC jobs in this process.
    pub fn worker(&self, config: WorkerConfig) -> Worker {
        Worker::with_notifier(
            self.pool.clone(),
            self.registry(gc_config()),
            config,
            self.queue.notifier().clone(),
        )
    }

    pub async fn session(&self) -> String {
        request::create_session(&self.pool, None, request::Limits::default())
            .await
            .expect("session")
            .id
    }

    pub async fn request(&self, session: &str, lesson: &str, stage: i64) -> Livelesson {
        request::request_livelesson(
            &self.pool,
            &self.queue,
            &self.settings,
            request::Limits::default(),
            session,
            lesson,
            stage,
        )
        .await
        .expect("request accepted")
        .livelesson()
        .clone()
    }

    pub async fn livelesson(&self, id: &str) -> Option<Livelesson> {
        let mut conn = self.pool.acquire().await.expect("connection");
        store::livelesson::get(&mut conn, id).await.expect("read")
    }

    /// The newest job of `kind` for livelesson `id`.
    pub async fn job(&self, kind: &str, id: &str) -> JobId {
        self.try_job(kind, id).await.expect("job exists")
    }

    /// Like [`Lab::job`], `None` when there is none.
    pub async fn try_job(&self, kind: &str, id: &str) -> Option<JobId> {
        let job: Option<i64> = sqlx::query_scalar(
            "select id from jobs_all where unique_key = $1 order by id desc limit 1",
        )
        .bind(format!("{kind}:{id}"))
        .fetch_optional(&self.pool)
        .await
        .expect("job lookup");
        job.map(JobId)
    }

    /// Moves a livelesson's activity clock back by `minutes`.
    pub async fn age_activity(&self, id: &str, minutes: i64) {
        sqlx::query(
            "update livelessons set last_active_at = now() - make_interval(mins => $2::int) where id = $1",
        )
        .bind(id)
        .bind(minutes)
        .execute(&self.pool)
        .await
        .expect("age activity");
    }
}

/// Starts `worker` on a task; the sender stops it.
pub fn start(worker: Worker) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        worker
            .run(async {
                let _ = stopped.await;
            })
            .await
            .expect("worker run");
    });
    (stop, handle)
}

/// Waits until `job` completes or fails; returns which.
pub async fn finished(
    events: &mut broadcast::Receiver<WorkerEvent>,
    job: JobId,
    within: Duration,
) -> WorkerEvent {
    tokio::time::timeout(within, async {
        loop {
            match events.recv().await {
                Ok(e @ (WorkerEvent::Completed(j) | WorkerEvent::Failed(j))) if j == job => {
                    return e;
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("worker stopped"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("job {job} did not finish within {within:?}"))
}

/// Creates a namespace labelled as a livelesson's, directly in the cluster.
pub async fn make_namespace(kube: &kube::Client, instance: &str, livelesson: &str) -> String {
    let name = format!("{instance}-{livelesson}");
    let namespaces: Api<Namespace> = Api::all(kube.clone());
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": name,
            "labels": {
                "antidoteManaged": "yes",
                "antidoteId": instance,
                "liveLesson": livelesson,
            }
        }
    }))
    .expect("namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("create namespace");
    name
}

/// Whether a namespace exists and is not terminating.
pub async fn namespace_alive(kube: &kube::Client, name: &str) -> bool {
    let namespaces: Api<Namespace> = Api::all(kube.clone());
    match namespaces.get_opt(name).await.expect("get namespace") {
        None => false,
        Some(ns) => {
            ns.metadata.deletion_timestamp.is_none()
                && ns.status.and_then(|s| s.phase).as_deref() != Some("Terminating")
        }
    }
}
