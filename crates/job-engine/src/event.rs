//! What a worker reports as it works: [`WorkerEvent`]s, broadcast to whoever subscribed
//! (tests, progress displays), and the sender its services share.

use tokio::sync::broadcast;

use crate::job::JobId;

/// Events a subscriber may fall behind by before it misses some.
const CAPACITY: usize = 4096;

/// Something a worker did, broadcast for tests, progress displays and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerEvent {
    /// A job was claimed.
    Claimed(JobId),
    /// A job's handler started (the claim's batch was dispatched).
    Started(JobId),
    /// A checkpointed step of a job completed and its checkpoint is stored.
    StepDone {
        /// The job.
        job: JobId,
        /// The step's name.
        step: String,
    },
    /// A job completed and the completion is stored.
    Completed(JobId),
    /// A transient failure was scheduled for retry.
    RetryScheduled(JobId),
    /// A job failed for good.
    Failed(JobId),
    /// A job was cancelled.
    Cancelled(JobId),
    /// A job was snoozed by a long durable timer.
    Snoozed(JobId),
    /// A job was handed back during shutdown.
    HandedBack(JobId),
    /// The worker lost a job's lease and stopped it.
    LeaseLost(JobId),
    /// This worker's rescuer found a job's lease expired (any worker's) and made the job
    /// runnable again, or failed it when that was its last attempt.
    Rescued {
        /// The job.
        job: JobId,
        /// Whether it was failed rather than made runnable.
        failed: bool,
    },
    /// This worker took its liveness lock (`held`), after starting or reconnecting, or
    /// lost it (its connection failed): it claims nothing until it holds it again.
    LivenessLock {
        /// Whether the lock is held now.
        held: bool,
    },
    /// This worker's periodic scheduler enqueued the job of a schedule's slot.
    SlotEnqueued {
        /// The schedule's name.
        schedule: String,
        /// The slot (milliseconds since the epoch divided by the schedule's interval).
        slot: i64,
        /// The job enqueued for it.
        job: JobId,
    },
}

/// The sending side of a worker's events, shared by its services. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Events(broadcast::Sender<WorkerEvent>);

impl Default for Events {
    fn default() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }
}

impl Events {
    /// Sends `event` to the subscribers, if any.
    pub fn emit(&self, event: WorkerEvent) {
        // No subscriber is fine.
        let _ = self.0.send(event);
    }

    /// Sends the event `make` builds, only when someone subscribed: events that carry a
    /// name cost an allocation, which a worker nobody watches should not pay per step.
    pub fn emit_with(&self, make: impl FnOnce() -> WorkerEvent) {
        if self.0.receiver_count() > 0 {
            self.emit(make());
        }
    }

    /// A receiver of the events sent from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<WorkerEvent> {
        self.0.subscribe()
    }
}
