//! The durable job engine: jobs in PostgreSQL, claimed with `FOR UPDATE SKIP LOCKED`,
//! run under fenced leases as checkpointed steps. It knows nothing about lessons.
//!
//! # Layout
//!
//! - [`job`]: ids, states, and [`NewJob`], the description of a job to enqueue.
//! - [`client`]: enqueueing, on its own or inside a caller's transaction.
//! - [`store`]: every SQL statement of the engine's own work, a file per concern (enqueue,
//!   claim, a claimed job's fenced writes, rescue, checkpoints, admin, periodic, reads,
//!   index maintenance).
//! - [`inspect`]: read models for operators' views (job pages, counts, throughput).
//! - [`worker`]: a process's pool of job tasks, with the services it starts:
//!   `claim_cursor` (where claims scan), `executor` (one job), `completer` (batched
//!   completions), `checkpoints` (batched step checkpoints), `heartbeat` (leases),
//!   [`rescuer`] (expired leases), [`periodic`] (stored schedules), [`notifier`] (wake-ups).
//! - `span`: the OpenTelemetry span of one attempt (queue wait, outcome).
//! - [`context`]: what a handler sees: arguments, [`JobContext::step`], durable timers.
//! - [`kind`]: typed job kinds ([`JobKind`]: name, argument type, options).
//! - [`registry`]: job kind → handler and its options (timeout, retry policy).
//! - [`maintenance`]: rebuilds the claim table's indexes after vacuum was pinned.
//! - [`retry`]: backoff of transient failures; [`error`]: how handlers fail.
//!
//! States and transitions are drawn in `docs/job-states.md`.

mod checkpoints;
mod claim_cursor;
pub mod client;
mod completer;
pub mod context;
mod dedicated;
pub mod error;
mod executor;
mod heartbeat;
pub mod inspect;
pub mod job;
pub mod kind;
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
pub mod trace;
pub mod worker;

pub use client::Client;
pub use context::JobContext;
pub use error::{JobError, QueueError, ResultExt};
pub use job::{ClaimKey, ClaimedJob, Enqueued, JobId, JobState, NewJob};
pub use kind::JobKind;
pub use observer::{JobObserver, Observer};
pub use periodic::Schedule;
pub use registry::{KindOptions, Registry};
pub use retry::RetryPolicy;
pub use schema::migrate;
pub use worker::{CompletedCount, StepHook, Worker, WorkerConfig, WorkerEvent};
