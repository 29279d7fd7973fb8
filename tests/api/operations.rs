//! Operations: probes, metrics and the OpenAPI document, readiness with a missing
//! migration, unknown routes and methods, and serving on a socket until shutdown.

use axum::http::StatusCode;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app, test_config};

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
