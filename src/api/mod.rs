//! The HTTP API (axum): the original's `/exp` API for learning front ends, the `/v1` admin
//! API, and the operational endpoints. Each resource module has a `router()`, merged here.
//!
//! # Layout
//!
//! - [`error`]: [`ApiError`] (status, stable code, JSON body) and the `AppJson`/`AppQuery`/
//!   `AppPath` extractors whose rejections are `ApiError`s.
//! - [`surface`]: which error shape each part of the API answers in (`/exp`, `/v1`, ops).
//! - [`server`]: the HTTP server: timeouts and connection caps (connection hygiene).
//! - [`db_retry`]: requests that meet a database fault (failover, restart) retried
//!   inside the API for a bounded wait, then 503 with `Retry-After`.
//! - [`protocol`]: checks before any route: target and head size, clean query text, the
//!   request deadline.
//! - [`rate_limit`]: token buckets on `/exp` writes, per client address and per process.
//! - [`wire`]: the `/exp` compatibility surface's JSON shapes and error body, exactly as
//!   antidote-core's gateway served them.
//! - [`livesession`], [`livelesson`]: what learners request, with [`livelesson_cache`]
//!   keeping the answers of livelesson reads while current; [`lifetime`]: a lab's
//!   schedule, extension and termination (ours); [`progress`]: a lab's live progress as a
//!   server-sent event stream (ours), fed by [`progress_hub`], the process's one poller.
//! - [`curriculum`]: read-only lessons, prerequisites, collections, images (never with
//!   passwords); [`antidoteinfo`]: build and curriculum versions.
//! - [`jobs`]: the admin API over the job queue, behind a bearer token; [`pools`]: warm
//!   pools and capacity (`/v1/pools`), behind it too.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`; [`worker_probes`]: the
//!   same probes and the process's metrics for `antidoted worker`, which serves no API.
//! - [`client`]: who the client is (peer address, or the right-most untrusted hop of the
//!   forwarding header), and how addresses are grouped for limits.
//! - [`settings`], [`cors`], [`web_root`]: allowed browser origins, and the built front
//!   end served at `/` with the API also under `/acore/`.
//! - [`ui`]: the operator dashboard at `/ui`, behind the admin token.

pub mod antidoteinfo;
pub mod client;
pub mod cors;
pub mod curriculum;
pub mod db_retry;
pub mod error;
pub mod jobs;
pub mod lifetime;
pub mod livelesson;
pub mod livelesson_cache;
pub mod livesession;
pub mod ops;
pub mod pools;
pub mod progress;
pub mod progress_hub;
pub mod protocol;
pub mod rate_limit;
pub mod server;
pub mod settings;
pub mod surface;
pub mod ui;
pub mod web_root;
pub mod wire;
pub mod worker_probes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use ipnet::IpNet;
use sqlx::PgPool;
use tower_http::trace::TraceLayer;

use crate::backend::Settings;
use crate::queue::Client;
use crate::queue::schema::SchemaName;
use crate::secret::Secret;
use crate::workflow::request::Limits;
use settings::HttpSettings;

pub use crate::curriculum::names::is_lesson_slug;
pub use error::{ApiError, AppJson, AppPath, AppQuery};
pub use server::serve;

/// What every handler shares. Cheap to clone. Built from the configuration by
/// [`crate::startup`] (`AppState::new`).
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
    /// Peers whose forwarding header is believed.
    pub trusted_proxies: Arc<[IpNet]>,
    /// The header trusted proxies append to.
    pub forwarded_header: client::ForwardedHeader,
    /// IPv6 clients share per-address limits per network of this many bits.
    pub ipv6_prefix_length: u8,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// CORS origins and the served front end.
    pub api: Arc<settings::ApiSettings>,
    /// Connection hygiene settings.
    pub http: HttpSettings,
    /// Token buckets of `/exp` writes.
    pub rate_limits: Arc<rate_limit::RateLimits>,
    /// Whether the dashboard is served (`api.ui`).
    pub ui: bool,
    /// The schema of the job engine's tables, if not the shared layout (readiness looks
    /// for the engine's migrations there).
    pub engine_schema: Option<Arc<SchemaName>>,
    /// How long a request that meets a database fault waits for a writable primary.
    pub writable_wait: std::time::Duration,
    /// How a learner's lab schedule is computed (inactivity, hard deadline, extensions).
    pub lifetime: Arc<crate::workflow::lifetime::Policy>,
    /// Live progress streams: their settings, the process's shared poller and the open
    /// streams per client address.
    pub progress: Arc<progress::Streams>,
    /// The answers of `GET /exp/livelesson/{id}` kept while current.
    pub livelessons: Arc<livelesson_cache::LivelessonCache>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("limits", &self.limits)
            .field("admin_token", &self.admin_token)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("forwarded_header", &self.forwarded_header)
            .field("ipv6_prefix_length", &self.ipv6_prefix_length)
            .field("body_limit", &self.body_limit)
            .field("api", &self.api)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// The whole API; with `api.webRoot`, also the front end at `/` and the API under
/// `/acore/`; with `api.corsOrigins`, CORS.
pub fn router(state: AppState) -> Router {
    let cors = cors::layer(&state.api.cors_origins);
    let api = with_layers(routes(&state).fallback(fallback), state.clone());
    let app = match state.api.web_root.clone() {
        Some(dir) => {
            let origin = state.api.terminals_origin.clone();
            web_root::app(with_layers(routes(&state), state), api, dir, origin)
        }
        None => api,
    };
    match cors {
        Some(cors) => app.layer(cors),
        None => app,
    }
}

/// Every route, without a fallback.
fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(livesession::router())
        .merge(livelesson::router())
        .merge(lifetime::router())
        .merge(progress::router())
        .merge(curriculum::router())
        .merge(antidoteinfo::router())
        .merge(jobs::router(state.clone()))
        .merge(pools::router(state.clone()))
        .merge(ops::router())
        .merge(ui::router(state.clone()))
        .method_not_allowed_fallback(method_not_allowed)
}

/// `routes` with the API's middleware. Innermost first: the body limit, the retry of
/// requests that met a database fault, the rate limit of `/exp` writes (a retry is not
/// counted again), the request deadline, the protocol checks, and outermost the error
/// rendering of the surface, so that every refusal of the others is rendered there too.
fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    let body_limit = state.body_limit;
    let request_limits = protocol::RequestLimits {
        max_uri_bytes: state.http.max_uri_bytes,
        max_header_bytes: state.http.max_header_bytes,
    };
    let request_timeout = state.http.request_timeout();
    routes
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            db_retry::RetryWindow {
                wait: state.writable_wait,
                body_limit,
            },
            db_retry::retry_database_faults,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit_writes,
        ))
        .layer(middleware::from_fn_with_state(
            request_timeout,
            protocol::request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            request_limits,
            protocol::check_request,
        ))
        .layer(middleware::from_fn(surface::render_errors))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(record_response),
        )
        .with_state(state)
}

/// The span of one API request, at INFO so that it is exported whatever `RUST_LOG` says
/// about `tower_http`: an OpenTelemetry HTTP server span (`POST /exp/livelesson`, with
/// `http.request.method`, `http.route`, and `http.response.status_code` once answered).
/// It records the route pattern, not the URI: query strings and ids stay out of span
/// names. A `traceparent` header from the caller becomes its parent.
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
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    crate::telemetry::continue_remote(&span, request);
    span
}

/// Unmatched requests. A GET of a one-segment path (`/`, `/anything`) is answered `{}`, as
/// the original's `GET /*` health check was (load balancers probe `/`); anything else is
/// 404.
async fn fallback(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Result<AppJson<wire::Empty>, ApiError> {
    let one_segment = uri
        .path()
        .strip_prefix('/')
        .is_some_and(|rest| !rest.contains('/'));
    if one_segment && (method == axum::http::Method::GET || method == axum::http::Method::HEAD) {
        return Ok(AppJson(wire::Empty {}));
    }
    Err(ApiError::not_found("not_found", "no such resource"))
}

/// Records the answer's status on the request span. As the HTTP semantic conventions ask
/// of server spans, a 5xx marks the span failed (status ERROR, `error.type` the code); a
/// 4xx is the client's error and leaves the status unset.
fn record_response<B>(
    response: &axum::http::Response<B>,
    _latency: std::time::Duration,
    span: &tracing::Span,
) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("error.type", status.as_str());
        crate::telemetry::record_error(span, status.canonical_reason().unwrap_or("server error"));
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this resource",
    )
}

/// Whether `id` has the shape of a session or livelesson id (`[a-z0-9]{10}`). Checked
/// before any SQL so that traversal and injection attempts end here.
pub fn is_id(id: &str) -> bool {
    id.len() == crate::curriculum::names::LIVELESSON_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}
