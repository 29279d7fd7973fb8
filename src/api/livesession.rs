//! `/exp/livesession`: learners' sessions, with the per-address limit.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::client::{ClientIp, limit_key};
use super::{ApiError, AppJson, AppPath, AppState, is_id};
use crate::store::livesession::{self, Livesession};
use crate::workflow::request::{self, SessionSource};

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
#[utoipa::path(post, path = "/exp/livesession", tag = "exp", operation_id = "createLivesession",
    responses((status = 200, body = LivesessionView),
              (status = 429, description = "limit_reached (liveSessionLimit), rate_limited", body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Result<AppJson<LivesessionView>, ApiError> {
    let address = ip.map(|ip| ip.to_string());
    let key = ip.map(|ip| limit_key(ip, state.ipv6_prefix_length));
    let source = address
        .as_deref()
        .zip(key.as_deref())
        .map(|(address, key)| SessionSource { address, key });
    let session = request::create_session(&state.pool, source, state.limits).await?;
    Ok(AppJson(session.into()))
}

/// One session.
#[utoipa::path(get, path = "/exp/livesession/{id}", tag = "exp", operation_id = "showLivesession",
    params(("id" = String, Path, description = "session id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 200, body = LivesessionView),
              (status = 404, description = "unknown_session", body = super::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<AppJson<LivesessionView>, ApiError> {
    if !is_id(&id) {
        return Err(ApiError::unknown_session(StatusCode::NOT_FOUND, &id));
    }
    livesession::get(&state.pool, &id)
        .await?
        .map(|s| AppJson(s.into()))
        .ok_or_else(|| ApiError::unknown_session(StatusCode::NOT_FOUND, &id))
}
