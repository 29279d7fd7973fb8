//! Cross-origin requests (CORS), for a front end served from another origin than the API.
//!
//! The original echoed any `Origin` and answered every preflight (methods GET, HEAD, POST,
//! PUT, DELETE; headers Content-Type, Accept). Here the allowed origins are a setting
//! (`api.corsOrigins`): a list, or `*` for the original's behaviour; none by default.

use axum::http::{HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::settings::CorsOrigins;

/// The layer answering preflights and marking allowed origins, or `None` when no origin
/// is allowed (then no CORS header is ever sent, and browsers keep pages of other
/// origins out).
pub fn layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow = match origins {
        CorsOrigins::Any => AllowOrigin::mirror_request(),
        CorsOrigins::List(list) if list.is_empty() => return None,
        // Validation (`ApiSettings::validate`) already refused origins that are not header
        // values.
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::DELETE,
            ])
            .allow_headers([header::CONTENT_TYPE, header::ACCEPT]),
    )
}
