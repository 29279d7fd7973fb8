//! Terminals close when their lab ends: a bounded periodic check of the livelessons with
//! open terminals in this process (one statement per period, whatever their number). The
//! database has no notification of a livelesson's end to listen to; a kill or an expiry
//! reaches a terminal within one period.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::store::terminal;

use super::caps::Terminals;
use super::ending::Ending;

/// Checks every `period` until `stop`, ending the terminals of livelessons no longer READY.
pub async fn run(
    pool: PgPool,
    terminals: Arc<Terminals>,
    period: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let open = terminals.livelessons();
        if open.is_empty() {
            continue;
        }
        match terminal::standing(&pool, &open).await {
            Ok(standing) => {
                for id in open.iter().filter(|id| !standing.contains(id)) {
                    let ended = terminals.end_livelesson(id, &Ending::LabEnded);
                    tracing::info!(livelesson = %id, terminals = ended, "lab ended: closing its terminals");
                }
            }
            // A database outage is no reason to cut learners off: the next period asks again.
            Err(err) => tracing::warn!(error = %err, "checking the labs of open terminals"),
        }
    }
}
