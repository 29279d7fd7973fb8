//! Waiting on a condition only the database can tell, re-checked on a short period
//! instead of one long sleep: the engine's test kit has it.

pub use job_engine::testing::wait_until;
