//! A host-routing HTTP proxy for http presentations and the jupyter guide: what the
//! original's ingress did, for a machine without one (the demo).
//!
//! A request's `Host` is the `HepDomain` or `GuideDomain` the API reported for a READY
//! livelesson (`<namespace>-<endpoint>-<presentation>.<hepsDomain>[:<hepsPort>]`); the
//! proxy forwards it to that endpoint's host on the presentation's port and streams the
//! answer back. As the original's ingress did (`proxy_hide_header X-Frame-Options`), it
//! drops `X-Frame-Options`, so that the front end can show the page in its iframe.
//! Browsers resolve every `*.localhost` name to the loopback address, so on a machine
//! without DNS for `hepsDomain` the addresses work as they are, with `hepsDomain:
//! localhost` and `hepsPort` the proxy's port.
//!
//! Answers of its own: 400 without a `Host`, 404 for an address no READY livelesson
//! presents, 502 when the endpoint does not answer, 503 when the database cannot say.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sqlx::PgPool;

use crate::store::presentation::{Upstream, upstream};

/// How long an endpoint may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an endpoint may take to start answering.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers of one connection, never forwarded (RFC 9110, section 7.6.1).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

#[derive(Clone)]
struct Proxy {
    pool: PgPool,
    client: Client<HttpConnector, Body>,
}

/// The proxy's routes: every path of every host.
pub fn router(pool: PgPool) -> Router {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let client = Client::builder(TokioExecutor::new()).build(connector);
    Router::new()
        .fallback(forward)
        .with_state(Proxy { pool, client })
}

/// Serves the proxy on `listener` until `shutdown` completes.
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    pool: PgPool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(pool))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn forward(State(proxy): State<Proxy>, mut request: Request) -> Response {
    let Some(address) = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase)
    else {
        return refuse(StatusCode::BAD_REQUEST, "a request without a Host header");
    };
    let target = match upstream(&proxy.pool, &address).await {
        Ok(Some(target)) => target,
        Ok(None) => {
            return refuse(
                StatusCode::NOT_FOUND,
                &format!("no READY lab presents {address}"),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "presentation proxy: the database did not answer");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the scheduler's database is unavailable; try again shortly",
            );
        }
    };
    let Some(uri) = upstream_uri(&target, request.uri()) else {
        return refuse(
            StatusCode::BAD_GATEWAY,
            &format!("the lab's endpoint address {} is not usable", target.host),
        );
    };
    *request.uri_mut() = uri;
    strip_hop_by_hop(request.headers_mut());
    if let Ok(value) = HeaderValue::from_str(&address) {
        request
            .headers_mut()
            .insert(HeaderName::from_static("x-forwarded-host"), value);
    }
    request.headers_mut().insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("http"),
    );
    match tokio::time::timeout(ANSWER_TIMEOUT, proxy.client.request(request)).await {
        Ok(Ok(answer)) => {
            let (mut parts, body) = answer.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            parts.headers.remove(header::X_FRAME_OPTIONS);
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(e)) => {
            tracing::info!(livelesson = %target.livelesson, error = %e, "presentation proxy: endpoint failed");
            refuse(
                StatusCode::BAD_GATEWAY,
                &format!("the lab's endpoint did not answer on port {}", target.port),
            )
        }
        Err(_) => refuse(
            StatusCode::BAD_GATEWAY,
            &format!(
                "the lab's endpoint did not answer on port {} within {} s",
                target.port,
                ANSWER_TIMEOUT.as_secs()
            ),
        ),
    }
}

/// `uri`'s path and query on `target`.
fn upstream_uri(target: &Upstream, uri: &Uri) -> Option<Uri> {
    let host = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("http://{host}:{}{path}", target.port).parse().ok()
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers that `Connection` names are of this connection too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, format!("{why}\n")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str) -> Upstream {
        Upstream {
            livelesson: crate::ids::LivelessonId::from("abc".to_owned()),
            host: host.into(),
            port: 8080,
        }
    }

    #[test]
    fn the_path_and_query_go_to_the_endpoint() {
        let uri: Uri = "/notebooks/stage0/guide.ipynb?x=1".parse().unwrap();
        assert_eq!(
            upstream_uri(&target("127.1.2.3"), &uri)
                .unwrap()
                .to_string(),
            "http://127.1.2.3:8080/notebooks/stage0/guide.ipynb?x=1"
        );
        assert_eq!(
            upstream_uri(&target("fd00::1"), &uri)
                .unwrap()
                .authority()
                .unwrap()
                .as_str(),
            "[fd00::1]:8080"
        );
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key(header::ACCEPT));
    }
}
