//! The API's surfaces and the one place that decides each one's error shape: `/exp` (the
//! original's learner API, whose front ends read the original's error body), `/v1` (the
//! admin API) and the operational routes. Every error, whether a handler's, an
//! extractor's, a middleware's (timeout, rate limit, protocol checks) or the server's
//! (overload), is an [`ApiError`] rendered here for the surface of the path it answers.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::wire::error::{GatewayError, grpc_code};

/// A part of the API with an error shape of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/exp/...`: the learner API.
    Exp,
    /// `/v1/...`: the admin API.
    Admin,
    /// Everything else: probes, metrics, the OpenAPI document, unknown paths.
    Ops,
}

impl Surface {
    /// The surface of a request path.
    pub fn of(path: &str) -> Self {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/exp") {
            Self::Exp
        } else if under("/v1") {
            Self::Admin
        } else {
            Self::Ops
        }
    }
}

/// `error` answered on `surface`: status, headers and that surface's body.
pub fn render(surface: Surface, error: &ApiError) -> Response {
    let body = match surface {
        Surface::Exp => exp_body(error),
        Surface::Admin | Surface::Ops => axum::Json(error.body()).into_response(),
    };
    error.finish(body)
}

/// The name of the OpenAPI schema of `surface`'s error body.
pub fn error_schema(surface: Surface) -> &'static str {
    match surface {
        Surface::Exp => "GatewayError",
        Surface::Admin | Surface::Ops => "ErrorBody",
    }
}

/// The `/exp` error body: the original gateway's (`wire::error`).
fn exp_body(error: &ApiError) -> Response {
    axum::Json(GatewayError::new(grpc_code(error), error.message())).into_response()
}

/// Middleware: an [`ApiError`] answer rendered for the surface of the request's path.
/// Answers rendered for their own surface already pass through untouched.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let surface = Surface::of(request.uri().path());
    let response = next.run(request).await;
    let error = response.extensions().get::<ApiError>().cloned();
    match (surface, error) {
        (Surface::Exp, Some(error)) => render(surface, &error),
        // An error no `ApiError` describes (none is known; kept as a safety net so that
        // `/exp` clients never meet another shape).
        (Surface::Exp, None) => super::wire::error::gateway_body(response).await,
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surfaces_are_chosen_by_path_prefix() {
        assert_eq!(Surface::of("/exp"), Surface::Exp);
        assert_eq!(Surface::of("/exp/livelesson/abc"), Surface::Exp);
        assert_eq!(Surface::of("/v1/jobs"), Surface::Admin);
        assert_eq!(Surface::of("/expired"), Surface::Ops);
        assert_eq!(Surface::of("/v10"), Surface::Ops);
        assert_eq!(Surface::of("/readyz"), Surface::Ops);
    }
}
