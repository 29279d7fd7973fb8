//! What the lifecycle tests, and the test crates that include this file (observability,
//! deploy, the real control plane), add to the shared lab (`tests/support/lab.rs`): waiting
//! for many jobs, a job's audit trail, child worker processes that crash at a step, and the
//! HTTP API on a loopback port.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::queue::{JobId, Registry, StepHook, Worker, WorkerEvent};
use sqlx::PgPool;
use tokio::sync::{broadcast, oneshot};

#[path = "../support/lab.rs"]
mod common;
// Each test binary uses some of these.
#[allow(unused_imports)]
pub use common::*;

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
    antidote_scheduler::queue::inspect::events(pool, job)
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

#[allow(unused_imports)]
pub use job_engine::testing::database_url;

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

/// The worker of a child process started by [`ChildWorker`]: `registry`'s kinds with a
/// short lease, stopping dead after the checkpoint of the step its parent named.
pub fn crashing_worker(pool: PgPool, registry: Registry) -> Worker {
    let mut config = worker_config();
    config.lease = Duration::from_millis(1000);
    config.heartbeat = Duration::from_millis(300);
    config.step_hook = Some(crash_hook(
        pool.clone(),
        std::env::var("CHILD_CRASH_AT").expect("CHILD_CRASH_AT is set"),
    ));
    Worker::new(pool, registry, config)
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
