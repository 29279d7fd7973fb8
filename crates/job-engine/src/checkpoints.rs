//! Group commit of step checkpoints: the steps of a worker's jobs that start or complete
//! while one checkpoint statement is in flight are written together by the next one.
//!
//! Each caller still waits for its own checkpoint to be stored, fenced by its lease, so a
//! step is never reported complete before it is durable in the database; batching only
//! shares the round trip and the commit between concurrent jobs.

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::dedicated::Dedicated;
use super::error::QueueError;
use super::job::JobId;
use super::store::{self, CheckpointRow};

/// What a checkpoint records about a step.
#[derive(Debug)]
pub(crate) enum Mark {
    /// The step is about to run.
    Started,
    /// The step ran; its output, stored for later attempts.
    Completed(serde_json::Value),
}

/// What became of one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Written.
    Written,
    /// Not written: a cancel was requested, so the step must not start.
    CancelRequested,
}

struct Request {
    id: JobId,
    token: Uuid,
    attempt: i32,
    step: String,
    mark: Mark,
    reply: oneshot::Sender<Result<Stored, QueueError>>,
}

/// The handle jobs use to write checkpoints; cheap to clone.
#[derive(Clone)]
pub(crate) struct Checkpoints {
    requests: mpsc::UnboundedSender<Request>,
}

/// The receiving side, run by [`run`].
pub(crate) struct Writer {
    requests: mpsc::UnboundedReceiver<Request>,
}

/// A connected handle and writer.
pub(crate) fn channel() -> (Checkpoints, Writer) {
    let (requests, receiver) = mpsc::unbounded_channel();
    (Checkpoints { requests }, Writer { requests: receiver })
}

impl Checkpoints {
    /// Writes one checkpoint and waits until it is stored.
    ///
    /// # Errors
    /// [`QueueError::LeaseLost`], [`QueueError::Database`], or [`QueueError::Stopped`]
    /// when the worker stopped writing checkpoints.
    pub async fn write(
        &self,
        id: JobId,
        token: Uuid,
        attempt: i32,
        step: &str,
        mark: Mark,
    ) -> Result<Stored, QueueError> {
        let (reply, stored) = oneshot::channel();
        self.requests
            .send(Request {
                id,
                token,
                attempt,
                step: step.to_owned(),
                mark,
                reply,
            })
            .map_err(|_| QueueError::Stopped)?;
        stored.await.map_err(|_| QueueError::Stopped)?
    }
}

/// Writes checkpoints in batches of at most `max` until `stop` is cancelled (after the
/// worker's jobs have stopped, so nothing waits then).
pub(crate) async fn run(
    mut writer: Writer,
    pool: sqlx::PgPool,
    worker: std::sync::Arc<str>,
    max: usize,
    stop: CancellationToken,
) {
    let max = max.max(1);
    let mut batch: Vec<Request> = Vec::with_capacity(max);
    let mut conn = Dedicated::pooled(pool, "checkpoint");
    loop {
        let first = tokio::select! {
            () = stop.cancelled() => return,
            first = writer.requests.recv() => match first {
                Some(first) => first,
                None => return,
            },
        };
        batch.push(first);
        while batch.len() < max {
            match writer.requests.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        flush(&mut conn, &worker, &mut batch).await;
        if writer.requests.is_empty() {
            conn.release();
        }
    }
}

async fn flush(conn: &mut Dedicated, worker: &str, batch: &mut Vec<Request>) {
    let rows: Vec<CheckpointRow<'_>> = batch
        .iter()
        .map(|r| CheckpointRow {
            id: r.id,
            token: r.token,
            attempt: r.attempt,
            step: &r.step,
            output: match &r.mark {
                Mark::Started => None,
                Mark::Completed(output) => Some(output),
            },
        })
        .collect();
    let result = match conn.get().await {
        Ok(c) => store::write_checkpoints(c, worker, &rows).await,
        Err(err) => Err(err),
    };
    if result.is_err() {
        conn.discard();
    }
    drop(rows);
    match result {
        Ok(fenced) => {
            for request in batch.drain(..) {
                let outcome = match fenced.get(&(request.id, request.token)) {
                    None => Err(QueueError::LeaseLost(request.id)),
                    Some(true) if matches!(request.mark, Mark::Started) => {
                        Ok(Stored::CancelRequested)
                    }
                    Some(_) => Ok(Stored::Written),
                };
                // A caller that went away (its job was stopped) needs no answer.
                let _ = request.reply.send(outcome);
            }
        }
        Err(err) => {
            // Each job fails this attempt and retries, as it would have on its own
            // connection; the batch shares the fate of the statement.
            for request in batch.drain(..) {
                let shared = err.shared().unwrap_or(QueueError::Stopped);
                let _ = request.reply.send(Err(shared));
            }
        }
    }
}
