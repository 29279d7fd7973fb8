//! Renews the leases of the jobs this worker holds, stops any job whose lease another
//! worker took over, and any whose cancel was requested (when its notice was missed).

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::error::QueueError;
use crate::held::{AbortReason, HeldLeases};
use crate::job::JobId;
use crate::store;
use crate::store::millis;

/// What one renewal pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HeartbeatPass {
    /// Leases renewed.
    pub renewed: usize,
    /// Leases found lost (their jobs were stopped).
    pub lost: usize,
}

/// The heartbeat: the leases to renew, and for how long.
pub(crate) struct Heartbeat {
    pub pool: PgPool,
    pub held: HeldLeases,
    /// Each renewal extends a lease this far from now.
    pub lease: Duration,
    /// Whose "now" that is.
    pub clock: Clock,
}

impl Heartbeat {
    /// Renews every `period` until `stop` fires.
    pub async fn run(self, period: Duration, stop: CancellationToken) {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            if let Err(err) = self.run_once().await {
                tracing::warn!(error = %err, "lease renewal failed");
            }
        }
    }

    /// Renews every held lease once, and stops the jobs whose lease was lost.
    ///
    /// # Errors
    /// [`QueueError::Database`]: nothing was renewed.
    pub async fn run_once(&self) -> Result<HeartbeatPass, QueueError> {
        let held = self.held.snapshot();
        if held.is_empty() {
            return Ok(HeartbeatPass::default());
        }
        let ids: Vec<i64> = held.iter().map(|(id, _)| id.0).collect();
        let tokens: Vec<_> = held.iter().map(|(_, token)| *token).collect();
        let kept: HashMap<JobId, bool> =
            store::extend_leases(&self.pool, &ids, &tokens, millis(self.lease), &self.clock)
                .await?
                .into_iter()
                .collect();
        let mut pass = HeartbeatPass::default();
        for (id, token) in held {
            // A job absent from the table finished meanwhile; only a token mismatch on a
            // still-held job means a takeover, which abort() checks.
            if let Some(&cancel_requested) = kept.get(&id) {
                pass.renewed += 1;
                if cancel_requested {
                    self.held.cancel(id);
                }
            } else {
                pass.lost += 1;
                self.held.abort(id, token, AbortReason::LeaseLost);
            }
        }
        Ok(pass)
    }
}
