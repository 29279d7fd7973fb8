//! Livelessons: requests create one livelesson and its job, stage changes, failures,
//! limits, heartbeats and kills, and concurrent requests.

use std::sync::Arc;

use antidote_scheduler::config::Config;
use antidote_scheduler::ids::LivelessonId;
use antidote_scheduler::store;
use axum::http::StatusCode;
use sqlx::PgPool;

use crate::helpers::{spawn_app, spawn_app_with, test_config};

#[sqlx::test]
async fn requesting_a_lesson_creates_a_livelesson_and_its_create_job(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.session().await;
    let reply = app
        .request_lesson(&session, "router-configuration", 0)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let id = reply.body["id"].as_str().expect("id").to_owned();
    assert_eq!(app.counts().await, (1, 1));

    let ll = app.get(&format!("/exp/livelesson/{id}")).await;
    assert_eq!(ll.status, StatusCode::OK, "{}", ll.text);
    assert_eq!(ll.body["ID"], id.as_str());
    assert_eq!(ll.body["SessionID"], session.as_str());
    assert_eq!(ll.body["LessonSlug"], "router-configuration");
    assert_eq!(ll.body["Status"], "INITIALIZED");
    // Zero values are left out, as protobuf JSON leaves them out.
    assert_eq!(ll.body.get("CurrentStage"), None);
    assert_eq!(ll.body.get("Error"), None);
    let endpoints = ll.body["LiveEndpoints"].as_object().expect("endpoints map");
    assert!(!endpoints.is_empty());
    assert_eq!(
        ll.body["TotalTests"].as_i64(),
        Some(i64::try_from(endpoints.len()).expect("count"))
    );
    for endpoint in endpoints.values() {
        assert!(endpoint["SSHUser"].is_string());
        assert!(endpoint["Ports"].is_array());
    }

    // The same request again returns the same livelesson and enqueues nothing.
    let again = app
        .request_lesson(&session, "router-configuration", 0)
        .await;
    assert_eq!(again.body["id"], id.as_str());
    assert_eq!(app.counts().await, (1, 1));
}

#[sqlx::test]
async fn an_unknown_session_gets_the_invalid_session_id_contract(pool: PgPool) {
    let app = spawn_app(pool).await;
    for session in ["zzzzzzzzzz", "", "short"] {
        let reply = app.request_lesson(session, "router-configuration", 0).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{session:?}: {}",
            reply.text
        );
        assert_eq!(reply.grpc(), 3);
        assert!(reply.message().starts_with("Invalid session ID"));
    }
    assert_eq!(app.counts().await, (0, 0));
}

#[sqlx::test]
async fn an_unknown_lesson_is_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.session().await;
    let reply = app.request_lesson(&session, "no-such-lesson", 0).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.grpc(), 5);
}

#[sqlx::test]
async fn a_stage_out_of_range_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.session().await;
    for stage in [2, -1, 1_000_000_000_000] {
        let reply = app
            .request_lesson(&session, "router-configuration", stage)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{stage}: {}",
            reply.text
        );
        assert_eq!(reply.grpc(), 3);
        assert!(reply.message().contains("out of range"), "{}", reply.text);
    }
    assert_eq!(app.counts().await, (0, 0));
}

#[sqlx::test]
async fn a_stage_change_while_busy_is_a_conflict_and_when_ready_enqueues_modify(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.session().await;
    let id = app.livelesson(&session, "router-configuration").await;
    let busy = app
        .request_lesson(&session, "router-configuration", 1)
        .await;
    assert_eq!(busy.status, StatusCode::CONFLICT, "{}", busy.text);
    assert_eq!(busy.grpc(), 10);

    app.set_status(&id, "READY").await;
    let changed = app
        .request_lesson(&session, "router-configuration", 1)
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["id"], id.as_str());
    let ll = app.get(&format!("/exp/livelesson/{id}")).await;
    assert_eq!(ll.body["Status"], "CONFIGURATION");
    assert_eq!(ll.body["CurrentStage"], 1);
    let modifies: i64 =
        sqlx::query_scalar("select count(*) from jobs where kind = 'livelesson.modify'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(modifies, 1);
}

#[sqlx::test]
async fn a_failed_livelesson_is_an_error_for_the_learner_and_refuses_requests(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.session().await;
    let id = app.livelesson(&session, "linux-first-steps").await;
    store::livelesson::set_error(
        &app.pool,
        &LivelessonId::from(id.as_str()),
        "wait_reachable",
        "endpoint linux1 unreachable",
        Some("log tail"),
    )
    .await
    .expect("set error");
    let ll = app.get(&format!("/exp/livelesson/{id}")).await;
    assert_eq!(ll.status, StatusCode::CONFLICT, "{}", ll.text);
    assert_eq!(ll.grpc(), 9);
    assert!(ll.message().contains("failed to start"), "{}", ll.text);
    // The reason and logs are the operators', never the learner's.
    assert!(!ll.text.contains("unreachable") && !ll.text.contains("log tail"));
    let again = app.request_lesson(&session, "linux-first-steps", 0).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.grpc(), 9);
    assert_eq!(again.message(), ll.message());
}

#[sqlx::test]
async fn the_per_session_livelesson_limit_applies(pool: PgPool) {
    let config = Config {
        live_lesson_limit: 1,
        ..test_config()
    };
    let app = spawn_app_with(pool, config).await;
    let session = app.session().await;
    let first = app.request_lesson(&session, "linux-first-steps", 0).await;
    assert_eq!(first.status, StatusCode::OK);
    let second = app
        .request_lesson(&session, "router-configuration", 0)
        .await;
    assert_eq!(
        second.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        second.text
    );
    assert_eq!(second.grpc(), 8);
    // Another session has its own budget.
    let other = app.session().await;
    assert_eq!(
        app.request_lesson(&other, "router-configuration", 0)
            .await
            .status,
        StatusCode::OK
    );
}

#[sqlx::test]
async fn heartbeat_and_kill(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.session().await;
    let id = app.livelesson(&session, "linux-first-steps").await;
    let beat = app
        .post_empty(&format!("/exp/livelesson/{id}/heartbeat"))
        .await;
    assert_eq!(beat.status, StatusCode::NO_CONTENT);
    let unknown = app.post_empty("/exp/livelesson/0123456789/heartbeat").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.grpc(), 5);

    let kill = app.delete(&format!("/exp/livelesson/{id}")).await;
    assert_eq!(kill.status, StatusCode::ACCEPTED, "{}", kill.text);
    // Idempotent: one DELETE job.
    assert_eq!(
        app.delete(&format!("/exp/livelesson/{id}")).await.status,
        StatusCode::ACCEPTED
    );
    let deletes: i64 =
        sqlx::query_scalar("select count(*) from jobs where kind = 'livelesson.delete'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(deletes, 1);
    let deleting: bool = sqlx::query_scalar("select deleting from livelessons where id = $1")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .expect("deleting");
    assert!(deleting);
    assert_eq!(
        app.delete("/exp/livelesson/0123456789").await.status,
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test]
async fn fifty_concurrent_identical_requests_create_one_livelesson_and_one_job(pool: PgPool) {
    let app = Arc::new(spawn_app(pool).await);
    let session = app.session().await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = app.clone();
        let session = session.clone();
        tasks.push(tokio::spawn(async move {
            app.request_lesson(&session, "router-configuration", 0)
                .await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let reply = task.await.expect("task");
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        ids.insert(reply.body["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(app.counts().await, (1, 1));
}

/// A heartbeat and a request of the same lesson in flight together both succeed. The
/// heartbeat used to lock the livelesson and then the session, the request the session and
/// then the livelesson: PostgreSQL broke each such deadlock after a second by failing one
/// of them, a 500 for the learner (about a third of these calls, before the fix).
#[sqlx::test]
async fn heartbeats_and_requests_of_one_lesson_in_flight_together_never_deadlock(pool: PgPool) {
    let app = Arc::new(spawn_app(pool).await);
    let session = app.session().await;
    let id = app.livelesson(&session, "router-configuration").await;
    let mut tasks = Vec::new();
    for n in 0_u32..10 {
        let app = app.clone();
        let session = session.clone();
        let heartbeat = format!("/exp/livelesson/{id}/heartbeat");
        tasks.push(tokio::spawn(async move {
            let mut failed = Vec::new();
            for _ in 0..20 {
                let reply = if n.is_multiple_of(2) {
                    app.post_empty(&heartbeat).await
                } else {
                    app.request_lesson(&session, "router-configuration", 0)
                        .await
                };
                if !reply.status.is_success() {
                    failed.push(format!("{} {}", reply.status, reply.text));
                }
            }
            failed
        }));
    }
    let mut failed = Vec::new();
    for task in tasks {
        failed.extend(task.await.expect("task"));
    }
    assert!(
        failed.is_empty(),
        "{} calls failed: {failed:?}",
        failed.len()
    );
    assert_eq!(app.counts().await, (1, 1));
}

/// A livelesson read is answered from the API's memory while the livelesson is unchanged;
/// a change another process writes is read within a poll of the changes, and this
/// process's own stage change at once.
#[sqlx::test]
async fn livelesson_reads_are_kept_until_the_livelesson_changes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.session().await;
    let id = app.livelesson(&session, "router-configuration").await;
    let path = format!("/exp/livelesson/{id}");
    let status = |ll: &crate::helpers::Reply| ll.body["Status"].as_str().unwrap_or("").to_owned();
    // Writes that do not mark the change: only a kept answer can still say READY after one.
    sqlx::query("alter table livelessons disable trigger livelesson_changed")
        .execute(&app.pool)
        .await
        .expect("disable the trigger");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // A marked change to READY (the trigger is off: the test marks it), read back.
        sqlx::query(
            "update livelessons set status = 'READY', changed_at = clock_timestamp() where id = $1",
        )
        .bind(&id)
        .execute(&app.pool)
        .await
        .expect("a marked change");
        while status(&app.get(&path).await) != "READY" {
            assert!(std::time::Instant::now() < deadline, "READY was never read");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        app.set_status(&id, "CONFIGURATION").await;
        if status(&app.get(&path).await) == "READY" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no read was ever kept"
        );
    }
    // A marked change (as every write makes it) is read within a poll or two.
    sqlx::query("alter table livelessons enable trigger livelesson_changed")
        .execute(&app.pool)
        .await
        .expect("enable the trigger");
    app.set_status(&id, "CONFIGURATION").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while status(&app.get(&path).await) != "CONFIGURATION" {
        assert!(
            std::time::Instant::now() < deadline,
            "the change was never read"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.set_status(&id, "READY").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while status(&app.get(&path).await) != "READY" {
        assert!(std::time::Instant::now() < deadline, "READY was never read");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // This process's own stage change is read at once.
    let changed = app
        .request_lesson(&session, "router-configuration", 1)
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let ll = app.get(&path).await;
    assert_eq!(status(&ll), "CONFIGURATION");
    assert_eq!(ll.body["CurrentStage"], 1);
}
