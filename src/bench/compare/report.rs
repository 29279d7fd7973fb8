//! What the comparison reports: each run's figures or why it has none, the rounds and
//! their ratios. The JSON keys are a stable interface.

use serde::Serialize;

use super::medians::Medians;
use super::peer::Peer;
use super::targets::Target;

/// What one run of one peer measured. Missing figures are phases the peer lacks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// No-op jobs per second.
    pub jobs_per_s: Option<f64>,
    /// Idle enqueue (committed) to handler start, median, ms.
    pub latency_ms_p50: Option<f64>,
    /// 95th percentile.
    pub latency_ms_p95: Option<f64>,
    /// 99th percentile.
    pub latency_ms_p99: Option<f64>,
    /// From the start of the enqueue call, median, ms.
    pub latency_from_call_ms_p50: Option<f64>,
    /// From the start of the enqueue call, 99th percentile (graphile-worker for Node
    /// measures only this way).
    pub latency_from_call_ms_p99: Option<f64>,
    /// Three-step workflows per second.
    pub workflows_per_s: Option<f64>,
    /// No-op jobs of the run.
    pub jobs: usize,
    /// Workflows of the run.
    pub workflows: usize,
    /// The JSON lines the harness printed, as they were.
    pub raw: Vec<serde_json::Value>,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Measured.
    Ran(Figures),
    /// Not run: the harness is not available here.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Started and failed.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One peer's run in a round.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// The peer.
    pub peer: Peer,
    /// The 1-, 5- and 15-minute load averages just before the run.
    pub load_before: [f64; 3],
    /// Wall-clock seconds of the run, setup and teardown included.
    pub seconds: f64,
    /// What it measured.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// antidoted's figures divided by a peer's, from the same round.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ratios {
    /// The peer.
    pub peer: Option<Peer>,
    /// Jobs per second, ours ÷ theirs.
    pub jobs_per_s: Option<f64>,
    /// Idle latency median, ours ÷ theirs (below 1 is better for us).
    pub latency_ms_p50: Option<f64>,
    /// Idle latency 99th percentile, ours ÷ theirs.
    pub latency_ms_p99: Option<f64>,
    /// Workflows per second, ours ÷ theirs.
    pub workflows_per_s: Option<f64>,
}

/// One round: every peer once.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// From 1.
    pub round: usize,
    /// In the order they ran.
    pub runs: Vec<Run>,
    /// Ours against each other peer that ran.
    pub ratios: Vec<Ratios>,
}

/// The whole comparison; the JSON keys are a stable interface.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every round.
    pub rounds: Vec<Round>,
    /// Per peer, the median over rounds of each ratio.
    pub median_ratios: Vec<Ratios>,
    /// Per peer, the median over rounds of each figure.
    pub medians: Vec<Medians>,
    /// Issue 31's goals, each a ratio of [`Report::medians`]: jobs/s against River and
    /// against the fastest other peer, idle p50 against every peer, workflows against
    /// apalis.
    pub targets: Vec<Target>,
    /// Whether every goal of [`Report::targets`] holds: `None` when one could not be
    /// measured (its peer did not run) and none failed.
    pub targets_met: Option<bool>,
    /// No-op jobs per run (underway: `underway_jobs`).
    pub jobs: usize,
    /// Workflows per run.
    pub workflows: usize,
    /// Latency samples per run.
    pub latency_samples: usize,
    /// underway's sizes.
    pub underway_jobs: usize,
    /// underway's workflows.
    pub underway_workflows: usize,
}
