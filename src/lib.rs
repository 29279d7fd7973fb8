//! antidote-scheduler: a durable, horizontally scaled scheduler for Antidote-style labs.
//!
//! # Layout
//!
//! - [`bench`]: the benchmarks behind `antidoted bench`.
//! - [`db`]: connecting to PostgreSQL and the embedded migrations.
//! - [`queue`]: the generic durable job engine on PostgreSQL (enqueue, claim, leases,
//!   checkpointed steps, retries, periodic jobs, audit trail). Knows nothing about lessons.
#![warn(missing_docs)]

pub mod bench;
pub mod db;
pub mod queue;
