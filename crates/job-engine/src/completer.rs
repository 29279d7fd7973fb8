//! Writes job completions in batches: while one batch statement is in flight, the next
//! completions queue up and go together (group commit), so the completer keeps latency low
//! when idle and throughput high under load. It also keeps the count of completions
//! stored ([`CompletedCount`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use crate::dedicated::Dedicated;
use crate::event::{Events, WorkerEvent};
use crate::held::HeldLeases;
use crate::job::JobId;
use crate::store;

/// A job whose handler succeeded, waiting for its completion to be stored.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    pub id: JobId,
    pub token: Uuid,
    /// Where the claim left the job's row.
    pub row: String,
}

/// How many completions a worker has stored, readable while it runs (benchmarks watch it
/// instead of querying the database). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CompletedCount(Arc<AtomicU64>);

impl CompletedCount {
    /// Completions stored so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// What one batch of the completer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CompleterPass {
    /// Completions stored.
    pub stored: usize,
    /// Completions not stored: the job's lease was lost first.
    pub lost: usize,
}

/// The completer: what it needs to store completions and tell of them.
pub(crate) struct Completer {
    pub pool: PgPool,
    /// Completions arrive here from the executor.
    pub completions: mpsc::UnboundedReceiver<Completion>,
    /// Most completions one statement writes.
    pub max_batch: usize,
    /// Forgotten once stored: the heartbeat renews them until then.
    pub held: HeldLeases,
    pub events: Events,
    pub completed: CompletedCount,
    /// The claim loop's waker: a completion can unblock the next job of a serial key.
    pub wake: Arc<Notify>,
}

impl Completer {
    /// Runs until the sender side closes and everything received is written.
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.max_batch.max(1));
        let mut conn = Dedicated::pooled(self.pool.clone(), "complete");
        while self.run_once(&mut conn, &mut batch).await.is_some() {
            if self.completions.is_empty() {
                conn.release();
            }
        }
    }

    /// Waits for a completion and stores it with those queued behind it (up to the batch
    /// size) on `conn`, using `batch` as scratch space; `None` once the senders are gone.
    pub async fn run_once(
        &mut self,
        conn: &mut Dedicated,
        batch: &mut Vec<Completion>,
    ) -> Option<CompleterPass> {
        let max = self.max_batch.max(1);
        batch.push(self.completions.recv().await?);
        while batch.len() < max {
            match self.completions.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        Some(self.flush(conn, batch).await)
    }

    async fn flush(&self, conn: &mut Dedicated, batch: &mut Vec<Completion>) -> CompleterPass {
        let ids: Vec<i64> = batch.iter().map(|c| c.id.0).collect();
        let tokens: Vec<Uuid> = batch.iter().map(|c| c.token).collect();
        let rows: Vec<String> = batch
            .iter_mut()
            .map(|c| std::mem::take(&mut c.row))
            .collect();
        let mut delay = Duration::from_millis(50);
        let done = loop {
            let written = match conn.get().await {
                Ok(c) => store::complete_at(c, &ids, &tokens, &rows).await,
                Err(err) => Err(err),
            };
            match written {
                Ok(done) => break done,
                Err(err) => {
                    conn.discard();
                    // The heartbeat keeps the leases while we retry; if the database stays
                    // away longer than a lease, the rescuer re-runs these jobs
                    // (at-least-once).
                    tracing::warn!(error = %err, jobs = ids.len(), "completion write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        };
        for c in batch.iter() {
            self.held.release(c.id, c.token);
        }
        self.completed.add(done.len());
        let pass = CompleterPass {
            stored: done.len(),
            lost: batch.len() - done.len(),
        };
        let done: HashSet<JobId> = done.into_iter().collect();
        for c in batch.drain(..) {
            if done.contains(&c.id) {
                self.events.emit(WorkerEvent::Completed(c.id));
            } else {
                tracing::warn!(job_id = %c.id, "lease lost before the completion was stored");
                self.events.emit(WorkerEvent::LeaseLost(c.id));
            }
        }
        // A completion can unblock the next job of a serial_key.
        self.wake.notify_one();
        pass
    }
}
