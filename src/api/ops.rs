//! Operational endpoints: `/healthz` (process up), `/readyz` (database reachable and
//! writable, every embedded migration applied), `/metrics` (Prometheus text), `/openapi.json`.

use std::fmt::Write as _;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::OpenApi;

use super::{ApiError, AppJson, AppState};
use crate::db::{self, DbError, DbFault};
use crate::queue::schema::SchemaName;

/// Status of a probe.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Probe {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", operation_id = "healthz", responses((status = 200, body = Probe)))]
pub async fn healthz() -> AppJson<Probe> {
    AppJson(Probe { status: "ok" })
}

/// The database answers, takes writes (a primary, not a standby or a demoted primary) and
/// its schema is this binary's.
#[utoipa::path(get, path = "/readyz", tag = "ops", operation_id = "readyz",
    responses((status = 200, body = Probe), (status = 503, body = super::error::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<AppJson<Probe>, ApiError> {
    check_ready(&state.pool, state.engine_schema.as_deref()).await?;
    Ok(AppJson(Probe { status: "ready" }))
}

/// What `/readyz` checks, for the API's processes and the workers' alike: the database
/// answers, takes writes, and holds every migration of this binary (the engine's in
/// `engine_schema` when it has its own).
///
/// # Errors
/// `503 not_ready` naming what is missing.
pub async fn check_ready(
    pool: &PgPool,
    engine_schema: Option<&SchemaName>,
) -> Result<(), ApiError> {
    let not_ready =
        |message: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message);
    let unavailable = |err: &(dyn std::error::Error + 'static)| {
        let fault = db::fault::observe(err).unwrap_or(DbFault::Unreachable);
        tracing::warn!(error = %super::error::chain(err), "readiness: {}", fault.describe());
        not_ready(match fault {
            DbFault::ReadOnly => "database not writable (read-only: not the primary)".into(),
            _ => "database unreachable".into(),
        })
    };
    let missing = db::pending_migrations(pool, engine_schema)
        .await
        .map_err(|err| {
            if let DbError::Unreachable(source) = &err {
                unavailable(source)
            } else {
                tracing::warn!(error = %err, "readiness: reading applied migrations");
                not_ready("migrations not applied".into())
            }
        })?;
    if !missing.is_empty() {
        return Err(not_ready(format!("pending migrations: {missing:?}")));
    }
    // A connection opened before a failover demoted its server reads fine but cannot
    // write: ask the server.
    let writable = crate::queue::inspect::writable(pool)
        .await
        .map_err(|err| unavailable(&err))?;
    if !writable {
        let err = sqlx::Error::Io(std::io::Error::other(db::fault::NotPrimary));
        return Err(unavailable(&err));
    }
    Ok(())
}

/// Prometheus metrics: jobs by state and kind, livelessons by status (counted at scrape),
/// and this process's series (see [`crate::telemetry::metrics`]).
#[utoipa::path(get, path = "/metrics", tag = "ops", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    // Counted at scrape time so that every replica reports the same, durable truth.
    let jobs = crate::queue::inspect::counts(&state.pool)
        .await
        .map_err(internal("counting jobs"))?;
    // Runtime-checked SQL: this read-only aggregate is the API's only own query.
    let livelessons: Vec<(String, i64)> =
        sqlx::query_as("select status::text, count(*) from livelessons group by 1 order by 1")
            .fetch_all(&state.pool)
            .await
            .map_err(internal("counting livelessons"))?;
    let mut text = String::new();
    text.push_str("# HELP antidote_jobs Jobs by state and kind.\n# TYPE antidote_jobs gauge\n");
    for job in jobs {
        let _ = writeln!(
            text,
            "antidote_jobs{{state=\"{}\",kind=\"{}\"}} {}",
            job.state.as_str(),
            escape(&job.kind),
            job.count
        );
    }
    text.push_str(
        "# HELP antidote_livelessons Livelessons by status.\n# TYPE antidote_livelessons gauge\n",
    );
    for (status, count) in livelessons {
        let _ = writeln!(
            text,
            "antidote_livelessons{{status=\"{}\"}} {count}",
            escape(&status)
        );
    }
    pools_gauges(&state, &mut text).await?;
    // What this process observed: latencies, retries, rescues, API errors, GC.
    text.push_str(&crate::telemetry::metrics().render());
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Spares by lesson and state, capacity in use and the waiting line, from the database.
async fn pools_gauges(state: &AppState, text: &mut String) -> Result<(), ApiError> {
    use crate::store::pool;
    let spares = pool::spare_counts(&state.pool).await?;
    let usage = pool::usage(&state.pool, "").await?;
    let longest = pool::longest_wait(&state.pool).await?;
    let max_live = pool::global_settings(&state.pool).await?.max_live;
    text.push_str(
        "# HELP antidote_pool_spares Spares by lesson and state (DELETING: being replaced).\n# TYPE antidote_pool_spares gauge\n",
    );
    for spare in spares {
        let _ = writeln!(
            text,
            "antidote_pool_spares{{lesson=\"{}\",state=\"{}\"}} {}",
            escape(&spare.lesson_slug),
            escape(&spare.state),
            spare.count
        );
    }
    let _ = write!(
        text,
        "# HELP antidote_capacity_live Live livelessons, spares included (what capacity counts).\n\
         # TYPE antidote_capacity_live gauge\nantidote_capacity_live {}\n\
         # HELP antidote_capacity_max_live The configured maximum (0: unlimited).\n\
         # TYPE antidote_capacity_max_live gauge\nantidote_capacity_max_live {max_live}\n\
         # HELP antidote_capacity_waiting Requests waiting in line for capacity.\n\
         # TYPE antidote_capacity_waiting gauge\nantidote_capacity_waiting {}\n\
         # HELP antidote_capacity_longest_wait_seconds How long the first in line has waited.\n\
         # TYPE antidote_capacity_longest_wait_seconds gauge\nantidote_capacity_longest_wait_seconds {longest}\n",
        usage.live, usage.waiting
    );
    Ok(())
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn internal<E: std::error::Error + 'static>(what: &'static str) -> impl FnOnce(E) -> ApiError {
    move |err| ApiError::from_failure(what, &err)
}

/// The OpenAPI document of this API, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", operation_id = "openapi", responses((status = 200, body = Object)))]
pub async fn openapi() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}

/// The OpenAPI description of every route.
#[derive(OpenApi)]
#[openapi(
    info(title = "antidote-scheduler API", description = "The `exp` API exactly as antidote-core's grpc-gateway served it (proto field names, zero values left out, request bodies read as JSON whatever their content type, errors as {error, code, message} with gRPC code numbers; also under /acore when a front end is served), the /v1 admin API and operational endpoints. See docs/api.md."),
    paths(
        super::livesession::create, super::livesession::show,
        super::livelesson::request_livelesson, super::livelesson::show,
        super::livelesson::heartbeat, super::livelesson::kill,
        super::lifetime::schedule, super::lifetime::extend, super::lifetime::terminate,
        super::progress::progress,
        super::curriculum::list_lessons, super::curriculum::show_lesson,
        super::curriculum::lesson_prereqs, super::curriculum::list_images,
        super::curriculum::list_collections, super::curriculum::show_collection,
        super::curriculum::show_curriculum, super::antidoteinfo::show,
        super::jobs::list, super::jobs::show, super::jobs::retry, super::jobs::cancel,
        super::pools::show,
        healthz, readyz, metrics, openapi,
    ),
    modifiers(&BearerAuth, &ProtocolResponses)
)]
#[derive(Debug)]
pub struct ApiDoc;

/// Adds to every operation the answers any route can give before its handler runs (the
/// [`super::protocol`] checks, the request deadline, the connection caps of
/// [`super::server`]) and to `/exp` writes the rate limit's 429, so the document lists
/// every status a route answers.
#[derive(Debug)]
struct ProtocolResponses;

impl utoipa::Modify for ProtocolResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let common: [(&str, &str); 5] = [
            (
                "400",
                "bad_request: a path segment that is not UTF-8, a query parameter with a \
                 control character, or another malformed request",
            ),
            (
                "408",
                "request_timeout: the request took longer than http.requestTimeoutSecs",
            ),
            (
                "414",
                "uri_too_long: the target is longer than http.maxUriBytes",
            ),
            (
                "431",
                "header_fields_too_large: the head is larger than http.maxHeaderBytes",
            ),
            (
                "503",
                "overloaded: too many open connections (http.maxConnections, \
                 http.maxConnectionsPerAddress)",
            ),
        ];
        let rate_limited = "rate_limited: too many writes from this client address or to this \
                            server (rateLimit)";
        for (path, item) in &mut openapi.paths.paths {
            let surface = super::surface::Surface::of(path);
            let error = |description: &str| {
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(super::surface::error_schema(
                                surface,
                            ))))
                            .build(),
                    )
                    .build()
            };
            let operations = [
                (false, &mut item.get),
                (true, &mut item.post),
                (true, &mut item.put),
                (true, &mut item.patch),
                (true, &mut item.delete),
            ];
            for (write, operation) in operations {
                let Some(operation) = operation else { continue };
                let responses = &mut operation.responses.responses;
                for (status, description) in common {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                }
                if write && surface == super::surface::Surface::Exp {
                    responses
                        .entry("429".to_owned())
                        .or_insert_with(|| error(rate_limited).into());
                }
            }
        }
    }
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
