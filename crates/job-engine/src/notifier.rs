//! Wake-ups: a debounced `NOTIFY` after enqueues, and the listener that wakes idle workers.
//!
//! The notification is sent from the application after the enqueue commits, never from an
//! insert trigger: a `NOTIFY` inside every enqueue transaction takes a global lock at commit
//! and serialises all enqueuers. Notifications requested while one is in flight are
//! coalesced into one. The one exception is an enqueue alone on its client, which sends
//! its own `NOTIFY` in its statement (`Client::enqueue`): nobody waits behind its lock.
//! Workers also poll, so a lost notification costs latency, not jobs.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, mpsc};

use super::store;

/// The PostgreSQL channel that carries queue names of new work, unless a notifier is
/// started on another ([`Notifier::start_on`]): engines sharing a database but not their
/// workers keep apart by channel.
pub const DEFAULT_CHANNEL: &str = "job_wakeups";

/// Sends debounced wake-ups for queues, to other processes via `NOTIFY` and to workers in
/// this process directly. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<String>,
    local: LocalWakers,
    channel: Arc<str>,
}

/// Wakers of the workers in this process, by queue.
#[derive(Clone, Debug, Default)]
pub struct LocalWakers(Arc<Mutex<HashMap<String, Arc<Notify>>>>);

impl LocalWakers {
    /// The waker of `queue`, created on first use.
    pub fn get(&self, queue: &str) -> Arc<Notify> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(queue.to_owned()).or_default().clone()
    }

    /// Wakes the workers of `queue` in this process.
    pub fn wake(&self, queue: &str) {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(notify) = map.get(queue) {
            notify.notify_one();
        }
    }
}

impl Notifier {
    /// Starts the sending task on the current runtime, on [`DEFAULT_CHANNEL`]. It ends
    /// when every clone is dropped.
    pub fn start(pool: PgPool, local: LocalWakers) -> Self {
        Self::start_on(pool, local, DEFAULT_CHANNEL)
    }

    /// Like [`Notifier::start`], notifying on `channel` (workers sharing this notifier
    /// listen on it).
    pub fn start_on(pool: PgPool, local: LocalWakers, channel: &str) -> Self {
        let channel: Arc<str> = channel.into();
        let sending = channel.clone();
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut queues = BTreeSet::from([first]);
                while let Ok(more) = rx.try_recv() {
                    queues.insert(more);
                }
                for queue in queues {
                    if let Err(err) = store::notify(&pool, &sending, &queue).await {
                        tracing::debug!(error = %err, "wake-up notification not sent; workers will poll");
                    }
                }
            }
        });
        Self { tx, local, channel }
    }

    /// Wakes workers of `queue`: those in this process at once, others by `NOTIFY`.
    /// Call it after the transaction that enqueued has committed.
    pub fn notify(&self, queue: &str) {
        self.local.wake(queue);
        // The receiver lives as long as the runtime; a send error only means shutdown.
        let _ = self.tx.send(queue.to_owned());
    }

    /// The channel this notifier sends on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The local wakers this notifier serves.
    pub fn local(&self) -> &LocalWakers {
        &self.local
    }
}

/// Listens on `channel` and wakes this process's workers of the named queue. Reconnects
/// after connection loss; returns when `shutdown` fires.
pub async fn listen(
    pool: PgPool,
    local: LocalWakers,
    channel: Arc<str>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot open the wake-up listener; retrying");
                if wait_or_shutdown(&shutdown, Duration::from_secs(1)).await {
                    return;
                }
                continue;
            }
        };
        if let Err(err) = listener.listen(&channel).await {
            tracing::warn!(error = %err, "cannot LISTEN for wake-ups; retrying");
            if wait_or_shutdown(&shutdown, Duration::from_secs(1)).await {
                return;
            }
            continue;
        }
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => local.wake(notification.payload()),
                    // The connection dropped: notifications may have been missed, so wake
                    // everyone once; the next try_recv reconnects.
                    Ok(None) => {
                        let map = local.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        map.values().for_each(|n| n.notify_one());
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "wake-up listener failed; reconnecting");
                        break;
                    }
                },
            }
        }
        if wait_or_shutdown(&shutdown, Duration::from_millis(200)).await {
            return;
        }
    }
}

/// Sleeps for `delay`; true when shutdown fired first.
pub(crate) async fn wait_or_shutdown(
    shutdown: &tokio_util::sync::CancellationToken,
    delay: Duration,
) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(delay) => false,
    }
}
