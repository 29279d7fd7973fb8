//! antidote-scheduler: a durable, horizontally scaled scheduler for Antidote-style labs.
//!
//! # Layout
//!
//! - [`api`]: the HTTP API (axum): the original's `/exp` API, the `/v1` admin API, probes.
//! - [`backend`]: the Backend contract and its Kubernetes implementation.
//! - [`bench`]: the benchmarks behind `antidoted bench`.
//! - [`config`]: the configuration file, `ANTIDOTE_*` overrides, defaults and validation.
//! - [`curriculum`]: lessons, images and collections loaded and validated from a curriculum
//!   directory (pure: no database, no network).
//! - [`db`]: connecting to PostgreSQL and the embedded migrations.
//! - [`gc`]: garbage collection and reconciliation as periodic jobs (expiry, empty
//!   sessions, orphan namespaces, unhealthy READY livelessons, job retention).
//! - [`ids`]: what names a livelesson and a session (`LivelessonId`, `SessionId`).
//! - [`kinds`]: every production job kind's contract (attempt timeout, attempts, backoff)
//!   in one table.
//! - [`pool`]: warm pools of spare livelessons and capacity admission (the waiting line).
//! - [`presentation_proxy`]: a host-routing HTTP proxy for http presentations and the
//!   jupyter guide, standing in for an ingress (the demo).
//! - [`provision`]: what requests, pools and workflows share: the livelesson jobs, new
//!   livelesson rows, and the endpoints and hosts derived from a lesson.
//! - [`queue`]: the durable job engine on PostgreSQL (enqueue, claim, leases, checkpointed
//!   steps, retries, periodic jobs, audit trail): the workspace crate `job-engine`
//!   (`crates/job-engine`), re-exported under this path. It knows nothing about lessons.
//! - [`telemetry`]: tracing and OpenTelemetry set-up, traceparent propagation through jobs,
//!   Prometheus metrics.
//! - [`secret`]: a string that never prints (credentials).
//! - [`startup`]: the composition root: a process's parts built from its configuration.
//! - [`store`]: SQL for the scheduler's state (curriculum so far), one function per statement.
//! - [`workflow`]: livelesson workflows (CREATE, MODIFY, DELETE) and the requests that start them.
#![warn(missing_docs)]

pub mod api;
pub mod backend;
#[cfg(feature = "bench")]
pub mod bench;
pub mod config;
pub mod curriculum;
pub mod db;
pub mod gateway;
pub mod gc;
pub mod ids;
pub mod kinds;
pub mod pool;
pub mod presentation_proxy;
pub mod provision;
/// The job engine, the `job-engine` crate of this workspace. Re-exported under its old
/// path so that `antidote_scheduler::queue::…` keeps naming the same items.
pub use job_engine as queue;
pub mod secret;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod workflow;
