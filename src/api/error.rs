//! API errors: one stable code per failure, mapped to a status and a JSON body; internal
//! detail is logged, never returned. Also [`AppJson`], [`AppQuery`] and [`AppPath`],
//! extractors whose rejections are [`ApiError`]s. The body's shape is the surface's
//! ([`super::surface`]): an `ApiError` response carries the error, and the surface
//! middleware renders it for the route it answers.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::db::DbFault;
use crate::ids::SessionId;
use crate::queue::QueueError;
use crate::workflow::request::RequestError;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code and human message.
    pub error: ErrorDetail,
    /// The message again at top level: the original's gateway returned `message`, and
    /// front ends look for "Invalid session ID" in it to request a new session.
    pub message: String,
}

/// Code and message of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code (`unknown_session`, `livelesson_busy`, ...).
    pub code: &'static str,
    /// What went wrong, for humans.
    pub message: String,
}

/// An error answered to an API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    www_authenticate: bool,
    retry_after: Option<u64>,
    close: bool,
}

impl ApiError {
    /// Longest message in bytes; longer ones are cut. Messages that quote the client's
    /// input cut it themselves ([`crate::workflow::request::Shown`]); this is the net.
    pub const MAX_MESSAGE_BYTES: usize = 512;

    /// An error with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > Self::MAX_MESSAGE_BYTES {
            let mut cut = Self::MAX_MESSAGE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("...");
        }
        Self {
            status,
            code,
            message,
            www_authenticate: false,
            retry_after: None,
            close: false,
        }
    }

    /// The same error with `Retry-After: seconds` (429, 503).
    #[must_use]
    pub fn with_retry_after(self, seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..self
        }
    }

    /// The same error answered with `Connection: close`: the connection ends after it
    /// (timeouts, overload, a request whose body is left unread).
    #[must_use]
    pub fn closing(self) -> Self {
        Self {
            close: true,
            ..self
        }
    }

    /// 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 with a `WWW-Authenticate: Bearer` challenge.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            www_authenticate: true,
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        }
    }

    /// 500 with a generic message. Log the detail before calling this.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the incident is logged",
        )
    }

    /// Code of the answer to a request that met a database fault (unreachable,
    /// read-only, timed out) for longer than the API waits for it.
    pub const DATABASE_UNAVAILABLE: &'static str = "database_unavailable";

    /// 503 `database_unavailable` with `Retry-After`: the request can be sent again as it
    /// is (every learner request is idempotent).
    pub fn database_unavailable(fault: DbFault) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Self::DATABASE_UNAVAILABLE,
            format!("{}; retry shortly", fault.describe()),
        )
        .with_retry_after(2)
    }

    /// 503 when `err` is a database fault (logged as a warning), otherwise 500 (logged as
    /// an error under `what`).
    pub fn from_failure(what: &str, err: &(dyn std::error::Error + 'static)) -> Self {
        if let Some(fault) = crate::db::fault::observe(err) {
            tracing::warn!(error = %chain(err), "{what}: {}", fault.describe());
            return Self::database_unavailable(fault);
        }
        tracing::error!(error = %chain(err), "{what}");
        Self::internal()
    }

    /// Whether this answers a database fault (the request may be tried again as it is).
    pub fn is_database_fault(&self) -> bool {
        self.code == Self::DATABASE_UNAVAILABLE
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// What went wrong, for humans.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The body every surface but `/exp` answers with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            message: self.message.clone(),
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
            },
        }
    }

    /// `response` (status and body already rendered) with this error's headers, and the
    /// error itself in its extensions for the surface middleware.
    pub fn finish(&self, mut response: Response) -> Response {
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if self.www_authenticate {
            headers.insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        if self.close {
            headers.insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        response.extensions_mut().insert(self.clone());
        response
    }

    /// The unknown-session error of the original's front-end contract.
    pub fn unknown_session(status: StatusCode, id: &SessionId) -> Self {
        Self::new(
            status,
            "unknown_session",
            RequestError::UnknownSession(id.clone()).to_string(),
        )
    }
}

impl IntoResponse for ApiError {
    /// The shape of the admin and operational surfaces; the surface middleware renders
    /// `/exp` answers again in theirs.
    fn into_response(self) -> Response {
        self.finish(axum::Json(self.body()).into_response())
    }
}

impl From<RequestError> for ApiError {
    fn from(err: RequestError) -> Self {
        let message = err.to_string();
        match err {
            RequestError::UnknownSession(_) => {
                Self::new(StatusCode::BAD_REQUEST, "unknown_session", message)
            }
            RequestError::UnknownLesson(_) => Self::not_found("unknown_lesson", message),
            RequestError::UnknownLivelesson(_) => Self::not_found("unknown_livelesson", message),
            RequestError::StageOutOfRange { .. } => {
                Self::new(StatusCode::BAD_REQUEST, "stage_out_of_range", message)
            }
            RequestError::Busy { .. } => {
                Self::new(StatusCode::CONFLICT, "livelesson_busy", message)
            }
            RequestError::Failed { .. } => {
                Self::new(StatusCode::CONFLICT, "livelesson_failed", message)
            }
            RequestError::Limit(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "limit_reached", message)
            }
            RequestError::NotExtendable { .. } => {
                Self::new(StatusCode::CONFLICT, "not_extendable", message)
            }
            RequestError::Store(_) | RequestError::Queue(_) => {
                Self::from_failure("request failed", &err)
            }
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::NotFound(id) => Self::not_found("unknown_job", format!("no job {id}")),
            QueueError::InvalidState { .. } => {
                Self::new(StatusCode::CONFLICT, "invalid_job_state", err.to_string())
            }
            _ => Self::from_failure("job queue failure", &err),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        Self::from_failure("storage failure", &err)
    }
}

/// An error and its causes on one line, for logs.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Json` whose rejections (malformed JSON, wrong types, unknown fields, oversized or
/// non-JSON bodies) answer with [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

impl<T: DeserializeOwned> AppJson<T> {
    /// Deserializes a request body as the extractor does once the body is read and its
    /// content type checked (axum's `Json::from_bytes`), with the same rejections. For
    /// code that has the bytes, such as the fuzz targets.
    ///
    /// # Errors
    ///
    /// 400 `bad_request` naming what is malformed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ApiError> {
        axum::Json::<T>::from_bytes(bytes)
            .map(|axum::Json(value)| Self(value))
            .map_err(|rejection| json_rejection(&rejection))
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let status = rejection.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "bad_request",
    };
    // Normalise every other rejection (422 for type errors included) to 400: the body is
    // the client's mistake either way, and the message says which field.
    let status = if code == "bad_request" {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    ApiError::new(status, code, rejection.body_text())
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Query` whose rejections answer with [`ApiError`] (400).
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::try_from_uri(&parts.uri)
    }
}

impl<T: DeserializeOwned> AppQuery<T> {
    /// Deserializes the query string of `uri`: what the extractor does with a request.
    ///
    /// # Errors
    ///
    /// 400 `bad_request` naming what is malformed.
    pub fn try_from_uri(uri: &axum::http::Uri) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::try_from_uri(uri) {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    ApiError::bad_request(rejection.body_text())
}

/// `Path` whose rejections (a segment that is not UTF-8 once percent-decoded, a value of
/// the wrong type) answer with [`ApiError`] (400 `bad_request`) instead of plain text.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    if rejection.status().is_server_error() {
        // A route without the parameter its handler reads: ours to fix, not the client's.
        tracing::error!(rejection = %rejection.body_text(), "path extraction failed");
        return ApiError::internal();
    }
    ApiError::bad_request(rejection.body_text())
}
