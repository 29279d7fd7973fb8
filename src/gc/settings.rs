//! Garbage collection's settings as the configuration file has them (`gc:`); the
//! configuration turns them, with the lifetimes of livelessons and sessions, into the
//! collector's [`super::Config`].

use serde::{Deserialize, Serialize};

/// Garbage collection settings (ours; the original hard-coded a 60 s interval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GcSettings {
    /// Seconds between collection runs.
    pub interval_secs: u64,
    /// Minutes a livelesson in ERROR stays visible before it is deleted.
    pub errored_ttl_mins: u64,
    /// Maximum age in minutes of a persistent session's livelessons.
    pub persistent_max_age_mins: u64,
    /// Seconds a namespace without a livelesson row is left alone before deletion.
    pub orphan_grace_secs: u64,
    /// Hours finished jobs and their events are kept.
    pub job_retention_hours: u64,
    /// Seconds between orphan sweeps.
    pub orphan_interval_secs: u64,
    /// Seconds between reconciliations of READY livelessons with the cluster.
    pub reconcile_interval_secs: u64,
    /// Seconds between job retention passes.
    pub retention_interval_secs: u64,
    /// Rows per expiry or pruning statement.
    pub batch_size: u32,
    /// Health checks run at once by reconciliation.
    pub reconcile_concurrency: usize,
}

impl Default for GcSettings {
    fn default() -> Self {
        Self {
            interval_secs: 60,
            errored_ttl_mins: 10,
            persistent_max_age_mins: 7 * 24 * 60,
            orphan_grace_secs: 300,
            job_retention_hours: 7 * 24,
            orphan_interval_secs: 300,
            reconcile_interval_secs: 60,
            retention_interval_secs: 3600,
            batch_size: 5000,
            reconcile_concurrency: 8,
        }
    }
}
