//! `GET /ui`: the overview. Jobs by state and kind (unfinished now, finished in the last
//! hour), the last hour's throughput and wait to start, the workers holding jobs, and the
//! livelessons by status and lesson with the newest of them.

use std::collections::{BTreeMap, BTreeSet};

use axum::Extension;
use axum::extract::State;
use chrono::{TimeDelta, Utc};
use maud::{Markup, html};

use super::page::{self, JOB_STATES, Section, UiError};
use super::session::Session;
use super::{chart, livelessons};
use crate::api::AppState;
use crate::queue::JobState;
use crate::queue::inspect::{self, LeasedJob, SeenWorker, StateCount};
use crate::store::dashboard::{self, LivelessonFilter};

/// How far back "recent" reaches for throughput, finished counts and workers.
const WINDOW: TimeDelta = TimeDelta::hours(1);
/// Workers with an event this recent count as seen.
const WORKER_WINDOW: TimeDelta = TimeDelta::minutes(2);
/// Newest livelessons listed.
const RECENT_LIVELESSONS: i64 = 10;

/// `GET /ui`.
pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Markup, UiError> {
    let now = Utc::now();
    let pool = &state.pool;
    let unfinished = inspect::unfinished_counts(pool).await?;
    // The two reads of the last hour's history are the page's cost: run them side by side.
    let (finished, minutes) = tokio::try_join!(
        inspect::finished_counts(pool, now - WINDOW),
        inspect::minutes_since(pool, now - WINDOW),
    )?;
    let leased = inspect::leased_jobs(pool).await?;
    let seen = inspect::workers_seen_since(pool, now - WORKER_WINDOW).await?;
    let statuses = dashboard::status_counts(pool).await?;
    let recent = dashboard::list(
        pool,
        &LivelessonFilter {
            limit: RECENT_LIVELESSONS,
            ..LivelessonFilter::default()
        },
    )
    .await?;

    let counts: Vec<&StateCount> = unfinished.iter().chain(finished.iter()).collect();
    let live = html! {
        h1 { "Overview" }
        (job_cards(&counts))
        (jobs_by_kind(&counts))
        div.grid {
            (chart::throughput(&minutes, now))
            (chart::wait(&minutes, now))
        }
        div.grid {
            (workers(&leased, &seen, now))
            section.panel #livelessons-by-lesson {
                h2 { a href="/ui/livelessons" { "Livelessons" } }
                (livelessons::status_cards(&statuses))
                (livelessons::by_lesson(&statuses))
            }
        }
        section.panel #livelessons-overview {
            h2 { "Newest livelessons" }
            (livelessons::table(&recent, now))
        }
    };
    Ok(page::shell(
        "Overview",
        Section::Overview,
        Some(&session.csrf),
        None,
        &live,
    ))
}

fn total(counts: &[&StateCount], state: JobState) -> i64 {
    counts
        .iter()
        .filter(|c| c.state == state)
        .map(|c| c.count)
        .sum()
}

fn job_cards(counts: &[&StateCount]) -> Markup {
    html! {
        div.cards #job-cards {
            @for state in JOB_STATES {
                a.card href={ "/ui/jobs?state=" (state.as_str()) } data-figure={ "jobs-" (state.as_str()) } {
                    div.figure { (total(counts, state)) }
                    div.label {
                        (state.as_str())
                        @if state.is_finished() { " (last hour)" }
                    }
                }
            }
        }
    }
}

fn jobs_by_kind(counts: &[&StateCount]) -> Markup {
    let mut by_kind: BTreeMap<&str, BTreeMap<&'static str, i64>> = BTreeMap::new();
    for count in counts {
        *by_kind
            .entry(count.kind.as_str())
            .or_default()
            .entry(count.state.as_str())
            .or_default() += count.count;
    }
    html! {
        section.panel #jobs-by-kind {
            h2 { "Jobs by kind and state" }
            @if by_kind.is_empty() {
                p.empty { "No unfinished job, and none finished in the last hour." }
            } @else {
                table {
                    thead { tr {
                        th { "Kind" }
                        @for state in JOB_STATES {
                            th.num { (state.as_str()) @if state.is_finished() { " (1 h)" } }
                        }
                    } }
                    tbody {
                        @for (kind, states) in &by_kind {
                            tr data-kind=(kind) {
                                td { a href={ "/ui/jobs?kind=" (kind) } { (kind) } }
                                @for state in JOB_STATES {
                                    @let n = states.get(state.as_str()).copied().unwrap_or(0);
                                    td.num data-state=(state.as_str()) {
                                        @if n > 0 {
                                            a href={ "/ui/jobs?kind=" (kind) "&state=" (state.as_str()) } { (n) }
                                        } @else { span.empty { "0" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn workers(leased: &[LeasedJob], seen: &[SeenWorker], now: chrono::DateTime<Utc>) -> Markup {
    let names: BTreeSet<&str> = leased
        .iter()
        .map(|job| job.worker.as_str())
        .chain(seen.iter().map(|w| w.worker.as_str()))
        .collect();
    html! {
        section.panel #workers {
            h2 { "Workers" }
            p.legend { "Workers holding a job now or with an event in the last two minutes." }
            @if names.is_empty() {
                p.empty { "No worker seen lately." }
            } @else {
                table {
                    thead { tr { th { "Worker" } th { "Claimed jobs" } th { "Last event" } } }
                    tbody {
                        @for name in &names {
                            tr data-worker=(name) {
                                td.mono { (name) }
                                td {
                                    @for job in leased.iter().filter(|j| j.worker == *name) {
                                        a href={ "/ui/jobs/" (job.id) } title={ (job.kind) ", attempt " (job.attempt) } { "#" (job.id) }
                                        " "
                                    }
                                }
                                td {
                                    @if let Some(worker) = seen.iter().find(|w| w.worker == *name) {
                                        (page::ago(worker.last_seen, now))
                                    } @else { "–" }
                                }
                            }
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

    #[test]
    fn cards_add_up_kinds() {
        let counts = [
            StateCount {
                state: JobState::Running,
                kind: "a".into(),
                count: 2,
            },
            StateCount {
                state: JobState::Running,
                kind: "b".into(),
                count: 3,
            },
        ];
        let refs: Vec<&StateCount> = counts.iter().collect();
        assert_eq!(total(&refs, JobState::Running), 5);
        assert_eq!(total(&refs, JobState::Failed), 0);
    }
}
