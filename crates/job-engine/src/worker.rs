//! A worker process's pool of job tasks: claims batches, runs them, and starts the
//! background services (completer, heartbeat, rescuer, periodic scheduler, listener).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::checkpoints;
use super::claim_cursor::{ClaimCursor, Scan};
use super::clock::Clock;
use super::completer::{self, Completion};
use super::dedicated::Dedicated;
use super::executor;
use super::job::{DEFAULT_QUEUE, JobId};
use super::notifier::{self, LocalWakers, Notifier};
use super::observer::Observer;
use super::periodic::{self, Schedule};
use super::registry::Registry;
use super::retry::RetryPolicy;
use super::{heartbeat, rescuer, store};

/// Settings of a worker. Defaults suit production; tests shorten the durations.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Queue to claim from. Default `default`.
    pub queue: String,
    /// Jobs run at once by this worker. Default 16.
    pub concurrency: usize,
    /// Most jobs claimed by one statement. Default 100.
    pub claim_batch: usize,
    /// Fallback poll when no wake-up arrives. Default 1 s.
    pub poll_interval: Duration,
    /// Lease length; a worker silent for this long loses its jobs. Default 30 s.
    pub lease: Duration,
    /// Lease renewal period. Default 10 s (a third of the lease).
    pub heartbeat: Duration,
    /// How often this worker looks for expired leases of any worker. Default 5 s.
    pub rescue_interval: Duration,
    /// How often this worker checks stored schedules. Default 1 s.
    pub periodic_interval: Duration,
    /// Schedules this worker keeps stored (every worker may carry the same list).
    pub schedules: Vec<Schedule>,
    /// Time running jobs get to finish after shutdown starts. Default 10 s.
    pub shutdown_grace: Duration,
    /// Backoff of transient failures.
    pub retry: RetryPolicy,
    /// Durable timers longer than this release the worker slot. Default 30 s.
    pub snooze_threshold: Duration,
    /// Most completions written by one statement. Default 500.
    pub completion_batch: usize,
    /// Most step checkpoints written by one statement. Default 500.
    pub checkpoint_batch: usize,
    /// Called after each step's checkpoint is stored. Off by default; tests use it to stop
    /// a worker at an exact step boundary.
    pub step_hook: Option<StepHook>,
    /// Receives the worker's measurements (metrics, the attempts' tracer). Default: none.
    pub observer: Observer,
    /// Whose time decides due jobs, lease expiry, backoff, durable timers and periodic
    /// slots. Default: the database's; tests give a [`Clock::fixed`] and move it.
    pub clock: Clock,
}

/// A callback run after a step's checkpoint is stored: (job, step name).
#[derive(Clone)]
pub struct StepHook(
    pub  std::sync::Arc<
        dyn Fn(JobId, String) -> futures::future::BoxFuture<'static, ()> + Send + Sync,
    >,
);

impl std::fmt::Debug for StepHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepHook")
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            queue: DEFAULT_QUEUE.to_owned(),
            concurrency: 16,
            claim_batch: 100,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            rescue_interval: Duration::from_secs(5),
            periodic_interval: Duration::from_secs(1),
            schedules: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            snooze_threshold: Duration::from_secs(30),
            completion_batch: 500,
            checkpoint_batch: 500,
            step_hook: None,
            observer: Observer::default(),
            clock: Clock::database(),
        }
    }
}

/// Something a worker did, broadcast for tests, progress displays and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEvent {
    /// A job was claimed.
    Claimed(JobId),
    /// A job's handler started (the claim's batch was dispatched).
    Started(JobId),
    /// A job completed and the completion is stored.
    Completed(JobId),
    /// A transient failure was scheduled for retry.
    RetryScheduled(JobId),
    /// A job failed for good.
    Failed(JobId),
    /// A job was cancelled.
    Cancelled(JobId),
    /// A job was snoozed by a long durable timer.
    Snoozed(JobId),
    /// A job was handed back during shutdown.
    HandedBack(JobId),
    /// The worker lost a job's lease and stopped it.
    LeaseLost(JobId),
}

/// Why a running job's task is stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AbortReason {
    LeaseLost,
    Shutdown,
}

/// A job this worker holds a lease on, until its completion is stored.
pub(crate) struct Held {
    pub token: Uuid,
    pub abort: CancellationToken,
    pub reason: Arc<Mutex<Option<AbortReason>>>,
}

/// How many completions a worker has stored, readable while it runs (benchmarks watch it
/// instead of querying the database). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CompletedCount(Arc<std::sync::atomic::AtomicU64>);

impl CompletedCount {
    /// Completions stored so far.
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn add(&self, n: usize) {
        self.0
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What the worker's tasks share.
pub(crate) struct Shared {
    pub id: Arc<str>,
    pub pool: PgPool,
    pub registry: Registry,
    pub config: WorkerConfig,
    pub held: Mutex<HashMap<JobId, Held>>,
    pub events: broadcast::Sender<WorkerEvent>,
    pub wake: Arc<Notify>,
    pub notifier: Notifier,
    pub completed: CompletedCount,
}

impl Shared {
    pub fn emit(&self, event: WorkerEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    pub fn held(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a claim. A held entry of an earlier claim of the same job (its task stuck
    /// while the lease expired, then the job came back to this worker) is stopped first:
    /// that attempt lost its lease.
    pub fn hold(&self, id: JobId, held: Held) {
        if let Some(stale) = self.held().insert(id, held) {
            *stale.reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(AbortReason::LeaseLost);
            stale.abort.cancel();
        }
    }

    /// Forgets a claim, unless a newer claim of the job replaced it.
    pub fn release(&self, id: JobId, token: Uuid) {
        let mut held = self.held();
        if held.get(&id).is_some_and(|h| h.token == token) {
            held.remove(&id);
        }
    }

    /// Stops a held job's task, if the token still names the same claim.
    pub fn abort(&self, id: JobId, token: Uuid, reason: AbortReason) {
        let held = self.held();
        if let Some(h) = held.get(&id).filter(|h| h.token == token) {
            *h.reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
            h.abort.cancel();
        }
    }
}

/// What a worker did over its run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Jobs claimed.
    pub claimed: u64,
}

/// A pool of job tasks in this process. Many workers, in many processes, may share a
/// database; they coordinate only through it.
pub struct Worker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker with a fresh id, serving `registry`'s kinds from `config.queue`.
    pub fn new(pool: PgPool, registry: Registry, config: WorkerConfig) -> Self {
        let wakers = LocalWakers::default();
        let notifier = Notifier::start(pool.clone(), wakers);
        Self::with_notifier(pool, registry, config, notifier)
    }

    /// Like [`Worker::new`], sharing `notifier` (and so its in-process wake-ups) with the
    /// enqueuers of this process.
    pub fn with_notifier(
        pool: PgPool,
        registry: Registry,
        config: WorkerConfig,
        notifier: Notifier,
    ) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
        let suffix = &Uuid::new_v4().simple().to_string()[..6];
        let id: Arc<str> = format!("{host}-{}-{suffix}", std::process::id()).into();
        let (events, _) = broadcast::channel(4096);
        let wake = notifier.local().get(&config.queue);
        Self {
            shared: Arc::new(Shared {
                id,
                pool,
                registry,
                config,
                held: Mutex::new(HashMap::new()),
                events,
                wake,
                notifier,
                completed: CompletedCount::default(),
            }),
        }
    }

    /// This worker's id, as recorded in leases and events.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// Subscribes to what this worker does.
    pub fn subscribe(&self) -> broadcast::Receiver<WorkerEvent> {
        self.shared.events.subscribe()
    }

    /// The count of completions this worker has stored, updated as it runs.
    pub fn completed(&self) -> CompletedCount {
        self.shared.completed.clone()
    }

    /// Runs until `shutdown` resolves, then stops claiming, gives running jobs the grace
    /// period, hands back the rest and returns.
    ///
    /// # Errors
    /// Only when stored schedules cannot be registered at start.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<RunStats, super::QueueError> {
        let shared = self.shared;
        for schedule in &shared.config.schedules {
            periodic::register(&shared.pool, schedule, &shared.config.clock).await?;
        }
        let stop_services = CancellationToken::new();
        let (done_tx, done_rx) = mpsc::unbounded_channel::<Completion>();
        let services = vec![
            tokio::spawn(notifier::listen(
                shared.pool.clone(),
                shared.notifier.local().clone(),
                shared.notifier.channel().into(),
                stop_services.clone(),
            )),
            tokio::spawn(heartbeat::run(shared.clone(), stop_services.clone())),
            tokio::spawn(
                rescuer::Rescuer {
                    pool: shared.pool.clone(),
                    registry: shared.registry.clone(),
                    observer: shared.config.observer.clone(),
                    clock: shared.config.clock.clone(),
                }
                .run(
                    shared.config.rescue_interval,
                    shared.notifier.clone(),
                    shared.config.queue.clone(),
                    stop_services.clone(),
                ),
            ),
            tokio::spawn(periodic::run(
                shared.pool.clone(),
                shared.config.periodic_interval,
                shared.config.clock.clone(),
                shared.notifier.clone(),
                stop_services.clone(),
            )),
        ];
        let completer = tokio::spawn(completer::run(shared.clone(), done_rx));
        let (checkpoints, writer) = checkpoints::channel();
        let checkpoint_writer = tokio::spawn(checkpoints::run(
            writer,
            shared.pool.clone(),
            shared.id.clone(),
            shared.config.checkpoint_batch,
            stop_services.clone(),
        ));

        let slots = Arc::new(Semaphore::new(shared.config.concurrency.max(1)));
        let mut stats = RunStats::default();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut claim_failures = 0u32;
        let mut cursor = ClaimCursor::default();
        let mut claim_conn = Dedicated::detached(shared.pool.clone(), "claim");
        'claiming: loop {
            let first = tokio::select! {
                () = &mut shutdown => break 'claiming,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break 'claiming,
                },
            };
            let mut permits = vec![first];
            while permits.len() < shared.config.claim_batch.max(1) {
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }
            let wanted = permits.len();
            let started = Instant::now();
            let scan = cursor.next(started);
            let after = match scan {
                Scan::Full => None,
                Scan::After(key) => Some(key),
            };
            let claimed = match claim_conn.get().await {
                Ok(conn) => {
                    store::claim(
                        conn,
                        &shared.config.queue,
                        &shared.id,
                        i64::try_from(wanted).unwrap_or(i64::MAX),
                        millis(shared.config.lease),
                        after,
                        &shared.config.clock,
                    )
                    .await
                }
                Err(err) => Err(err),
            };
            let claimed = match claimed {
                Ok(jobs) => {
                    claim_failures = 0;
                    cursor.record(scan, started, Instant::now(), jobs.iter().map(|j| j.key));
                    jobs
                }
                Err(err) => {
                    claim_conn.discard();
                    cursor.reset();
                    claim_failures = claim_failures.saturating_add(1);
                    tracing::warn!(error = %err, worker = %shared.id, "claim failed; backing off");
                    drop(permits);
                    let delay = Duration::from_millis(100 * u64::from(claim_failures.min(20)));
                    tokio::select! {
                        () = &mut shutdown => break 'claiming,
                        () = tokio::time::sleep(delay) => continue 'claiming,
                    }
                }
            };
            let got = claimed.len();
            stats.claimed += got as u64;
            for job in claimed {
                let Some(permit) = permits.pop() else { break };
                executor::spawn(
                    shared.clone(),
                    job,
                    permit,
                    done_tx.clone(),
                    checkpoints.clone(),
                );
            }
            drop(permits);
            // A short resumed scan may have missed jobs behind the cursor: look again from
            // the start as soon as the cursor allows, without waiting for a wake-up.
            if got == wanted
                || (matches!(scan, Scan::After(_)) && cursor.next(Instant::now()) == Scan::Full)
            {
                continue;
            }
            tokio::select! {
                () = &mut shutdown => break 'claiming,
                () = shared.wake.notified() => {}
                () = tokio::time::sleep(shared.config.poll_interval) => {}
            }
        }

        tracing::info!(worker = %shared.id, "shutting down: no more claims");
        let all = u32::try_from(shared.config.concurrency.max(1)).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(shared.config.shutdown_grace, slots.acquire_many(all))
            .await
            .is_ok();
        if !drained {
            let running: Vec<(JobId, Uuid)> =
                shared.held().iter().map(|(id, h)| (*id, h.token)).collect();
            for (id, token) in running {
                shared.abort(id, token, AbortReason::Shutdown);
            }
            // Hand-backs are single statements; give them a moment to land.
            let _ = tokio::time::timeout(Duration::from_secs(5), slots.acquire_many(all)).await;
        }
        drop(done_tx);
        let _ = completer.await;
        stop_services.cancel();
        let _ = checkpoint_writer.await;
        for service in services {
            let _ = service.await;
        }
        Ok(stats)
    }
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
