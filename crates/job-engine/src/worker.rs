//! A worker: a pool of job tasks in this process. [`Worker::run`] starts its services,
//! each given what it needs, runs the claim loop (when to claim, backing off after
//! failures) until shutdown, then drains, hands back what is still running and stops the
//! services in order.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::checkpoints;
use crate::claimer::Claimer;
use crate::client::Client;
use crate::completer::{CompletedCount, Completer, Completion};
use crate::config::WorkerConfig;
use crate::error::QueueError;
use crate::event::{Events, WorkerEvent};
use crate::executor::Executor;
use crate::heartbeat::Heartbeat;
use crate::held::{AbortReason, HeldLeases};
use crate::liveness::{Liveness, LivenessLock};
use crate::notifier::{self, LocalWakers, Notifier, Ping};
use crate::periodic::{self, Periodic};
use crate::registry::Registry;
use crate::rescuer::Rescuer;

/// What a worker did over its run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Jobs claimed.
    pub claimed: u64,
}

/// A pool of job tasks in this process. Many workers, in many processes, may share a
/// database; they coordinate only through it.
pub struct Worker {
    id: Arc<str>,
    pool: PgPool,
    registry: Registry,
    config: WorkerConfig,
    events: Events,
    wake: Arc<Notify>,
    notifier: Notifier,
    completed: CompletedCount,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id)
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
        let wake = notifier.local().get(&config.queue);
        Self {
            id,
            pool,
            registry,
            config,
            events: Events::default(),
            wake,
            notifier,
            completed: CompletedCount::default(),
        }
    }

    /// This worker's id, as recorded in leases and events.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Subscribes to what this worker does.
    pub fn subscribe(&self) -> broadcast::Receiver<WorkerEvent> {
        self.events.subscribe()
    }

    /// The count of completions this worker has stored, updated as it runs.
    pub fn completed(&self) -> CompletedCount {
        self.completed.clone()
    }

    /// Runs until `shutdown` resolves, then stops claiming, gives running jobs the grace
    /// period, hands back the rest and returns.
    ///
    /// # Errors
    /// Only when stored schedules cannot be registered at start.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<RunStats, QueueError> {
        let Self {
            id,
            pool,
            registry,
            config,
            events,
            wake,
            notifier,
            completed,
        } = self;
        for schedule in &config.schedules {
            periodic::register(&pool, schedule, &config.clock).await?;
        }
        let held = HeldLeases::default();
        // Cancel notices reach this worker's running jobs through the listener.
        notifier.local().watch_cancels(held.clone());
        let stop_services = CancellationToken::new();
        let (completions, completions_rx) = mpsc::unbounded_channel::<Completion>();
        let liveness = config.liveness_lock.then(LivenessLock::default);
        let mut rescuer = Rescuer::configured(pool.clone(), registry.clone(), &config)
            .with_events(events.clone());
        if let Some(lock) = &liveness {
            rescuer = rescuer.with_liveness(lock.clone());
        }
        let mut services = vec![
            tokio::spawn(notifier::listen_with(
                pool.clone(),
                notifier.local().clone(),
                notifier.channel().into(),
                Ping {
                    every: config.listener_ping,
                    timeout: config.ping_timeout,
                },
                stop_services.clone(),
            )),
            tokio::spawn(
                Heartbeat {
                    pool: pool.clone(),
                    held: held.clone(),
                    lease: config.lease,
                    clock: config.clock.clone(),
                }
                .run(config.heartbeat, stop_services.clone()),
            ),
            tokio::spawn(rescuer.run(
                config.liveness_interval,
                config.rescue_interval,
                notifier.clone(),
                config.queue.clone(),
                stop_services.clone(),
            )),
            tokio::spawn(
                Periodic {
                    pool: pool.clone(),
                    clock: config.clock.clone(),
                    events: events.clone(),
                }
                .run(
                    config.periodic_interval,
                    notifier.clone(),
                    stop_services.clone(),
                ),
            ),
        ];
        if let Some(lock) = &liveness {
            services.push(tokio::spawn(
                Liveness {
                    pool: pool.clone(),
                    worker: id.clone(),
                    ping: config.liveness_interval,
                    timeout: config.ping_timeout,
                    lock: lock.clone(),
                    events: events.clone(),
                }
                .run(stop_services.clone()),
            ));
        }
        let completer = tokio::spawn(
            Completer {
                pool: pool.clone(),
                completions: completions_rx,
                max_batch: config.completion_batch,
                held: held.clone(),
                events: events.clone(),
                completed: completed.clone(),
                wake: wake.clone(),
            }
            .run(),
        );
        let (checkpoints, writer) = checkpoints::channel();
        let checkpoint_writer = tokio::spawn(checkpoints::run(
            writer,
            pool.clone(),
            id.clone(),
            config.checkpoint_batch,
            stop_services.clone(),
        ));

        let concurrency = config.concurrency.max(1);
        let (poll_interval, shutdown_grace) = (config.poll_interval, config.shutdown_grace);
        let mut claimer = Claimer::new(
            pool.clone(),
            config.queue.clone(),
            id.clone(),
            config.lease,
            config.claim_batch,
            config.clock.clone(),
            Arc::new(Executor {
                worker: id.clone(),
                client: Client::with_notifier(pool.clone(), notifier.clone())
                    .with_clock(config.clock.clone()),
                pool,
                registry,
                config,
                held: held.clone(),
                events,
                completions,
                checkpoints,
                completed,
                notifier: Some(notifier),
            }),
        );
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut stats = RunStats::default();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut claim_failures = 0u32;
        'claiming: loop {
            // Without its liveness lock, the worker may be taken for dead at any moment
            // and its jobs taken over: it claims nothing until it holds the lock again.
            if let Some(lock) = liveness.as_ref().filter(|lock| !lock.held()) {
                tokio::select! {
                    () = &mut shutdown => break 'claiming,
                    () = lock.wait_held() => {}
                }
                continue;
            }
            let first = tokio::select! {
                () = &mut shutdown => break 'claiming,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break 'claiming,
                },
            };
            match claimer.run_once(first, &slots).await {
                Ok(pass) => {
                    claim_failures = 0;
                    stats.claimed += pass.claimed as u64;
                    if pass.again {
                        continue;
                    }
                    tokio::select! {
                        () = &mut shutdown => break 'claiming,
                        () = wake.notified() => {}
                        () = tokio::time::sleep(poll_interval) => {}
                    }
                }
                Err(err) => {
                    claim_failures = claim_failures.saturating_add(1);
                    tracing::warn!(error = %err, worker = %id, "claim failed; backing off");
                    let delay = Duration::from_millis(100 * u64::from(claim_failures.min(20)));
                    tokio::select! {
                        () = &mut shutdown => break 'claiming,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }

        tracing::info!(worker = %id, "shutting down: no more claims");
        // The executor goes with the claimer once the running jobs are done: the
        // completer ends when its last sender does.
        drop(claimer);
        let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(shutdown_grace, slots.acquire_many(all))
            .await
            .is_ok();
        if !drained {
            for (job, token) in held.snapshot() {
                held.abort(job, token, AbortReason::Shutdown);
            }
            // Hand-backs are single statements; give them a moment to land.
            let _ = tokio::time::timeout(Duration::from_secs(5), slots.acquire_many(all)).await;
        }
        let _ = completer.await;
        stop_services.cancel();
        let _ = checkpoint_writer.await;
        for service in services {
            let _ = service.await;
        }
        Ok(stats)
    }
}
