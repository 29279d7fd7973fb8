//! What a comparison is asked to do, and the failures that stop it.

use std::path::PathBuf;
use std::time::Duration;

use super::peer::Peer;

/// Parameters of a comparison.
#[derive(Debug, Clone)]
pub struct Params {
    /// Server and name prefix: each peer gets the database `<name>_<peer>`, dropped and
    /// created again before each of its runs.
    pub database_url: String,
    /// Where the peer harnesses are (`rust/`, `go/`, `node/`).
    pub peers_dir: PathBuf,
    /// Build and install directory for the peers (outside the repository).
    pub work_dir: PathBuf,
    /// Peers to run, antidoted included or not.
    pub peers: Vec<Peer>,
    /// Rounds.
    pub rounds: usize,
    /// No-op jobs of the throughput phase.
    pub jobs: usize,
    /// antidoted's jobs enqueued one by one for its single-enqueue rate (the peers
    /// enqueue in batches only).
    pub single_jobs: usize,
    /// antidoted's tasks per worker process in the no-op phase.
    pub tasks: usize,
    /// antidoted's most jobs per claim (and per batch enqueue) in the no-op phase.
    pub batch: usize,
    /// Three-step workflows.
    pub workflows: usize,
    /// Idle-queue latency samples.
    pub latency_samples: usize,
    /// underway's no-op jobs.
    pub underway_jobs: usize,
    /// underway's workflows.
    pub underway_workflows: usize,
    /// Longest a single run may take.
    pub timeout: Duration,
}

/// Failures that stop the comparison (a peer that fails only marks its run).
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The database URL does not parse or names no usable database.
    #[error("invalid --database-url: {0}")]
    DatabaseUrl(String),
    /// Dropping or creating a run's database failed.
    #[error("preparing database {name:?}")]
    Database {
        /// The database.
        name: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// This binary could not be located to run antidoted's own benchmarks.
    #[error("locating this binary")]
    Exe(#[source] std::io::Error),
}
