//! `/exp/livelesson`: requesting a lesson (create, or stage change), reading a
//! livelesson, heartbeats and kills. Shapes in [`super::wire::live`].

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::wire::live::{LiveLesson, LiveLessonId, LiveLessonRequest};
use super::wire::{ExpJson, GatewayError};
use super::{ApiError, AppJson, AppPath, AppState, is_id, is_lesson_slug};
use crate::ids::{LivelessonId, SessionId};
use crate::store::livelesson::{self, Status};
use crate::workflow::request::{self, RequestError};

impl LiveLessonRequest {
    /// The checks made on a request before any database work: ids and slugs of the wrong
    /// shape end here, so they never reach SQL. The stage is checked against the lesson
    /// once it is loaded ([`request::checked_stage`]).
    ///
    /// # Errors
    ///
    /// [`RequestError::UnknownSession`] for a session id that cannot exist (an empty one
    /// included: the front end then asks for a new session),
    /// [`RequestError::UnknownLesson`] for a slug that cannot exist.
    pub fn check(&self) -> Result<(), RequestError> {
        if !is_id(&self.session_id) {
            return Err(RequestError::UnknownSession(SessionId::from(
                self.session_id.as_str(),
            )));
        }
        if !is_lesson_slug(&self.lesson_slug) {
            return Err(RequestError::UnknownLesson(self.lesson_slug.clone()));
        }
        Ok(())
    }
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/exp/livelesson", post(request_livelesson))
        .route("/exp/livelesson/{id}", get(show).delete(kill))
        .route("/exp/livelesson/{id}/heartbeat", post(heartbeat))
}

/// Requests a lesson: creates the livelesson (and its CREATE job), or returns the
/// session's existing one, refreshing its activity; a different stage when READY enqueues
/// MODIFY. The body is JSON whatever its content type; a `null` stage is stage 0.
#[utoipa::path(post, path = "/exp/livelesson", tag = "exp", operation_id = "requestLivelesson",
    request_body(content = LiveLessonRequest, content_type = "text/plain"),
    responses((status = 200, body = LiveLessonId),
              (status = 400, description = "code 3: unknown session (\"Invalid session ID\"), stage out of range, body not JSON", body = GatewayError),
              (status = 404, description = "code 5: unknown lesson", body = GatewayError),
              (status = 409, description = "code 10: busy with another stage change; code 9: the livelesson failed (the text names the ResourceQuota when its pods do not fit the lesson's resource budget)", body = GatewayError),
              (status = 413, description = "code 8: body too large", body = GatewayError),
              (status = 429, description = "code 8: liveLessonLimit reached, or rate limited", body = GatewayError)))]
pub async fn request_livelesson(
    State(state): State<AppState>,
    ExpJson(body): ExpJson<LiveLessonRequest>,
) -> Result<AppJson<LiveLessonId>, ApiError> {
    body.check()?;
    let requested = request::request_livelesson(
        &state.pool,
        &state.client,
        &state.settings,
        state.limits,
        &SessionId::from(body.session_id.as_str()),
        &body.lesson_slug,
        body.lesson_stage,
    )
    .await?;
    // A stage change: this process reads it at once (others at their next poll).
    state.livelessons.forget(&requested.livelesson().id);
    Ok(AppJson(LiveLessonId {
        id: requested.livelesson().id.to_string(),
    }))
}

/// One livelesson: status, endpoints, guide, stage, progress. A livelesson in ERROR is
/// answered with an error whose text tells the learner what to do (the page stops polling
/// and shows it); its reason, step and logs stay on the admin API and in the audit trail.
/// Read-only: it does not count as activity. A request waiting for capacity is
/// INITIALIZED with its `PlaceInLine` (ours). A spare in a warm pool is nobody's: 404.
#[utoipa::path(get, path = "/exp/livelesson/{id}", tag = "exp", operation_id = "showLivelesson",
    params(("id" = String, Path, description = "livelesson id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 200, body = LiveLesson),
              (status = 404, description = "code 5: unknown livelesson", body = GatewayError),
              (status = 409, description = "code 9: the livelesson failed (the text names the ResourceQuota when its pods do not fit the lesson's resource budget)", body = GatewayError)))]
pub async fn show(
    State(state): State<AppState>,
    AppPath(id): AppPath<LivelessonId>,
) -> Result<AppJson<LiveLesson>, ApiError> {
    if !is_id(id.as_str()) {
        return Err(RequestError::UnknownLivelesson(id).into());
    }
    if let Some(kept) = state.livelessons.get(&id) {
        return Ok(AppJson(kept));
    }
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(|err| ApiError::from_failure("acquiring a connection", &err))?;
    // Read before the livelesson: a change between the two reads is newer than this.
    let changed_at = livelesson::changed_at(&mut *conn, &id).await?;
    let ll = livelesson::get(&mut conn, &id)
        .await?
        .filter(|ll| !ll.spare)
        .ok_or_else(|| RequestError::UnknownLivelesson(id))?;
    let place_in_line = if ll.admitted {
        None
    } else {
        crate::store::pool::place_in_line(&mut *conn, &ll.id).await?
    };
    if let (Status::Error, Some(error)) = (ll.status, &ll.error) {
        return Err(RequestError::Failed {
            id: ll.id.clone(),
            reason: error.reason.clone(),
        }
        .into());
    }
    let answer = LiveLesson {
        place_in_line,
        ..LiveLesson::new(ll, &state.settings.instance_id)
    };
    if let (None, Some(changed_at)) = (answer.place_in_line, changed_at) {
        state.livelessons.keep(&answer, changed_at);
    }
    Ok(AppJson(answer))
}

/// Keeps a livelesson alive (ours: the original had no heartbeat).
#[utoipa::path(post, path = "/exp/livelesson/{id}/heartbeat", tag = "exp",
    operation_id = "heartbeatLivelesson",
    params(("id" = String, Path, description = "livelesson id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 204, description = "activity recorded"),
              (status = 404, description = "code 5: unknown livelesson", body = GatewayError),
              (status = 429, description = "code 8: rate limited", body = GatewayError)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    AppPath(id): AppPath<LivelessonId>,
) -> Result<StatusCode, ApiError> {
    if !is_id(id.as_str()) || !request::heartbeat(&state.pool, &id).await? {
        return Err(RequestError::UnknownLivelesson(id).into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Requests deletion (enqueues DELETE); answers at once (ours: the original offered it
/// over gRPC only).
#[utoipa::path(delete, path = "/exp/livelesson/{id}", tag = "exp", operation_id = "killLivelesson",
    params(("id" = String, Path, description = "livelesson id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 202, description = "deletion requested"),
              (status = 404, description = "code 5: unknown livelesson", body = GatewayError),
              (status = 429, description = "code 8: rate limited", body = GatewayError)))]
pub async fn kill(
    State(state): State<AppState>,
    AppPath(id): AppPath<LivelessonId>,
) -> Result<StatusCode, ApiError> {
    if !is_id(id.as_str()) {
        return Err(RequestError::UnknownLivelesson(id).into());
    }
    request::kill(&state.pool, &state.client, &id).await?;
    state.livelessons.forget(&id);
    Ok(StatusCode::ACCEPTED)
}
