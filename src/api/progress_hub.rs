//! The one poller of an API process's progress streams: every livelesson some stream
//! watches is read in one statement per poll interval ([`crate::workflow::progress::read`])
//! and each stream is handed its livelesson's latest snapshot through a watch channel.
//!
//! No stream holds a database connection: the poller borrows one pooled connection per
//! read, whatever the number of open streams (a thousand learners watching their labs
//! start cost one small statement a second, not a thousand). The job engine sends no
//! notification on checkpoints, so polling is how a checkpoint written by any worker
//! reaches every API process. The poller runs while some stream is open and stops with
//! the last one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use crate::ids::LivelessonId;
use crate::workflow::progress::{self, Snapshot};

/// Watched livelessons and the poller that reads them.
#[derive(Debug)]
pub struct ProgressHub {
    pool: PgPool,
    poll: Duration,
    state: Mutex<Watched>,
}

#[derive(Debug, Default)]
struct Watched {
    senders: HashMap<LivelessonId, watch::Sender<Snapshot>>,
    polling: bool,
}

impl ProgressHub {
    /// A hub reading through `pool` every `poll`.
    pub fn new(pool: PgPool, poll: Duration) -> Arc<Self> {
        Arc::new(Self {
            pool,
            poll,
            state: Mutex::new(Watched::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, Watched> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the snapshot of `id` now, outside the poller (a new stream's first look).
    ///
    /// # Errors
    /// [`crate::store::StoreError::Database`].
    pub async fn read_now(&self, id: &LivelessonId) -> Result<Snapshot, crate::store::StoreError> {
        let mut rows = progress::read(&self.pool, std::slice::from_ref(id)).await?;
        Ok(rows.pop().map_or_else(
            || Snapshot {
                livelesson: None,
                plan: None,
                completed: std::collections::HashSet::default(),
            },
            |(_, snapshot)| snapshot,
        ))
    }

    /// Watches `id`, whose latest snapshot is `seen`: the receiver is told of every later
    /// one the poller reads. Starts the poller when it is not running.
    pub fn watch(self: &Arc<Self>, id: &LivelessonId, seen: Snapshot) -> watch::Receiver<Snapshot> {
        let mut state = self.state();
        let receiver = if let Some(sender) = state.senders.get(id) {
            // The channel may hold a snapshot older than `seen`, left by a stream that has
            // ended: a lab READY again after a stage change reads just as it did before,
            // so the poller would never tell the new stream of it. Start from `seen`; if
            // the poller read a newer one meanwhile, its next read differs and is sent.
            sender.send_replace(seen);
            sender.subscribe()
        } else {
            let (sender, receiver) = watch::channel(seen);
            state.senders.insert(id.clone(), sender);
            receiver
        };
        if !state.polling {
            state.polling = true;
            tokio::spawn(self.clone().poll_while_watched());
        }
        receiver
    }

    /// Reads every watched livelesson each interval until none is watched.
    async fn poll_while_watched(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.poll).await;
            let ids: Vec<LivelessonId> = {
                let mut state = self.state();
                state
                    .senders
                    .retain(|_, sender| sender.receiver_count() > 0);
                if state.senders.is_empty() {
                    // Under the lock: a stream that starts watching now starts a poller.
                    state.polling = false;
                    return;
                }
                state.senders.keys().cloned().collect()
            };
            match progress::read(&self.pool, &ids).await {
                Ok(snapshots) => {
                    let state = self.state();
                    for (id, snapshot) in snapshots {
                        if let Some(sender) = state.senders.get(&id) {
                            sender.send_if_modified(|current| {
                                let changed = *current != snapshot;
                                if changed {
                                    *current = snapshot;
                                }
                                changed
                            });
                        }
                    }
                }
                // Streams keep their last snapshot and their keep-alives; the next poll
                // tries again.
                Err(err) => tracing::warn!(error = %err, "reading progress failed; polling again"),
            }
        }
    }
}
