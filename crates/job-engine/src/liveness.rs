//! A worker's liveness lock: a session-level advisory lock its own connection holds for
//! the worker's whole life, which PostgreSQL releases the moment that connection ends
//! (the process was killed, the connection cut) or, through the server's TCP keepalives
//! this connection sets, a few seconds after its host vanished. The lock's key is
//! registered under the worker's id (`store::register_worker`), and the rescuers of every
//! worker take over the jobs of a registered worker whose lock stays free for the grace
//! (see `rescuer`): a dead worker's jobs resume within seconds, while leases stay long.
//!
//! The connection is pinged every interval, with a timeout: one that died silently (a
//! proxy keeping the client side open) or that stayed on a server which stopped taking
//! writes (a failover) is dropped and the lock taken again, under a fresh key, on a new
//! connection. While the lock is not held the worker claims nothing
//! ([`LivenessLock::wait_held`]): others may take over its jobs at any moment, and new
//! claims would only be lost too.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::error::QueueError;
use crate::event::{Events, WorkerEvent};
use crate::notifier::wait_or_shutdown;
use crate::store;

/// The first wait before taking the lock again after losing it; doubled up to
/// [`RECONNECT_MAX`] while it fails.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// Random keys tried before giving up a connection: another session holding one is a
/// collision of two 32-bit random numbers.
const KEY_TRIES: usize = 4;

/// Whether this worker holds its liveness lock now, and under which key. Cheap to clone;
/// read on each claim (an atomic load).
#[derive(Debug, Clone)]
pub(crate) struct LivenessLock(Arc<State>);

#[derive(Debug)]
struct State {
    /// The key held, or [`NOT_HELD`] (outside the range of keys).
    key: AtomicI64,
    changed: Notify,
}

const NOT_HELD: i64 = i64::MIN;

impl Default for LivenessLock {
    fn default() -> Self {
        Self(Arc::new(State {
            key: AtomicI64::new(NOT_HELD),
            changed: Notify::new(),
        }))
    }
}

impl LivenessLock {
    /// The key of the lock while it is held.
    pub fn key(&self) -> Option<i32> {
        i32::try_from(self.0.key.load(Ordering::Acquire)).ok()
    }

    /// Whether the lock is held.
    pub fn held(&self) -> bool {
        self.key().is_some()
    }

    fn set(&self, key: Option<i32>) {
        self.0
            .key
            .store(key.map_or(NOT_HELD, i64::from), Ordering::Release);
        self.0.changed.notify_waiters();
    }

    /// Returns once the lock is held.
    pub async fn wait_held(&self) {
        loop {
            let changed = self.0.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so that a change in between is not missed.
            changed.as_mut().enable();
            if self.held() {
                return;
            }
            changed.await;
        }
    }
}

/// Why the liveness connection was given up.
#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error(transparent)]
    Database(#[from] QueueError),
    #[error("the server takes no writes (a standby, or read-only)")]
    ReadOnly,
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("every key tried was held by another session")]
    NoFreeKey,
}

/// The liveness service: takes the lock, keeps it, takes it again when it is lost.
pub(crate) struct Liveness {
    pub pool: PgPool,
    /// The worker's id, as its claims record it in `jobs.lease_owner`.
    pub worker: Arc<str>,
    /// How often the connection is pinged.
    pub ping: Duration,
    /// How long a ping, or taking the lock on a new connection, may take.
    pub timeout: Duration,
    pub lock: LivenessLock,
    /// Told when the lock is taken and lost.
    pub events: Events,
}

impl Liveness {
    /// Holds the lock until `stop` fires; the connection closes then, and PostgreSQL
    /// releases the lock.
    pub async fn run(self, stop: CancellationToken) {
        let mut delay = RECONNECT_MIN;
        loop {
            let taken = tokio::select! {
                () = stop.cancelled() => return,
                taken = self.take() => taken,
            };
            match taken {
                Ok((conn, key)) => {
                    delay = RECONNECT_MIN;
                    self.lock.set(Some(key));
                    self.events.emit(WorkerEvent::LivenessLock { held: true });
                    tracing::debug!(worker = %self.worker, key, "liveness lock taken");
                    let lost = self.hold(conn, &stop).await;
                    self.lock.set(None);
                    self.events.emit(WorkerEvent::LivenessLock { held: false });
                    match lost {
                        None => return,
                        Some(lost) => tracing::warn!(
                            worker = %self.worker, error = %lost,
                            "liveness connection lost; taking the lock again"
                        ),
                    }
                }
                Err(err) => tracing::warn!(
                    worker = %self.worker, error = %err,
                    "cannot take the liveness lock; retrying"
                ),
            }
            if wait_or_shutdown(&stop, delay).await {
                return;
            }
            delay = (delay * 2).min(RECONNECT_MAX);
        }
    }

    /// A new connection holding a fresh lock, registered.
    async fn take(&self) -> Result<(PgConnection, i32), Lost> {
        let limit = self.timeout;
        tokio::time::timeout(limit, async {
            let mut conn = PgConnection::connect_with(&self.pool.connect_options())
                .await
                .map_err(QueueError::db("liveness connect"))?;
            if let Err(err) = store::keep_alive(&mut conn).await {
                // The lock still works; a vanished host is then noticed later.
                tracing::debug!(error = %err, "server keepalives not set");
            }
            for _ in 0..KEY_TRIES {
                let key: i32 = rand::random();
                if store::try_liveness_lock(&mut conn, key).await? {
                    store::register_worker(&mut conn, &self.worker, key).await?;
                    return Ok((conn, key));
                }
            }
            Err(Lost::NoFreeKey)
        })
        .await
        .unwrap_or(Err(Lost::TimedOut(limit)))
    }

    /// Pings `conn` until it fails or `stop` fires; returns why it was lost, or `None`
    /// on `stop`.
    async fn hold(&self, mut conn: PgConnection, stop: &CancellationToken) -> Option<Lost> {
        let mut ticker = tokio::time::interval(self.ping);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    // Polite, bounded: the lock goes with the connection either way.
                    let _ = tokio::time::timeout(self.timeout, conn.close()).await;
                    return None;
                }
                _ = ticker.tick() => {}
            }
            match tokio::time::timeout(self.timeout, store::writable(&mut conn)).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => return Some(Lost::ReadOnly),
                Ok(Err(err)) => return Some(Lost::Database(err)),
                Err(_) => return Some(Lost::TimedOut(self.timeout)),
            }
        }
    }
}
