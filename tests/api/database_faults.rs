//! The API when its database is away (a failover, a restart): a learner's request waits
//! inside the API for a writable primary, for at most `database.writableWaitMs`, and
//! succeeds if one answers in time; past the wait it is answered 503 with `Retry-After`
//! in the original's error shape, never 500 and never a hang. `/readyz` says why at once.
//! The pools are the production ones (`db::pool_options`), opened lazily on a loopback
//! port that the test controls: nothing listens there until the test lets PostgreSQL
//! through.

use std::time::{Duration, Instant};

use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::config::Config;
use antidote_scheduler::db::{self, DatabaseSettings, PoolLimits};
use antidote_scheduler::queue::Client;
use axum::http::StatusCode;
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};

use super::helpers::{TestApp, import_example_curriculum, test_config};

/// How long the API waits for a writable primary in these tests.
const WAIT: Duration = Duration::from_millis(1500);

/// A port on which nothing listens yet.
async fn vacant_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address").port()
}

/// The API over the test's database reached through loopback `port` (which may have no
/// listener yet), with the production pool options.
fn app_through(pool: &PgPool, port: u16) -> TestApp {
    let limits = PoolLimits {
        acquire_timeout_ms: 500,
        ..PoolLimits::API
    };
    let options = db::bounded((*pool.connect_options()).clone().port(port), &limits);
    let through = db::pool_options(4, &limits).connect_lazy_with(options);
    let config = Config {
        database: DatabaseSettings {
            writable_wait_ms: u64::try_from(WAIT.as_millis()).expect("millis"),
            ..DatabaseSettings::default()
        },
        ..test_config()
    };
    let state = AppState::new(through.clone(), Client::new(through.clone()), &config);
    TestApp {
        router: api::router(state),
        pool: through,
    }
}

/// Forwards connections on `port` to the test's PostgreSQL from now on.
async fn let_postgres_through(pool: &PgPool, port: u16) {
    let target = format!(
        "{}:{}",
        pool.connect_options().get_host(),
        pool.connect_options().get_port()
    );
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the port is still free");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
}

#[sqlx::test]
async fn past_the_wait_a_learner_gets_503_with_retry_after_in_the_exp_shape(pool: PgPool) {
    let app = app_through(&pool, vacant_port().await);
    for (method, path) in [
        ("POST", "/exp/livesession"),
        ("GET", "/exp/livelesson/abcdefghij"),
    ] {
        let began = Instant::now();
        let reply = match method {
            "POST" => app.post_empty(path).await,
            _ => app.get(path).await,
        };
        let took = began.elapsed();
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            reply.text
        );
        // gRPC UNAVAILABLE, in the original gateway's body.
        assert_eq!(reply.grpc(), 14, "{path}: {}", reply.text);
        assert!(
            reply.message().contains("database unreachable"),
            "{}",
            reply.text
        );
        assert_eq!(
            reply
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("2"),
            "{path}"
        );
        assert!(
            took + Duration::from_millis(200) >= WAIT,
            "{path}: answered after {took:?}"
        );
        assert!(
            took < WAIT + Duration::from_secs(2),
            "{path}: answered after {took:?}"
        );
        println!("{method} {path} with the database away: 503 after {took:?}");
    }
    // Probes are not retried: they answer at once, with the reason.
    let began = Instant::now();
    let reply = app.get("/readyz").await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "not_ready");
    assert!(
        reply.text.contains("database unreachable"),
        "{}",
        reply.text
    );
    assert!(
        began.elapsed() < WAIT,
        "readiness answered after {:?}",
        began.elapsed()
    );
}

#[sqlx::test]
async fn a_request_that_meets_the_outage_succeeds_when_the_primary_returns_within_the_wait(
    pool: PgPool,
) {
    import_example_curriculum(&pool).await;
    let port = vacant_port().await;
    let app = app_through(&pool, port);
    let began = Instant::now();
    let request = tokio::spawn(async move { app.post_empty("/exp/livesession").await });
    // The request has met the outage at least once before the database returns.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let_postgres_through(&pool, port).await;
    let reply = request.await.expect("request task");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let id = reply.body["ID"].as_str().expect("a session id");
    let stored: i64 = sqlx::query_scalar("select count(*) from livesessions where id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 1);
    println!(
        "a session requested during a database outage: created {:?} after the request",
        began.elapsed()
    );
}
