//! Observability against the wire: a real OTLP/HTTP receiver on loopback ([`collector`])
//! gets this process's spans, exported by the production telemetry start-up because
//! `OTEL_EXPORTER_OTLP_ENDPOINT` points at it, and decodes them with the official protobuf
//! definitions. The tests assert on what arrives: one trace per request through every
//! step, names and attributes, statuses, queue waits, timers and causes
//! ([`defects`], one test per defect of issue 20); no password in any span or log line and
//! every metric series after a scenario ([`one_trace`]).
//!
//! The subscriber and exporter are process-wide; `cargo nextest` runs each test in its own
//! process, and under `cargo test` the tests share the collector and tell their spans
//! apart by ids.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../lifecycle/helpers.rs"]
mod helpers;

mod collector;
mod defects;
mod one_trace;

use std::net::SocketAddr;
use std::time::Duration;

use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::config::Config;
use antidote_scheduler::ids::LivelessonId;
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::CREATE;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use collector::Received;
use helpers::Lab;

/// The API over the lab's database, queue and backend settings.
fn router(lab: &Lab) -> Router {
    let config = Config {
        backend: lab.settings.clone(),
        ..Config::default()
    };
    api::router(AppState::new(lab.pool.clone(), lab.queue.clone(), &config))
}

/// One request through the whole router (its trace layer included), as from 127.0.0.1.
async fn call(router: &Router, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let mut builder = Request::builder().method(method).uri(path);
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    let mut request = builder
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("address");
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// A new session over HTTP.
async fn session(router: &Router) -> String {
    let (status, body) = call(router, "POST", "/exp/livesession", Some(json!({}))).await;
    assert!(status < 300, "session: {status} {body}");
    let session: Value = serde_json::from_str(&body).expect("json");
    session["ID"].as_str().expect("session id").to_owned()
}

/// `POST /exp/livelesson` for `lesson` at `stage` in `session`; the livelesson's id.
async fn request_in(router: &Router, session: &str, lesson: &str, stage: i64) -> String {
    let (status, body) = call(
        router,
        "POST",
        "/exp/livelesson",
        Some(json!({ "lessonSlug": lesson, "sessionId": session, "lessonStage": stage })),
    )
    .await;
    assert!(status < 300, "livelesson: {status} {body}");
    let ll: Value = serde_json::from_str(&body).expect("json");
    ll["id"].as_str().expect("livelesson id").to_owned()
}

/// A new session and `lesson` requested in it at stage 0; the livelesson's id.
async fn request_livelesson(router: &Router, lesson: &str) -> String {
    let session = session(router).await;
    request_in(router, &session, lesson, 0).await
}

/// Waits until livelesson `id` reaches `status`; panics with its job's trail otherwise.
async fn wait_status(lab: &Lab, id: &str, status: Status, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let ll = lab
            .livelesson(&LivelessonId::from(id))
            .await
            .expect("livelesson");
        if ll.status == status {
            return;
        }
        assert!(
            status == Status::Error || ll.status != Status::Error,
            "{id} failed: {:?} {}",
            ll.error,
            helpers::trail(&lab.pool, lab.job(CREATE, id).await).await
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} not {status:?} in time: {}",
            helpers::trail(&lab.pool, lab.job(CREATE, id).await).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_ready(lab: &Lab, id: &str, within: Duration) {
    wait_status(lab, id, Status::Ready, within).await;
}

/// The spans named `name` among `spans`.
fn named<'a>(spans: &'a [Received], name: &str) -> Vec<&'a Received> {
    spans.iter().filter(|s| s.name() == name).collect()
}

/// The first span named `name` with attribute `key` = `value`.
fn find<'a>(spans: &'a [Received], name: &str, key: &str, value: &str) -> Option<&'a Received> {
    spans
        .iter()
        .find(|s| s.name() == name && s.attr(key).as_deref() == Some(value))
}
