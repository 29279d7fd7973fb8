//! The claimer: one claim statement for the worker's free slots, from where its cursor
//! says, and each claimed job handed to the executor with its slot. The claim loop in
//! `worker` decides when to claim.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::claim_cursor::{ClaimCursor, Scan};
use crate::clock::Clock;
use crate::dedicated::Dedicated;
use crate::error::QueueError;
use crate::executor::Executor;
use crate::store;
use crate::store::millis;

/// What one claim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClaimPass {
    /// Jobs claimed (and started).
    pub claimed: usize,
    /// Whether to claim again at once rather than wait for a wake-up: the claim filled
    /// every free slot, or it resumed after the cursor and may have missed jobs behind it.
    pub again: bool,
}

/// The claimer: where and for whom it claims, its connection and cursor.
pub(crate) struct Claimer {
    queue: String,
    worker: Arc<str>,
    lease_ms: i64,
    batch: usize,
    clock: Clock,
    executor: Arc<Executor>,
    conn: Dedicated,
    cursor: ClaimCursor,
}

impl Claimer {
    /// A claimer of `queue`'s jobs for `worker`, leased for `lease`, at most `batch` per
    /// claim, due by `clock`, started on `executor`. Its connection is its own, outside the pool's
    /// maximum (see `dedicated`).
    pub fn new(
        pool: PgPool,
        queue: String,
        worker: Arc<str>,
        lease: Duration,
        batch: usize,
        clock: Clock,
        executor: Arc<Executor>,
    ) -> Self {
        Self {
            queue,
            worker,
            lease_ms: millis(lease),
            batch: batch.max(1),
            clock,
            executor,
            conn: Dedicated::detached(pool, "claim"),
            cursor: ClaimCursor::default(),
        }
    }

    /// Claims for `first` and every other slot free now (up to the batch size), and
    /// starts each claimed job on its slot; unused slots are freed.
    ///
    /// # Errors
    /// [`QueueError::Database`]: nothing was claimed; the connection is dropped and the
    /// next claim scans from the start.
    pub async fn run_once(
        &mut self,
        first: OwnedSemaphorePermit,
        slots: &Arc<Semaphore>,
    ) -> Result<ClaimPass, QueueError> {
        let mut permits = vec![first];
        while permits.len() < self.batch {
            match slots.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        let wanted = permits.len();
        let started = Instant::now();
        let scan = self.cursor.next(started);
        let after = match scan {
            Scan::Full => None,
            Scan::After(key) => Some(key),
        };
        let claimed = match self.conn.get().await {
            Ok(conn) => {
                store::claim(
                    conn,
                    &self.queue,
                    &self.worker,
                    i64::try_from(wanted).unwrap_or(i64::MAX),
                    self.lease_ms,
                    after,
                    &self.clock,
                )
                .await
            }
            Err(err) => Err(err),
        };
        let claimed = match claimed {
            Ok(jobs) => jobs,
            Err(err) => {
                self.conn.discard();
                self.cursor.reset();
                return Err(err);
            }
        };
        self.cursor
            .record(scan, started, Instant::now(), claimed.iter().map(|j| j.key));
        let got = claimed.len();
        for job in claimed {
            let Some(permit) = permits.pop() else { break };
            self.executor.spawn(job, permit);
        }
        // A short resumed scan may have missed jobs behind the cursor: look again from
        // the start as soon as the cursor allows, without waiting for a wake-up.
        let again = got == wanted
            || (matches!(scan, Scan::After(_)) && self.cursor.next(Instant::now()) == Scan::Full);
        Ok(ClaimPass {
            claimed: got,
            again,
        })
    }
}
