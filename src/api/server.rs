//! The HTTP server: hyper's HTTP/1.1 connections with the connection hygiene an API on the
//! internet needs, so that one client cannot hold the process's descriptors or memory.
//!
//! - A request head must arrive within `http.headerTimeoutSecs`, counted from the
//!   connection's start and again whenever a keep-alive connection turns idle (hyper's
//!   `header_read_timeout`): slow headers and idle connections are closed after it.
//! - Reading the body and handling the request are bounded by `http.requestTimeoutSecs`
//!   ([`super::protocol::request_timeout`]: 408, then close).
//! - At most `http.maxConnections` connections per process and
//!   `http.maxConnectionsPerAddress` per client address group (trusted proxies exempt)
//!   are served. Past either, the connection is answered 503 `overloaded` and closed, by
//!   a small, bounded pool of short-lived connections; past that pool it is closed at once.
//!   The listener keeps accepting either way, so the kernel's backlog never fills.
//! - hyper's own limits sit above ours: a head larger than [`READ_BUFFER_BYTES`] or a
//!   target longer than 65,534 bytes is refused by hyper itself (431/414 without a body).
//!
//! HTTP/2 is not served: browsers speak it only over TLS, which the proxy in front ends.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use super::client::limit_group;
use super::settings::HttpSettings;
use super::surface::{Surface, render};
use super::{ApiError, AppState};

/// The largest `http.maxUriBytes` accepted: a target this long still leaves room in
/// hyper's read buffer for the headers.
pub const MAX_URI_BYTES: usize = 32 * 1024;

/// The largest `http.maxHeaderBytes` accepted.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// hyper's read buffer per connection, and so the largest head hyper parses: above
/// [`MAX_URI_BYTES`] + [`MAX_HEADER_BYTES`], so that what our checks refuse is answered
/// in our JSON shape, and small enough that a full pool of connections stays in memory.
pub const READ_BUFFER_BYTES: usize = 128 * 1024;

/// Connections past the caps that are answered 503 at once; more are closed unanswered.
const OVERFLOW_CONNECTIONS: usize = 256;

/// How long an over-cap connection may take to send its request head.
const OVERFLOW_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// Descriptors kept for everything but client connections: database pools, the
/// Kubernetes client, files, the listener.
const RESERVED_DESCRIPTORS: u64 = 256;

/// Serves `state`'s API on `listener` until `shutdown` resolves, then stops accepting,
/// lets open requests finish and closes idle connections.
///
/// # Errors
/// None today: accept errors are logged and retried. The `Result` is the listener's
/// contract.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let settings = state.http.clone();
    ensure_descriptors(&settings);
    let trusted = state.trusted_proxies.clone();
    let ipv6_prefix = state.ipv6_prefix_length;
    let router = super::router(state);
    let admission = Admission::new(&settings);
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout())
        .max_buf_size(READ_BUFFER_BYTES)
        .keep_alive(true);
    let mut overflow_builder = http1::Builder::new();
    overflow_builder
        .timer(TokioTimer::new())
        .header_read_timeout(OVERFLOW_HEADER_TIMEOUT.min(settings.header_timeout()))
        .max_buf_size(READ_BUFFER_BYTES)
        .keep_alive(false);

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let group = (!is_trusted(peer.ip(), &trusted)).then(|| limit_group(peer.ip(), ipv6_prefix));
        match admission.admit(group) {
            Ok(slot) => {
                let service = router
                    .clone()
                    .map_request(move |mut request: Request<Incoming>| {
                        request.extensions_mut().insert(ConnectInfo(peer));
                        request
                    });
                let connection = builder
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Err(err) = connection.await {
                        tracing::debug!(error = %err, %peer, "connection ended with an error");
                    }
                });
            }
            Err(refusal) => admission.refuse(stream, peer, refusal, &overflow_builder),
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = limit_group(ip, 128);
    trusted.iter().any(|net| net.contains(&ip))
}

/// Raises the descriptor limit as far as the caps need (up to the hard limit), and says
/// so when even that is too low for them.
fn ensure_descriptors(settings: &HttpSettings) {
    let wanted = (settings.max_connections + OVERFLOW_CONNECTIONS) as u64 + RESERVED_DESCRIPTORS;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit >= wanted => {}
        Ok(limit) => tracing::warn!(
            limit,
            wanted,
            "the descriptor limit is below what http.maxConnections needs: lower \
             http.maxConnections or raise the hard limit (ulimit -Hn)"
        ),
        Err(err) => tracing::warn!(error = %err, "cannot read or raise the descriptor limit"),
    }
}

/// Logs an accept error; waits a little when descriptors ran out, rather than spinning.
async fn accept_failed(err: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) {
        return;
    }
    tracing::warn!(error = %err, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `http.maxConnections` reached.
    Process,
    /// `http.maxConnectionsPerAddress` reached for the client's address group.
    Address,
}

/// Open connections, in total and per client address group.
struct Admission {
    max_total: usize,
    max_per_group: usize,
    counts: Mutex<Counts>,
    overflow: Arc<Semaphore>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_group: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
struct Slot {
    admission: Arc<Admission>,
    group: Option<IpAddr>,
}

impl Admission {
    fn new(settings: &HttpSettings) -> Arc<Self> {
        Arc::new(Self {
            max_total: settings.max_connections,
            max_per_group: settings.max_connections_per_address,
            counts: Mutex::new(Counts::default()),
            overflow: Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS)),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Each critical section below leaves the counts consistent before it can panic.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn admit(self: &Arc<Self>, group: Option<IpAddr>) -> Result<Slot, Refusal> {
        let mut counts = self.counts();
        if counts.total >= self.max_total {
            return Err(Refusal::Process);
        }
        if let Some(group) = group {
            let open = counts.per_group.entry(group).or_default();
            if *open >= self.max_per_group {
                return Err(Refusal::Address);
            }
            *open += 1;
        }
        counts.total += 1;
        Ok(Slot {
            admission: Arc::clone(self),
            group,
        })
    }

    /// Answers a refused connection 503 and closes it, or closes it at once when the
    /// overflow pool is full too.
    fn refuse(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        refusal: Refusal,
        builder: &http1::Builder,
    ) {
        tracing::debug!(%peer, ?refusal, "connection refused");
        let Ok(permit) = Arc::clone(&self.overflow).try_acquire_owned() else {
            drop(stream);
            return;
        };
        let connection = builder.serve_connection(
            TokioIo::new(stream),
            hyper::service::service_fn(move |request: Request<Incoming>| async move {
                Ok::<_, Infallible>(overloaded(request.uri().path(), refusal))
            }),
        );
        tokio::spawn(async move {
            let _permit: OwnedSemaphorePermit = permit;
            let _ = connection.await;
        });
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.admission.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(group) = self.group
            && let Some(open) = counts.per_group.get_mut(&group)
        {
            *open = open.saturating_sub(1);
            if *open == 0 {
                counts.per_group.remove(&group);
            }
        }
    }
}

/// The answer to a connection past the caps, in the shape of the surface asked for.
fn overloaded(path: &str, refusal: Refusal) -> Response {
    let message = match refusal {
        Refusal::Process => "the server has too many open connections; retry shortly",
        Refusal::Address => {
            "this client address has too many open connections; close some and retry"
        }
    };
    let error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
        .with_retry_after(1)
        .closing();
    render(Surface::of(path), &error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(total: usize, per_address: usize) -> HttpSettings {
        HttpSettings {
            max_connections: total,
            max_connections_per_address: per_address,
            ..HttpSettings::default()
        }
    }

    #[test]
    fn connections_are_capped_per_address_and_in_total() {
        let admission = Admission::new(&settings(3, 2));
        let one: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        let a = admission.admit(Some(one)).expect("first");
        let _b = admission.admit(Some(one)).expect("second");
        assert_eq!(admission.admit(Some(one)).err(), Some(Refusal::Address));
        let _c = admission.admit(Some(other)).expect("another address");
        assert_eq!(admission.admit(None).err(), Some(Refusal::Process));
        drop(a);
        let _d = admission.admit(Some(one)).expect("a place was freed");
        assert_eq!(admission.counts().per_group.len(), 2);
    }
}
