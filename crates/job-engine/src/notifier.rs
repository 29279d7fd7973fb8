//! Wake-ups: a debounced `NOTIFY` after enqueues, and the listener that wakes idle workers.
//!
//! The notification is sent from the application after the enqueue commits, never from an
//! insert trigger: a `NOTIFY` inside every enqueue transaction takes a global lock at commit
//! and serialises all enqueuers. Notifications requested while one is in flight are
//! coalesced into one. The one exception is an enqueue alone on its client, which sends
//! its own `NOTIFY` in its statement (`Client::enqueue`): nobody waits behind its lock.
//! Workers also poll, so a lost notification costs latency, not jobs.
//!
//! The listener ([`listen_with`]) pings its connection and opens another when it died
//! silently or its server stopped taking writes (a failover), then wakes every local
//! worker once, for the notifications it may have missed.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::{Notify, mpsc};

use super::held::HeldLeases;
use super::job::JobId;
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

/// Wakers of the workers in this process, by queue, and the leases they hold (so that a
/// cancel notice stops a running job at once).
#[derive(Clone, Debug, Default)]
pub struct LocalWakers {
    queues: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
    held: Arc<Mutex<Vec<HeldLeases>>>,
}

impl LocalWakers {
    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The waker of `queue`, created on first use.
    pub fn get(&self, queue: &str) -> Arc<Notify> {
        self.queues().entry(queue.to_owned()).or_default().clone()
    }

    /// Wakes every worker of this process once, whatever its queue: after notifications
    /// may have been missed.
    pub fn wake_all(&self) {
        self.queues()
            .values()
            .for_each(|notify| notify.notify_one());
    }

    /// Wakes the workers of `queue` in this process.
    pub fn wake(&self, queue: &str) {
        if let Some(notify) = self.queues().get(queue) {
            notify.notify_one();
        }
    }

    /// Lets cancel notices reach the jobs of a worker's `held` leases (workers that have
    /// stopped since are forgotten).
    pub(crate) fn watch_cancels(&self, held: HeldLeases) {
        let mut watched = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        watched.retain(HeldLeases::in_use);
        watched.push(held);
    }

    /// Stops job `id` at once if a worker of this process runs it: its cancel was
    /// requested.
    pub fn cancel(&self, id: JobId) {
        let watched = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for held in watched.iter() {
            held.cancel(id);
        }
    }
}

/// The channel that carries the ids of running jobs whose cancel was requested, beside
/// wake-up `channel` (workers listen on both).
pub fn cancel_channel(channel: &str) -> String {
    format!("{channel}_cancel")
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

/// How the wake-up listener watches its connection: a ping every `every`, answered within
/// `timeout` by a server that takes writes, or the connection is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// Time between pings. Default 5 s.
    pub every: Duration,
    /// Time a ping, or opening a new connection, may take. Default 2 s.
    pub timeout: Duration,
}

impl Default for Ping {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
        }
    }
}

/// Listens on `channel` and wakes this process's workers of the named queue, watching
/// its connection with the default [`Ping`]. Returns when `shutdown` fires.
pub async fn listen(
    pool: PgPool,
    local: LocalWakers,
    channel: Arc<str>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    listen_with(pool, local, channel, Ping::default(), shutdown).await;
}

/// Listens on `channel` and wakes this process's workers of the named queue, until
/// `shutdown` fires.
///
/// The connection is pinged as `ping` says. One that fails, or does not answer in time
/// (it died silently: a proxy keeps the client side open when the server is gone), or
/// whose server takes no writes (a standby, or an old primary after a failover: it gets
/// none of the new primary's notifications) is dropped and another opened, each on a
/// pool of its own so that a connection that hangs is never handed to anyone else. Every
/// waiting worker of this process is woken once after each (re)connection:
/// notifications sent while nobody listened are lost.
pub async fn listen_with(
    pool: PgPool,
    local: LocalWakers,
    channel: Arc<str>,
    ping: Ping,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut delay = Duration::from_millis(100);
    let cancels = cancel_channel(&channel);
    loop {
        let connected = tokio::select! {
            () = shutdown.cancelled() => return,
            connected = connect_listener(&pool, &channel, ping.timeout) => connected,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot open the wake-up listener; retrying");
                if wait_or_shutdown(&shutdown, delay).await {
                    return;
                }
                delay = (delay * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        delay = Duration::from_millis(100);
        local.wake_all();
        let mut ticker = tokio::time::interval(ping.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                // Cancel-safe: a message read in part stays in the connection's buffer.
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) if notification.channel() == cancels => {
                        if let Ok(id) = notification.payload().parse() {
                            local.cancel(JobId(id));
                        } else {
                            tracing::warn!(payload = notification.payload(), "cancel notice names no job");
                        }
                    }
                    Ok(Some(notification)) => local.wake(notification.payload()),
                    Ok(None) => {
                        tracing::warn!("wake-up listener lost its connection; reconnecting");
                        break;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "wake-up listener failed; reconnecting");
                        break;
                    }
                },
                _ = ticker.tick() => {
                    match tokio::time::timeout(ping.timeout, store::writable(&mut listener)).await {
                        Ok(Ok(true)) => {}
                        Ok(Ok(false)) => {
                            tracing::warn!("wake-up listener's server takes no writes; reconnecting");
                            break;
                        }
                        Ok(Err(err)) => {
                            tracing::warn!(error = %err, "wake-up listener's ping failed; reconnecting");
                            break;
                        }
                        Err(_) => {
                            tracing::warn!(timeout = ?ping.timeout, "wake-up listener's ping unanswered; reconnecting");
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// Why a wake-up listener could not be opened.
#[derive(Debug, thiserror::Error)]
enum ListenerError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Queue(#[from] super::error::QueueError),
    #[error("the server takes no writes (a standby, or read-only)")]
    ReadOnly,
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
}

/// A listener on `channel`, on a writable server, opened within `timeout`.
///
/// Its connection comes from a pool of one of its own, made anew each time: a listener
/// dropped while its connection hangs keeps that connection (sqlx unlistens on it before
/// giving it back, which never completes), and would otherwise keep it from the pool the
/// application uses, or from the next listener.
async fn connect_listener(
    pool: &PgPool,
    channel: &str,
    timeout: Duration,
) -> Result<PgListener, ListenerError> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(timeout)
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with((*pool.connect_options()).clone());
    tokio::time::timeout(timeout, async {
        let mut listener = PgListener::connect_with(&own).await?;
        // The listener's own reconnection would skip the check below and the wake-up of
        // every waiter: a lost connection is reported at once instead.
        listener.eager_reconnect(false);
        if !store::writable(&mut listener).await? {
            return Err(ListenerError::ReadOnly);
        }
        listener
            .listen_all([channel, cancel_channel(channel).as_str()])
            .await?;
        Ok(listener)
    })
    .await
    .unwrap_or(Err(ListenerError::TimedOut(timeout)))
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
