//! `/exp/livelesson`: requesting a lesson (create, or stage change), reading a
//! livelesson, heartbeats and kills. Field names follow the original's REST gateway.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, AppJson, AppPath, AppState, is_id, is_lesson_slug};
use crate::store::livelesson::{self, Livelesson};
use crate::workflow::request::{self, RequestError};

/// Body of `POST /exp/livelesson` (the original's `LiveLessonRequest`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LivelessonRequest {
    /// Lesson slug.
    #[schema(pattern = "^[a-z-]{1,128}$", example = "linux-first-steps")]
    pub lesson_slug: String,
    /// Session id from `POST /exp/livesession`.
    #[schema(pattern = "^[a-z0-9]{10}$")]
    pub session_id: String,
    /// 0-based stage (default 0, as proto3 omitted zero values).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub lesson_stage: i64,
}

impl LivelessonRequest {
    /// The checks made on a request before any database work: ids and slugs of the wrong
    /// shape end here, so they never reach SQL. The stage is checked against the lesson
    /// once it is loaded ([`request::checked_stage`]).
    ///
    /// # Errors
    ///
    /// [`RequestError::UnknownSession`] for a session id that cannot exist,
    /// [`RequestError::UnknownLesson`] for a slug that cannot exist.
    pub fn check(&self) -> Result<(), RequestError> {
        if !is_id(&self.session_id) {
            return Err(RequestError::UnknownSession(self.session_id.clone()));
        }
        if !is_lesson_slug(&self.lesson_slug) {
            return Err(RequestError::UnknownLesson(self.lesson_slug.clone()));
        }
        Ok(())
    }
}

/// The id of a livelesson (the original's `LiveLessonId`).
#[derive(Debug, Serialize, ToSchema)]
pub struct LivelessonId {
    /// `[a-z0-9]{10}`.
    pub id: String,
}

/// One way to reach an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresentationView {
    /// Name.
    #[serde(rename = "Name")]
    pub name: String,
    /// Port.
    #[serde(rename = "Port")]
    pub port: u16,
    /// `ssh` or `http`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Ingress host of http presentations.
    #[serde(rename = "HepDomain")]
    pub hep_domain: String,
}

/// An endpoint of a livelesson.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    /// Name.
    #[serde(rename = "Name")]
    pub name: String,
    /// Image slug.
    #[serde(rename = "Image")]
    pub image: String,
    /// Provisioning order (ours; the original's map had none).
    #[serde(rename = "Position")]
    pub position: i32,
    /// Ports.
    #[serde(rename = "Ports")]
    pub ports: Vec<i32>,
    /// Presentations.
    #[serde(rename = "Presentations")]
    pub presentations: Vec<PresentationView>,
    /// Service address once known, else empty.
    #[serde(rename = "Host")]
    pub host: String,
    /// `napalm`, `python`, `ansible` or empty.
    #[serde(rename = "ConfigurationType")]
    pub configuration_type: String,
    /// Whether the endpoint answered.
    #[serde(rename = "Reachable")]
    pub reachable: bool,
    /// Login for the web terminal (from the image definition).
    #[serde(rename = "SSHUser")]
    pub ssh_user: String,
    /// Password for the web terminal: the learner must log in, as in the original.
    /// Never logged.
    #[serde(rename = "SSHPassword")]
    pub ssh_password: String,
}

/// Why a livelesson failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailureView {
    /// Why.
    pub reason: String,
    /// The workflow step that failed.
    pub step: Option<String>,
    /// Captured logs, possibly truncated.
    pub logs: Option<String>,
}

/// A livelesson as the original's REST gateway showed it, plus `Failure`, `Deleting`,
/// `ReadyTime`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LivelessonView {
    /// Id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Session.
    #[serde(rename = "SessionID")]
    pub session_id: String,
    /// Lesson slug.
    #[serde(rename = "LessonSlug")]
    pub lesson_slug: String,
    /// Endpoints by name (a map, as in the original).
    #[serde(rename = "LiveEndpoints")]
    pub live_endpoints: BTreeMap<String, EndpointView>,
    /// 0-based stage.
    #[serde(rename = "CurrentStage")]
    pub current_stage: i32,
    /// Guide of the current stage.
    #[serde(rename = "GuideContents")]
    pub guide_contents: String,
    /// `markdown` or `jupyter`.
    #[serde(rename = "GuideType")]
    pub guide_type: String,
    /// Jupyter guide host.
    #[serde(rename = "GuideDomain")]
    pub guide_domain: String,
    /// INITIALIZED, BOOTING, CONFIGURATION, READY or ERROR.
    #[serde(rename = "Status")]
    pub status: String,
    /// Failed (the original's flag; see `Failure` for why).
    #[serde(rename = "Error")]
    pub error: bool,
    /// Reason, step and logs when `Status` is ERROR.
    #[serde(rename = "Failure")]
    pub failure: Option<FailureView>,
    /// Reachable endpoints.
    #[serde(rename = "HealthyTests")]
    pub healthy_tests: i32,
    /// Endpoints to reach.
    #[serde(rename = "TotalTests")]
    pub total_tests: i32,
    /// Creation.
    #[serde(rename = "CreatedTime")]
    pub created_time: DateTime<Utc>,
    /// Last request or heartbeat.
    #[serde(rename = "LastActiveTime")]
    pub last_active_time: DateTime<Utc>,
    /// First READY.
    #[serde(rename = "ReadyTime")]
    pub ready_time: Option<DateTime<Utc>>,
    /// A kill was requested.
    #[serde(rename = "Deleting")]
    pub deleting: bool,
}

impl From<Livelesson> for LivelessonView {
    fn from(ll: Livelesson) -> Self {
        let live_endpoints = ll
            .endpoints
            .into_iter()
            .map(|ep| {
                let image = ll.images.get(&ep.image);
                let view = EndpointView {
                    ssh_user: image.map(|i| i.ssh_user.clone()).unwrap_or_default(),
                    ssh_password: image
                        .map(|i| i.ssh_password.expose().to_owned())
                        .unwrap_or_default(),
                    name: ep.name.clone(),
                    image: ep.image,
                    position: ep.position,
                    ports: ep.ports,
                    presentations: ep
                        .presentations
                        .into_iter()
                        .map(|p| PresentationView {
                            name: p.name,
                            port: p.port,
                            kind: p.kind,
                            hep_domain: p.hep_domain,
                        })
                        .collect(),
                    host: ep.host.unwrap_or_default(),
                    configuration_type: ep.configuration_type.unwrap_or_default(),
                    reachable: ep.reachable,
                };
                (ep.name, view)
            })
            .collect();
        Self {
            id: ll.id,
            session_id: ll.session_id,
            lesson_slug: ll.lesson_slug,
            live_endpoints,
            current_stage: ll.current_stage,
            guide_contents: ll.guide_contents,
            guide_type: ll.guide_type,
            guide_domain: ll.guide_domain,
            status: ll.status.as_str().to_owned(),
            error: ll.error.is_some(),
            failure: ll.error.map(|e| FailureView {
                reason: e.reason,
                step: e.step,
                logs: e.logs,
            }),
            healthy_tests: ll.healthy_tests,
            total_tests: ll.total_tests,
            created_time: ll.created_at,
            last_active_time: ll.last_active_at,
            ready_time: ll.ready_at,
            deleting: ll.deleting,
        }
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
/// MODIFY.
#[utoipa::path(post, path = "/exp/livelesson", tag = "exp", operation_id = "requestLivelesson",
    request_body = LivelessonRequest,
    responses((status = 200, body = LivelessonId),
              (status = 400, description = "unknown_session (\"Invalid session ID\"), stage_out_of_range, bad_request", body = super::error::ErrorBody),
              (status = 404, description = "unknown_lesson", body = super::error::ErrorBody),
              (status = 409, description = "livelesson_busy, livelesson_failed", body = super::error::ErrorBody),
              (status = 413, description = "payload_too_large", body = super::error::ErrorBody),
              (status = 415, description = "unsupported_media_type", body = super::error::ErrorBody),
              (status = 429, description = "limit_reached (liveLessonLimit), rate_limited", body = super::error::ErrorBody)))]
pub async fn request_livelesson(
    State(state): State<AppState>,
    AppJson(body): AppJson<LivelessonRequest>,
) -> Result<AppJson<LivelessonId>, ApiError> {
    body.check()?;
    let requested = request::request_livelesson(
        &state.pool,
        &state.client,
        &state.settings,
        state.limits,
        &body.session_id,
        &body.lesson_slug,
        body.lesson_stage,
    )
    .await?;
    Ok(AppJson(LivelessonId {
        id: requested.livelesson().id.clone(),
    }))
}

/// One livelesson: status, endpoints, guide, stage, progress, and the failure if any.
/// Read-only: it does not count as activity.
#[utoipa::path(get, path = "/exp/livelesson/{id}", tag = "exp", operation_id = "showLivelesson",
    params(("id" = String, Path, description = "livelesson id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 200, body = LivelessonView),
              (status = 404, description = "unknown_livelesson", body = super::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<AppJson<LivelessonView>, ApiError> {
    if !is_id(&id) {
        return Err(RequestError::UnknownLivelesson(id).into());
    }
    let mut conn = state.pool.acquire().await.map_err(|err| {
        tracing::error!(error = %err, "acquiring a connection");
        ApiError::internal()
    })?;
    livelesson::get(&mut conn, &id)
        .await?
        .map(|ll| AppJson(ll.into()))
        .ok_or_else(|| RequestError::UnknownLivelesson(id).into())
}

/// Keeps a livelesson alive.
#[utoipa::path(post, path = "/exp/livelesson/{id}/heartbeat", tag = "exp",
    operation_id = "heartbeatLivelesson",
    params(("id" = String, Path, description = "livelesson id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 204, description = "activity recorded"),
              (status = 404, description = "unknown_livelesson", body = super::error::ErrorBody),
              (status = 429, description = "rate_limited", body = super::error::ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    if !is_id(&id) || !request::heartbeat(&state.pool, &id).await? {
        return Err(RequestError::UnknownLivelesson(id).into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Requests deletion (enqueues DELETE); answers at once.
#[utoipa::path(delete, path = "/exp/livelesson/{id}", tag = "exp", operation_id = "killLivelesson",
    params(("id" = String, Path, description = "livelesson id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 202, description = "deletion requested"),
              (status = 404, description = "unknown_livelesson", body = super::error::ErrorBody),
              (status = 429, description = "rate_limited", body = super::error::ErrorBody)))]
pub async fn kill(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    if !is_id(&id) {
        return Err(RequestError::UnknownLivelesson(id).into());
    }
    request::kill(&state.pool, &state.client, &id).await?;
    Ok(StatusCode::ACCEPTED)
}
