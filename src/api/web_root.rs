//! Serving a built front end (`api.webRoot`, `serve --web-root`): its files at `/`, the
//! API under `/acore/` as well as at its own paths.
//!
//! antidote-web's pages call the API at `<origin>/acore/...`; the original deployment's
//! ingress sent that prefix to antidote-core with `rewrite-target`, stripping it. Mounting
//! the API under `/acore` here does the same, so the unmodified front end runs against
//! antidoted with no proxy in between. API routes win over files of the same path; a path
//! that is neither is answered from the directory (404 when no file has it).

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::Uri;
use axum::http::uri::PathAndQuery;
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

/// `routes` (the API's routes without a fallback) at their paths, `api` (the whole API,
/// fallback included) under [`API_PREFIX`], and the files of `dir` for everything else.
pub fn app(routes: Router, api: Router, dir: PathBuf) -> Router {
    let files = ServeDir::new(dir);
    routes.fallback_service(tower::service_fn(move |mut request: Request| {
        let api = api.clone();
        let files = files.clone();
        async move {
            match without_prefix(request.uri()) {
                Some(uri) => {
                    *request.uri_mut() = uri;
                    api.oneshot(request).await
                }
                None => files
                    .oneshot(request)
                    .await
                    .map(|response| response.map(Body::new)),
            }
        }
    }))
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
