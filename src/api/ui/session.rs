//! Signing in to the dashboard and keeping it signed in: the admin token (or a one-time
//! link) buys a session; the browser keeps only a random session id in an HttpOnly,
//! SameSite=Strict cookie scoped to `/ui`. The token itself is never stored, echoed, put
//! in a URL or logged.
//!
//! Sessions live in the `ui_sessions` table (by the sha256 of their id), so that every API
//! process knows every session and a restart signs nobody out. Requests that change
//! something must come from a page of this server: their `Origin` (or, without it, their
//! `Referer`) must name this host, `Sec-Fetch-Site` must not say cross-site, and the form
//! must carry the session's CSRF token.

use std::fmt::Write as _;
use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::html;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::page::{self, Section, UiError};
use crate::api::AppState;
use crate::store::ui_session;

/// The session cookie's name.
pub const COOKIE: &str = "antidote_ui_session";
/// How long a session lasts from sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a one-time sign-in link can be used.
pub const LINK_TTL: Duration = Duration::from_secs(15 * 60);
/// The header the page script sets on its refreshes: they get a 401 instead of a
/// redirect to the sign-in page once the session is gone.
pub const REFRESH_HEADER: &str = "x-dashboard-refresh";

/// The signed-in session of a request, put in its extensions by [`require`].
#[derive(Debug, Clone)]
pub struct Session {
    /// What this session's forms must echo.
    pub csrf: String,
}

/// Fields every action form sends.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    /// The session's CSRF token.
    pub csrf: String,
}

impl Session {
    /// Checks an action form's CSRF token.
    ///
    /// # Errors
    /// 403 when it is not this session's.
    pub fn check(&self, form: &ActionForm) -> Result<(), UiError> {
        let expected = crate::secret::Secret::new(self.csrf.clone());
        if expected.matches(&form.csrf) {
            Ok(())
        } else {
            Err(UiError::new(
                StatusCode::FORBIDDEN,
                "this form is out of date or was not sent from the dashboard; reload the page and try again",
            ))
        }
    }

    /// Checks a posted action form: well-formed and carrying this session's CSRF token.
    ///
    /// # Errors
    /// 400 for a malformed form, 403 for a wrong token.
    pub fn check_form(
        &self,
        form: Result<Form<ActionForm>, axum::extract::rejection::FormRejection>,
    ) -> Result<(), UiError> {
        let Form(form) = form.map_err(|rejection| UiError::bad_request(rejection.body_text()))?;
        self.check(&form)
    }
}

/// Random bytes as hex: 256 bits, for session ids, CSRF tokens and link tokens.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn expiry(ttl: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1))
}

/// Creates a one-time sign-in link's token (valid for [`LINK_TTL`]); the link is
/// `<base>/ui/sign-in/<token>`.
///
/// # Errors
/// Storage failures.
pub async fn create_sign_in_link(pool: &PgPool) -> Result<String, crate::store::StoreError> {
    let token = random_token();
    ui_session::create_link(pool, &digest(&token), expiry(LINK_TTL)).await?;
    Ok(token)
}

/// The session id in the request's cookie, if any.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Whether the request was made over HTTPS as far as we can tell (a TLS-terminating proxy
/// says so in `X-Forwarded-Proto`); the cookie is then marked `Secure`.
fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

fn session_cookie(id: &str, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_TTL.as_secs()
    );
    // Hex and fixed text only: always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("antidote_ui_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Starts a session: stores it and returns the cookie that carries it.
async fn start(pool: &PgPool, headers: &HeaderMap) -> Result<HeaderValue, UiError> {
    let id = random_token();
    ui_session::create(pool, &digest(&id), &random_token(), expiry(SESSION_TTL)).await?;
    Ok(session_cookie(&id, is_https(headers)))
}

/// Lets a request in when it carries a live session, and checks that a request which
/// changes something comes from a dashboard page. A page request without a session is
/// sent to the sign-in page; a refresh by the page script gets 401.
pub async fn require(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let csrf = match cookie_value(request.headers()) {
        Some(id) => match ui_session::csrf_token(&state.pool, &digest(id)).await {
            Ok(found) => found,
            Err(err) => return UiError::from(err).into_response(),
        },
        None => None,
    };
    let Some(csrf) = csrf else {
        if request.method() != Method::GET || request.headers().contains_key(REFRESH_HEADER) {
            return UiError::new(StatusCode::UNAUTHORIZED, "sign in first").into_response();
        }
        let next_page = request
            .uri()
            .path_and_query()
            .map_or("/ui", |pq| pq.as_str());
        let target = format!("/ui/sign-in?next={}", encode_component(next_page));
        return Redirect::to(&target).into_response();
    };
    request.extensions_mut().insert(Session { csrf });
    next.run(request).await
}

/// Refuses a request that changes something unless it comes from a page of this host.
/// Applied to every non-GET route of the dashboard, sign-in included (so that another site
/// cannot sign a browser in to an account of its choosing).
pub async fn same_origin(request: Request, next: Next) -> Response {
    let method = request.method();
    if method == Method::GET || method == Method::HEAD {
        return next.run(request).await;
    }
    if let Err(reason) = check_same_origin(request.headers()) {
        tracing::warn!(reason, "dashboard: cross-site request refused");
        return UiError::new(StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    next.run(request).await
}

/// Whether a request's `Origin` (or `Referer`) names its own `Host`.
///
/// # Errors
/// Why the request does not look same-origin.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if text(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return Err("Sec-Fetch-Site says cross-site");
    }
    let host = text(header::HOST).ok_or("no Host header")?;
    let source = text(header::ORIGIN)
        .filter(|origin| *origin != "null")
        .or_else(|| text(header::REFERER))
        .ok_or("neither Origin nor Referer")?;
    let authority = source
        .strip_prefix("http://")
        .or_else(|| source.strip_prefix("https://"))
        .ok_or("Origin is not http(s)")?;
    let authority = authority.split('/').next().unwrap_or_default();
    if authority.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err("Origin names another host")
    }
}

/// Percent-encodes a query component (the sign-in page's `next`).
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Where to go after signing in: a dashboard path, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if (path == "/ui" || path.starts_with("/ui/") || path.starts_with("/ui?"))
                && !path.contains("//")
                && !path.contains('\\') =>
        {
            path
        }
        _ => "/ui",
    }
}

/// The query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    token: String,
    next: Option<String>,
}

fn sign_in_page(status: StatusCode, next: &str, problem: Option<&str>, enabled: bool) -> Response {
    let body = html! {
        section.sign-in {
            h1 { "Sign in" }
            @if !enabled {
                p.error-message {
                    "The dashboard is closed: no admin token is configured. Set adminToken "
                    "(ANTIDOTE_ADMIN_TOKEN) and restart."
                }
            } @else {
                p { "The dashboard shows the job queue and every livelesson. Sign in with the admin token (" code { "adminToken" } ")." }
                @if let Some(problem) = problem {
                    p.error-message role="alert" { (problem) }
                }
                form method="post" action="/ui/sign-in" {
                    input type="hidden" name="next" value=(next);
                    label for="token" { "Admin token" }
                    input #token type="password" name="token" autocomplete="current-password" required autofocus;
                    button type="submit" { "Sign in" }
                }
            }
        }
    };
    (
        status,
        page::shell("Sign in", Section::None, None, None, &body),
    )
        .into_response()
}

/// `GET /ui/sign-in`: the form.
pub async fn form(State(state): State<AppState>, Query(query): Query<SignInQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    sign_in_page(StatusCode::OK, next, None, !state.admin_token.is_empty())
}

/// `POST /ui/sign-in`: the admin token buys a session.
pub async fn sign_in(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<SignInForm>,
) -> Response {
    let headers = &parts.headers;
    let next = safe_next(form.next.as_deref()).to_owned();
    if state.admin_token.is_empty() {
        return sign_in_page(StatusCode::FORBIDDEN, &next, None, false);
    }
    let group = crate::api::client::client_of(&parts, &state)
        .map(|ip| crate::api::client::limit_group(ip, state.ipv6_prefix_length));
    if let Err(seconds) = state.rate_limits.check_sign_in(group) {
        tracing::warn!("dashboard: sign-in attempts over the limit of their address");
        let problem =
            format!("Too many sign-in attempts from this address; try again in {seconds} s.");
        let mut response = sign_in_page(StatusCode::TOO_MANY_REQUESTS, &next, Some(&problem), true);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    if !state.admin_token.matches(form.token.trim()) {
        tracing::warn!("dashboard: sign-in with a wrong token");
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That is not the admin token."),
            true,
        );
    }
    match start(&state.pool, headers).await {
        Ok(cookie) => {
            tracing::info!("dashboard: signed in with the admin token");
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(err) => err.into_response(),
    }
}

/// `GET /ui/sign-in/{token}`: a one-time link buys a session. The answer is a page that
/// moves on to the overview by itself rather than a redirect, so that the cookie is sent
/// with the next request even when the link was opened from another site (a SameSite=Strict
/// cookie is left out of a cross-site redirect chain).
pub async fn sign_in_with_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let valid_shape = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
    let used = if valid_shape {
        match ui_session::consume_link(&state.pool, &digest(&token)).await {
            Ok(used) => used,
            Err(err) => return UiError::from(err).into_response(),
        }
    } else {
        false
    };
    if !used {
        tracing::warn!("dashboard: an unknown, used or expired sign-in link");
        return UiError::new(
            StatusCode::UNAUTHORIZED,
            "This sign-in link is unknown, already used or expired. Sign in with the admin token at /ui/sign-in.",
        )
        .into_response();
    }
    let cookie = match start(&state.pool, &headers).await {
        Ok(cookie) => cookie,
        Err(err) => return err.into_response(),
    };
    tracing::info!("dashboard: signed in with a one-time link");
    let body = page::shell(
        "Signed in",
        Section::None,
        None,
        None,
        &html! {
            meta http-equiv="refresh" content="0; url=/ui";
            h1 { "Signed in" }
            p { a href="/ui" { "Continue to the dashboard" } }
        },
    );
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::SET_COOKIE, cookie);
    // The next page must not learn this page's address: it holds the (spent) token.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `POST /ui/sign-out`: ends the session.
pub async fn sign_out(
    State(state): State<AppState>,
    axum::Extension(session): axum::Extension<Session>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Result<Response, UiError> {
    session.check(&form)?;
    if let Some(id) = cookie_value(&headers) {
        ui_session::delete(&state.pool, &digest(id)).await?;
    }
    let mut response = Redirect::to("/ui/sign-in").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_cookie());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn requests_from_this_host_pass() {
        let same = headers(&[
            ("host", "127.0.0.1:8086"),
            ("origin", "http://127.0.0.1:8086"),
        ]);
        assert_eq!(check_same_origin(&same), Ok(()));
        let by_referer = headers(&[
            ("host", "dash.example"),
            ("referer", "https://dash.example/ui/jobs/4"),
        ]);
        assert_eq!(check_same_origin(&by_referer), Ok(()));
    }

    #[test]
    fn requests_from_elsewhere_are_refused() {
        let other = headers(&[
            ("host", "127.0.0.1:8086"),
            ("origin", "http://evil.example"),
        ]);
        assert!(check_same_origin(&other).is_err());
        let port = headers(&[
            ("host", "127.0.0.1:8086"),
            ("origin", "http://127.0.0.1:9999"),
        ]);
        assert!(check_same_origin(&port).is_err());
        let none = headers(&[("host", "127.0.0.1:8086")]);
        assert!(check_same_origin(&none).is_err());
        let opaque = headers(&[("host", "127.0.0.1:8086"), ("origin", "null")]);
        assert!(check_same_origin(&opaque).is_err());
        let fetch = headers(&[
            ("host", "127.0.0.1:8086"),
            ("origin", "http://127.0.0.1:8086"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(check_same_origin(&fetch).is_err());
        // A host that merely starts like ours is another host.
        let prefix = headers(&[
            ("host", "dash.example"),
            ("origin", "http://dash.example.evil"),
        ]);
        assert!(check_same_origin(&prefix).is_err());
    }

    #[test]
    fn after_sign_in_only_dashboard_paths_are_followed() {
        assert_eq!(
            safe_next(Some("/ui/jobs?state=failed")),
            "/ui/jobs?state=failed"
        );
        assert_eq!(safe_next(Some("/ui")), "/ui");
        assert_eq!(safe_next(Some("https://evil.example/")), "/ui");
        assert_eq!(safe_next(Some("//evil.example/ui")), "/ui");
        assert_eq!(safe_next(Some("/ui//evil.example")), "/ui");
        assert_eq!(safe_next(Some("/uix")), "/ui");
        assert_eq!(safe_next(Some("/v1/jobs")), "/ui");
        assert_eq!(safe_next(None), "/ui");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let map = headers(&[("cookie", "a=1; antidote_ui_session=abc123; b=2")]);
        assert_eq!(cookie_value(&map), Some("abc123"));
        assert_eq!(cookie_value(&headers(&[("cookie", "a=1")])), None);
    }

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let cookie = session_cookie("ff00", false);
        let text = cookie.to_str().expect("ascii");
        assert!(text.contains("HttpOnly"), "{text}");
        assert!(text.contains("SameSite=Strict"), "{text}");
        assert!(text.contains("Path=/ui"), "{text}");
        assert!(!text.contains("Secure"), "{text}");
        assert!(
            session_cookie("ff00", true)
                .to_str()
                .expect("ascii")
                .ends_with("; Secure")
        );
    }
}
