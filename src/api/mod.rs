//! The HTTP API (axum): the original's `/exp` API for learning front ends, the `/v1` admin
//! API, and the operational endpoints. Each resource module has a `router()`, merged here.
//!
//! # Layout
//!
//! - [`error`]: [`ApiError`] (status, stable code, JSON body) and the `AppJson`/`AppQuery`
//!   extractors whose rejections share that shape.
//! - [`livesession`], [`livelesson`]: what learners request.
//! - [`curriculum`]: read-only lessons, images (never with passwords), collections.
//! - [`jobs`]: the admin API over the job queue, behind a bearer token.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.
//! - [`ui`]: the operator dashboard at `/ui`, behind the admin token.
//! - [`client`]: who the client is (peer address, trusted `X-Forwarded-For`).

pub mod client;
pub mod curriculum;
pub mod error;
pub mod jobs;
pub mod livelesson;
pub mod livesession;
pub mod ops;
pub mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use ipnet::IpNet;
use sqlx::PgPool;
use tower_http::trace::TraceLayer;

use crate::backend::Settings;
use crate::config::{Config, Secret};
use crate::queue::Client;
use crate::workflow::request::Limits;

pub use error::{ApiError, AppJson, AppQuery};

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: PgPool,
    /// Enqueues jobs (and wakes local workers).
    pub client: Client,
    /// Backend settings (instance id and domains shape the livelesson's hosts).
    pub settings: Arc<Settings>,
    /// Admission limits.
    pub limits: Limits,
    /// Bearer token of the admin API; empty disables it.
    pub admin_token: Arc<Secret>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[IpNet]>,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Whether the dashboard is served (`api.ui`).
    pub ui: bool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("limits", &self.limits)
            .field("admin_token", &self.admin_token)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State for `config` over `pool`.
    pub fn new(pool: PgPool, client: Client, config: &Config) -> Self {
        Self {
            pool,
            client,
            settings: Arc::new(config.backend.clone()),
            limits: config.limits(),
            admin_token: Arc::new(config.admin_token.clone()),
            trusted_proxies: config.trusted_proxies.clone().into(),
            body_limit: config.body_limit,
            ui: config.api.ui,
        }
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let body_limit = state.body_limit;
    Router::new()
        .merge(livesession::router())
        .merge(livelesson::router())
        .merge(curriculum::router())
        .merge(jobs::router(state.clone()))
        .merge(ops::router())
        .merge(ui::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of one API request, at INFO so that it is exported whatever `RUST_LOG` says
/// about `tower_http`. It records the route pattern, not the URI: query strings and ids
/// stay out of span names. A `traceparent` header from the caller becomes its parent.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |path| path.as_str());
    let span = tracing::info_span!(
        "http_request",
        otel.name = format!("{} {route}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = route,
    );
    crate::telemetry::continue_remote(&span, request);
    span
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such resource")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this resource",
    )
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes open requests.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Whether `id` has the shape of a session or livelesson id (`[a-z0-9]{10}`). Checked
/// before any SQL so that traversal and injection attempts end here.
pub fn is_id(id: &str) -> bool {
    id.len() == crate::curriculum::names::LIVELESSON_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Whether `slug` has the shape of a lesson slug (`[a-z-]+`, bounded).
pub fn is_lesson_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 128
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}
