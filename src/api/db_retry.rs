//! Requests that meet a database fault are tried again inside the API: during a failover
//! or a PostgreSQL restart a learner's request waits (up to `database.writableWaitMs`)
//! for a writable primary instead of failing, and is answered 503 with `Retry-After`
//! only past that wait. Safe because every request is idempotent: a learner has one
//! livelesson per session and lesson, a stage change or kill asked twice is asked once,
//! reads change nothing.
//!
//! Only requests whose body has a known length within the body limit are retried (the
//! body is kept to send again); probes are never retried, since they must tell the truth
//! at once. A try still waiting on the database when the window closes is given up and
//! answered 503 too, so no request waits longer than the window.

use std::time::Duration;

use axum::body::{Body, HttpBody as _};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::ApiError;
use super::surface::Surface;
use crate::db::DbFault;

/// How long a request is retried, and the largest body kept for it.
#[derive(Debug, Clone, Copy)]
pub struct RetryWindow {
    /// Longest a request waits for a writable primary.
    pub wait: Duration,
    /// Largest body kept to send again (the API's body limit).
    pub body_limit: usize,
}

/// First pause between tries; doubled after each, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// Middleware: runs the request again while it is answered `database_unavailable` and the
/// window lasts.
pub async fn retry_database_faults(
    State(window): State<RetryWindow>,
    request: Request,
    next: Next,
) -> Response {
    let retried = !window.wait.is_zero() && Surface::of(request.uri().path()) != Surface::Ops;
    let kept = request
        .body()
        .size_hint()
        .exact()
        .and_then(|len| usize::try_from(len).ok())
        .filter(|len| *len <= window.body_limit);
    let (Some(len), true) = (kept, retried) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, len).await {
        Ok(body) => body,
        // The client went away or lied about the length: answered as the body extractor
        // would have been.
        Err(err) => {
            return ApiError::bad_request(format!("reading the request body: {err}"))
                .into_response();
        }
    };
    let deadline = Instant::now() + window.wait;
    let mut pause = FIRST_PAUSE;
    let mut tries = 1_u32;
    loop {
        let request = Request::from_parts(parts.clone(), Body::from(body.clone()));
        // A try that waits on the database (a connection, a commit) past the window is
        // given up: the handlers do nothing but database work, so that is a fault too.
        let remaining = deadline.saturating_duration_since(Instant::now());
        let Ok(response) = tokio::time::timeout(remaining, next.clone().run(request)).await else {
            tracing::warn!(tries, "request waited for the database past its window");
            return ApiError::database_unavailable(DbFault::Unreachable).into_response();
        };
        let fault = response
            .extensions()
            .get::<ApiError>()
            .is_some_and(ApiError::is_database_fault);
        if !fault || Instant::now() + pause > deadline {
            if tries > 1 {
                tracing::info!(
                    tries,
                    status = response.status().as_u16(),
                    "request retried over a database fault"
                );
            }
            return response;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
        tries += 1;
    }
}
