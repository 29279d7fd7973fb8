//! Integration tests of the HTTP API over a real PostgreSQL, mostly without a socket (the
//! connection tests of `hardening` use real ones). No workers run here, so livelessons
//! stay INITIALIZED unless a test sets their status.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod admin;
mod curriculum;
mod database_faults;
mod engine_schema;
mod exp_contract;
mod hardening;
mod helpers;
mod hostile_input;
mod lifetime;
mod livelessons;
mod operations;
mod server;
mod sessions;
mod ui;
