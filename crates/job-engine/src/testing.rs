//! A test kit for users of the engine (feature `testing`): run a job to its end without
//! writing a worker loop, and wait on a worker's events instead of sleeping.
//!
//! Time is the other thing a test should not wait for: give the worker and the client a
//! [`Clock::fixed`](crate::Clock::fixed) (`WorkerConfig::clock`, `Client::with_clock`)
//! and move it past a lease, a backoff, a durable timer or a periodic slot; then call the
//! service's `run_once` (`rescuer::run_once`, `periodic::run_once`) or wake the worker
//! (`Client::wake`) and wait for its event. See [`crate::clock`].
//!
//! ```
//! use std::time::Duration;
//!
//! use job_engine::{Client, JobContext, NewJob, Registry, WorkerConfig, WorkerEvent, testing};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let Ok(url) = std::env::var("DATABASE_URL") else { return Ok(()) };
//! # let pool = sqlx::PgPool::connect(&url).await?;
//! # job_engine::migrate(&pool).await?;
//! let mut registry = Registry::new();
//! registry.register("testing.two-steps", |ctx: JobContext| async move {
//!     ctx.step("one", || async { Ok(1) }).await?;
//!     ctx.step("two", || async { Ok(2) }).await?;
//!     Ok(())
//! });
//! let config = WorkerConfig { queue: "testing-doc".into(), ..WorkerConfig::default() };
//! let job = Client::new(pool.clone())
//!     .enqueue(&NewJob::new("testing.two-steps", serde_json::json!({})).with_queue("testing-doc"))
//!     .await?;
//! let end = testing::run_to_end(&pool, registry, config, job.id, Duration::from_secs(30)).await;
//! assert_eq!(end, Some(WorkerEvent::Completed(job.id)));
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use crate::error::QueueError;
use crate::job::JobId;
use crate::registry::Registry;
use crate::worker::{RunStats, Worker, WorkerConfig, WorkerEvent};

/// Runs `worker` on a task until the sender is used (or dropped): a graceful shutdown.
pub fn start(
    worker: Worker,
) -> (
    oneshot::Sender<()>,
    JoinHandle<Result<RunStats, QueueError>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    (stop, handle)
}

/// The first event `want` accepts within `within`; `None` on a timeout or when the
/// worker stopped. Events missed because the receiver lagged are skipped.
pub async fn wait_for(
    events: &mut broadcast::Receiver<WorkerEvent>,
    within: Duration,
    want: impl Fn(&WorkerEvent) -> bool,
) -> Option<WorkerEvent> {
    tokio::time::timeout(within, async {
        loop {
            match events.recv().await {
                Ok(event) if want(&event) => return Some(event),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// Whether `event` ends `job`: completed, failed or cancelled.
pub fn ends(event: &WorkerEvent, job: JobId) -> bool {
    matches!(
        event,
        WorkerEvent::Completed(j) | WorkerEvent::Failed(j) | WorkerEvent::Cancelled(j) if *j == job
    )
}

/// Runs a worker of `registry` on `config.queue` until `job` ends (or `within` passes),
/// shuts it down gracefully and returns the end; `None` on a timeout.
pub async fn run_to_end(
    pool: &PgPool,
    registry: Registry,
    config: WorkerConfig,
    job: JobId,
    within: Duration,
) -> Option<WorkerEvent> {
    let worker = Worker::new(pool.clone(), registry, config);
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let end = wait_for(&mut events, within, |event| ends(event, job)).await;
    let _ = stop.send(());
    let _ = handle.await;
    end
}
