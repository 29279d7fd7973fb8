//! Provisioning's shared vocabulary, below both the requests that ask for livelessons
//! and the workflows and pools that make them: the livelesson jobs, new livelesson rows,
//! and the endpoints and host names derived from a lesson.
//!
//! # Layout
//!
//! - [`jobs`]: the CREATE, MODIFY and DELETE kinds, their arguments and job shape.
//! - [`rows`]: inserting a new livelesson (a learner's or a spare) under a fresh id.
//! - [`endpoints`]: a livelesson's endpoints and hosts, derived from its lesson.

pub mod endpoints;
pub mod jobs;
pub mod rows;
