//! The admin API: the bearer token it needs, disabled without one, and listing, showing,
//! cancelling and retrying jobs.

use antidote_scheduler::config::Config;
use axum::http::{StatusCode, header};
use sqlx::PgPool;

use crate::helpers::{ADMIN_TOKEN, spawn_app, spawn_app_with};

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
    let id = app.livelesson(&session, "linux-first-steps").await;
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
