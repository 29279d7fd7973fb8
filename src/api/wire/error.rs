//! The gateway's error body on `/exp`: `{"error": text, "code": <gRPC code>, "message":
//! text}`, as grpc-gateway v1 wrote it (`error` and `message` hold the same text). The
//! front end shows `error` to the learner and looks for "Invalid session ID" in `message`
//! to ask for a new session. HTTP statuses stay our precise ones; the front end treats
//! every status of 400 and above alike.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::ApiError;

/// gRPC status codes (`google.golang.org/grpc/codes`) that `/exp` errors carry.
pub mod code {
    /// `Unknown`: what the original answered for most of its plain errors.
    pub const UNKNOWN: i32 = 2;
    /// `InvalidArgument`: malformed body, unknown session, stage out of range.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// `DeadlineExceeded`.
    pub const DEADLINE_EXCEEDED: i32 = 4;
    /// `NotFound`: unknown lesson, livelesson, collection, route.
    pub const NOT_FOUND: i32 = 5;
    /// `PermissionDenied`.
    pub const PERMISSION_DENIED: i32 = 7;
    /// `ResourceExhausted`: a limit reached, a body too large.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// `FailedPrecondition`: the livelesson failed.
    pub const FAILED_PRECONDITION: i32 = 9;
    /// `Aborted`: the livelesson is busy with another change.
    pub const ABORTED: i32 = 10;
    /// `Unimplemented`: a method the route does not have.
    pub const UNIMPLEMENTED: i32 = 12;
    /// `Internal`: our failure; the detail is logged.
    pub const INTERNAL: i32 = 13;
    /// `Unavailable`: not ready, try again.
    pub const UNAVAILABLE: i32 = 14;
    /// `Unauthenticated`.
    pub const UNAUTHENTICATED: i32 = 16;
}

/// The body of every `/exp` error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct GatewayError {
    /// What went wrong, for the learner (the front end shows this text).
    pub error: String,
    /// gRPC status code number (3 invalid argument, 5 not found, 8 resource exhausted,
    /// 9 failed precondition, 10 aborted, 13 internal, ...).
    pub code: i32,
    /// The same text (grpc-gateway repeated it for clients expecting a gRPC `Status`).
    pub message: String,
}

impl GatewayError {
    /// The body for `message` with gRPC `code`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            error: message.clone(),
            code,
            message,
        }
    }
}

/// The gRPC code of an API error: by its stable code where one says more than the HTTP
/// status, otherwise by the status (the inverse of grpc-gateway's mapping).
pub fn grpc_code(err: &ApiError) -> i32 {
    match err.code() {
        "livelesson_failed" | "not_extendable" => code::FAILED_PRECONDITION,
        "livelesson_busy" => code::ABORTED,
        _ => code_for_status(err.status()),
    }
}

/// The gRPC code grpc-gateway would have answered with `status`.
pub fn code_for_status(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 | 411 | 414 | 415 | 422 | 431 => code::INVALID_ARGUMENT,
        401 => code::UNAUTHENTICATED,
        403 => code::PERMISSION_DENIED,
        404 => code::NOT_FOUND,
        405 | 501 => code::UNIMPLEMENTED,
        408 | 504 => code::DEADLINE_EXCEEDED,
        409 => code::ABORTED,
        413 | 429 => code::RESOURCE_EXHAUSTED,
        503 => code::UNAVAILABLE,
        500 => code::INTERNAL,
        _ => code::UNKNOWN,
    }
}

/// `response` of an `/exp` request in the gateway's body when it is an error, whoever
/// produced it; other answers untouched. The status and headers (such as `Retry-After`)
/// are kept.
pub async fn gateway_body(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match parts.extensions.get::<ApiError>() {
        Some(err) => GatewayError::new(grpc_code(err), err.message()),
        None => GatewayError::new(code_for_status(status), plain_text(status, body).await),
    };
    let mut rewritten = (status, axum::Json(body)).into_response();
    copy_headers(&parts.headers, rewritten.headers_mut());
    rewritten
}

/// The text of an error response not built from [`ApiError`] (an axum rejection, say),
/// or the status's reason when it has none.
async fn plain_text(status: StatusCode, body: Body) -> String {
    // Rejection texts are short; anything longer is not worth showing a learner.
    let text = axum::body::to_bytes(body, 2048)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    }
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            to.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_gateways_in_its_field_order() {
        let body = GatewayError::new(code::INVALID_ARGUMENT, "Invalid session ID x");
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"error":"Invalid session ID x","code":3,"message":"Invalid session ID x"}"#
        );
    }

    #[test]
    fn codes_follow_the_error() {
        let failed = ApiError::new(StatusCode::CONFLICT, "livelesson_failed", "failed");
        assert_eq!(grpc_code(&failed), code::FAILED_PRECONDITION);
        let busy = ApiError::new(StatusCode::CONFLICT, "livelesson_busy", "busy");
        assert_eq!(grpc_code(&busy), code::ABORTED);
        assert_eq!(
            grpc_code(&ApiError::bad_request("x")),
            code::INVALID_ARGUMENT
        );
        assert_eq!(grpc_code(&ApiError::internal()), code::INTERNAL);
        assert_eq!(
            code_for_status(StatusCode::TOO_MANY_REQUESTS),
            code::RESOURCE_EXHAUSTED
        );
    }
}
