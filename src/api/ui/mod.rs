//! The operator dashboard at `/ui`: the queue, every job's step timeline and every
//! livelesson, server-rendered HTML that refreshes itself. On unless `api.ui` is false;
//! behind the admin token (see [`session`]): nothing but the sign-in page and the static
//! assets answers without a session.
//!
//! # Layout
//!
//! - [`session`]: sign-in (admin token, [`SIGN_IN_PER_MINUTE`] attempts per address, or a
//!   one-time link), the session cookie, the guard of every page, and the same-origin and
//!   CSRF checks of every action.
//! - [`page`]: the page shell, the error page, security headers, formatters.
//! - [`overview`], [`jobs`], [`job`], [`livelessons`], [`livelesson`]: one page each
//!   (with its actions: retry and cancel on a job, kill and extend on a livelesson).
//! - [`timeline`]: a job's steps as bars and marks, built from its events and checkpoints.
//! - [`chart`]: the overview's SVG charts.
//! - [`redact`]: secrets out of job arguments.
//! - [`assets`]: the stylesheet, script and icon, embedded in the binary.
//!
//! Live updates are short polling: the script fetches the page again every 1.5 s and
//! swaps its `<main>`. That needs nothing from the server beyond the page itself, works
//! the same with any number of API processes, and costs one page render per open tab.

pub mod assets;
pub mod chart;
pub mod job;
pub mod jobs;
pub mod livelesson;
pub mod livelessons;
pub mod overview;
pub mod page;
pub mod redact;
pub mod session;
pub mod timeline;

use axum::Router;
use axum::middleware;
use axum::response::Redirect;
use axum::routing::{get, post};

use super::AppState;

pub use crate::api::rate_limit::SIGN_IN_PER_MINUTE;
pub use session::create_sign_in_link;

/// The dashboard's routes, or none when `api.ui` is off.
pub fn router(state: AppState) -> Router<AppState> {
    if !state.ui {
        return Router::new();
    }
    let signed_in = Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/jobs", get(jobs::page))
        .route("/ui/jobs/{id}", get(job::page))
        .route("/ui/jobs/{id}/retry", post(job::retry))
        .route("/ui/jobs/{id}/cancel", post(job::cancel))
        .route("/ui/livelessons", get(livelessons::page))
        .route("/ui/livelessons/{id}", get(livelesson::page))
        .route("/ui/livelessons/{id}/kill", post(livelesson::kill))
        .route("/ui/livelessons/{id}/extend", post(livelesson::extend))
        .route("/ui/sign-out", post(session::sign_out))
        .route_layer(middleware::from_fn_with_state(state, session::require));
    Router::new()
        .merge(signed_in)
        .route("/ui/", get(|| async { Redirect::permanent("/ui") }))
        .route("/ui/sign-in", get(session::form).post(session::sign_in))
        .route("/ui/sign-in/{token}", get(session::sign_in_with_link))
        .route("/ui/assets/{file}", get(assets::serve))
        .route_layer(middleware::from_fn(session::same_origin))
        .route_layer(middleware::from_fn(page::security_headers))
}
