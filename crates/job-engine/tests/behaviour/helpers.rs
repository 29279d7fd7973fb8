//! Shared helpers of the queue tests: fast worker settings, waiting on worker events,
//! child worker processes, and reading the audit trail.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use job_engine::testing::store;
use job_engine::{JobId, RetryPolicy, WorkerConfig, WorkerEvent};
use sqlx::PgPool;
use tokio::sync::broadcast;

/// Worker settings sized for tests: short lease, fast polls, quick rescue.
pub fn fast_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_millis(1500),
        heartbeat: Duration::from_millis(300),
        rescue_interval: Duration::from_millis(100),
        periodic_interval: Duration::from_millis(20),
        shutdown_grace: Duration::from_millis(300),
        retry: RetryPolicy {
            base: Duration::from_millis(40),
            max: Duration::from_secs(2),
            jitter: 0.0,
        },
        ..WorkerConfig::default()
    }
}

/// Waits for the first event matching `want` (the engine's test kit), or panics after
/// `within` or when the worker stopped.
pub async fn wait_for(
    events: &mut broadcast::Receiver<WorkerEvent>,
    within: Duration,
    want: impl Fn(&WorkerEvent) -> bool,
) -> WorkerEvent {
    job_engine::testing::wait_for(events, within, want)
        .await
        .expect("the awaited worker event did not come in time")
}

pub use job_engine::testing::wait_until;

/// The kinds of the job's events, in order.
pub async fn event_kinds(pool: &PgPool, id: JobId) -> Vec<String> {
    store::events(pool, id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| match e.step {
            Some(step) => format!("{}:{step}", e.kind),
            None => e.kind,
        })
        .collect()
}

pub use job_engine::testing::database_url;

/// A worker running in a child process (this test binary, re-executed into
/// `child::worker_process`). Killed on drop.
pub struct ChildWorker {
    child: Child,
}

impl ChildWorker {
    /// Starts a child worker on `database_url` with `concurrency` tasks and `lease_ms`.
    pub fn spawn(
        database_url: &str,
        concurrency: usize,
        lease_ms: u64,
        extra: &[(&str, &str)],
    ) -> Self {
        let exe = std::env::current_exe().expect("test binary path");
        let mut command = Command::new(exe);
        command
            .args([
                "--exact",
                "child::worker_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ANTIDOTE_CHILD_WORKER", "1")
            .env("CHILD_DATABASE_URL", database_url)
            .env("CHILD_CONCURRENCY", concurrency.to_string())
            .env("CHILD_LEASE_MS", lease_ms.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in extra {
            command.env(key, value);
        }
        Self {
            child: command.spawn().expect("spawn child worker"),
        }
    }

    /// SIGKILL: no cleanup, no hand-back, exactly like a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a graceful exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("child exit status")
    }
}

impl Drop for ChildWorker {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}
