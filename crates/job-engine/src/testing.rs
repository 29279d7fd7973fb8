//! A test kit for users of the engine (feature `testing`): run one job to its end without
//! a worker loop ([`TestRunner`], [`run_to_end`]), run the rescuer's and the periodic
//! scheduler's passes on demand, and wait on a worker's events instead of sleeping.
//!
//! [`TestRunner::run_to_end`] claims the named job, runs its attempt through the
//! executor on the caller's task and stores the outcome, the completion through the
//! completer, exactly as a worker would; no claim loop, heartbeat or notifier runs. Its
//! events ([`TestRunner::subscribe`]) are a worker's: claimed, each step done, the end.
//!
//! Time is the other thing a test should not wait for: give the worker and the client a
//! [`Clock::fixed`](crate::Clock::fixed) (`WorkerConfig::clock`, `Client::with_clock`)
//! and move it past a lease, a backoff, a durable timer or a periodic slot; then call the
//! service's `run_once` (`rescuer::run_once`, `periodic::run_once`, or a runner's
//! [`TestRunner::rescue_once`] and [`TestRunner::periodic_once`], which also tell their
//! events) or wake the worker (`Client::wake`) and wait for its event. See
//! [`crate::clock`].
//!
//! ```
//! use job_engine::testing::{self, End};
//! use job_engine::{Client, JobContext, NewJob, Registry, WorkerConfig};
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
//! let job = Client::new(pool.clone())
//!     .enqueue(&NewJob::new("testing.two-steps", serde_json::json!({})).with_queue("testing-doc"))
//!     .await?;
//! let end = testing::run_to_end(&pool, registry, WorkerConfig::default(), job.id).await?;
//! assert_eq!(end, End::Completed);
//! # Ok(())
//! # }
//! ```

pub mod child;

/// The engine's SQL, one function per statement, for the engine's own tests of what a
/// statement does (a claim, a liveness check) and for applications' tests that read a
/// job's raw state. Not an API: applications go through [`crate::Client`],
/// [`crate::JobContext`] and [`crate::inspect`].
pub use crate::store;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::checkpoints;
use crate::client::Client;
use crate::completer::{CompletedCount, Completer};
use crate::config::WorkerConfig;
use crate::dedicated::Dedicated;
use crate::error::QueueError;
use crate::event::{Events, WorkerEvent};
use crate::executor::Executor;
use crate::held::HeldLeases;
use crate::job::JobId;
use crate::outcome::Recorded;
use crate::periodic::{Periodic, PeriodicPass};
use crate::registry::Registry;
use crate::rescuer::{RescuePass, Rescuer};
use crate::store::millis;
use crate::worker::{RunStats, Worker};

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

/// How a job's attempt run by [`TestRunner::run_to_end`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It completed; the completion is stored.
    Completed,
    /// It failed for good (its kind's end hook ran).
    Failed,
    /// It was cancelled (its kind's end hook ran).
    Cancelled,
    /// It failed transiently and a retry is scheduled: run it again to run that retry.
    RetryScheduled,
    /// A long durable timer released it until its deadline: run it again to resume it.
    Snoozed,
    /// Its lease was lost (another claim took it over): nothing of its outcome was written.
    LeaseLost,
}

/// Runs jobs of `registry` one at a time in a test, as a worker with `config` would run
/// them, without starting a worker: no claim loop, heartbeat, notifier or scheduler.
pub struct TestRunner {
    pool: PgPool,
    registry: Registry,
    config: WorkerConfig,
    worker: Arc<str>,
    events: Events,
}

impl std::fmt::Debug for TestRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRunner")
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl TestRunner {
    /// A runner of `registry`'s kinds with `config`'s settings (its queue is not used: a
    /// job is named, not claimed from a queue).
    pub fn new(pool: PgPool, registry: Registry, config: WorkerConfig) -> Self {
        let suffix = &Uuid::new_v4().simple().to_string()[..6];
        Self {
            pool,
            registry,
            config,
            worker: format!("testing-{}-{suffix}", std::process::id()).into(),
            events: Events::default(),
        }
    }

    /// The id this runner records in leases and checkpoints, as a worker's.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Subscribes to what this runner does, as to a worker's events.
    pub fn subscribe(&self) -> broadcast::Receiver<WorkerEvent> {
        self.events.subscribe()
    }

    /// Claims `job` now, whatever its `run_at`, runs its attempt to its end and stores
    /// the outcome; returns how it ended.
    ///
    /// # Errors
    /// [`QueueError::NotFound`] when there is no such job; [`QueueError::InvalidState`]
    /// when it cannot be claimed (running, finished, or behind an older job of its serial
    /// key); [`QueueError::Database`] or [`QueueError::Hook`] when the outcome could not be
    /// written.
    pub async fn run_to_end(&self, job: JobId) -> Result<End, QueueError> {
        let claimed = store::claim_one(
            &self.pool,
            job,
            &self.worker,
            Uuid::new_v4(),
            millis(self.config.lease),
            &self.config.clock,
        )
        .await?;
        let Some(claimed) = claimed else {
            return Err(match store::job(&self.pool, job).await? {
                None => QueueError::NotFound(job),
                Some(record) => QueueError::InvalidState {
                    id: job,
                    state: record.state.as_str(),
                    operation: "claim it to run to its end",
                },
            });
        };
        let held = HeldLeases::default();
        let completed = CompletedCount::default();
        let (completions, completions_rx) = mpsc::unbounded_channel();
        let (checkpoints, writer) = checkpoints::channel();
        let executor = Executor {
            worker: self.worker.clone(),
            pool: self.pool.clone(),
            registry: self.registry.clone(),
            config: self.config.clone(),
            held: held.clone(),
            events: self.events.clone(),
            completions,
            checkpoints,
            completed: completed.clone(),
            notifier: None,
            client: Client::new(self.pool.clone()).with_clock(self.config.clock.clone()),
        };
        // The handler's checkpoints are written while it runs, by a writer that stops
        // when the attempt is over.
        let attempt_over = CancellationToken::new();
        let attempt = async {
            let recorded = executor.run_now(claimed).await;
            attempt_over.cancel();
            recorded
        };
        let writing = checkpoints::run(
            writer,
            self.pool.clone(),
            self.worker.clone(),
            self.config.checkpoint_batch,
            attempt_over.clone(),
        );
        let (recorded, ()) = tokio::join!(attempt, writing);
        Ok(match recorded {
            Recorded::Completing => {
                let mut completer = Completer {
                    pool: self.pool.clone(),
                    completions: completions_rx,
                    max_batch: 1,
                    held,
                    events: self.events.clone(),
                    completed,
                    wake: Arc::new(Notify::new()),
                };
                let mut conn = Dedicated::pooled(self.pool.clone(), "complete");
                match completer
                    .run_once(&mut conn, &mut Vec::with_capacity(1))
                    .await
                {
                    Some(pass) if pass.stored == 1 => End::Completed,
                    _ => End::LeaseLost,
                }
            }
            Recorded::Completed => End::Completed,
            Recorded::RetryScheduled => End::RetryScheduled,
            Recorded::Snoozed => End::Snoozed,
            Recorded::Failed => End::Failed,
            Recorded::Cancelled => End::Cancelled,
            Recorded::LeaseLost => End::LeaseLost,
            // Only a worker's shutdown hands a job back, and none runs here.
            Recorded::HandedBack => return Err(QueueError::Stopped),
            Recorded::NotWritten(err) => return Err(err),
        })
    }

    /// One pass of the rescuer, with this runner's registry (its end hooks), observer
    /// and settings (batch size, liveness grace, retry policy as the end hooks' backoff),
    /// telling this runner's events of each job it rescued.
    ///
    /// # Errors
    /// As [`Rescuer::run_once`].
    pub async fn rescue_once(&self) -> Result<RescuePass, QueueError> {
        Rescuer::configured(self.pool.clone(), self.registry.clone(), &self.config)
            .with_events(self.events.clone())
            .run_once()
            .await
    }

    /// One pass of the periodic scheduler, telling this runner's events of each slot it
    /// enqueued. Schedules are stored with [`crate::periodic::register`].
    ///
    /// # Errors
    /// [`QueueError::Database`].
    pub async fn periodic_once(&self) -> Result<PeriodicPass, QueueError> {
        Periodic {
            pool: self.pool.clone(),
            clock: self.config.clock.clone(),
            events: self.events.clone(),
        }
        .run_once()
        .await
    }
}

/// Runs `job` to its end with a [`TestRunner`] of `registry` and `config`: no worker
/// loop is started.
///
/// # Errors
/// As [`TestRunner::run_to_end`].
pub async fn run_to_end(
    pool: &PgPool,
    registry: Registry,
    config: WorkerConfig,
    job: JobId,
) -> Result<End, QueueError> {
    TestRunner::new(pool.clone(), registry, config)
        .run_to_end(job)
        .await
}

/// The URL of the database behind `pool` (a `#[sqlx::test]` database), for a worker in a
/// child process: `DATABASE_URL` with its database name replaced, its query (TLS mode,
/// options) kept.
///
/// # Panics
/// When `DATABASE_URL` is unset or has no database path, or the database cannot be asked
/// its name: a test's set-up is broken.
#[allow(clippy::expect_used, reason = "a test's set-up, which fails the test")]
pub async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(pool)
        .await
        .expect("current_database");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let (without_query, query) = match base.split_once('?') {
        Some((url, query)) => (url.to_owned(), format!("?{query}")),
        None => (base.clone(), String::new()),
    };
    let prefix = without_query
        .rsplit_once('/')
        .map(|(prefix, _)| prefix.to_owned())
        .expect("DATABASE_URL has a database path");
    format!("{prefix}/{name}{query}")
}

/// Waits until `check` returns true, re-checking every 25 ms: for a condition only the
/// database can tell (work done by other processes or by periodic passes).
///
/// # Panics
/// After `within`, naming `what`.
pub async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
