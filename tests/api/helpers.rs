//! Builds the API over a test database holding the example curriculum, and sends requests
//! to it without a socket.

use std::net::SocketAddr;
use std::path::Path;

use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::config::{Config, RateLimitSettings, Secret};
use antidote_scheduler::curriculum::{self, Options};
use antidote_scheduler::queue::Client;
use antidote_scheduler::store;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;

/// The admin token of test apps.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The API under test.
pub struct TestApp {
    /// The router.
    pub router: Router,
    /// Its database.
    pub pool: PgPool,
}

/// A response, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
    pub headers: axum::http::HeaderMap,
}

impl Reply {
    /// The stable error code of a `/v1` or operations error.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// The gRPC code of an `/exp` error (the gateway's body), checking the rest of that
    /// body: `error` and `message` hold the same text.
    pub fn grpc(&self) -> i64 {
        assert_eq!(self.body["error"], self.body["message"], "{}", self.text);
        assert!(self.body["error"].is_string(), "{}", self.text);
        self.body["code"].as_i64().unwrap_or(-1)
    }

    /// The text of an `/exp` error.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

/// The default test configuration: admin token set, loopback trusted as a proxy, no rate
/// limits (the tests of the rate limit set their own).
pub fn test_config() -> Config {
    Config {
        admin_token: Secret::new(ADMIN_TOKEN),
        trusted_proxies: vec!["127.0.0.0/8".parse().expect("cidr")],
        rate_limit: RateLimitSettings {
            per_address_per_minute: 0,
            global_per_second: 0,
            ..RateLimitSettings::default()
        },
        ..Config::default()
    }
}

/// The API over `pool`, with the example curriculum imported.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, test_config()).await
}

/// Imports the example curriculum into `pool`.
pub async fn import_example_curriculum(pool: &PgPool) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-curriculum");
    let loaded = curriculum::load(&dir, &Options::default());
    let valid = loaded.valid().expect("the example curriculum is valid");
    store::curriculum::import(pool, valid)
        .await
        .expect("importing the example curriculum");
}

/// Like [`spawn_app`] with a configuration.
pub async fn spawn_app_with(pool: PgPool, config: Config) -> TestApp {
    import_example_curriculum(&pool).await;
    let state = AppState::new(pool.clone(), Client::new(pool.clone()), &config);
    TestApp {
        router: api::router(state),
        pool,
    }
}

impl TestApp {
    /// Sends `request` as if from `peer` (no connect info when `None`).
    pub async fn send(&self, mut request: Request<Body>, peer: Option<&str>) -> Reply {
        if let Some(peer) = peer {
            let addr: SocketAddr = format!("{peer}:40000").parse().expect("peer address");
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text,
            headers,
        }
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(
            request("GET", path).body(Body::empty()).expect("request"),
            None,
        )
        .await
    }

    /// POST `body` (raw text) as JSON to `path`.
    pub async fn post_raw(&self, path: &str, body: impl Into<String>) -> Reply {
        let request = request("POST", path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.into()))
            .expect("request");
        self.send(request, None).await
    }

    /// POST JSON to `path`.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, body.to_string()).await
    }

    /// POST without a body.
    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send(
            request("POST", path).body(Body::empty()).expect("request"),
            None,
        )
        .await
    }

    /// DELETE `path`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(
            request("DELETE", path)
                .body(Body::empty())
                .expect("request"),
            None,
        )
        .await
    }

    /// A request to the admin API with `token` (none when `None`).
    pub async fn admin(&self, method: &str, path: &str, token: Option<&str>) -> Reply {
        let mut builder = request(method, path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(builder.body(Body::empty()).expect("request"), None)
            .await
    }

    /// A new session's id.
    pub async fn session(&self) -> String {
        let reply = self.post_empty("/exp/livesession").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body["ID"].as_str().expect("session id").to_owned()
    }

    /// Requests `lesson` at `stage` in `session`.
    pub async fn request_lesson(&self, session: &str, lesson: &str, stage: i64) -> Reply {
        self.post(
            "/exp/livelesson",
            &serde_json::json!({"sessionId": session, "lessonSlug": lesson, "lessonStage": stage}),
        )
        .await
    }

    /// Requests `lesson` at stage 0 in `session`: the livelesson's id.
    pub async fn livelesson(&self, session: &str, lesson: &str) -> String {
        let reply = self.request_lesson(session, lesson, 0).await;
        reply.body["id"].as_str().expect("id").to_owned()
    }

    /// Rows of `livelessons` and CREATE jobs.
    pub async fn counts(&self) -> (i64, i64) {
        let livelessons: i64 = sqlx::query_scalar("select count(*) from livelessons")
            .fetch_one(&self.pool)
            .await
            .expect("count livelessons");
        let creates: i64 =
            sqlx::query_scalar("select count(*) from jobs where kind = 'livelesson.create'")
                .fetch_one(&self.pool)
                .await
                .expect("count jobs");
        (livelessons, creates)
    }

    /// Forces a livelesson's status, as a worker would.
    pub async fn set_status(&self, id: &str, status: &str) {
        sqlx::query("update livelessons set status = $2::livelesson_status where id = $1")
            .bind(id)
            .bind(status)
            .execute(&self.pool)
            .await
            .expect("set status");
    }
}

fn request(method: &str, path: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(path)
}
