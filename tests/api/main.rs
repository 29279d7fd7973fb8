//! Integration tests of the HTTP API over a real PostgreSQL, mostly without a socket (the
//! connection tests of `hardening` use real ones). No workers run here, so livelessons
//! stay INITIALIZED unless a test sets their status.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod database_faults;
mod engine_schema;
mod exp_contract;
mod hardening;
mod helpers;
mod server;
mod ui;

use std::sync::Arc;

use antidote_scheduler::config::Config;
use antidote_scheduler::store;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use helpers::{ADMIN_TOKEN, spawn_app, spawn_app_with, test_config};

// ---- sessions ------------------------------------------------------------------------

#[sqlx::test]
async fn a_session_is_created_and_read_back(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = app.session().await;
    assert_eq!(id.len(), 10);
    let reply = app.get(&format!("/exp/livesession/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["ID"], id.as_str());
    // proto3 JSON leaves `false` out, as the original's gateway did.
    assert_eq!(reply.body.get("Persistent"), None);
}

#[sqlx::test]
async fn an_unknown_session_is_404_with_the_invalid_session_message(pool: PgPool) {
    let app = spawn_app(pool).await;
    let reply = app.get("/exp/livesession/abcdefghij").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.grpc(), 5);
    assert!(reply.message().contains("Invalid session ID"));
}

fn post_session_from(peer_forwarded: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method("POST").uri("/exp/livesession");
    if let Some(forwarded) = peer_forwarded {
        builder = builder.header("x-forwarded-for", forwarded);
    }
    builder.body(Body::empty()).expect("request")
}

#[sqlx::test]
async fn the_per_address_session_limit_applies(pool: PgPool) {
    let config = Config {
        live_session_limit: 2,
        ..test_config()
    };
    let app = spawn_app_with(pool, config).await;
    for _ in 0..2 {
        let reply = app.send(post_session_from(None), Some("203.0.113.5")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["SourceIP"], "203.0.113.5");
    }
    let reply = app.send(post_session_from(None), Some("203.0.113.5")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.grpc(), 8);
    // Another address is not affected.
    let reply = app.send(post_session_from(None), Some("203.0.113.6")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[sqlx::test]
async fn spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(pool: PgPool) {
    let config = Config {
        live_session_limit: 1,
        ..test_config()
    };
    let app = spawn_app_with(pool, config).await;
    let first = app
        .send(post_session_from(Some("198.51.100.1")), Some("203.0.113.7"))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["SourceIP"], "203.0.113.7");
    // A different forged address does not escape the limit.
    let second = app
        .send(post_session_from(Some("198.51.100.2")), Some("203.0.113.7"))
        .await;
    assert_eq!(
        second.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        second.text
    );
}

#[sqlx::test]
async fn forwarded_for_from_a_trusted_proxy_is_honoured(pool: PgPool) {
    // Two proxies: 127.0.0.1 received from 10.0.0.1, which received from the client.
    let mut config = Config {
        live_session_limit: 1,
        ..test_config()
    };
    config
        .trusted_proxies
        .push("10.0.0.0/8".parse().expect("cidr"));
    let app = spawn_app_with(pool, config).await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        let reply = app
            .send(
                post_session_from(Some(&format!("{client}, 10.0.0.1"))),
                Some("127.0.0.1"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["SourceIP"], client);
    }
    let again = app
        .send(post_session_from(Some("198.51.100.1")), Some("127.0.0.1"))
        .await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
}

// ---- livelessons ---------------------------------------------------------------------

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
    let id = app
        .request_lesson(&session, "router-configuration", 0)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
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
    let id = app
        .request_lesson(&session, "linux-first-steps", 0)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    store::livelesson::set_error(
        &app.pool,
        &id,
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
    let id = app
        .request_lesson(&session, "linux-first-steps", 0)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
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
    let id = app
        .request_lesson(&session, "router-configuration", 0)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
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

// ---- hostile input -------------------------------------------------------------------

#[sqlx::test]
async fn malformed_bodies_are_400_with_the_reason_and_unknown_fields_ignored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.session().await;
    let cases = [
        ("{not json".to_owned(), "not JSON"),
        (
            json!({"sessionId": session, "lessonSlug": 7}).to_string(),
            "invalid request body",
        ),
        (
            json!({"sessionId": session, "lessonSlug": "linux-first-steps", "lessonStage": "one"})
                .to_string(),
            "one",
        ),
    ];
    for (body, says) in cases {
        let reply = app.post_raw("/exp/livelesson", body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        assert_eq!(reply.grpc(), 3);
        assert!(reply.message().contains(says), "{body}: {}", reply.text);
    }
    // A missing slug is an unknown lesson, as an empty one was for the original.
    let missing = app
        .post_raw("/exp/livelesson", json!({"sessionId": session}).to_string())
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    assert_eq!(app.counts().await, (0, 0));
    // Unknown fields are ignored, as the gateway ignored them.
    let unknown = app
        .post_raw(
            "/exp/livelesson",
            json!({"sessionId": session, "lessonSlug": "linux-first-steps", "bogus": true})
                .to_string(),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::OK, "{}", unknown.text);
    assert_eq!(app.counts().await, (1, 1));
}

#[sqlx::test]
async fn an_oversized_body_is_413_json(pool: PgPool) {
    let app = spawn_app(pool).await;
    let big = format!(
        "{{\"sessionId\": \"aaaaaaaaaa\", \"lessonSlug\": \"{}\"}}",
        "a".repeat(70 * 1024)
    );
    let reply = app.post_raw("/exp/livelesson", big).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text
    );
    assert_eq!(reply.grpc(), 8);
}

#[sqlx::test]
async fn traversal_and_sql_metacharacters_in_ids_and_slugs_are_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let paths = [
        "/exp/livelesson/..",
        "/exp/livelesson/%2e%2e",
        "/exp/livelesson/..%2f..%2fetc",
        "/exp/livelesson/../../etc/passwd",
        "/exp/livelesson/a'%20or%201=1--",
        "/exp/livelesson/abc;drop%20table%20jobs",
        "/exp/livesession/%2e%2e",
        "/exp/livesession/x'or'1'='1",
        "/exp/lesson/..",
        "/exp/lesson/%2e%2e%2fsecrets",
        "/exp/lesson/linux'--",
        "/v1/../exp/lesson",
    ];
    for path in paths {
        let reply = app.get(path).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.text
        );
        if path.starts_with("/exp") {
            assert_eq!(reply.grpc(), 5, "{path}");
        } else {
            assert!(
                reply.body["error"]["code"].is_string(),
                "{path}: {}",
                reply.text
            );
        }
    }
    let session = app.session().await;
    for slug in ["../linux-first-steps", "linux-first-steps'; --", "%2e%2e"] {
        let reply = app.request_lesson(&session, slug, 0).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{slug}: {}",
            reply.text
        );
    }
    // Still there.
    assert_eq!(app.counts().await, (0, 0));
    assert_eq!(app.get("/exp/lesson").await.status, StatusCode::OK);
}

// ---- curriculum ----------------------------------------------------------------------

#[sqlx::test]
async fn curriculum_endpoints_list_what_was_imported(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lessons = app.get("/exp/lesson").await;
    assert_eq!(lessons.status, StatusCode::OK);
    assert_eq!(lessons.body["lessons"].as_array().map(Vec::len), Some(4));
    let lesson = app.get("/exp/lesson/router-configuration").await;
    assert_eq!(lesson.status, StatusCode::OK);
    assert_eq!(lesson.body["Slug"], "router-configuration");
    let missing = app.get("/exp/lesson/no-such-lesson").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.grpc(), 5);
    let collections = app.get("/exp/collection").await;
    assert_eq!(collections.status, StatusCode::OK);
    assert!(collections.body["collections"].is_array());
    let curriculum = app.get("/exp/curriculum").await;
    assert_eq!(curriculum.status, StatusCode::OK);
    assert!(curriculum.body["Name"].is_string());
}

#[sqlx::test]
async fn images_never_show_passwords(pool: PgPool) {
    let app = spawn_app(pool).await;
    let images = app.get("/exp/image").await;
    assert_eq!(images.status, StatusCode::OK);
    assert_eq!(images.body["images"].as_array().map(Vec::len), Some(4));
    let text = images.text.to_lowercase();
    assert!(!text.contains("password"), "{}", images.text);
    assert!(!text.contains("configuser"), "{}", images.text);
}

// ---- admin ---------------------------------------------------------------------------

#[sqlx::test]
async fn the_admin_api_needs_the_right_bearer_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let missing = app.admin("GET", "/v1/jobs", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.code(), "unauthorized");
    assert_eq!(missing.headers[header::WWW_AUTHENTICATE], "Bearer");
    let wrong = app.admin("GET", "/v1/jobs", Some("not-the-token")).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.code(), "forbidden");
    let wrong_retry = app.admin("POST", "/v1/jobs/1/retry", Some("x")).await;
    assert_eq!(wrong_retry.status, StatusCode::FORBIDDEN);
    let right = app.admin("GET", "/v1/jobs", Some(ADMIN_TOKEN)).await;
    assert_eq!(right.status, StatusCode::OK, "{}", right.text);
}

#[sqlx::test]
async fn without_a_configured_token_the_admin_api_is_disabled(pool: PgPool) {
    let app = spawn_app_with(pool, Config::default()).await;
    let reply = app.admin("GET", "/v1/jobs", Some("")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "admin_disabled");
}

#[sqlx::test]
async fn admins_list_show_cancel_and_retry_jobs(pool: PgPool) {
    let app = spawn_app(pool).await;
    let session = app.session().await;
    let id = app
        .request_lesson(&session, "linux-first-steps", 0)
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.request_lesson(&session, "router-configuration", 0)
        .await;
    let token = Some(ADMIN_TOKEN);

    let all = app.admin("GET", "/v1/jobs", token).await;
    assert_eq!(all.body["jobs"].as_array().map(Vec::len), Some(2));
    let mine = app
        .admin(
            "GET",
            &format!("/v1/jobs?livelesson={id}&kind=livelesson.create&state=available"),
            token,
        )
        .await;
    let jobs = mine.body["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 1, "{}", mine.text);
    let job = jobs[0]["id"].as_i64().expect("job id");
    assert_eq!(
        app.admin("GET", "/v1/jobs?state=bogus", token).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.admin("GET", "/v1/jobs?nope=1", token).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.admin("GET", "/v1/jobs?livelesson=../x", token)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let detail = app.admin("GET", &format!("/v1/jobs/{job}"), token).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.body["job"]["kind"], "livelesson.create");
    assert!(detail.body["steps"].is_array());
    assert!(detail.body["events"].is_array());

    // Retrying a waiting job is a state conflict.
    let early = app
        .admin("POST", &format!("/v1/jobs/{job}/retry"), token)
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    assert_eq!(early.code(), "invalid_job_state");

    let cancel = app
        .admin("POST", &format!("/v1/jobs/{job}/cancel"), token)
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.text);
    assert_eq!(cancel.body["outcome"], "cancelled");
    let retried = app
        .admin("POST", &format!("/v1/jobs/{job}/retry"), token)
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(retried.body["job"]["state"], "available");

    for path in [
        "/v1/jobs/999999",
        "/v1/jobs/abc",
        "/v1/jobs/-1",
        "/v1/jobs/1%20or%201=1",
    ] {
        let reply = app.admin("GET", path, token).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.code(), "unknown_job");
    }
    assert_eq!(
        app.admin("POST", "/v1/jobs/999999/cancel", token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

// ---- operations ----------------------------------------------------------------------

#[sqlx::test]
async fn probes_metrics_and_openapi(pool: PgPool) {
    let app = spawn_app(pool).await;
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.body["status"], "ready");

    let session = app.session().await;
    app.request_lesson(&session, "linux-first-steps", 0).await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics
            .text
            .contains("antidote_jobs{state=\"available\",kind=\"livelesson.create\"} 1"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("antidote_livelessons{status=\"INITIALIZED\"} 1"),
        "{}",
        metrics.text
    );

    let openapi = app.get("/openapi.json").await;
    assert_eq!(openapi.status, StatusCode::OK);
    let paths = openapi.body["paths"].as_object().expect("paths");
    for path in [
        "/exp/livesession",
        "/exp/livelesson",
        "/exp/livelesson/{id}",
        "/exp/lesson/{slug}/prereqs",
        "/exp/collection/{slug}",
        "/exp/antidoteinfo",
        "/v1/jobs",
        "/readyz",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
}

#[sqlx::test]
async fn readiness_fails_while_a_migration_is_missing(pool: PgPool) {
    let app = spawn_app(pool).await;
    sqlx::query(
        "delete from _sqlx_migrations where version = (select max(version) from _sqlx_migrations)",
    )
    .execute(&app.pool)
    .await
    .expect("forget a migration");
    let reply = app.get("/readyz").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.code(), "not_ready");
}

#[sqlx::test]
async fn unknown_routes_and_methods_answer_in_the_shape_of_their_surface(pool: PgPool) {
    let app = spawn_app(pool).await;
    let reply = app.get("/v1/nope").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.code(), "not_found");
    let reply = app.get("/exp/no/such/thing").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.grpc(), 5);
    let reply = app.get("/exp/livelesson").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.grpc(), 12);
}

#[tokio::test]
async fn serve_answers_on_a_socket_and_stops_on_shutdown() {
    // A lazy pool: /healthz does not touch the database.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")
        .expect("lazy pool");
    let state = antidote_scheduler::api::AppState::new(
        pool.clone(),
        antidote_scheduler::queue::Client::new(pool),
        &test_config(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(antidote_scheduler::api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    stop.send(()).expect("stop");
    server.await.expect("join").expect("serve");
}

#[sqlx::test]
async fn deeply_nested_json_is_a_400_not_a_crash(pool: PgPool) {
    let app = spawn_app(pool).await;
    let depth = 10_000;
    let nested = format!(
        "{{\"sessionId\": {}1{}, \"lessonSlug\": \"linux-first-steps\"}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let reply = app.post_raw("/exp/livelesson", nested).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.grpc(), 3);
    // Still serving afterwards.
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

#[sqlx::test]
async fn invalid_utf8_in_a_body_is_a_400(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut body = b"{\"sessionId\": \"".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    body.extend_from_slice(b"\", \"lessonSlug\": \"linux-first-steps\"}");
    let request = Request::builder()
        .method("POST")
        .uri("/exp/livelesson")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    let reply = app.send(request, None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.grpc(), 3);
    let (livelessons, jobs) = app.counts().await;
    assert_eq!((livelessons, jobs), (0, 0), "nothing was created");
}

#[sqlx::test]
async fn a_huge_json_body_is_refused_before_it_is_parsed(pool: PgPool) {
    let app = spawn_app(pool).await;
    // 10 MB of a valid-looking array: the size limit answers before any parsing.
    let huge = format!("{{\"sessionId\": [{}0]}}", "0,".repeat(5 * 1024 * 1024));
    let reply = app.post_raw("/exp/livelesson", huge).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text
    );
    assert_eq!(reply.grpc(), 8);
}
