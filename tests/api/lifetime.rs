//! A lab's lifetime over `/exp`: its schedule, extensions within and up to the hard
//! deadline, the refusal past it in the original's error shape, and termination.

use antidote_scheduler::config::Config;
use antidote_scheduler::workflow::lifetime::LifetimeSettings;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::helpers::{TestApp, spawn_app, spawn_app_with, test_config};

/// A session's new livelesson of `linux-first-steps`.
async fn new_lab(app: &TestApp) -> String {
    let session = app.session().await;
    let reply = app.request_lesson(&session, "linux-first-steps", 0).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["id"].as_str().expect("id").to_owned()
}

fn time(value: &serde_json::Value) -> DateTime<Utc> {
    let text = value.as_str().unwrap_or_default();
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("an RFC 3339 time: {value}: {e}"))
        .with_timezone(&Utc)
}

#[sqlx::test]
async fn a_new_lab_expires_after_its_inactivity_within_its_deadline(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = new_lab(&app).await;
    let reply = app.get(&format!("/exp/livelesson/{id}/schedule")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = &reply.body;
    let countdown = body["countdown"].as_i64().expect("countdown");
    // liveLessonTTL is 30 minutes by default; a second may have passed.
    assert!((30 * 60 - 2..=30 * 60).contains(&countdown), "{body}");
    assert_eq!(body["extendable"], true);
    assert_eq!(body["extensions_left"], 4);
    let (expires, deadline) = (time(&body["expires"]), time(&body["deadline"]));
    assert_eq!(
        (deadline - expires).num_minutes(),
        8 * 60 - 30,
        "an 8-hour deadline: {body}"
    );

    let unknown = app.get("/exp/livelesson/0123456789/schedule").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.grpc(), 5);
    let malformed = app.get("/exp/livelesson/NOT-AN-ID/schedule").await;
    assert_eq!(malformed.status, StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn extensions_add_overtime_up_to_the_deadline_and_then_are_refused(pool: PgPool) {
    // Inactivity 30 min, deadline 50 min, 15 min per extension.
    let config = Config {
        lifetime: LifetimeSettings {
            max_age_mins: 50,
            overtime_mins: 15,
            max_extensions: 4,
        },
        ..test_config()
    };
    let app = spawn_app_with(pool, config).await;
    let id = new_lab(&app).await;
    let before = app.get(&format!("/exp/livelesson/{id}/schedule")).await;
    let deadline = time(&before.body["deadline"]);
    let expires = time(&before.body["expires"]);

    let first = app
        .post_empty(&format!("/exp/livelesson/{id}/extend"))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(
        time(&first.body["expires"]),
        expires + chrono::Duration::minutes(15)
    );
    assert_eq!(first.body["extensions_left"], 3);
    assert_eq!(first.body["extendable"], true);

    // 45 + 15 would pass the deadline at 50: the extension stops there.
    let second = app
        .post_empty(&format!("/exp/livelesson/{id}/extend"))
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(time(&second.body["expires"]), deadline);
    assert_eq!(second.body["extendable"], false);

    let refused = app
        .post_empty(&format!("/exp/livelesson/{id}/extend"))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert_eq!(
        refused.grpc(),
        9,
        "FAILED_PRECONDITION, as the original's errors"
    );
    assert!(
        refused.message().contains("hard deadline"),
        "{}",
        refused.text
    );
    assert_eq!(refused.body["error"], refused.body["message"]);
    let after = app.get(&format!("/exp/livelesson/{id}/schedule")).await;
    assert_eq!(
        after.body["expires"], second.body["expires"],
        "nothing changed"
    );
}

#[sqlx::test]
async fn a_lab_without_extensions_left_says_so(pool: PgPool) {
    let config = Config {
        lifetime: LifetimeSettings {
            max_extensions: 1,
            ..LifetimeSettings::default()
        },
        ..test_config()
    };
    let app = spawn_app_with(pool, config).await;
    let id = new_lab(&app).await;
    let first = app
        .post_empty(&format!("/exp/livelesson/{id}/extend"))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["extensions_left"], 0);
    let refused = app
        .post_empty(&format!("/exp/livelesson/{id}/extend"))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.message().contains("no extension left"),
        "{}",
        refused.text
    );
}

#[sqlx::test]
async fn terminate_deletes_the_lab_as_a_kill_does(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = new_lab(&app).await;
    let terminated = app
        .post_empty(&format!("/exp/livelesson/{id}/terminate"))
        .await;
    assert_eq!(
        terminated.status,
        StatusCode::ACCEPTED,
        "{}",
        terminated.text
    );
    let deletes: i64 = sqlx::query_scalar(
        "select count(*) from jobs where kind = 'livelesson.delete' and args->>'livelesson' = $1",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(deletes, 1);
    // Being deleted, it has no schedule and cannot be extended.
    let gone = app.get(&format!("/exp/livelesson/{id}/schedule")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let extend = app
        .post_empty(&format!("/exp/livelesson/{id}/extend"))
        .await;
    assert_eq!(extend.status, StatusCode::NOT_FOUND);
    let unknown = app.post_empty("/exp/livelesson/0123456789/terminate").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.grpc(), 5);
}
