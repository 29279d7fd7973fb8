//! Livelesson workflows on the job engine: CREATE, MODIFY and DELETE as ordered,
//! checkpointed steps over the store and the backend, and the requests that enqueue them.
//!
//! # Layout
//!
//! - [`request`]: sessions, livelesson requests, heartbeats and kills (state + job in one
//!   transaction).

pub mod request;

use serde::{Deserialize, Serialize};

/// Job kind of provisioning.
pub const CREATE: &str = "livelesson.create";
/// Job kind of a stage change.
pub const MODIFY: &str = "livelesson.modify";
/// Job kind of a deletion.
pub const DELETE: &str = "livelesson.delete";

/// Arguments of every livelesson job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// The livelesson.
    pub livelesson: String,
    /// Target stage (CREATE and MODIFY).
    pub stage: i32,
}

/// Every job of one livelesson shares this serial key, so they run one at a time, in
/// the order they were requested.
pub fn serial_key(livelesson_id: &str) -> String {
    format!("livelesson:{livelesson_id}")
}
