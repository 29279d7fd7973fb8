//! A worker's settings ([`WorkerConfig`]) and the step hook tests may give it.

use std::time::Duration;

use crate::clock::Clock;
use crate::job::{DEFAULT_QUEUE, JobId};
use crate::observer::Observer;
use crate::periodic::Schedule;
use crate::retry::RetryPolicy;

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
    /// Most jobs one rescue batch takes; a pass takes batches until one comes back short.
    /// Default 100.
    pub rescue_batch: usize,
    /// Whether this worker holds a liveness lock (an advisory lock on a connection of its
    /// own, registered in `job_workers`) so that its jobs are taken over within seconds of
    /// its death. Needs session-level locks: off behind a pooler in transaction mode.
    /// Default on.
    pub liveness_lock: bool,
    /// How often this worker's rescuer looks at the workers' liveness locks, and its own
    /// liveness connection is pinged. Default 500 ms (two statements a second that read a
    /// table of one row per worker).
    pub liveness_interval: Duration,
    /// How long a worker's liveness lock must stay free before its jobs are taken over:
    /// more than a live worker needs to notice that the server closed its liveness
    /// connection (a ping's interval) and take its lock again. Default 2 s: a killed
    /// worker's jobs are runnable again 2 to 3 s after its death (the grace, rounded up to
    /// the rescuers' next look). A connection that died silently keeps its lock on the
    /// server until the server's TCP keepalives give up on it (about 5 s; never behind a
    /// proxy that answers them), while its worker, whose ping went unanswered, takes a
    /// new one; locks lost with their server (a restart, a failover) are judged only by
    /// rescuers whose own worker holds its lock again.
    pub liveness_grace: Duration,
    /// How often the wake-up listener's connection is pinged. Default 5 s.
    pub listener_ping: Duration,
    /// How long a ping of a long-lived connection (liveness, wake-up listener), or opening
    /// a new one, may take before the connection is given up. Default 2 s.
    pub ping_timeout: Duration,
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
            rescue_batch: 100,
            liveness_lock: true,
            liveness_interval: Duration::from_millis(500),
            liveness_grace: Duration::from_secs(2),
            listener_ping: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(2),
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
