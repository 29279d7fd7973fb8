//! A learner's lab lifetime over `/exp` (ours; routes the unmodified front end never
//! calls): its schedule, an extension, and termination
//! ([`crate::workflow::lifetime`] has the rules).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Serialize;
use utoipa::ToSchema;

use super::wire::GatewayError;
use super::{ApiError, AppJson, AppPath, AppState, is_id};
use crate::ids::LivelessonId;
use crate::workflow::lifetime::{self, Schedule};
use crate::workflow::request::RequestError;

/// When a lab expires, as Educates reports a session's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LabSchedule {
    /// When the lab is deleted unless the learner is active or extends it (RFC 3339).
    pub expires: String,
    /// Seconds until then (0 when past).
    pub countdown: i64,
    /// The hard deadline no activity or extension goes past (RFC 3339).
    pub deadline: String,
    /// Whether `POST …/extend` would move `expires` now.
    pub extendable: bool,
    /// Extensions the learner may still take.
    pub extensions_left: u32,
}

impl From<Schedule> for LabSchedule {
    fn from(schedule: Schedule) -> Self {
        let rfc3339 = |at: chrono::DateTime<chrono::Utc>| {
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        Self {
            expires: rfc3339(schedule.expires),
            countdown: schedule.countdown_secs,
            deadline: rfc3339(schedule.deadline),
            extendable: schedule.extendable,
            extensions_left: schedule.extensions_left,
        }
    }
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/exp/livelesson/{id}/schedule", get(schedule))
        .route("/exp/livelesson/{id}/extend", post(extend))
        .route("/exp/livelesson/{id}/terminate", post(terminate))
}

/// A known-shaped id, or the unknown-livelesson error before any database work.
fn checked(id: LivelessonId) -> Result<LivelessonId, ApiError> {
    if is_id(id.as_str()) {
        Ok(id)
    } else {
        Err(RequestError::UnknownLivelesson(id).into())
    }
}

/// When the lab expires, and whether it can be extended.
#[utoipa::path(get, path = "/exp/livelesson/{id}/schedule", tag = "exp", operation_id = "livelessonSchedule",
    params(("id" = String, Path, description = "livelesson id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 200, body = LabSchedule),
              (status = 404, description = "code 5: unknown livelesson", body = GatewayError)))]
pub async fn schedule(
    State(state): State<AppState>,
    AppPath(id): AppPath<LivelessonId>,
) -> Result<AppJson<LabSchedule>, ApiError> {
    let id = checked(id)?;
    let schedule = lifetime::schedule(&state.pool, &state.lifetime, &id).await?;
    Ok(AppJson(schedule.into()))
}

/// Adds the configured overtime to the lab's inactivity deadline, never past its hard
/// deadline; its new schedule.
#[utoipa::path(post, path = "/exp/livelesson/{id}/extend", tag = "exp", operation_id = "extendLivelesson",
    params(("id" = String, Path, description = "livelesson id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 200, body = LabSchedule),
              (status = 404, description = "code 5: unknown livelesson", body = GatewayError),
              (status = 409, description = "code 9: not extendable (no extension left, at its hard deadline, a persistent session's, expired)", body = GatewayError),
              (status = 429, description = "code 8: rate limited", body = GatewayError)))]
pub async fn extend(
    State(state): State<AppState>,
    AppPath(id): AppPath<LivelessonId>,
) -> Result<AppJson<LabSchedule>, ApiError> {
    let id = checked(id)?;
    let schedule = lifetime::extend(&state.pool, &state.lifetime, &id).await?;
    Ok(AppJson(schedule.into()))
}

/// Ends the lab now: the same as `DELETE /exp/livelesson/{id}`.
#[utoipa::path(post, path = "/exp/livelesson/{id}/terminate", tag = "exp", operation_id = "terminateLivelesson",
    params(("id" = String, Path, description = "livelesson id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 202, description = "deletion requested"),
              (status = 404, description = "code 5: unknown livelesson", body = GatewayError),
              (status = 429, description = "code 8: rate limited", body = GatewayError)))]
pub async fn terminate(
    state: State<AppState>,
    id: AppPath<LivelessonId>,
) -> Result<StatusCode, ApiError> {
    super::livelesson::kill(state, id).await
}
