//! A lab for lifecycle tests: a `#[sqlx::test]` database with the example curriculum,
//! kubesim on loopback with the secrets livelessons copy, and workers running the real
//! workflows against it through kube-rs.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::backend::Settings;
use antidote_scheduler::backend::kubernetes::KubernetesBackend;
use antidote_scheduler::curriculum::{self, Options};
use antidote_scheduler::queue::{
    Client, JobId, Registry, StepHook, Worker, WorkerConfig, WorkerEvent,
};
use antidote_scheduler::store;
use antidote_scheduler::store::livelesson::Livelesson;
use antidote_scheduler::workflow::request::Requested;
use antidote_scheduler::workflow::{self, request};
use sqlx::PgPool;
use tokio::sync::{broadcast, oneshot};

#[path = "../support/lab.rs"]
mod common;
// Each test binary uses some of these.
#[allow(unused_imports)]
pub use common::{finished, seed_cluster, settings, start, wait_finished, worker_config};

/// Registers the workflows on a backend talking to `client`.
pub fn registry(client: kube::Client, settings: &Settings) -> Registry {
    let mut registry = Registry::new();
    workflow::register(
        &mut registry,
        Arc::new(KubernetesBackend::new(client, settings.clone())),
        Arc::new(settings.clone()),
    );
    registry
}

/// Database, curriculum and kubesim.
pub struct Lab {
    pub pool: PgPool,
    pub sim: kubesim::KubeSim,
    pub kube: kube::Client,
    pub settings: Settings,
    pub queue: Client,
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
        Self {
            pool,
            sim,
            kube,
            settings,
            queue,
        }
    }

    /// A worker running the workflows in this process.
    pub fn worker(&self, config: WorkerConfig) -> Worker {
        Worker::with_notifier(
            self.pool.clone(),
            registry(self.kube.clone(), &self.settings),
            config,
            self.queue.notifier().clone(),
        )
    }

    pub async fn session(&self) -> String {
        new_session(&self.pool).await
    }

    pub async fn request(&self, session: &str, lesson: &str, stage: i64) -> Livelesson {
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

    pub async fn livelesson(&self, id: &str) -> Option<Livelesson> {
        read_livelesson(&self.pool, id).await
    }

    /// The newest job of `kind` for livelesson `id`.
    pub async fn job(&self, kind: &str, id: &str) -> JobId {
        newest_job(&self.pool, kind, id).await
    }
}

/// A new livesession.
pub async fn new_session(pool: &PgPool) -> String {
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
    session: &str,
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
    session: &str,
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
pub async fn read_livelesson(pool: &PgPool, id: &str) -> Option<Livelesson> {
    let mut conn = pool.acquire().await.expect("connection");
    store::livelesson::get(&mut conn, id).await.expect("read")
}

/// The newest job of `kind` for livelesson `id`.
pub async fn newest_job(pool: &PgPool, kind: &str, id: &str) -> JobId {
    let job: i64 = sqlx::query_scalar(
        "select id from jobs_all where unique_key = $1 order by id desc limit 1",
    )
    .bind(format!("{kind}:{id}"))
    .fetch_one(pool)
    .await
    .expect("job exists");
    JobId(job)
}

/// Waits until every job of `jobs` completes or fails; returns each outcome, or `None`
/// for those still running at the deadline.
pub async fn all_finished(
    events: &mut broadcast::Receiver<WorkerEvent>,
    jobs: &[JobId],
    within: Duration,
) -> std::collections::HashMap<JobId, WorkerEvent> {
    let mut outcomes = std::collections::HashMap::new();
    let _ = tokio::time::timeout(within, async {
        while outcomes.len() < jobs.len() {
            match events.recv().await {
                Ok(e @ (WorkerEvent::Completed(j) | WorkerEvent::Failed(j)))
                    if jobs.contains(&j) =>
                {
                    outcomes.insert(j, e);
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("worker stopped"),
            }
        }
    })
    .await;
    outcomes
}

/// The audit trail of a job as one line, for failure messages.
pub async fn trail(pool: &PgPool, job: JobId) -> String {
    antidote_scheduler::queue::store::events(pool, job)
        .await
        .map(|events| {
            events
                .into_iter()
                .map(|e| {
                    format!(
                        "{}{}{}",
                        e.kind,
                        e.step.map(|s| format!(":{s}")).unwrap_or_default(),
                        e.detail.map(|d| format!("({d})")).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The URL of the database behind `pool`, for child processes.
pub async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(pool)
        .await
        .expect("current_database");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let prefix = base
        .split('?')
        .next()
        .and_then(|url| url.rsplit_once('/'))
        .map(|(prefix, _)| prefix.to_owned())
        .expect("DATABASE_URL has a database path");
    format!("{prefix}/{name}")
}

/// A worker in a child process (this test binary re-executed into `child::worker`) that
/// stops dead after the checkpoint of step `crash_at`, after telling the parent.
pub struct ChildWorker(Child);

impl ChildWorker {
    pub fn spawn(database_url: &str, kubesim_url: &str, crash_at: &str) -> Self {
        Self::spawn_for(
            database_url,
            ("CHILD_KUBESIM_URL", std::ffi::OsStr::new(kubesim_url)),
            crash_at,
        )
    }

    /// Like [`ChildWorker::spawn`], the cluster named by `cluster` (an environment
    /// variable the child reads, and its value).
    pub fn spawn_for(
        database_url: &str,
        cluster: (&str, &std::ffi::OsStr),
        crash_at: &str,
    ) -> Self {
        let exe = std::env::current_exe().expect("test binary");
        let child = Command::new(exe)
            .args([
                "--exact",
                "child::worker",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ANTIDOTE_CHILD_WORKER", "1")
            .env("CHILD_DATABASE_URL", database_url)
            .env(cluster.0, cluster.1)
            .env("CHILD_CRASH_AT", crash_at)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child worker");
        Self(child)
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildWorker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The hook a crashing child installs.
pub fn crash_hook(pool: PgPool, crash_at: String) -> StepHook {
    StepHook(Arc::new(move |_job, step| {
        let pool = pool.clone();
        let crash_at = crash_at.clone();
        Box::pin(async move {
            if step == crash_at {
                let _ = sqlx::query("select pg_notify('test_signal', $1)")
                    .bind(&step)
                    .execute(&pool)
                    .await;
                futures::future::pending::<()>().await;
            }
        })
    }))
}

/// The HTTP API served in this process on an ephemeral loopback port, as `antidoted api`
/// serves it: clients reach it over a real socket.
pub struct ApiServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ApiServer {
    pub async fn start(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self { base, stop, task }
    }

    /// Stops accepting, finishes open requests, and checks that the server ran cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("api task").expect("api");
    }
}
