//! Sessions: created and read back, unknown ones refused, the per-address limit, and the
//! forwarded-for header honoured from trusted proxies only.

use antidote_scheduler::config::Config;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use sqlx::PgPool;

use crate::helpers::{spawn_app, spawn_app_with, test_config};

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
