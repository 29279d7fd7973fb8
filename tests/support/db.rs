//! The database of a `#[sqlx::test]`, named for child processes: the engine's test kit
//! has it. Included with `#[path]` by the test crates that start workers in other
//! processes.

pub use job_engine::testing::database_url;
