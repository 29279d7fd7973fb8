//! The HTTP side of `antidoted worker`: `/healthz` (the process is up), `/readyz` (as the
//! API's: the database writable and every migration applied) and `/metrics` (this
//! process's own series: its jobs' latencies, retries, rescues and GC passes; the
//! database-wide gauges are the API's to report, once for all replicas). A worker takes
//! no requests, so nothing else is served: the listener exists for the kubelet's probes
//! and Prometheus.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sqlx::PgPool;
use tokio::net::TcpListener;

use super::ops::{Probe, check_ready, healthz};
use super::{ApiError, AppJson};
use crate::queue::schema::SchemaName;

/// What the probes read.
#[derive(Debug, Clone)]
struct Probed {
    pool: PgPool,
    engine_schema: Option<Arc<SchemaName>>,
}

/// The worker's routes.
pub fn router(pool: PgPool, engine_schema: Option<SchemaName>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Probed {
            pool,
            engine_schema: engine_schema.map(Arc::new),
        })
}

/// Serves `router` on `listener` until `shutdown` resolves.
///
/// # Errors
/// The listener's I/O error.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn readyz(State(probed): State<Probed>) -> Result<AppJson<Probe>, ApiError> {
    check_ready(&probed.pool, probed.engine_schema.as_deref()).await?;
    Ok(AppJson(Probe { status: "ready" }))
}

async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::metrics().render(),
    )
        .into_response()
}
