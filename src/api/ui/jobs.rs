//! `GET /ui/jobs`: jobs newest first, filtered by state, kind, queue, serial key (or
//! livelesson) and enqueue time, a page of 50 at a time (keyset: "older than job N"); and
//! the job table the livelesson page reuses.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{self, JOB_STATES, Section, UiError};
use super::session::Session;
use crate::api::{AppState, is_id};
use crate::ids::LivelessonId;
use crate::queue::JobId;
use crate::queue::inspect::{self, JobLine, JobPageFilter};
use crate::workflow::serial_key;

/// Jobs per page.
pub const PAGE: i64 = 50;
/// Longest accepted kind, queue or serial key filter.
const MAX_FILTER_LEN: usize = 200;

/// Filters and position of the list; empty fields (as a form sends them) mean "any".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// A job state.
    pub state: Option<String>,
    /// A job kind.
    pub kind: Option<String>,
    /// A queue.
    pub queue: Option<String>,
    /// A serial key, e.g. `livelesson:abcde12345`.
    pub serial: Option<String>,
    /// A livelesson id (its serial key).
    pub livelesson: Option<String>,
    /// Enqueued at or after (UTC, `YYYY-MM-DDTHH:MM[:SS]` or RFC 3339).
    pub from: Option<String>,
    /// Enqueued before.
    pub to: Option<String>,
    /// Older than this job.
    pub before: Option<String>,
}

fn given(field: Option<&String>) -> Option<&str> {
    field.map(|text| text.trim()).filter(|s| !s.is_empty())
}

fn text_filter(name: &str, field: Option<&String>) -> Result<Option<String>, UiError> {
    match given(field) {
        None => Ok(None),
        Some(text) if text.len() <= MAX_FILTER_LEN && !text.chars().any(char::is_control) => {
            Ok(Some(text.to_owned()))
        }
        Some(_) => Err(UiError::bad_request(format!(
            "{name} must be at most {MAX_FILTER_LEN} printable characters"
        ))),
    }
}

fn time_filter(name: &str, field: Option<&String>) -> Result<Option<DateTime<Utc>>, UiError> {
    let Some(text) = given(field) else {
        return Ok(None);
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .map(|naive| Some(naive.and_utc()))
    .ok_or_else(|| {
        UiError::bad_request(format!(
            "{name} {text:?} is not a time such as 2026-11-30T14:05 (UTC)"
        ))
    })
}

impl ListQuery {
    /// The read model's filter, every field checked.
    ///
    /// # Errors
    /// 400 naming the bad field.
    pub fn filter(&self) -> Result<JobPageFilter, UiError> {
        let state = given(self.state.as_ref())
            .map(str::parse)
            .transpose()
            .map_err(UiError::bad_request)?;
        let serial = match (
            text_filter("serial key", self.serial.as_ref())?,
            given(self.livelesson.as_ref()),
        ) {
            (Some(_), Some(_)) => {
                return Err(UiError::bad_request(
                    "give a serial key or a livelesson, not both",
                ));
            }
            (serial, None) => serial,
            (None, Some(id)) if is_id(id) => Some(serial_key(&LivelessonId::from(id))),
            (None, Some(id)) => {
                return Err(UiError::bad_request(format!(
                    "{id:?} is not a livelesson id (ten lowercase letters and digits)"
                )));
            }
        };
        let before = match given(self.before.as_ref()) {
            None => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .map(JobId)
                    .ok_or_else(|| {
                        UiError::bad_request(format!("before {text:?} is not a job id"))
                    })?,
            ),
        };
        Ok(JobPageFilter {
            state,
            kind: text_filter("kind", self.kind.as_ref())?,
            queue: text_filter("queue", self.queue.as_ref())?,
            serial_key: serial,
            created_from: time_filter("from", self.from.as_ref())?,
            created_to: time_filter("to", self.to.as_ref())?,
            before,
            limit: PAGE,
        })
    }

    /// The filters as query pairs, without the position.
    fn filter_pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("state", &self.state),
            ("kind", &self.kind),
            ("queue", &self.queue),
            ("serial", &self.serial),
            ("livelesson", &self.livelesson),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter_map(|(name, value)| given(value.as_ref()).map(|v| (name, v.to_owned())))
        .collect()
    }

    /// This query's link to the page of jobs older than `id`.
    fn older_than(&self, id: JobId) -> String {
        let mut pairs = self.filter_pairs();
        pairs.push(("before", id.to_string()));
        link("/ui/jobs", &pairs)
    }

    /// This query without its position: the newest page.
    fn newest(&self) -> String {
        link("/ui/jobs", &self.filter_pairs())
    }
}

/// `path?name=value&...` with the values percent-encoded.
fn link(path: &str, pairs: &[(&str, String)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            let encoded: String = value
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{name}={encoded}")
        })
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// `GET /ui/jobs`.
pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Markup, UiError> {
    let query = page::query(query)?;
    let filter = query.filter()?;
    let jobs = inspect::job_page(&state.pool, &filter).await?;
    let now = Utc::now();
    let live = html! {
        h1 { "Jobs" }
        section.panel {
            (filters(&query, &filter))
            (table(&jobs, now))
            div.pager {
                @if filter.before.is_some() {
                    a href=(query.newest()) { "← Newest" }
                }
                @if let Some(last) = jobs.last().filter(|_| i64::try_from(jobs.len()) == Ok(PAGE)) {
                    a #older href=(query.older_than(last.id)) { "Older →" }
                }
            }
        }
    };
    Ok(page::shell(
        "Jobs",
        Section::Jobs,
        Some(&session.csrf),
        None,
        &live,
    ))
}

fn filters(query: &ListQuery, filter: &JobPageFilter) -> Markup {
    let value = |field: &Option<String>| given(field.as_ref()).unwrap_or("").to_owned();
    html! {
        form.filters method="get" action="/ui/jobs" {
            label { "State"
                select name="state" {
                    option value="" { "any" }
                    @for state in JOB_STATES {
                        option value=(state.as_str()) selected[filter.state == Some(state)] { (state.as_str()) }
                    }
                }
            }
            label { "Kind" input name="kind" value=(value(&query.kind)) placeholder="livelesson.create"; }
            label { "Queue" input name="queue" value=(value(&query.queue)) placeholder="default"; }
            @if given(query.livelesson.as_ref()).is_some() {
                label { "Livelesson" input name="livelesson" value=(value(&query.livelesson)); }
            } @else {
                label { "Serial key" input name="serial" value=(value(&query.serial)) placeholder="livelesson:…"; }
            }
            label { "Enqueued from (UTC)" input type="datetime-local" step="1" name="from" value=(value(&query.from)); }
            label { "to (UTC)" input type="datetime-local" step="1" name="to" value=(value(&query.to)); }
            button type="submit" { "Filter" }
            a href="/ui/jobs" { "Clear" }
        }
    }
}

/// Jobs as a table, one row each.
pub fn table(jobs: &[JobLine], now: DateTime<Utc>) -> Markup {
    html! {
        @if jobs.is_empty() {
            p.empty { "No job matches." }
        } @else {
            table.jobs #job-list {
                thead { tr {
                    th.num { "Job" } th { "Kind" } th { "State" } th.num { "Attempts" } th { "Queue" }
                    th { "Serial key" } th { "Enqueued" } th { "Ran for" } th { "Latest error" }
                } }
                tbody {
                    @for job in jobs {
                        tr data-job=(job.id) data-kind=(job.kind) data-state=(job.state.as_str()) {
                            td.num { a href={ "/ui/jobs/" (job.id) } { (job.id) } }
                            td { (job.kind) }
                            td { (page::job_state(job.state)) }
                            td.num { (job.attempt) " / " (job.max_attempts) }
                            td { (job.queue) }
                            td.mono {
                                @if let Some(key) = &job.serial_key {
                                    @if let Some(id) = page::livelesson_of(key) {
                                        a href={ "/ui/livelessons/" (id) } { (key) }
                                    } @else { (key) }
                                }
                            }
                            td { (page::time(job.created_at)) }
                            td {
                                @if let Some(started) = job.attempted_at {
                                    (page::between(started, job.finished_at.unwrap_or(now)))
                                } @else { "–" }
                            }
                            td.error-text { (job.last_error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::JobState;

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let uri: axum::http::Uri = format!("/ui/jobs?{}", text.join("&")).parse().expect("uri");
        Query::<ListQuery>::try_from_uri(&uri).expect("query").0
    }

    #[test]
    fn filters_are_checked_and_empty_fields_ignored() {
        let filter = query(&[
            ("state", "failed"),
            ("kind", ""),
            ("livelesson", "abcde12345"),
            ("before", "90"),
        ])
        .filter()
        .expect("valid");
        assert_eq!(filter.state, Some(JobState::Failed));
        assert_eq!(filter.kind, None);
        assert_eq!(filter.serial_key.as_deref(), Some("livelesson:abcde12345"));
        assert_eq!(filter.before, Some(JobId(90)));
        assert_eq!(filter.limit, PAGE);
        let filter = query(&[("from", "2026-11-30T14:05"), ("to", "2026-11-30T15:00:30")])
            .filter()
            .expect("valid");
        assert_eq!(
            filter.created_from.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-30T14:05:00+00:00")
        );
        assert_eq!(
            filter.created_to.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-30T15:00:30+00:00")
        );
    }

    #[test]
    fn bad_filters_are_named() {
        for (pairs, word) in [
            (vec![("state", "lost")], "unknown job state"),
            (vec![("livelesson", "../x")], "not a livelesson id"),
            (vec![("before", "-3")], "before"),
            (vec![("from", "yesterday")], "from"),
            (
                vec![("serial", "a"), ("livelesson", "abcde12345")],
                "not both",
            ),
        ] {
            let err = query(&pairs).filter().expect_err("refused");
            assert!(
                format!("{err:?}").contains(word),
                "{err:?} should name {word}"
            );
        }
    }

    #[test]
    fn the_older_link_keeps_the_filters() {
        let q = query(&[("kind", "livelesson.create"), ("state", "completed")]);
        assert_eq!(
            q.older_than(JobId(41)),
            "/ui/jobs?state=completed&kind=livelesson.create&before=41"
        );
        assert_eq!(query(&[("before", "41")]).newest(), "/ui/jobs");
    }
}
