//! `/exp/livesession`: learners' sessions, with the per-address limit. Shapes in
//! [`super::wire::live`].

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::client::{ClientIp, limit_key};
use super::wire::live::LiveSession;
use super::wire::{Empty, ExpJson, GatewayError};
use super::{ApiError, AppJson, AppPath, AppState, is_id};
use crate::ids::SessionId;
use crate::store::livesession;
use crate::workflow::request::{self, SessionSource};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/exp/livesession", post(create))
        .route("/exp/livesession/{id}", get(show))
}

/// Creates a session for the calling address. The body is an empty JSON object, or
/// nothing, whatever its content type (the front end posts `{}` as text/plain; the
/// original's request message was empty); fields in it are ignored.
#[utoipa::path(post, path = "/exp/livesession", tag = "exp", operation_id = "createLivesession",
    request_body(content = Empty, content_type = "text/plain"),
    responses((status = 200, body = LiveSession),
              (status = 400, description = "code 3: body not JSON", body = GatewayError),
              (status = 429, description = "code 8: liveSessionLimit reached, or rate limited", body = GatewayError)))]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ExpJson(Empty {}): ExpJson<Empty>,
) -> Result<AppJson<LiveSession>, ApiError> {
    let address = ip.map(|ip| ip.to_string());
    let key = ip.map(|ip| limit_key(ip, state.ipv6_prefix_length));
    let source = address
        .as_deref()
        .zip(key.as_deref())
        .map(|(address, key)| SessionSource { address, key });
    let session = request::create_session(&state.pool, source, state.limits).await?;
    Ok(AppJson(session.into()))
}

/// One session (ours: the original offered it over gRPC only).
#[utoipa::path(get, path = "/exp/livesession/{id}", tag = "exp", operation_id = "showLivesession",
    params(("id" = String, Path, description = "session id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 200, body = LiveSession),
              (status = 404, description = "code 5: unknown session", body = GatewayError)))]
pub async fn show(
    State(state): State<AppState>,
    AppPath(id): AppPath<SessionId>,
) -> Result<AppJson<LiveSession>, ApiError> {
    if !is_id(id.as_str()) {
        return Err(ApiError::unknown_session(StatusCode::NOT_FOUND, &id));
    }
    livesession::get(&state.pool, &id)
        .await?
        .map(|s| AppJson(s.into()))
        .ok_or_else(|| ApiError::unknown_session(StatusCode::NOT_FOUND, &id))
}
