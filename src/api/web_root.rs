//! Serving a built front end (`api.webRoot`, `serve --web-root`): its files at `/`, the
//! API under `/acore/` as well as at its own paths.
//!
//! antidote-web's pages call the API at `<origin>/acore/...`; the original deployment's
//! ingress sent that prefix to antidote-core with `rewrite-target`, stripping it. Mounting
//! the API under `/acore` here does the same, so the unmodified front end runs against
//! antidoted with no proxy in between. API routes win over files of the same path; a path
//! that is neither is answered from the directory (404 when no file has it).
//!
//! antidote-web's container wrote the terminal server's address into every page at start,
//! replacing any line that sets `window.WEBSSH2_LOCATION`; HTML pages served here get the
//! same line with the built-in terminal gateway's origin, when one runs.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use axum::http::uri::PathAndQuery;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// The prefix under which the front end looks for the API.
pub const API_PREFIX: &str = "/acore";

/// Why `dir` cannot be served as a web root.
///
/// # Errors
/// A message naming the directory and what is wrong with it.
pub fn check(dir: &Path) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if !dir.join("index.html").is_file() {
        return Err(format!(
            "{} has no index.html; point it at a built front end (antidote-web's \
             build output)",
            dir.display()
        ));
    }
    Ok(())
}

/// Largest page whose terminal location is rewritten (antidote-web's are a few kB).
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// `routes` (the API's routes without a fallback) at their paths, `api` (the whole API,
/// fallback included) under [`API_PREFIX`], and the files of `dir` for everything else,
/// HTML pages with `terminals` as their `WEBSSH2_LOCATION` when given.
pub fn app(routes: Router, api: Router, dir: PathBuf, terminals: Option<String>) -> Router {
    let files = ServeDir::new(dir);
    routes.fallback_service(tower::service_fn(move |mut request: Request| {
        let api = api.clone();
        let files = files.clone();
        let terminals = terminals.clone();
        async move {
            if let Some(uri) = without_prefix(request.uri()) {
                *request.uri_mut() = uri;
                return api.oneshot(request).await;
            }
            let response = files.oneshot(request).await?.map(Body::new);
            Ok(match &terminals {
                Some(origin) => with_terminals(response, origin).await,
                None => response,
            })
        }
    }))
}

/// `response` with its `window.WEBSSH2_LOCATION` line set to `origin`, when it is a whole
/// HTML page that has one.
async fn with_terminals(response: Response, origin: &str) -> Response {
    let html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    // A page larger than any front end's is served as it is, unread.
    let too_large = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|length| length > MAX_PAGE_BYTES);
    if response.status() != StatusCode::OK || !html || too_large {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PAGE_BYTES).await else {
        // The file could not be read to its end (or grew past the bound unannounced): no
        // page rather than a truncated one.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the page could not be read; try again",
        )
            .into_response();
    };
    let Some(page) = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|page| set_location(page, origin))
    else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(ETAG);
    Response::from_parts(parts, Body::from(page))
}

/// `page` with every line mentioning `window.WEBSSH2_LOCATION` replaced by one setting it
/// to `origin` (as antidote-web's container did); `None` when no line mentions it.
fn set_location(page: &str, origin: &str) -> Option<String> {
    if !page.contains("window.WEBSSH2_LOCATION") {
        return None;
    }
    let quoted = serde_json::to_string(origin).ok()?;
    let mut out = String::with_capacity(page.len() + origin.len());
    for line in page.split_inclusive('\n') {
        if line.contains("window.WEBSSH2_LOCATION") {
            out.push_str("  window.WEBSSH2_LOCATION = ");
            out.push_str(&quoted);
            out.push(';');
            if line.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
    }
    Some(out)
}

/// `uri` without [`API_PREFIX`] (`/acore` and `/acore/` become `/`), or `None` when it
/// does not start with it.
fn without_prefix(uri: &Uri) -> Option<Uri> {
    let rest = uri.path().strip_prefix(API_PREFIX)?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(uri: &str) -> Option<String> {
        without_prefix(&uri.parse().expect("uri")).map(|u| u.to_string())
    }

    #[test]
    fn the_prefix_is_stripped_as_the_original_ingress_did() {
        assert_eq!(strip("/acore").as_deref(), Some("/"));
        assert_eq!(strip("/acore/").as_deref(), Some("/"));
        assert_eq!(
            strip("/acore/exp/lesson?x=1").as_deref(),
            Some("/exp/lesson?x=1")
        );
        assert_eq!(strip("/acorex/exp"), None);
        assert_eq!(strip("/labs/"), None);
    }

    #[test]
    fn the_terminal_location_line_is_replaced_as_the_original_container_did() {
        let page =
            "<script>\n    window.WEBSSH2_LOCATION = \"http://localhost:30010\";\n</script>\n";
        assert_eq!(
            set_location(page, "http://127.0.0.1:8087").as_deref(),
            Some("<script>\n  window.WEBSSH2_LOCATION = \"http://127.0.0.1:8087\";\n</script>\n")
        );
        assert_eq!(set_location("<p>no terminals</p>", "http://x"), None);
    }

    #[test]
    fn a_web_root_needs_an_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(
            check(dir.path())
                .expect_err("no index")
                .contains("index.html")
        );
        std::fs::write(dir.path().join("index.html"), "x").expect("write");
        assert!(check(dir.path()).is_ok());
        assert!(check(&dir.path().join("missing")).is_err());
    }
}
