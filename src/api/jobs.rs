//! `/v1/jobs`: the admin API over the job queue, behind `Authorization: Bearer <token>`.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, AppJson, AppPath, AppQuery, AppState, is_id};
use crate::ids::LivelessonId;
use crate::queue::inspect::{self as queue_store, JobEvent, JobFilter, JobRecord, StepRecord};
use crate::queue::{CancelOutcome, JobId, JobState};
use crate::workflow::request::Shown;
use crate::workflow::serial_key;

/// Longest job kind a filter may name.
pub const MAX_KIND_BYTES: usize = 128;

/// Filters of `GET /v1/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// `scheduled`, `available`, `running`, `retryable`, `completed`, `failed`, `cancelled`.
    #[param(inline, value_type = Option<JobState>)]
    pub state: Option<String>,
    /// Job kind, e.g. `livelesson.create`: printable text of at most 128 bytes.
    #[param(pattern = r"^[^\x00-\x1f\x7f]{1,128}$")]
    pub kind: Option<String>,
    /// Livelesson id: its jobs only.
    #[param(pattern = "^[a-z0-9]{10}$")]
    pub livelesson: Option<String>,
    /// At most this many (default 100; values are clamped to 1..=1000), newest first.
    pub limit: Option<i64>,
}

impl JobQuery {
    /// The database filter these parameters ask for, checked before any SQL: a known
    /// state, a kind of printable text (PostgreSQL refuses NUL in text, and no kind holds
    /// control characters), a livelesson id of the right shape, a limit clamped to
    /// 1..=1000 (default 100).
    ///
    /// # Errors
    ///
    /// 400 `bad_request` naming the unknown state, the malformed kind or livelesson id.
    pub fn filter(self) -> Result<JobFilter, ApiError> {
        let state = match self.state.as_deref() {
            Some(state) => Some(state.parse::<JobState>().map_err(|_| {
                ApiError::bad_request(format!("unknown job state {}", Shown(state)))
            })?),
            None => None,
        };
        if let Some(kind) = &self.kind
            && (kind.is_empty()
                || kind.len() > MAX_KIND_BYTES
                || kind.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(format!(
                "{} is not a job kind: 1 to {MAX_KIND_BYTES} bytes of printable text",
                Shown(kind)
            )));
        }
        let serial = match self.livelesson {
            Some(id) if is_id(&id) => Some(serial_key(&LivelessonId::from(id))),
            Some(id) => {
                return Err(ApiError::bad_request(format!(
                    "{} is not a livelesson id",
                    Shown(&id)
                )));
            }
            None => None,
        };
        Ok(JobFilter {
            state,
            kind: self.kind,
            serial_key: serial,
            limit: self.limit.unwrap_or(100).clamp(1, 1000),
        })
    }
}

/// Jobs found.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    /// Newest first.
    #[schema(value_type = Vec<Object>)]
    pub jobs: Vec<JobRecord>,
}

/// A job with its checkpoints and audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDetail {
    /// The job.
    #[schema(value_type = Object)]
    pub job: JobRecord,
    /// Completed steps.
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<StepRecord>,
    /// Audit events in order.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<JobEvent>,
}

/// Outcome of a cancel.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelResult {
    /// `cancelled` (it was waiting) or `requested` (running; stops at the next step).
    pub outcome: &'static str,
}

/// Routes of this module, all behind the admin token.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/jobs", get(list))
        .route("/v1/jobs/{id}", get(show))
        .route("/v1/jobs/{id}/retry", post(retry))
        .route("/v1/jobs/{id}/cancel", post(cancel))
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

/// 403 when no token is configured, 401 without a bearer token, 403 with a wrong one.
pub(crate) async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.admin_token.is_empty() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is disabled: set adminToken (ANTIDOTE_ADMIN_TOKEN) to enable it",
        ));
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(presented) = presented else {
        return Err(ApiError::unauthorized("a bearer token is required"));
    };
    if !state.admin_token.matches(presented) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "invalid admin token",
        ));
    }
    Ok(next.run(request).await)
}

/// The job id in a path (a positive integer), checked before any SQL.
///
/// # Errors
///
/// 404 `unknown_job` for anything else.
pub fn job_id(text: &str) -> Result<JobId, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(JobId)
        .ok_or_else(|| ApiError::not_found("unknown_job", format!("no job {}", Shown(text))))
}

/// Lists jobs.
#[utoipa::path(get, path = "/v1/jobs", tag = "admin", operation_id = "listJobs", params(JobQuery),
    security(("bearer" = [])),
    responses((status = 200, body = JobList),
              (status = 400, description = "bad_request: an unknown filter, state, kind or livelesson id", body = super::error::ErrorBody),
              (status = 401, description = "unauthorized", body = super::error::ErrorBody),
              (status = 403, description = "forbidden, admin_disabled", body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    AppQuery(query): AppQuery<JobQuery>,
) -> Result<AppJson<JobList>, ApiError> {
    let filter = query.filter()?;
    let jobs = queue_store::list_jobs(&state.pool, &filter).await?;
    Ok(AppJson(JobList { jobs }))
}

/// One job with its steps and events.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "admin", operation_id = "showJob",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "job id", minimum = 1)),
    responses((status = 200, body = JobDetail),
              (status = 401, description = "unauthorized", body = super::error::ErrorBody),
              (status = 403, description = "forbidden, admin_disabled", body = super::error::ErrorBody),
              (status = 404, description = "unknown_job", body = super::error::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<AppJson<JobDetail>, ApiError> {
    let id = job_id(&id)?;
    let job = queue_store::job(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_job", format!("no job {id}")))?;
    let steps = queue_store::steps(&state.pool, id).await?;
    let events = queue_store::events(&state.pool, id).await?;
    Ok(AppJson(JobDetail { job, steps, events }))
}

/// Puts a failed or cancelled job back to run.
#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "admin", operation_id = "retryJob",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "job id", minimum = 1)),
    responses((status = 200, body = JobDetail),
              (status = 401, description = "unauthorized", body = super::error::ErrorBody),
              (status = 403, description = "forbidden, admin_disabled", body = super::error::ErrorBody),
              (status = 404, description = "unknown_job", body = super::error::ErrorBody),
              (status = 409, description = "invalid_job_state", body = super::error::ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<AppJson<JobDetail>, ApiError> {
    let job = job_id(&id)?;
    state.client.retry(job).await?;
    show(State(state), AppPath(id)).await
}

/// Cancels a job: at once when waiting, at the next step boundary when running.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "admin", operation_id = "cancelJob",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "job id", minimum = 1)),
    responses((status = 200, body = CancelResult),
              (status = 401, description = "unauthorized", body = super::error::ErrorBody),
              (status = 403, description = "forbidden, admin_disabled", body = super::error::ErrorBody),
              (status = 404, description = "unknown_job", body = super::error::ErrorBody),
              (status = 409, description = "invalid_job_state", body = super::error::ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
) -> Result<AppJson<CancelResult>, ApiError> {
    let id = job_id(&id)?;
    let outcome = match state.client.cancel(id).await? {
        CancelOutcome::Cancelled => "cancelled",
        CancelOutcome::Requested => "requested",
    };
    Ok(AppJson(CancelResult { outcome }))
}
