//! `/v1/pools`: warm pools and capacity as an operator sees them, behind the admin token:
//! the applied settings, each lesson's spares by state with its failure record and
//! backoff, and what capacity admission counts (live livelessons, the waiting line).

use axum::Router;
use axum::extract::State;
use axum::middleware;
use axum::routing::get;
use serde::Serialize;

use super::{ApiError, AppJson, AppState};
use crate::store::pool::{self, GlobalSettings, LessonPool, SpareCount, Usage};

/// What `GET /v1/pools` answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolsView {
    /// The settings every process uses (as last applied from a configuration file).
    pub settings: GlobalSettings,
    /// Per lesson: target, capacity share, spares created and failed, backoff.
    pub lessons: Vec<LessonPool>,
    /// Spares by lesson and state (`DELETING` for those being replaced).
    pub spares: Vec<SpareCount>,
    /// Live livelessons (spares included), requests waiting, spares.
    pub usage: Usage,
    /// Seconds the first request in line has waited (0 when none waits).
    pub longest_wait_secs: f64,
}

/// Routes of this module, behind the admin token.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/pools", get(show))
        .route_layer(middleware::from_fn_with_state(
            state,
            super::jobs::require_admin,
        ))
}

/// Warm pools and capacity.
#[utoipa::path(get, path = "/v1/pools", tag = "admin", operation_id = "showPools",
    security(("bearer" = [])),
    responses((status = 200, description = "settings, lessons, spares by state, usage", body = Object),
              (status = 401, description = "unauthorized", body = super::error::ErrorBody),
              (status = 403, description = "forbidden, admin_disabled", body = super::error::ErrorBody)))]
pub async fn show(State(state): State<AppState>) -> Result<AppJson<PoolsView>, ApiError> {
    let db = &state.pool;
    Ok(AppJson(PoolsView {
        settings: pool::global_settings(db).await?,
        lessons: pool::lesson_pools(db).await?,
        spares: pool::spare_counts(db).await?,
        usage: pool::usage(db, "").await?,
        longest_wait_secs: pool::longest_wait(db).await?,
    }))
}
