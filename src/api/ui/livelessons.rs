//! `GET /ui/livelessons`: livelessons by status and lesson, and a list filtered by both;
//! also the status cards and tables the overview reuses.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{self, LIVELESSON_STATUSES, Section, UiError};
use super::session::Session;
use crate::api::{AppState, is_lesson_slug};
use crate::store::dashboard::{self, LivelessonFilter, LivelessonLine, StatusCount};
use crate::store::livelesson::Status;

/// Most livelessons listed at once; livelessons are live state, so more means a filter.
const LIMIT: i64 = 500;

/// Filters of the list; empty fields (as a form sends them) mean "any".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `INITIALIZED`, `BOOTING`, `CONFIGURATION`, `READY` or `ERROR`.
    pub status: Option<String>,
    /// Lesson slug.
    pub lesson: Option<String>,
}

impl ListQuery {
    /// The store filter, checked.
    ///
    /// # Errors
    /// 400 naming the bad field.
    pub fn filter(&self) -> Result<LivelessonFilter, UiError> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => Some(
                LIVELESSON_STATUSES
                    .into_iter()
                    .find(|s| s.as_str() == text)
                    .ok_or_else(|| {
                        UiError::bad_request(format!(
                            "status {text:?} is not one of INITIALIZED, BOOTING, CONFIGURATION, READY, ERROR"
                        ))
                    })?,
            ),
        };
        let lesson_slug = match self.lesson.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(slug) if is_lesson_slug(slug) => Some(slug.to_owned()),
            Some(slug) => {
                return Err(UiError::bad_request(format!(
                    "lesson {slug:?} is not a lesson slug (lowercase letters and dashes)"
                )));
            }
        };
        Ok(LivelessonFilter {
            status,
            lesson_slug,
            limit: LIMIT,
        })
    }
}

/// `GET /ui/livelessons`.
pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Markup, UiError> {
    let filter = page::query(query)?.filter()?;
    let now = Utc::now();
    let statuses = dashboard::status_counts(&state.pool).await?;
    let lines = dashboard::list(&state.pool, &filter).await?;
    let live = html! {
        h1 { "Livelessons" }
        (status_cards(&statuses))
        section.panel {
            h2 { "By lesson" }
            (by_lesson(&statuses))
        }
        section.panel {
            form.filters method="get" action="/ui/livelessons" {
                label { "Status"
                    select name="status" {
                        option value="" { "any" }
                        @for status in LIVELESSON_STATUSES {
                            option value=(status.as_str()) selected[filter.status == Some(status)] { (status.as_str()) }
                        }
                    }
                }
                label { "Lesson"
                    input name="lesson" value=(filter.lesson_slug.as_deref().unwrap_or("")) placeholder="lesson slug";
                }
                button type="submit" { "Filter" }
                a href="/ui/livelessons" { "Clear" }
            }
            (table(&lines, now))
            @if i64::try_from(lines.len()) == Ok(LIMIT) {
                p.empty { "The first " (LIMIT) " only; narrow the filter to see others." }
            }
        }
    };
    Ok(page::shell(
        "Livelessons",
        Section::Livelessons,
        Some(&session.csrf),
        None,
        &live,
    ))
}

fn status_total(statuses: &[StatusCount], status: Status) -> i64 {
    statuses
        .iter()
        .filter(|c| c.status == status && !c.deleting)
        .map(|c| c.count)
        .sum()
}

/// One card per status (livelessons being deleted counted apart).
pub fn status_cards(statuses: &[StatusCount]) -> Markup {
    let deleting: i64 = statuses
        .iter()
        .filter(|c| c.deleting)
        .map(|c| c.count)
        .sum();
    html! {
        div.cards #livelessons-by-status {
            @for status in LIVELESSON_STATUSES {
                a.card href={ "/ui/livelessons?status=" (status.as_str()) } data-status=(status.as_str()) {
                    div.figure { (status_total(statuses, status)) }
                    div.label { (status.as_str()) }
                }
            }
            div.card data-status="deleting" {
                div.figure { (deleting) }
                div.label { "being deleted" }
            }
        }
    }
}

/// Lessons × statuses.
pub fn by_lesson(statuses: &[StatusCount]) -> Markup {
    let mut lessons: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
    for count in statuses {
        let column = if count.deleting {
            "deleting"
        } else {
            count.status.as_str()
        };
        *lessons
            .entry(count.lesson_slug.as_str())
            .or_default()
            .entry(column)
            .or_default() += count.count;
    }
    html! {
        @if lessons.is_empty() {
            p.empty { "No livelesson." }
        } @else {
            table.by-lesson {
                thead { tr {
                    th { "Lesson" }
                    @for status in LIVELESSON_STATUSES { th.num { (status.as_str()) } }
                    th.num { "deleting" }
                } }
                tbody {
                    @for (lesson, columns) in &lessons {
                        tr data-lesson=(lesson) {
                            td { a href={ "/ui/livelessons?lesson=" (lesson) } { (lesson) } }
                            @for column in LIVELESSON_STATUSES.map(Status::as_str).into_iter().chain(["deleting"]) {
                                td.num { (columns.get(column).copied().unwrap_or(0)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Livelessons as a table, one row each.
pub fn table(lines: &[LivelessonLine], now: DateTime<Utc>) -> Markup {
    html! {
        @if lines.is_empty() {
            p.empty { "No livelesson matches." }
        } @else {
            table.livelessons {
                thead { tr {
                    th { "Livelesson" } th { "Lesson" } th { "Status" } th.num { "Stage" }
                    th.num { "Reachable" } th { "Failed step" } th { "Created" } th { "To READY" }
                    th { "Last active" }
                } }
                tbody {
                    @for line in lines {
                        tr data-livelesson=(line.id) data-status=(line.status.as_str()) {
                            td.mono { a href={ "/ui/livelessons/" (line.id) } { (line.id) } }
                            td { (line.lesson_slug) }
                            td.status { (page::livelesson_status(line.status, line.deleting)) }
                            td.num { (line.current_stage) }
                            td.num { (line.healthy_tests) " / " (line.total_tests) }
                            td { (line.error_step.as_deref().unwrap_or("")) }
                            td { (page::time(line.created_at)) }
                            td { @if let Some(ready) = line.ready_at { (page::between(line.created_at, ready)) } @else { "–" } }
                            td { (page::ago(line.last_active_at, now)) }
                        }
                    }
                }
            }
        }
    }
}
