//! The durable job engine: jobs in PostgreSQL, claimed with `FOR UPDATE SKIP LOCKED`,
//! run under fenced leases as checkpointed steps. It knows nothing about what its jobs
//! do.
//!
//! # Layout
//!
//! - [`job`]: ids, states, and [`NewJob`], the description of a job to enqueue.
//! - [`kind`]: typed job kinds ([`JobKind`]: name, argument type, options).
//! - [`client`]: enqueueing, on its own or inside a caller's transaction.
//! - [`clock`]: whose time decides due jobs, lease expiry, backoff, durable timers and
//!   periodic slots: the database's, or a test's [`Clock::fixed`].
//! - [`registry`]: job kind → handler, its options (timeout, retry policy) and its end
//!   hook; [`ending`]: what an end hook learns ([`Ended`]) and a handler's [`FailureNote`].
//! - [`lease`]: a claimed job's [`Lease`], through which its fenced writes go.
//! - [`context`]: what a handler sees: arguments, [`JobContext::step`], durable timers.
//! - `store` (private): every SQL statement of the engine, a file per concern (enqueue,
//!   claim, a claimed job's fenced writes, rescue, checkpoints, admin, periodic, reads,
//!   index maintenance, retention, whole-table operations, benchmark figures, synthetic
//!   history). Applications reach it only through [`Client`], [`JobContext`], [`Lease`],
//!   the read models of [`inspect`], [`maintenance`] and (feature `bench`) `bench`'s
//!   fixtures; the test kit (`testing`) exposes it whole to the engine's own tests.
//! - [`schema`]: the engine's migrations, [`migrate`] (beside an application's tables) and
//!   `migrate_in` (a schema of its own, reached through `connect_options`).
//! - [`observer`]: how measurements reach the application ([`JobObserver`]);
//!   [`trace`]: span attribute names, stored traceparents, trace ids of attempts;
//!   `span`: the OpenTelemetry span of one attempt (queue wait, outcome).
//! - [`retry`]: backoff of transient failures; [`error`]: how handlers fail;
//!   [`fault`]: which database failures are the database's ([`DbFault`]: unreachable,
//!   read-only, timeout).
//! - [`config`]: a worker's settings ([`WorkerConfig`]); [`event`]: what it reports
//!   ([`WorkerEvent`]).
//! - `testing` (feature `testing`): running one job to its end without a worker loop,
//!   the rescuer's and scheduler's passes on demand, and waiting on events in tests.
//!
//! # Services
//!
//! [`Worker::run`] starts the worker's services, each a struct of exactly what it needs
//! and owning one thing (a module each), then runs the claim loop until shutdown. The
//! claimer, completer, heartbeat, rescuer and periodic scheduler each have a `run_once`
//! (one claim, one batch, one pass) returning what it did, which their loops call and
//! tests may call directly; the executor runs one attempt on the caller's task
//! (`run_now`), and maintenance is one pass ([`maintenance::compact`]). The test kit
//! (`testing`) runs a job through claim, executor and completer without any loop.
//!
//! ```text
//!                  ┌──── notifier (LISTEN/NOTIFY wake-ups, channel setting)
//!                  ▼
//!   claim loop (worker: when to claim, backoff; shutdown: drain, hand back)
//!        │ claimer (one claim for the free slots: claim_cursor, its connection)
//!        │   → ClaimPass { claimed }
//!        ▼
//!   executor (one attempt: holds its lease in `held`, handler, timeout, stop)
//!        │                     │
//!        │                     └─▶ checkpoints (step checkpoints, batched; step done)
//!        ▼
//!   outcome (retry, snooze, hand-back written; completion ─▶ completer (batched)
//!        │   → CompleterPass { stored, lost })
//!        └─▶ finish (failed or cancelled for good: final write + end hook, one tx)
//!
//!   held (the leases this worker holds) ◀── heartbeat (renews them; stops lost ones)
//!                                             → HeartbeatPass { renewed, lost }
//!   rescuer (lost workers' jobs: expired leases, liveness locks free for the grace;
//!            batches; end hooks of what it fails, each in a savepoint) → RescuePass
//!   liveness (this worker's advisory lock on a connection of its own; claims wait for it)
//!   periodic (stored schedules: one job per slot) → PeriodicPass
//!   maintenance (claim index rebuilds; run by the application's retention pass)
//!       → Compaction { rebuilt }
//! ```
//!
//! Every service reports on the worker's [`event`] broadcast: claimed, started, step
//! done, the outcome, lease lost, rescued, periodic slot enqueued.
//!
//! States and transitions are drawn in `docs/job-states.md` of the repository.
//!
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

#[cfg(feature = "bench")]
pub mod bench;
mod checkpoints;
mod claim_cursor;
mod claimer;
pub mod client;
pub mod clock;
mod completer;
pub mod config;
pub mod context;
mod dedicated;
pub mod ending;
pub mod error;
pub mod event;
mod executor;
pub mod fault;
mod finish;
mod heartbeat;
mod held;
pub mod inspect;
pub mod job;
pub mod kind;
pub mod lease;
mod liveness;
pub mod maintenance;
pub mod notifier;
pub mod observer;
mod outcome;
pub mod periodic;
pub mod registry;
pub mod rescuer;
pub mod retry;
pub mod schema;
mod span;
// Private to the engine; the test kit re-exports it whole (`testing::store`), which needs
// it public in that build (hidden from the documentation). Some statements serve only the
// test kit (a job claimed by name) and the benchmarks' fixtures (`bench`): a build without
// those features leaves them unused.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod store;
#[cfg(not(feature = "testing"))]
#[allow(dead_code)]
mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
pub mod worker;

pub use client::Client;
pub use clock::Clock;
pub use completer::CompletedCount;
pub use config::{StepHook, WorkerConfig};
pub use context::JobContext;
pub use ending::{EndHook, Ended, FailureNote, HookError};
pub use error::{JobError, QueueError, ResultExt};
pub use event::WorkerEvent;
pub use fault::DbFault;
pub use job::{ClaimKey, ClaimedJob, Enqueued, JobId, JobState, NewJob};
pub use kind::JobKind;
pub use lease::Lease;
pub use observer::{JobObserver, Observer};
pub use periodic::Schedule;
pub use registry::{KindOptions, Registry};
pub use retry::RetryPolicy;
pub use schema::migrate;
pub use store::{CancelOutcome, refuse_read_only};
pub use worker::{RunStats, Worker};
