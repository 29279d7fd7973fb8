//! Checks every request meets before any route sees it, answered as [`ApiError`]s in the
//! surface's JSON shape: a bounded request target (414) and head (431), a query string
//! that is UTF-8 without control characters (400: PostgreSQL refuses NUL in text, and no
//! parameter of ours has any use for control characters), and a deadline for reading the
//! body and handling the request (408, then the connection closes).
//!
//! hyper keeps its own, larger limits in front of these (see [`super::server`]); what
//! passes them is answered here, in our shape.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// What [`check_request`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest request target (path and query) in bytes.
    pub max_uri_bytes: usize,
    /// Largest request head (request line and headers) in bytes.
    pub max_header_bytes: usize,
}

/// Middleware: 414 for a long target, 431 for a large head, 400 for a query that is not
/// clean text.
pub async fn check_request(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    match problem(&request, limits) {
        Some(error) => error.into_response(),
        None => next.run(request).await,
    }
}

fn problem(request: &Request, limits: RequestLimits) -> Option<ApiError> {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > limits.max_uri_bytes {
        return Some(
            ApiError::new(
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                format!(
                    "the request target has {target} bytes; at most {} are accepted",
                    limits.max_uri_bytes
                ),
            )
            .closing(),
        );
    }
    // Request line ("GET <target> HTTP/1.1\r\n") and each "name: value\r\n".
    let head = request.method().as_str().len()
        + target
        + 12
        + request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if head > limits.max_header_bytes {
        return Some(
            ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "header_fields_too_large",
                format!(
                    "the request head has about {head} bytes; at most {} are accepted",
                    limits.max_header_bytes
                ),
            )
            .closing(),
        );
    }
    request
        .uri()
        .query()
        .and_then(query_problem)
        .map(ApiError::bad_request)
}

/// Why a raw query string is refused: a parameter name or value that is not UTF-8 once
/// decoded, or that holds a control character (NUL included).
pub fn query_problem(query: &str) -> Option<String> {
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        for (what, raw) in [("name", name), ("value", value)] {
            let plus_decoded = raw.replace('+', " ");
            let decoded = percent_encoding::percent_decode_str(&plus_decoded).decode_utf8();
            let Ok(text) = decoded else {
                return Some(format!("a query parameter {what} is not valid UTF-8"));
            };
            if let Some(control) = text.chars().find(|c| c.is_control()) {
                return Some(format!(
                    "a query parameter {what} holds the control character U+{:04X}",
                    u32::from(control)
                ));
            }
        }
    }
    None
}

/// Middleware: the request (reading its body included) must be answered within `limit`,
/// else 408 `request_timeout` and the connection closes, so a body trickled a byte at a
/// time holds a connection no longer than that.
pub async fn request_timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request was not received and answered within {} s",
                limit.as_secs()
            ),
        )
        .closing()
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_bad_utf8_in_queries_are_found() {
        assert_eq!(query_problem("kind=livelesson.create&limit=5"), None);
        assert_eq!(query_problem("kind=a+b%20c&x"), None);
        for byte in (0u8..0x20).chain([0x7f]) {
            let query = format!("kind=%{byte:02X}");
            assert!(query_problem(&query).is_some(), "{query}");
            let query = format!("k%{byte:02x}=v");
            assert!(query_problem(&query).is_some(), "{query}");
        }
        // C1 controls, encoded as UTF-8.
        assert!(query_problem("kind=%C2%85").is_some());
        assert!(query_problem("kind=%FF").is_some());
    }
}
