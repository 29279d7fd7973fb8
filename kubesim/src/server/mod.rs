//! The HTTP front end. This file owns listening: the accept loops (the API's, with the
//! unreachable switch, and the simulator's own), each request handed to `dispatch`.
//!
//! - `route`: path parsing; `wire`: query string, request body, JSON responses.
//! - `dispatch`: verb selection and the knobs; `discovery`: discovery documents.
//! - `admit`: validation and defaulting of new objects (shared with controllers).
//! - `verbs`: create, update, patch, delete and garbage collection.
//! - `list`: lists and selectors; `watch`: watch streams; `log`: `pods/log`.

mod admit;
mod discovery;
mod dispatch;
mod list;
mod log;
mod route;
mod verbs;
mod watch;
mod wire;

pub(crate) use verbs::create_internal;
pub use verbs::merge_patch;

use crate::Shared;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Which listener a request came in on.
#[derive(Clone)]
struct Front {
    shared: Arc<Shared>,
    /// The simulator's own listener: knobs and the request log do not apply.
    simulator: bool,
}

/// Serves the API until aborted. While the unreachable knob is on, the listener is closed
/// and every open connection dropped, so clients see connection refused.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener, addr: SocketAddr) {
    let router = Router::new().fallback(handle).with_state(Front {
        shared: shared.clone(),
        simulator: false,
    });
    let mut want = shared.knobs.unreachable_want();
    let mut listener = Some(listener);
    let mut conns: JoinSet<()> = JoinSet::new();
    loop {
        let unreachable = *want.borrow_and_update();
        if unreachable {
            listener = None;
            conns.abort_all();
            while conns.join_next().await.is_some() {}
            shared.knobs.ack_unreachable(true);
            if want.wait_for(|v| !*v).await.is_err() {
                return;
            }
            continue;
        }
        let l = match &listener {
            Some(l) => l,
            None => match rebind(addr) {
                Ok(l) => listener.insert(l),
                Err(e) => {
                    tracing::warn!("kubesim: rebinding {addr}: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        shared.knobs.ack_unreachable(false);
        tokio::select! {
            r = l.accept() => {
                if let Ok((stream, _)) = r {
                    let svc = TowerToHyperService::new(router.clone());
                    conns.spawn(async move {
                        let conn = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc);
                        let _ = conn.await;
                    });
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            r = want.changed() => if r.is_err() { return },
        }
    }
}

/// Serves the API to the simulator's own clients (node agents) until aborted: no knob
/// applies and nothing is recorded.
pub(crate) async fn serve_simulator(shared: Arc<Shared>, listener: TcpListener) {
    let router = Router::new().fallback(handle).with_state(Front {
        shared,
        simulator: true,
    });
    let mut conns: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    let svc = TowerToHyperService::new(router.clone());
                    conns.spawn(async move {
                        let conn = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc);
                        let _ = conn.await;
                    });
                }
                Err(e) => {
                    tracing::warn!("kubesim: accepting on the simulator listener: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

fn rebind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

async fn handle(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match dispatch::dispatch(&front.shared, front.simulator, method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
