//! Keeps the claim table small: prunes finished jobs past their retention
//! ([`prune_finished`]) and rebuilds the claim table's indexes when vacuum has left them
//! mostly empty pages.
//!
//! Every claimed and finished job leaves index entries behind, which vacuum normally
//! removes and whose pages the indexes reuse. While a long transaction pins vacuum (a
//! report, a stuck session, a backup), nothing can be removed and the indexes grow with
//! the throughput; afterwards vacuum empties the pages but an index file never shrinks.
//! A rebuild (`REINDEX ... CONCURRENTLY`, which blocks neither claims nor writes) brings
//! them back to the size of the live rows.

pub use crate::store::{Pruned, prune_finished};

use sqlx::PgPool;

use super::error::Result;
use super::store;

/// Index bytes the claim table may have per live job before a rebuild is worthwhile.
const BYTES_PER_LIVE_JOB: i64 = 512;

/// Index size under which a rebuild is never worthwhile.
pub const DEFAULT_MIN_BYTES: i64 = 32 * 1024 * 1024;

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Index bytes before.
    pub before: i64,
    /// Index bytes after (equal to `before` when no rebuild was needed).
    pub after: i64,
    /// Whether the indexes were rebuilt.
    pub rebuilt: bool,
}

/// Rebuilds the claim table's indexes when they exceed `min_bytes` and what the live jobs
/// need. Waits for transactions older than the rebuild, so run it from a job.
///
/// # Errors
/// [`super::QueueError::Database`]; an interrupted rebuild leaves invalid index copies,
/// which the next compaction drops first.
pub async fn compact(pool: &PgPool, min_bytes: i64) -> Result<Compaction> {
    store::drop_invalid_claim_indexes(pool).await?;
    let (before, live) = store::claim_index_usage(pool).await?;
    if before <= min_bytes.max(0) + live.saturating_mul(BYTES_PER_LIVE_JOB) {
        return Ok(Compaction {
            before,
            after: before,
            rebuilt: false,
        });
    }
    store::rebuild_claim_indexes(pool).await?;
    let (after, _) = store::claim_index_usage(pool).await?;
    tracing::info!(before, after, live, "rebuilt the claim table's indexes");
    Ok(Compaction {
        before,
        after,
        rebuilt: true,
    })
}
