//! SQL for the scheduler's state: one small function per statement.

pub mod curriculum;
