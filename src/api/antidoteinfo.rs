//! `/exp/antidoteinfo`: which build answers, and which curriculum version it runs.

use axum::Router;
use axum::extract::State;
use axum::routing::get;

use super::wire::curriculum::AntidoteInfo;
use super::{AppJson, AppState};

/// The git commit this binary was built from, when the build recorded it
/// (`ANTIDOTE_GIT_SHA` or `GIT_SHA` at compile time).
pub fn build_sha() -> Option<&'static str> {
    option_env!("ANTIDOTE_GIT_SHA").or(option_env!("GIT_SHA"))
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/exp/antidoteinfo", get(show))
}

/// Build commit and version, and the curriculum version (`backend.curriculumVersion`).
/// A field the build did not record is left out (the original refused to answer).
#[utoipa::path(get, path = "/exp/antidoteinfo", tag = "exp", responses((status = 200, body = AntidoteInfo)))]
pub async fn show(State(state): State<AppState>) -> AppJson<AntidoteInfo> {
    AppJson(AntidoteInfo {
        build_sha: build_sha().unwrap_or_default().to_owned(),
        build_version: env!("CARGO_PKG_VERSION").to_owned(),
        curriculum_version: state.settings.curriculum_version.clone(),
    })
}
