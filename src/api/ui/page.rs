//! The dashboard's page shell (head, navigation, the live part), its error page, the
//! security headers of every response, and the small formatters the pages share.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use crate::queue::JobState;
use crate::store::livelesson::Status;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `/ui`.
    Overview,
    /// `/ui/jobs...`.
    Jobs,
    /// `/ui/livelessons...`.
    Livelessons,
    /// Sign-in and errors: no navigation.
    None,
}

/// How often the live part of a page is fetched again, in milliseconds.
pub const REFRESH_MS: u32 = 1500;

/// A whole page. `live` is the part the script fetches again every [`REFRESH_MS`];
/// `notice` (the outcome of an action) sits outside it so that a refresh keeps it.
pub fn shell(
    title: &str,
    section: Section,
    csrf: Option<&str>,
    notice: Option<Notice>,
    live: &Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · antidote" }
                link rel="icon" href="/ui/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/ui/assets/style.css";
                script src="/ui/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/ui" { "antidote" }
                    @if section != Section::None {
                        nav {
                            a href="/ui" aria-current=[current(section, Section::Overview)] { "Overview" }
                            a href="/ui/jobs" aria-current=[current(section, Section::Jobs)] { "Jobs" }
                            a href="/ui/livelessons" aria-current=[current(section, Section::Livelessons)] { "Livelessons" }
                        }
                        span #live-status .live-status title="The page refreshes itself" { "live" }
                    }
                    @if let Some(csrf) = csrf {
                        form.sign-out method="post" action="/ui/sign-out" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                @if let Some(notice) = notice {
                    p #notice .notice .{ "notice-" (notice.tone.class()) } role="status" { (notice.text) }
                }
                main #live data-refresh-ms=(REFRESH_MS) {
                    (live)
                }
            }
        }
    }
}

fn current(section: Section, entry: Section) -> Option<&'static str> {
    (section == entry).then_some("page")
}

/// The outcome of an action, shown above the page it led back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Good news or a refusal.
    pub tone: Tone,
    /// What happened.
    pub text: String,
}

/// The colour of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// The action did what was asked.
    Done,
    /// The action was refused.
    Refused,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Refused => "refused",
        }
    }
}

/// A failure answered with an HTML page. Internal detail is logged where the error is
/// converted, never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiError {
    status: StatusCode,
    message: String,
}

impl UiError {
    /// An error page with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: a filter or form field is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500 with a generic message.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the incident is logged",
        )
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = shell(
            title,
            Section::None,
            None,
            None,
            &html! {
                h1 { (title) }
                p.error-message { (self.message) }
                p { a href="/ui" { "Back to the overview" } }
            },
        );
        (self.status, body).into_response()
    }
}

impl From<crate::queue::QueueError> for UiError {
    fn from(err: crate::queue::QueueError) -> Self {
        tracing::error!(error = %crate::api::error::chain(&err), "dashboard: job queue failure");
        Self::internal()
    }
}

impl From<crate::store::StoreError> for UiError {
    fn from(err: crate::store::StoreError) -> Self {
        tracing::error!(error = %crate::api::error::chain(&err), "dashboard: storage failure");
        Self::internal()
    }
}

/// Headers of every dashboard response: pages may load scripts, styles and images from
/// this server only and run no inline script; no framing; no referrer leaves this site
/// (within it the browser keeps sending `Origin` on posts, which [`super::session`]
/// checks); nothing is cached, since every page shows live state behind a sign-in.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/ui/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A handler may ask for less (the sign-in link's page sends no referrer at all).
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The query of a page, or a 400 page naming what is malformed.
///
/// # Errors
/// 400 with the parser's message.
pub fn query<T>(
    query: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, UiError> {
    query
        .map(|axum::extract::Query(value)| value)
        .map_err(|rejection| UiError::bad_request(rejection.body_text()))
}

/// A timestamp as shown everywhere: UTC to the second.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A timestamp to the millisecond, for steps and events.
pub fn time_ms(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// How long ago `at` was, to the second: "42 s ago", "3m 05s ago".
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    if secs < 60 {
        format!("{secs} s ago")
    } else {
        format!("{} ago", seconds(secs as f64))
    }
}

/// An optional timestamp, or a dash.
pub fn time_or_dash(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "–".to_owned(), time)
}

/// A duration in seconds, to a precision that suits its size.
pub fn seconds(secs: f64) -> String {
    if secs < 0.001 {
        "0 ms".to_owned()
    } else if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 60.0 {
        format!("{secs:.2} s")
    } else if secs < 3600.0 {
        format!("{}m {:02}s", (secs / 60.0).floor(), (secs % 60.0).floor())
    } else {
        format!(
            "{}h {:02}m",
            (secs / 3600.0).floor(),
            ((secs % 3600.0) / 60.0).floor()
        )
    }
}

/// The time between two instants, as [`seconds`].
pub fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    seconds((to - from).as_seconds_f64().max(0.0))
}

/// A job state as a coloured label.
pub fn job_state(state: JobState) -> Markup {
    html! { span.badge .{ "job-" (state.as_str()) } { (state.as_str()) } }
}

/// A livelesson status as a coloured label.
pub fn livelesson_status(status: Status, deleting: bool) -> Markup {
    html! {
        span.badge .{ "ll-" (status.as_str()) } { (status.as_str()) }
        @if deleting { " " span.badge.ll-deleting { "deleting" } }
    }
}

/// Every job state, in the order of their life.
pub const JOB_STATES: [JobState; 7] = [
    JobState::Scheduled,
    JobState::Available,
    JobState::Running,
    JobState::Retryable,
    JobState::Completed,
    JobState::Failed,
    JobState::Cancelled,
];

/// Every livelesson status, in the order of their life.
pub const LIVELESSON_STATUSES: [Status; 5] = [
    Status::Initialized,
    Status::Booting,
    Status::Configuration,
    Status::Ready,
    Status::Error,
];

/// The livelesson id of a `livelesson:<id>` serial key.
pub fn livelesson_of(serial_key: &str) -> Option<&str> {
    serial_key
        .strip_prefix("livelesson:")
        .filter(|id| crate::api::is_id(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(seconds(0.0), "0 ms");
        assert_eq!(seconds(0.0421), "42 ms");
        assert_eq!(seconds(3.456), "3.46 s");
        assert_eq!(seconds(125.0), "2m 05s");
        assert_eq!(seconds(7260.0), "2h 01m");
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        assert_eq!(
            ago(now - chrono::TimeDelta::milliseconds(29_180), now),
            "29 s ago"
        );
        assert_eq!(
            ago(now - chrono::TimeDelta::seconds(185), now),
            "3m 05s ago"
        );
        assert_eq!(ago(now + chrono::TimeDelta::seconds(2), now), "0 s ago");
    }

    #[test]
    fn only_livelesson_keys_name_a_livelesson() {
        assert_eq!(livelesson_of("livelesson:abcde12345"), Some("abcde12345"));
        assert_eq!(livelesson_of("livelesson:../etc"), None);
        assert_eq!(livelesson_of("other:abcde12345"), None);
    }
}
