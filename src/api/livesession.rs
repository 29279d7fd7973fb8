//! `/exp/livesession`: learners' sessions, with the per-address limit.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::client::ClientIp;
use super::{ApiError, AppJson, AppState, is_id};
use crate::store::livesession::{self, Livesession};
use crate::workflow::request;

/// A session as the original's REST gateway showed it (field names included).
#[derive(Debug, Serialize, ToSchema)]
pub struct LivesessionView {
    /// `[a-z0-9]{10}`.
    #[serde(rename = "ID")]
    pub id: String,
    /// Client address at creation.
    #[serde(rename = "SourceIP")]
    pub source_ip: String,
    /// Exempt from livelesson expiry.
    #[serde(rename = "Persistent")]
    pub persistent: bool,
    /// Creation time.
    #[serde(rename = "CreatedTime")]
    pub created_time: DateTime<Utc>,
}

impl From<Livesession> for LivesessionView {
    fn from(s: Livesession) -> Self {
        Self {
            id: s.id,
            source_ip: s.source_ip.unwrap_or_default(),
            persistent: s.persistent,
            created_time: s.created_at,
        }
    }
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/exp/livesession", post(create))
        .route("/exp/livesession/{id}", get(show))
}

/// Creates a session for the calling address.
#[utoipa::path(post, path = "/exp/livesession", tag = "exp",
    responses((status = 200, body = LivesessionView),
              (status = 429, description = "liveSessionLimit reached", body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Result<AppJson<LivesessionView>, ApiError> {
    let ip = ip.map(|ip| ip.to_string());
    let session = request::create_session(&state.pool, ip.as_deref(), state.limits).await?;
    Ok(AppJson(session.into()))
}

/// One session.
#[utoipa::path(get, path = "/exp/livesession/{id}", tag = "exp",
    params(("id" = String, Path, description = "session id")),
    responses((status = 200, body = LivesessionView),
              (status = 404, description = "unknown_session", body = super::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<AppJson<LivesessionView>, ApiError> {
    if !is_id(&id) {
        return Err(ApiError::unknown_session(StatusCode::NOT_FOUND, &id));
    }
    livesession::get(&state.pool, &id)
        .await?
        .map(|s| AppJson(s.into()))
        .ok_or_else(|| ApiError::unknown_session(StatusCode::NOT_FOUND, &id))
}
