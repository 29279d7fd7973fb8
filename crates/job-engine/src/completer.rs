//! Writes job completions in batches: while one batch statement is in flight, the next
//! completions queue up and go together (group commit), so the completer keeps latency low
//! when idle and throughput high under load.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use super::dedicated::Dedicated;
use super::job::JobId;
use super::store;
use super::worker::{Shared, WorkerEvent};

/// A job whose handler succeeded, waiting for its completion to be stored.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    pub id: JobId,
    pub token: Uuid,
    /// Where the claim left the job's row.
    pub row: String,
}

/// Runs until the sender side closes and everything received is written.
pub(crate) async fn run(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Completion>) {
    let max = shared.config.completion_batch.max(1);
    let mut batch: Vec<Completion> = Vec::with_capacity(max);
    let mut conn = Dedicated::pooled(shared.pool.clone(), "complete");
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < max {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        flush(&shared, &mut conn, &mut batch).await;
        if rx.is_empty() {
            conn.release();
        }
    }
}

async fn flush(shared: &Shared, conn: &mut Dedicated, batch: &mut Vec<Completion>) {
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
                // The heartbeat keeps the leases while we retry; if the database stays away
                // longer than a lease, the rescuer re-runs these jobs (at-least-once).
                tracing::warn!(error = %err, jobs = ids.len(), "completion write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    };
    for c in batch.iter() {
        shared.release(c.id, c.token);
    }
    shared.completed.add(done.len());
    let done: std::collections::HashSet<JobId> = done.into_iter().collect();
    for c in batch.drain(..) {
        if done.contains(&c.id) {
            shared.emit(WorkerEvent::Completed(c.id));
        } else {
            tracing::warn!(job_id = %c.id, "lease lost before the completion was stored");
            shared.emit(WorkerEvent::LeaseLost(c.id));
        }
    }
    // A completion can unblock the next job of a serial_key.
    shared.wake.notify_one();
}
