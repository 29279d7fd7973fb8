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
//! - [`store`]: every SQL statement of the engine, a file per concern (enqueue, claim, a
//!   claimed job's fenced writes, rescue, checkpoints, admin, periodic, reads, index
//!   maintenance, retention, whole-table operations, benchmark figures, synthetic
//!   history); [`inspect`]: read models for operators' views.
//! - [`schema`]: the engine's migrations, [`migrate`] (beside an application's tables) and
//!   `migrate_in` (a schema of its own, reached through `connect_options`).
//! - [`observer`]: how measurements reach the application ([`JobObserver`]);
//!   [`trace`]: span attribute names, stored traceparents, trace ids of attempts;
//!   `span`: the OpenTelemetry span of one attempt (queue wait, outcome).
//! - [`retry`]: backoff of transient failures; [`error`]: how handlers fail.
//! - `testing` (feature `testing`): running a job to its end and waiting on events in
//!   tests.
//!
//! # Services
//!
//! [`Worker::run`] runs the claim loop and starts the worker's services, each given what
//! it needs and owning one thing:
//!
//! ```text
//!                 ┌──────────── notifier (LISTEN/NOTIFY wake-ups, channel setting)
//!                 ▼
//!   claim loop (worker: slots, claim_cursor) ──▶ executor (one attempt: handler, timeout,
//!        │                                         outcome, end hook) ──▶ completer
//!        │                                         │                      (completions,
//!        │                                         ▼                       batched)
//!        │                                   checkpoints (step checkpoints, batched)
//!   heartbeat (renews the leases this worker holds)
//!   rescuer (expired leases of any worker; end hooks of what it fails)
//!   periodic (stored schedules: one job per slot)
//!   maintenance (claim index rebuilds; run by the application's retention pass)
//! ```
//!
//! States and transitions are drawn in `docs/job-states.md` of the repository.
//!
#![doc = include_str!("../README.md")]

mod checkpoints;
mod claim_cursor;
pub mod client;
pub mod clock;
mod completer;
pub mod context;
mod dedicated;
pub mod ending;
pub mod error;
mod executor;
mod heartbeat;
pub mod inspect;
pub mod job;
pub mod kind;
pub mod lease;
pub mod maintenance;
pub mod notifier;
pub mod observer;
pub mod periodic;
pub mod registry;
pub mod rescuer;
pub mod retry;
pub mod schema;
mod span;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
pub mod worker;

pub use client::Client;
pub use clock::Clock;
pub use context::JobContext;
pub use ending::{EndHook, Ended, FailureNote, HookError};
pub use error::{JobError, QueueError, ResultExt};
pub use job::{ClaimKey, ClaimedJob, Enqueued, JobId, JobState, NewJob};
pub use kind::JobKind;
pub use lease::Lease;
pub use observer::{JobObserver, Observer};
pub use periodic::Schedule;
pub use registry::{KindOptions, Registry};
pub use retry::RetryPolicy;
pub use schema::migrate;
pub use worker::{CompletedCount, StepHook, Worker, WorkerConfig, WorkerEvent};
