//! Returns jobs whose lease expired (their worker crashed or froze) to runnable, or fails
//! them when they were on their last attempt. Every worker runs it; `SKIP LOCKED` keeps
//! racing rescuers from rescuing a job twice.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::notifier::{Notifier, wait_or_shutdown};
use super::observer::Observer;
use super::store::{self, Rescued};

/// Ticks every `interval` until `stop` fires.
pub(crate) async fn run(
    pool: PgPool,
    interval: Duration,
    notifier: Notifier,
    queue: String,
    observer: Observer,
    stop: CancellationToken,
) {
    loop {
        if wait_or_shutdown(&stop, interval).await {
            return;
        }
        match run_once(&pool, &observer).await {
            Ok(rescued) if !rescued.is_empty() => {
                tracing::info!(rescued = rescued.len(), "rescued jobs with expired leases");
                notifier.notify(&queue);
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "rescue pass failed"),
        }
    }
}

/// One pass; returns what it rescued, and tells `observer` how many.
///
/// # Errors
/// [`super::QueueError::Database`].
pub async fn run_once(
    pool: &PgPool,
    observer: &Observer,
) -> Result<Vec<Rescued>, super::QueueError> {
    let rescued = store::rescue_expired(pool).await?;
    observer.leases_rescued(rescued.len());
    Ok(rescued)
}
