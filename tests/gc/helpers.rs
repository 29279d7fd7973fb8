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
use antidote_scheduler::queue::{Client, JobId, Registry, Worker, WorkerConfig};
use antidote_scheduler::store;
use antidote_scheduler::store::livelesson::Livelesson;
use antidote_scheduler::workflow::{self, request};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;
use sqlx::PgPool;

#[path = "../support/lab.rs"]
mod common;
pub use common::{finished, seed_cluster, settings, start};

/// GC settings with the production TTLs; tests move timestamps instead of shortening them.
pub fn gc_config() -> gc::Config {
    gc::Config::default()
}

/// Worker settings sized for tests, with stored schedules checked every 50 ms.
pub fn worker_config() -> WorkerConfig {
    WorkerConfig {
        periodic_interval: Duration::from_millis(50),
        ..common::worker_config()
    }
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
