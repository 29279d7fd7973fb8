//! A hostile client against the API: floods of slow and idle connections, racing session
//! requests from one address (in one process and across two), spoofed forwarding headers,
//! control characters in queries, oversized targets and heads, and the rate limit.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::config::{Config, HttpSettings, RateLimitSettings};
use antidote_scheduler::queue::Client;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures::StreamExt;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{ADMIN_TOKEN, spawn_app, spawn_app_with, test_config};

/// The API of `config` over `pool`, served on a loopback socket with a listen backlog
/// deep enough for thousands of connections opened at once.
fn serve_on_socket(
    pool: PgPool,
    config: &Config,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(4096).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let state = AppState::new(pool.clone(), Client::new(pool), config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// A connection to `addr` from the loopback address `from`.
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{from}:0").parse().expect("addr"))
        .expect("bind source");
    socket.connect(addr).await.expect("connect")
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// One `GET /readyz` on a fresh connection from 127.0.0.1: its status line and duration.
async fn probe_readyz(addr: SocketAddr) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = connect_from("127.0.0.1", addr).await;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let response = read_to_close(&mut stream).await;
    let text = String::from_utf8_lossy(&response);
    let status = text.lines().next().unwrap_or("").to_owned();
    (status, started.elapsed())
}

#[sqlx::test]
async fn slow_body_and_idle_floods_from_one_address_are_closed_while_readyz_answers(pool: PgPool) {
    // 4,000 client sockets and the server's side of them live in this process.
    rlimit::increase_nofile_limit(12_000).expect("raise the descriptor limit");
    let http = HttpSettings {
        header_timeout_secs: 1,
        request_timeout_secs: 2,
        max_connections: 1024,
        max_connections_per_address: 64,
        ..HttpSettings::default()
    };
    let config = Config {
        trusted_proxies: Vec::new(),
        http: http.clone(),
        ..test_config()
    };
    let (addr, _stop) = serve_on_socket(pool, &config);
    // Everything may take this long to be closed: the request deadline, and the header
    // timeout counted from the last connection opened, with a margin for a busy machine.
    let opened = Instant::now();
    let slow_head = b"POST /exp/livelesson HTTP/1.1\r\nhost: api\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{";

    let attacker = "127.0.0.2";
    let mut slow = Vec::new();
    for _ in 0..2000 {
        let mut stream = connect_from(attacker, addr).await;
        stream.write_all(slow_head).await.expect("write a head");
        slow.push(stream);
    }
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(connect_from(attacker, addr).await);
    }
    let all_open = opened.elapsed();

    // The flood holds connections; a probe from elsewhere is answered at once.
    for _ in 0..20 {
        let (status, took) = probe_readyz(addr).await;
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        assert!(
            took < Duration::from_millis(100),
            "/readyz took {took:?} during the flood"
        );
    }

    let deadline = all_open + http.request_timeout() + Duration::from_secs(2);
    let closes = slow.into_iter().chain(idle).map(|mut stream| async move {
        let response =
            tokio::time::timeout(Duration::from_secs(30), read_to_close(&mut stream)).await;
        (
            response.is_ok(),
            opened.elapsed(),
            response.unwrap_or_default(),
        )
    });
    let results: Vec<_> = futures::stream::iter(closes)
        .buffer_unordered(4000)
        .collect()
        .await;
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for (closed, at, response) in &results {
        assert!(closed, "a connection was still open after 30 s");
        assert!(
            *at <= deadline,
            "a connection closed after {at:?}, later than {deadline:?}"
        );
        let text = String::from_utf8_lossy(response);
        let status = text.lines().next().unwrap_or("(closed unanswered)");
        *statuses.entry(status.to_owned()).or_default() += 1;
    }
    // The admitted slow bodies ran into the request deadline; the rest were turned away.
    assert!(
        statuses
            .get("HTTP/1.1 408 Request Timeout")
            .is_some_and(|n| *n <= 64),
        "{statuses:?}"
    );
    assert!(
        statuses.contains_key("HTTP/1.1 503 Service Unavailable"),
        "{statuses:?}"
    );
    eprintln!("{statuses:?}, all closed by {deadline:?}");

    // And afterwards a keep-alive connection left idle is closed after the header timeout.
    let mut stream = connect_from(attacker, addr).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: api\r\n\r\n")
        .await
        .expect("write");
    let idle_from = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut stream))
        .await
        .expect("the idle keep-alive connection is closed");
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"));
    let idle_for = idle_from.elapsed();
    assert!(
        idle_for >= http.header_timeout() && idle_for < http.header_timeout() * 3,
        "closed after {idle_for:?}"
    );
}

/// The database URL of the test database behind `pool`.
async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(pool)
        .await
        .expect("current_database");
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}

/// `antidoted api` as a separate process over the same database: it shares nothing with
/// this one but PostgreSQL. Killed on drop.
struct ApiProcess {
    child: tokio::process::Child,
    addr: SocketAddr,
}

impl ApiProcess {
    async fn start(database_url: &str) -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            probe.local_addr().expect("addr").port()
        };
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_antidoted"))
            .arg("api")
            .env("DATABASE_URL", database_url)
            .env("ANTIDOTE_HTTP_ADDRESS", "127.0.0.1")
            .env("ANTIDOTE_HTTP_PORT", port.to_string())
            // Any free port for its terminal gateway: tests run side by side.
            .env("ANTIDOTE_GATEWAY_ADDRESS", "127.0.0.1")
            .env("ANTIDOTE_GATEWAY_PORT", "0")
            .env("ANTIDOTE_LIVE_SESSION_LIMIT", "20")
            .env("ANTIDOTE_TRUSTED_PROXIES", "127.0.0.0/8")
            .env("ANTIDOTE_RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "0")
            .env("ANTIDOTE_RATE_LIMIT_GLOBAL_PER_SECOND", "0")
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start antidoted api");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while reqwest::get(format!("http://{addr}/readyz"))
            .await
            .map(|r| r.status())
            .ok()
            != Some(reqwest::StatusCode::OK)
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "antidoted api did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, addr }
    }
}

async fn sessions_from(pool: &PgPool, key: &str) -> i64 {
    sqlx::query_scalar("select count(*) from livesessions where source_key = $1")
        .bind(key)
        .fetch_one(pool)
        .await
        .expect("count sessions")
}

#[sqlx::test]
async fn two_thousand_racing_session_requests_from_one_address_make_exactly_the_limit(
    pool: PgPool,
) {
    let config = Config {
        live_session_limit: 20,
        ..test_config()
    };
    let app = spawn_app_with(pool.clone(), config).await;
    let replies = futures::stream::iter(0..2000)
        .map(|_| {
            let request = Request::builder()
                .method("POST")
                .uri("/exp/livesession")
                .body(Body::empty())
                .expect("request");
            app.send(request, Some("203.0.113.20"))
        })
        .buffer_unordered(300)
        .collect::<Vec<_>>()
        .await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused = replies
        .iter()
        .filter(|r| {
            r.status == StatusCode::TOO_MANY_REQUESTS
                && r.grpc() == 8
                && r.message().starts_with("limit reached")
        })
        .count();
    assert_eq!((created, refused), (20, 1980));
    assert_eq!(sessions_from(&pool, "203.0.113.20").await, 20);
}

#[sqlx::test]
async fn the_session_limit_holds_across_two_api_processes(pool: PgPool) {
    let other = ApiProcess::start(&database_url(&pool).await).await;
    let config = Config {
        live_session_limit: 20,
        ..test_config()
    };
    let (here, _stop) = serve_on_socket(pool.clone(), &config);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(300)
        .build()
        .expect("client");
    // One client behind the trusted loopback proxy, its requests spread over both.
    let statuses = futures::stream::iter(0..2000)
        .map(|i| {
            let target = if i % 2 == 0 { here } else { other.addr };
            let request = http
                .post(format!("http://{target}/exp/livesession"))
                .header("x-forwarded-for", "198.51.100.20");
            async move { request.send().await.expect("send").status() }
        })
        .buffer_unordered(300)
        .collect::<Vec<_>>()
        .await;
    let created = statuses
        .iter()
        .filter(|s| **s == reqwest::StatusCode::OK)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == reqwest::StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((created, refused), (20, 1980));
    assert_eq!(sessions_from(&pool, "198.51.100.20").await, 20);
    drop(other.child);
}

#[sqlx::test]
async fn racing_livelesson_requests_in_one_session_stop_at_the_lesson_limit(pool: PgPool) {
    let config = Config {
        live_lesson_limit: 2,
        ..test_config()
    };
    let app = spawn_app_with(pool, config).await;
    let session = app.session().await;
    let lessons = [
        "linux-first-steps",
        "notebook-automation",
        "router-configuration",
        "web-automation",
    ];
    let replies = futures::future::join_all(
        (0..40).map(|i| app.request_lesson(&session, lessons[i % lessons.len()], 0)),
    )
    .await;
    let (livelessons, creates) = app.counts().await;
    assert_eq!((livelessons, creates), (2, 2));
    assert!(
        replies
            .iter()
            .all(|r| r.status == StatusCode::OK || r.message().starts_with("limit reached")),
        "{replies:?}"
    );
}

#[sqlx::test]
async fn a_spoofed_left_most_forwarded_for_entry_counts_as_the_proxys_client(pool: PgPool) {
    let config = Config {
        live_session_limit: 1,
        ..test_config()
    };
    let app = spawn_app_with(pool, config).await;
    // The proxy at 127.0.0.1 appends the address it received from (203.0.113.9) to
    // whatever the client wrote.
    for spoofed in 1..=20 {
        let request = Request::builder()
            .method("POST")
            .uri("/exp/livesession")
            .header("x-forwarded-for", format!("6.6.6.{spoofed}, 203.0.113.9"))
            .body(Body::empty())
            .expect("request");
        let reply = app.send(request, Some("127.0.0.1")).await;
        if spoofed == 1 {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            assert_eq!(reply.body["SourceIP"], "203.0.113.9");
        } else {
            assert_eq!(
                reply.status,
                StatusCode::TOO_MANY_REQUESTS,
                "{}",
                reply.text
            );
        }
    }
    let sessions: i64 = sqlx::query_scalar("select count(*) from livesessions")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(sessions, 1);
}

#[sqlx::test]
async fn ipv6_clients_share_the_session_limit_per_64(pool: PgPool) {
    let config = Config {
        live_session_limit: 2,
        ..test_config()
    };
    let app = spawn_app_with(pool, config).await;
    let from = |client: &str| {
        Request::builder()
            .method("POST")
            .uri("/exp/livesession")
            .header("x-forwarded-for", client)
            .body(Body::empty())
            .expect("request")
    };
    for host in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::2"] {
        let reply = app.send(from(host), Some("127.0.0.1")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["SourceIP"], host);
    }
    let reply = app.send(from("2001:db8:1:2::3"), Some("127.0.0.1")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let reply = app.send(from("2001:db8:1:3::1"), Some("127.0.0.1")).await;
    assert_eq!(reply.status, StatusCode::OK, "another /64");
}

#[sqlx::test]
async fn nul_and_every_control_character_in_a_query_is_a_400(pool: PgPool) {
    let app = spawn_app(pool).await;
    let controls = (0u32..0x20).chain([0x7f, 0x85, 0x9f]);
    for control in controls {
        let encoded: String = char::from_u32(control)
            .expect("char")
            .to_string()
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<Vec<_>>()
            .concat();
        for path in [
            format!("/v1/jobs?kind={encoded}"),
            format!("/v1/jobs?kind=livelesson{encoded}create"),
            format!("/v1/jobs?state=failed&livelesson=ab{encoded}"),
            format!("/exp/lesson?q={encoded}"),
            format!("/healthz?{encoded}=1"),
        ] {
            let reply = app.admin("GET", &path, Some(ADMIN_TOKEN)).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{path}: {}",
                reply.text
            );
            if path.starts_with("/exp") {
                assert_eq!(reply.grpc(), 3, "{path}");
            } else {
                assert_eq!(reply.code(), "bad_request", "{path}");
            }
            assert_eq!(
                reply.headers[header::CONTENT_TYPE],
                "application/json",
                "{path}"
            );
        }
    }
    // A kind that is merely unknown is fine; one too long is not.
    let reply = app
        .admin("GET", "/v1/jobs?kind=no.such.kind", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let long = "k".repeat(200);
    let reply = app
        .admin("GET", &format!("/v1/jobs?kind={long}"), Some(ADMIN_TOKEN))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
}

#[sqlx::test]
async fn protocol_errors_answer_in_json_and_never_echo_long_ids(pool: PgPool) {
    let app = spawn_app(pool).await;
    // Not UTF-8 once decoded: JSON, not axum's text/plain.
    for path in ["/exp/livelesson/%FF%FE", "/exp/lesson/%C0", "/v1/jobs/%FF"] {
        let reply = app.admin("GET", path, Some(ADMIN_TOKEN)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.text
        );
        if path.starts_with("/exp") {
            assert_eq!(reply.grpc(), 3, "{path}");
        } else {
            assert_eq!(reply.code(), "bad_request", "{path}");
        }
    }
    // A long id is cut in the message.
    let id = "a".repeat(4000);
    let reply = app.get(&format!("/exp/livelesson/{id}")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.text.len() < 600, "{} bytes", reply.text.len());
    assert!(reply.text.contains("(4000 bytes)"), "{}", reply.text);
    // A 60 KB id is a 414, and the target is not echoed.
    let id = "a".repeat(60_000);
    let reply = app.get(&format!("/exp/livelesson/{id}")).await;
    assert_eq!(reply.status, StatusCode::URI_TOO_LONG);
    assert_eq!(reply.grpc(), 3, "{}", reply.text);
    assert!(reply.text.len() < 600, "{} bytes", reply.text.len());
    assert_eq!(reply.headers[header::CONNECTION], "close");
    // A large head is a 431 in JSON.
    let request = Request::builder()
        .uri("/healthz")
        .header("x-padding", "p".repeat(20_000))
        .body(Body::empty())
        .expect("request");
    let reply = app.send(request, None).await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(reply.code(), "header_fields_too_large");
}

#[sqlx::test]
async fn heads_past_our_limits_are_answered_in_json_over_a_socket(pool: PgPool) {
    let (addr, _stop) = serve_on_socket(pool, &test_config());
    for request in [
        format!(
            "GET /exp/livelesson/{} HTTP/1.1\r\nhost: api\r\n\r\n",
            "a".repeat(30_000)
        ),
        format!(
            "GET /healthz HTTP/1.1\r\nhost: api\r\nx-padding: {}\r\n\r\n",
            "p".repeat(30_000)
        ),
    ] {
        let mut stream = connect_from("127.0.0.1", addr).await;
        stream.write_all(request.as_bytes()).await.expect("write");
        let response = read_to_close(&mut stream).await;
        let text = String::from_utf8_lossy(&response);
        assert!(
            text.starts_with("HTTP/1.1 414") || text.starts_with("HTTP/1.1 431"),
            "{text}"
        );
        assert!(text.contains("application/json"), "{text}");
        assert!(text.len() < 1000, "{} bytes", text.len());
    }
}

#[sqlx::test]
async fn the_rate_limit_answers_429_with_retry_after_and_recovers(pool: PgPool) {
    let config = Config {
        rate_limit: RateLimitSettings {
            per_address_per_minute: 120,
            per_address_burst: 3,
            global_per_second: 0,
            global_burst: 0,
        },
        ..test_config()
    };
    let app = spawn_app_with(pool, config).await;
    let post = || {
        Request::builder()
            .method("POST")
            .uri("/exp/livesession")
            .body(Body::empty())
            .expect("request")
    };
    for _ in 0..3 {
        let reply = app.send(post(), Some("203.0.113.30")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let refused = app.send(post(), Some("203.0.113.30")).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    assert_eq!(refused.grpc(), 8, "{}", refused.text);
    assert!(
        refused.message().starts_with("too many requests"),
        "{}",
        refused.text
    );
    let retry_after: u64 = refused.headers[header::RETRY_AFTER]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Reads and other addresses are not limited.
    assert_eq!(app.get("/exp/lesson").await.status, StatusCode::OK);
    let other = app.send(post(), Some("203.0.113.31")).await;
    assert_eq!(other.status, StatusCode::OK);
    // After the wait it names, the address may write again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let again = app.send(post(), Some("203.0.113.30")).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
}

#[sqlx::test]
async fn the_openapi_document_declares_what_the_routes_answer(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc = app.get("/openapi.json").await.body;
    let paths = doc["paths"].as_object().expect("paths");
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("item") {
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} repeats");
            let responses = operation["responses"].as_object().expect("responses");
            for status in ["400", "408", "414", "431", "503"] {
                assert!(responses.contains_key(status), "{method} {path}: {status}");
            }
            if path.starts_with("/v1/") {
                for status in ["401", "403"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
            }
            if path.starts_with("/exp/") && method != "get" {
                assert!(responses.contains_key("429"), "{method} {path}: 429");
            }
        }
    }
    let list = &paths["/v1/jobs"]["get"]["parameters"];
    for parameter in list.as_array().expect("parameters") {
        assert_eq!(parameter["in"], "query", "{parameter}");
        assert_eq!(parameter["required"], false, "{parameter}");
    }
    let id = &paths["/exp/livelesson/{id}"]["get"]["parameters"][0];
    assert_eq!(id["schema"]["pattern"], "^[a-z0-9]{10}$");
    let slug = &paths["/exp/lesson/{slug}"]["get"]["parameters"][0];
    assert_eq!(slug["schema"]["pattern"], "^[a-z-]{1,128}$");
}
