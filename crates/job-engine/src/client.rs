//! Enqueueing jobs: on the client's own connection, or inside a caller's transaction so
//! that a state change and its job commit together.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{PgConnection, PgPool};

use super::clock::Clock;
use super::error::{QueueError, Result};
use super::job::{Enqueued, JobId, NewJob};
use super::notifier::{LocalWakers, Notifier};
use super::store;

/// Enqueues jobs and wakes workers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    pool: PgPool,
    notifier: Notifier,
    /// Single enqueues of this client (and its clones) under way.
    single_enqueues: Arc<AtomicUsize>,
    /// When a job enqueued without a `run_at` is due, and when a retried job runs.
    clock: Clock,
}

impl Client {
    /// A client with its own notifier.
    pub fn new(pool: PgPool) -> Self {
        let notifier = Notifier::start(pool.clone(), LocalWakers::default());
        Self::with_notifier(pool, notifier)
    }

    /// A client sharing `notifier`, so that workers of this process wake without a round
    /// trip through PostgreSQL.
    pub fn with_notifier(pool: PgPool, notifier: Notifier) -> Self {
        Self {
            pool,
            notifier,
            single_enqueues: Arc::default(),
            clock: Clock::database(),
        }
    }

    /// This client going by `clock` (default: the database's): jobs enqueued without a
    /// `run_at` are due at its now, as are jobs it retries. Give it the workers' clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock this client goes by.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The notifier, to share with workers of this process.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Enqueues one job in its own transaction and wakes workers.
    ///
    /// An enqueue with no other under way on this client sends its `NOTIFY` in its own
    /// statement, delivered at its commit: on a quiet queue that saves the wake-up's round
    /// trip after the commit. Concurrent enqueues leave the wake-up to the debounced
    /// notifier instead, so that they do not queue on PostgreSQL's notification lock at
    /// commit one behind the other.
    ///
    /// # Errors
    /// [`QueueError::Database`].
    pub async fn enqueue(&self, job: &NewJob) -> Result<Enqueued> {
        let under_way = UnderWay::enter(&self.single_enqueues);
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(QueueError::db("enqueue"))?;
        let channel = under_way.alone.then(|| self.notifier.channel());
        let enqueued = store::enqueue_waking(&mut conn, job, channel, &self.clock).await?;
        if enqueued.inserted {
            if under_way.alone {
                self.notifier.local().wake(&job.queue);
            } else {
                self.notifier.notify(&job.queue);
            }
        }
        Ok(enqueued)
    }

    /// Enqueues many jobs in one statement and wakes workers.
    ///
    /// # Errors
    /// [`QueueError::Database`].
    pub async fn enqueue_many(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(QueueError::db("enqueue"))?;
        let enqueued = store::enqueue_many(&mut conn, jobs, &self.clock).await?;
        let mut queues: Vec<&str> = jobs.iter().map(|j| j.queue.as_str()).collect();
        queues.sort_unstable();
        queues.dedup();
        for queue in queues {
            self.notifier.notify(queue);
        }
        Ok(enqueued)
    }

    /// Enqueues inside the caller's transaction. Workers are not woken: call
    /// [`Client::wake`] after the commit (until then the job is invisible anyway).
    ///
    /// # Errors
    /// [`QueueError::Database`].
    pub async fn enqueue_using(&self, tx: &mut PgConnection, job: &NewJob) -> Result<Enqueued> {
        store::enqueue(tx, job, &self.clock).await
    }

    /// Like [`Client::enqueue_using`] for many jobs.
    ///
    /// # Errors
    /// [`QueueError::Database`].
    pub async fn enqueue_many_using(
        &self,
        tx: &mut PgConnection,
        jobs: &[NewJob],
    ) -> Result<Vec<Enqueued>> {
        store::enqueue_many(tx, jobs, &self.clock).await
    }

    /// Wakes the workers of `queue`, after a transaction that enqueued has committed.
    pub fn wake(&self, queue: &str) {
        self.notifier.notify(queue);
    }

    /// Cancels job `id`: at once when it waits; when it runs, its worker (listening on
    /// this client's channel) stops it at once (`store::cancel_in`).
    ///
    /// # Errors
    /// [`QueueError::NotFound`](super::QueueError::NotFound),
    /// [`QueueError::InvalidState`](super::QueueError::InvalidState) for finished jobs, or
    /// [`QueueError::Database`](super::QueueError::Database).
    pub async fn cancel(&self, id: JobId) -> Result<store::CancelOutcome> {
        let mut tx = self.pool.begin().await.map_err(QueueError::db("cancel"))?;
        let outcome = store::cancel_in(&mut tx, id, self.notifier.channel()).await?;
        tx.commit().await.map_err(QueueError::db("cancel"))?;
        Ok(outcome)
    }

    /// Cancels, in the caller's transaction `tx`, every unfinished job of `serial_key`
    /// whose kind is one of `kinds` (`store::cancel_serial`): a resource's provisioning
    /// stopped when it is deleted, say. The running one's worker is told when `tx`
    /// commits.
    ///
    /// # Errors
    /// [`QueueError::Database`](super::QueueError::Database).
    pub async fn cancel_serial_using(
        &self,
        tx: &mut PgConnection,
        serial_key: &str,
        kinds: &[&str],
    ) -> Result<Vec<(JobId, store::CancelOutcome)>> {
        store::cancel_serial(tx, serial_key, kinds, self.notifier.channel()).await
    }

    /// Puts a failed or cancelled job back to run with a fresh attempt budget
    /// (`store::retry_finished`) and wakes its queue's workers.
    ///
    /// # Errors
    /// [`QueueError::NotFound`](super::QueueError::NotFound),
    /// [`QueueError::InvalidState`](super::QueueError::InvalidState) (unfinished or
    /// completed jobs), or [`QueueError::Database`](super::QueueError::Database).
    pub async fn retry(&self, id: JobId) -> Result<()> {
        let queue = store::retry_finished(&self.pool, id, &self.clock).await?;
        // Retries are rare and their callers may exit at once (a command line): wake the
        // workers now rather than through the debounced notifier.
        self.notifier.local().wake(&queue);
        store::notify(&self.pool, self.notifier.channel(), &queue).await
    }
}

/// One enqueue counted among those under way while it lives.
struct UnderWay<'a> {
    count: &'a AtomicUsize,
    /// No other was under way when this one began.
    alone: bool,
}

impl<'a> UnderWay<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let alone = count.fetch_add(1, Ordering::AcqRel) == 0;
        Self { count, alone }
    }
}

impl Drop for UnderWay<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}
