//! antidote-scheduler: a durable, horizontally scaled scheduler for Antidote-style labs.
//!
//! # Layout
//!
//! - [`queue`]: the generic durable job engine on PostgreSQL (enqueue, claim, leases,
//!   checkpointed steps, retries, periodic jobs, audit trail). Knows nothing about lessons.
#![warn(missing_docs)]

pub mod queue;
