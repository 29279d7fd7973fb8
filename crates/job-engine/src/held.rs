//! The leases a worker holds: one entry per claimed job, from its claim until its outcome
//! is stored, with the means to stop the job's task from outside. The heartbeat renews
//! what is here; a job whose lease is lost or whose worker shuts down is stopped here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::job::JobId;

/// Why a running job's task is stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AbortReason {
    LeaseLost,
    Shutdown,
    /// Its cancel was requested (the job ends cancelled).
    Cancelled,
}

/// How a job's task learns that it was stopped, and why.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop {
    pub abort: CancellationToken,
    pub reason: Arc<Mutex<Option<AbortReason>>>,
}

impl Stop {
    /// Why the task was stopped; `None` before it was.
    pub fn reason(&self) -> Option<AbortReason> {
        *self
            .reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stop(&self, reason: AbortReason) {
        *self
            .reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
        self.abort.cancel();
    }
}

/// A job this worker holds a lease on, until its completion is stored.
#[derive(Debug)]
struct Held {
    token: Uuid,
    stop: Stop,
}

/// The set of leases a worker holds. Cheap to clone; clones share the set.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeldLeases(Arc<Mutex<HashMap<JobId, Held>>>);

impl HeldLeases {
    fn lock(&self) -> MutexGuard<'_, HashMap<JobId, Held>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a claim; returns how its task learns it was stopped. A held entry of an
    /// earlier claim of the same job (its task stuck while the lease expired, then the job
    /// came back to this worker) is stopped first: that attempt lost its lease.
    pub fn hold(&self, id: JobId, token: Uuid) -> Stop {
        let stop = Stop::default();
        let held = Held {
            token,
            stop: stop.clone(),
        };
        if let Some(stale) = self.lock().insert(id, held) {
            stale.stop.stop(AbortReason::LeaseLost);
        }
        stop
    }

    /// Forgets a claim, unless a newer claim of the job replaced it.
    pub fn release(&self, id: JobId, token: Uuid) {
        let mut held = self.lock();
        if held.get(&id).is_some_and(|h| h.token == token) {
            held.remove(&id);
        }
    }

    /// Stops a held job's task, if the token still names the same claim.
    pub fn abort(&self, id: JobId, token: Uuid, reason: AbortReason) {
        let held = self.lock();
        if let Some(h) = held.get(&id).filter(|h| h.token == token) {
            h.stop.stop(reason);
        }
    }

    /// Stops job `id`'s task if it is held here: its cancel was requested. A job stopped
    /// already for another reason keeps that reason.
    pub fn cancel(&self, id: JobId) {
        if let Some(h) = self.lock().get(&id)
            && h.stop.reason().is_none()
        {
            h.stop.stop(AbortReason::Cancelled);
        }
    }

    /// Whether a worker still holds this set (not only the process's cancel watch).
    pub fn in_use(&self) -> bool {
        Arc::strong_count(&self.0) > 1
    }

    /// The claims held now: (job, token).
    pub fn snapshot(&self) -> Vec<(JobId, Uuid)> {
        self.lock().iter().map(|(id, h)| (*id, h.token)).collect()
    }
}
