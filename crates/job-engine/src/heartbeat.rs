//! Renews the leases of the jobs this worker holds, and stops any job whose lease another
//! worker took over.

use std::collections::HashSet;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::job::JobId;
use super::store;
use super::worker::{AbortReason, Shared, millis};

/// Ticks every `config.heartbeat` until `stop` fires.
pub(crate) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(shared.config.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Err(err) = run_once(&shared).await {
            tracing::warn!(error = %err, "lease renewal failed");
        }
    }
}

/// Renews every held lease once; returns how many were lost.
pub(crate) async fn run_once(shared: &Shared) -> Result<usize, super::QueueError> {
    let held: Vec<(JobId, Uuid)> = shared.held().iter().map(|(id, h)| (*id, h.token)).collect();
    if held.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = held.iter().map(|(id, _)| id.0).collect();
    let tokens: Vec<Uuid> = held.iter().map(|(_, token)| *token).collect();
    let kept: HashSet<JobId> = store::extend_leases(
        &shared.pool,
        &ids,
        &tokens,
        millis(shared.config.lease),
        &shared.config.clock,
    )
    .await?
    .into_iter()
    .collect();
    let mut lost = 0;
    for (id, token) in held {
        // A job absent from the table finished meanwhile; only a token mismatch on a
        // still-held job means a takeover, which abort() checks.
        if !kept.contains(&id) {
            lost += 1;
            shared.abort(id, token, AbortReason::LeaseLost);
        }
    }
    Ok(lost)
}
