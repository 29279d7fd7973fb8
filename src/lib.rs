//! antidote-scheduler: a durable, horizontally scaled scheduler for Antidote-style labs.
//!
//! # Layout
//!
//! - [`db`]: connecting to PostgreSQL and the embedded migrations.
//! - [`queue`]: the generic durable job engine on PostgreSQL (enqueue, claim, leases,
//!   checkpointed steps, retries, periodic jobs, audit trail). Knows nothing about lessons.
#![warn(missing_docs)]

pub mod db;
pub mod queue;
