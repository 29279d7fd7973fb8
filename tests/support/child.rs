//! The start of a child worker process, shared by the test crates that kill workers: the
//! engine's test kit has it. Included with `#[path]` by each crate's `child.rs`.

pub use job_engine::testing::child::{env, run_child};
