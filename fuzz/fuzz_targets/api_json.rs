//! Fuzz target: what the HTTP API does with client input before it touches the database.
//! Each input is tried as
//!
//! - the JSON body of `POST /exp/livelesson` (a new livelesson or a stage change),
//!   deserialized as the `ExpJson` extractor does (any content type), then checked as the handler checks it,
//!   with its stage checked against every example lesson;
//! - the query string of `GET /v1/jobs`, through the `AppQuery` extractor and the
//!   handler's filter checks;
//! - a path id (`/exp/livesession/{id}`, `/exp/livelesson/{id}`, heartbeat, kill, and
//!   `/v1/jobs/{id}`).
//!
//! Every rejection is also rendered as the response the client would get. Nothing may
//! panic; errors are the expected outcome for most inputs.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use antidote_scheduler::api::jobs::{JobQuery, job_id};
use antidote_scheduler::api::wire::ExpJson;
use antidote_scheduler::api::wire::live::LiveLessonRequest;
use antidote_scheduler::api::{ApiError, AppJson, AppQuery, is_id, is_lesson_slug};
use antidote_scheduler::curriculum::{Lesson, Options, load};
use antidote_scheduler::workflow::request::checked_stage;
use axum::http::Uri;
use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;

/// The example curriculum's lessons, loaded once.
fn lessons() -> &'static [Lesson] {
    static LESSONS: OnceLock<Vec<Lesson>> = OnceLock::new();
    LESSONS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-curriculum");
        let loaded = load(&dir, &Options::default());
        loaded
            .valid()
            .expect("the example curriculum loads")
            .lessons
            .clone()
    })
}

fn respond(err: ApiError) {
    let response = err.into_response();
    assert!(response.status().is_client_error(), "{response:?}");
}

fuzz_target!(|data: &[u8]| {
    match ExpJson::<LiveLessonRequest>::from_bytes(data) {
        Ok(ExpJson(body)) => {
            if let Err(err) = body.check() {
                respond(err.into());
            } else {
                assert!(is_id(&body.session_id) && is_lesson_slug(&body.lesson_slug));
            }
            for lesson in lessons() {
                match checked_stage(lesson, body.lesson_stage) {
                    Ok(stage) => assert!((stage as usize) < lesson.stages.len()),
                    Err(err) => respond(err.into()),
                }
            }
        }
        Err(err) => respond(err),
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = format!("/v1/jobs?{text}").parse::<Uri>() {
        match AppQuery::<JobQuery>::try_from_uri(&uri).and_then(|AppQuery(q)| q.filter()) {
            Ok(filter) => {
                assert!((1..=1000).contains(&filter.limit));
                // No text holding NUL or another control character reaches SQL.
                let kind = filter.kind.as_deref().unwrap_or("");
                assert!(!kind.chars().any(char::is_control), "{kind:?}");
            }
            Err(err) => respond(err),
        }
    }
    if let Err(err) = job_id(text) {
        respond(err);
    }
    let _ = is_id(text);
});
