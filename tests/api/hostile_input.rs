//! Hostile input: malformed, oversized, deeply nested and invalid UTF-8 bodies, and path
//! traversal and SQL metacharacters in ids and slugs.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;

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
