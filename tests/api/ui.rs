//! The dashboard over a real PostgreSQL, without a socket: what needs a session, signing
//! in, the checks on actions, one-time links, redaction, and the job list's plans.

use antidote_scheduler::api::ui;
use antidote_scheduler::bench::ui as ui_bench;
use antidote_scheduler::config::{Config, Secret};
use antidote_scheduler::queue::inspect;
use antidote_scheduler::queue::{Client, NewJob};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::helpers::{ADMIN_TOKEN, Reply, TestApp, spawn_app, spawn_app_with, test_config};

const HOST: &str = "dash.test:8086";
const ORIGIN: &str = "http://dash.test:8086";

/// A browser's view of one signed-in session.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Reply {
    let mut builder = Request::builder().uri(path).header(header::HOST, HOST);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    app.send(builder.body(Body::empty()).expect("request"), None)
        .await
}

async fn post_form(
    app: &TestApp,
    path: &str,
    body: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> Reply {
    let mut builder = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    if let Some(origin) = origin {
        builder = builder.header(header::ORIGIN, origin);
    }
    app.send(
        builder.body(Body::from(body.to_owned())).expect("request"),
        None,
    )
    .await
}

fn set_cookie(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The `csrf` value of the first form of a page.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field");
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("end of value")].to_owned()
}

async fn sign_in(app: &TestApp) -> Browser {
    let reply = post_form(
        app,
        "/ui/sign-in",
        &format!("token={ADMIN_TOKEN}&next=%2Fui"),
        None,
        Some(ORIGIN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    let cookie = set_cookie(&reply).expect("a session cookie");
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    let overview = get(app, "/ui", Some(&pair)).await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.text);
    Browser {
        csrf: csrf_of(&overview.text),
        cookie: pair,
    }
}

async fn failed_job(pool: &PgPool) -> i64 {
    let client = Client::new(pool.clone());
    let job = client
        .enqueue(&NewJob::new("test.job", serde_json::json!({"n": 1})))
        .await
        .expect("enqueue");
    sqlx::query(
        "with done as (delete from jobs where id = $1 returning *)
         insert into finished_jobs (id, kind, args, queue, priority, state, attempt, max_attempts,
                                    run_at, created_at)
         select id, kind, args, queue, priority, 'failed', 1, max_attempts, run_at, created_at
         from done",
    )
    .bind(job.id.0)
    .execute(pool)
    .await
    .expect("fail the job");
    job.id.0
}

async fn state_of(pool: &PgPool, id: i64) -> String {
    sqlx::query_scalar("select state::text from jobs_all where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("job state")
}

#[sqlx::test]
async fn without_a_session_pages_lead_to_sign_in_and_show_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    for path in [
        "/ui",
        "/ui/jobs?state=failed",
        "/ui/jobs/1",
        "/ui/livelessons",
        "/ui/livelessons/abcde12345",
    ] {
        let reply = get(&app, path, None).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        let location = reply.headers[header::LOCATION].to_str().expect("ascii");
        assert!(
            location.starts_with("/ui/sign-in?next=/ui"),
            "{path}: {location}"
        );
        assert!(reply.text.is_empty(), "{path}: {}", reply.text);
    }
    // A stale or forged cookie is no session.
    let forged = get(&app, "/ui", Some("antidote_ui_session=00ff")).await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER);
    // The page script's refresh learns it must sign in again.
    let refresh = app
        .send(
            Request::builder()
                .uri("/ui")
                .header("x-dashboard-refresh", "1")
                .body(Body::empty())
                .expect("request"),
            None,
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    // The sign-in page and the assets are public; they hold no data.
    assert_eq!(get(&app, "/ui/sign-in", None).await.status, StatusCode::OK);
    let css = get(&app, "/ui/assets/style.css", None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(
        get(&app, "/ui/assets/secret.txt", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test]
async fn signing_in_takes_the_admin_token_and_stores_only_a_digest(pool: PgPool) {
    let app = spawn_app(pool).await;
    let wrong = post_form(
        &app,
        "/ui/sign-in",
        "token=guess&next=%2Fui",
        None,
        Some(ORIGIN),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&wrong).is_none());
    assert!(wrong.text.contains("not the admin token"));
    assert!(!wrong.text.contains("guess"), "the attempt is not echoed");

    let reply = post_form(
        &app,
        "/ui/sign-in",
        &format!("token={ADMIN_TOKEN}&next=%2Fui%2Fjobs%3Fstate%3Dfailed"),
        None,
        Some(ORIGIN),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[header::LOCATION], "/ui/jobs?state=failed");
    let cookie = set_cookie(&reply).expect("cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains(ADMIN_TOKEN));
    let value = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("value");
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("select id_hash from ui_sessions")
        .fetch_all(&app.pool)
        .await
        .expect("sessions");
    assert_eq!(stored, vec![Sha256::digest(value.as_bytes()).to_vec()]);

    // Sign-in from another site is refused before the token is looked at.
    let cross = post_form(
        &app,
        "/ui/sign-in",
        &format!("token={ADMIN_TOKEN}"),
        None,
        Some("http://evil.example"),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert!(set_cookie(&cross).is_none());

    // Signing out ends the session for good.
    let browser = sign_in(&app).await;
    let out = post_form(
        &app,
        "/ui/sign-out",
        &format!("csrf={}", browser.csrf),
        Some(&browser.cookie),
        Some(ORIGIN),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(set_cookie(&out).expect("cleared").contains("Max-Age=0"));
    assert_eq!(
        get(&app, "/ui", Some(&browser.cookie)).await.status,
        StatusCode::SEE_OTHER
    );
}

/// A sign-in form post from `peer`.
async fn sign_in_from(app: &TestApp, peer: &str, token: &str) -> Reply {
    let request = Request::builder()
        .method("POST")
        .uri("/ui/sign-in")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}&next=%2Fui")))
        .expect("request");
    app.send(request, Some(peer)).await
}

#[sqlx::test]
async fn sign_in_attempts_are_limited_per_address(pool: PgPool) {
    let app = spawn_app(pool).await;
    for attempt in 0..ui::SIGN_IN_PER_MINUTE {
        let wrong = sign_in_from(&app, "127.0.0.7", "guess").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // Over the limit even the right token is refused: a guesser learns nothing more.
    let refused = sign_in_from(&app, "127.0.0.7", ADMIN_TOKEN).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(set_cookie(&refused).is_none());
    let retry_after: u64 = refused.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert!(
        refused.text.contains("Too many sign-in attempts"),
        "{}",
        refused.text
    );
    let sessions: i64 = sqlx::query_scalar("select count(*) from ui_sessions")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(sessions, 0);

    // Another address has a bucket of its own, and the learner API's writes are untouched.
    let other = sign_in_from(&app, "127.0.0.8", ADMIN_TOKEN).await;
    assert_eq!(other.status, StatusCode::SEE_OTHER, "{}", other.text);
    let session = app
        .send(
            Request::builder()
                .method("POST")
                .uri("/exp/livesession")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .expect("request"),
            Some("127.0.0.7"),
        )
        .await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.text);
}

#[sqlx::test]
async fn actions_need_this_origin_and_the_sessions_csrf_token(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let browser = sign_in(&app).await;
    let job = failed_job(&pool).await;
    let path = format!("/ui/jobs/{job}/retry");
    let good = format!("csrf={}", browser.csrf);
    for (body, origin, status) in [
        (good.as_str(), None, StatusCode::FORBIDDEN),
        (
            good.as_str(),
            Some("http://evil.example"),
            StatusCode::FORBIDDEN,
        ),
        ("csrf=0123", Some(ORIGIN), StatusCode::FORBIDDEN),
        ("", Some(ORIGIN), StatusCode::BAD_REQUEST),
    ] {
        let reply = post_form(&app, &path, body, Some(&browser.cookie), origin).await;
        assert_eq!(
            reply.status, status,
            "{body:?} from {origin:?}: {}",
            reply.text
        );
        assert_eq!(
            state_of(&pool, job).await,
            "failed",
            "a refused action changed the job"
        );
    }
    // Without a session, even a same-origin post with some token is refused.
    let anonymous = post_form(&app, &path, &good, None, Some(ORIGIN)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(state_of(&pool, job).await, "failed");

    let retried = post_form(&app, &path, &good, Some(&browser.cookie), Some(ORIGIN)).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER);
    assert_eq!(
        retried.headers[header::LOCATION],
        format!("/ui/jobs/{job}?notice=retried").as_str()
    );
    assert_eq!(state_of(&pool, job).await, "available");
    let page = get(
        &app,
        &format!("/ui/jobs/{job}?notice=retried"),
        Some(&browser.cookie),
    )
    .await;
    assert!(page.text.contains("Retried: job"), "{}", page.text);

    // A second retry is refused with the reason, and changes nothing.
    let again = post_form(&app, &path, &good, Some(&browser.cookie), Some(ORIGIN)).await;
    assert_eq!(
        again.headers[header::LOCATION],
        format!("/ui/jobs/{job}?notice=retry-refused").as_str()
    );
    let page = get(
        &app,
        &format!("/ui/jobs/{job}?notice=retry-refused"),
        Some(&browser.cookie),
    )
    .await;
    assert!(page.text.contains("Retry refused: job"), "{}", page.text);
    assert!(page.text.contains("is available"), "{}", page.text);

    // A waiting job is cancelled at once.
    let cancel = format!("/ui/jobs/{job}/cancel");
    let cancelled = post_form(&app, &cancel, &good, Some(&browser.cookie), Some(ORIGIN)).await;
    assert_eq!(
        cancelled.headers[header::LOCATION],
        format!("/ui/jobs/{job}?notice=cancelled").as_str()
    );
    assert_eq!(state_of(&pool, job).await, "cancelled");
}

#[sqlx::test]
async fn a_sign_in_link_works_once(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let token = ui::create_sign_in_link(&pool).await.expect("link");
    let path = format!("/ui/sign-in/{token}");
    let first = get(&app, &path, None).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers[header::REFERRER_POLICY], "no-referrer");
    let cookie = set_cookie(&first).expect("cookie");
    let pair = cookie.split(';').next().expect("pair");
    assert_eq!(get(&app, "/ui", Some(pair)).await.status, StatusCode::OK);
    let second = get(&app, &path, None).await;
    assert_eq!(second.status, StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&second).is_none());
    // Malformed and expired links sign nobody in.
    assert_eq!(
        get(&app, "/ui/sign-in/zz", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let expired = ui::create_sign_in_link(&pool).await.expect("link");
    sqlx::query("update ui_sign_in_links set expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .expect("expire");
    let late = get(&app, &format!("/ui/sign-in/{expired}"), None).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test]
async fn the_dashboard_can_be_off_and_is_closed_without_a_token(pool: PgPool) {
    let mut off = test_config();
    off.api.ui = false;
    let app = spawn_app_with(pool.clone(), off).await;
    // `/ui` is then an unmatched one-segment path: the original's `GET /*` health check
    // answers it with `{}`, never a dashboard page.
    let root = get(&app, "/ui", None).await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(root.text, "{}");
    assert_eq!(
        get(&app, "/ui/sign-in", None).await.status,
        StatusCode::NOT_FOUND
    );

    let closed = Config {
        admin_token: Secret::default(),
        ..test_config()
    };
    let app = spawn_app_with(pool, closed).await;
    let form = get(&app, "/ui/sign-in", None).await;
    assert!(
        form.text.contains("no admin token is configured"),
        "{}",
        form.text
    );
    let attempt = post_form(&app, "/ui/sign-in", "token=", None, Some(ORIGIN)).await;
    assert_eq!(attempt.status, StatusCode::FORBIDDEN);
    assert!(set_cookie(&attempt).is_none());
}

#[sqlx::test]
async fn job_pages_redact_secrets_and_escape_what_they_show(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let browser = sign_in(&app).await;
    let client = Client::new(pool.clone());
    let job = client
        .enqueue(&NewJob::new(
            "test.<script>alert(1)</script>",
            serde_json::json!({"livelesson": "abcde12345", "password": "hunter2", "nested": {"apiToken": "t0k3n"}}),
        ))
        .await
        .expect("enqueue");
    let page = get(&app, &format!("/ui/jobs/{}", job.id), Some(&browser.cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains("hunter2"));
    assert!(!page.text.contains("t0k3n"));
    assert!(page.text.contains("abcde12345"));
    assert!(!page.text.contains("<script>alert(1)"), "kinds are escaped");
    assert!(page.text.contains("&lt;script&gt;"));
    assert!(!page.text.contains(ADMIN_TOKEN));
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert!(
        page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii")
            .contains("script-src 'self'")
    );
    // Unknown and malformed ids are 404 pages; bad filters are 400 pages naming the field.
    let missing = get(&app, "/ui/jobs/999999", Some(&browser.cookie)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&app, "/ui/jobs/x1", Some(&browser.cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    let bad = get(&app, "/ui/jobs?before=abc", Some(&browser.cookie)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("before"), "{}", bad.text);
    let unknown = get(&app, "/ui/livelessons?colour=red", Some(&browser.cookie)).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
}

#[sqlx::test]
async fn the_job_list_stays_on_indexes_over_a_long_history(pool: PgPool) {
    let params = ui_bench::Params {
        finished: 30_000,
        livelessons: 50,
        samples: 1,
        hours: 24,
    };
    ui_bench::seed(&pool, &params).await.expect("seed");
    for (name, filter, _) in ui_bench::job_list_cases(30_000, 24) {
        let plan = inspect::explain_job_page(&pool, &filter)
            .await
            .expect("explain")
            .join("\n");
        assert!(
            !plan.contains("Seq Scan on finished_jobs"),
            "{name} scans the history:\n{plan}"
        );
        assert!(plan.contains("Index"), "{name} uses no index:\n{plan}");
        // The page itself answers with the filter applied.
        let jobs = inspect::job_page(&pool, &filter).await.expect("page");
        assert!(jobs.len() <= 50, "{name}");
        if let Some(state) = filter.state {
            assert!(jobs.iter().all(|j| j.state == state), "{name}");
        }
        if let Some(key) = &filter.serial_key {
            assert!(!jobs.is_empty(), "{name} found nothing");
            assert!(
                jobs.iter().all(|j| j.serial_key.as_ref() == Some(key)),
                "{name}"
            );
        }
        assert!(
            jobs.windows(2).all(|w| w[0].id > w[1].id),
            "{name} is newest first"
        );
    }
}
