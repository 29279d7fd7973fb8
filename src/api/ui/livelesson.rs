//! `GET /ui/livelessons/{id}`: one livelesson: status, stage and the step its jobs are at,
//! its live provisioning progress (from the learner's progress stream), endpoints with
//! hosts and reachability, its ERROR (reason, failed step, captured logs),
//! and every job that worked on it; `POST .../kill` deletes it as a learner's kill does.
//! A livelesson already deleted still shows its jobs.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use axum::{Extension, Form};
use chrono::Utc;
use maud::{Markup, html};

use super::job::PageQuery;
use super::page::{self, Notice, Section, Tone, UiError};
use super::session::{ActionForm, Session};
use crate::api::{AppState, is_id};
use crate::ids::LivelessonId;
use crate::queue::inspect as queue_store;
use crate::queue::inspect::{self, JobPageFilter};
use crate::store::livelesson::{self, Livelesson, Status};
use crate::workflow::lifetime::{self, Schedule};
use crate::workflow::request::{self, RequestError};
use crate::workflow::serial_key;

/// Most jobs listed for one livelesson.
const JOBS: i64 = 100;

fn checked_id(id: String) -> Result<LivelessonId, UiError> {
    if is_id(&id) {
        Ok(LivelessonId::from(id))
    } else {
        Err(UiError::not_found(format!("no livelesson {id:?}")))
    }
}

/// `GET /ui/livelessons/{id}`.
pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Markup, UiError> {
    let query = page::query(query)?;
    let id = checked_id(id)?;
    let key = serial_key(&id);
    let found = {
        let mut conn = state.pool.acquire().await.map_err(|source| {
            UiError::from(crate::store::StoreError::Database {
                operation: "connecting for a livelesson page",
                source,
            })
        })?;
        livelesson::get(&mut conn, &id).await?
    };
    let jobs = inspect::job_page(
        &state.pool,
        &JobPageFilter {
            serial_key: Some(key.clone()),
            limit: JOBS,
            ..JobPageFilter::default()
        },
    )
    .await?;
    if found.is_none() && jobs.is_empty() {
        return Err(UiError::not_found(format!("no livelesson {id}")));
    }
    let (current_step, completed_steps) = queue_store::serial_progress(&state.pool, &key).await?;
    // A learner's lab has a schedule; a spare or a lab being deleted has none.
    let schedule = match lifetime::schedule(&state.pool, &state.lifetime, &id).await {
        Ok(schedule) => Some(schedule),
        Err(RequestError::UnknownLivelesson(_)) => None,
        Err(err) => return Err(failed(&id, "reading a schedule", &err)),
    };
    let now = Utc::now();
    let notice = match query.notice.as_deref() {
        Some("kill-requested") => Some(Notice {
            tone: Tone::Done,
            text: format!("Kill requested: livelesson {id} is being deleted."),
        }),
        Some("extended") => Some(Notice {
            tone: Tone::Done,
            text: format!("Extended: livelesson {id} now expires as its schedule shows."),
        }),
        Some("extend-refused") => Some(Notice {
            tone: Tone::Refused,
            text: format!(
                "Extension refused: livelesson {id} cannot be extended (see its schedule)."
            ),
        }),
        _ => None,
    };
    let live = html! {
        @match &found {
            Some(ll) => {
                h1 { "Livelesson " span.mono { (ll.id) } " " (page::livelesson_status(ll.status, ll.deleting)) }
                @if !ll.deleting {
                    div.actions {
                        form method="post" action={ "/ui/livelessons/" (ll.id) "/kill" }
                            data-confirm={ "Kill livelesson " (ll.id) " (" (ll.lesson_slug) ")? Its namespace and everything in it are deleted." } {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button.danger #kill type="submit" { "Kill" }
                        }
                        @if schedule.as_ref().is_some_and(|s| s.extendable) {
                            form method="post" action={ "/ui/livelessons/" (ll.id) "/extend" } {
                                input type="hidden" name="csrf" value=(session.csrf);
                                button #extend type="submit" { "Extend" }
                            }
                        }
                    }
                }
                div.grid {
                    section.panel #livelesson-facts {
                        h2 { "Livelesson" }
                        (facts(ll, current_step.as_deref(), completed_steps, now))
                    }
                    @if let Some(schedule) = &schedule {
                        section.panel #livelesson-schedule {
                            h2 { "Schedule" }
                            (schedule_facts(schedule))
                        }
                    }
                    @if let Some(error) = &ll.error {
                        section.panel #livelesson-error {
                            h2.error-message { "ERROR" }
                            dl.facts {
                                dt { "Reason" } dd #error-reason { (error.reason) }
                                dt { "Failed step" } dd #error-step { (error.step.as_deref().unwrap_or("–")) }
                            }
                            h2 { "Captured logs" }
                            @match &error.logs {
                                Some(logs) if !logs.is_empty() => pre.logs #error-logs { (logs) },
                                _ => p.empty #error-logs { "No logs were captured." },
                            }
                        }
                    }
                }
                @if !ll.spare {
                    (progress_panel(ll))
                }
                section.panel #endpoints {
                    h2 { "Endpoints (" (ll.healthy_tests) " of " (ll.total_tests) " reachable)" }
                    (endpoints(ll))
                }
            }
            None => {
                h1 { "Livelesson " span.mono { (id) } " " span.badge { "gone" } }
                p { "This livelesson no longer exists (deleted or expired); its jobs remain." }
            }
        }
        section.panel #livelesson-jobs {
            h2 { "Jobs that worked on it" }
            (super::jobs::table(&jobs, now))
        }
    };
    Ok(page::shell(
        &format!("Livelesson {id}"),
        Section::Livelessons,
        Some(&session.csrf),
        notice,
        &live,
    ))
}

/// The live progress panel: the page's script fills it from the learner's progress
/// stream (`GET /exp/livelesson/{id}/progress`) instead of polling the page, and keeps it
/// across the page's refreshes (`data-keep`).
fn progress_panel(ll: &Livelesson) -> Markup {
    html! {
        section.panel #livelesson-progress data-keep
            data-progress={ "/exp/livelesson/" (ll.id) "/progress" } {
            h2 { "Progress" }
            progress #progress-bar max="100" value="0" {}
            p #progress-message { "Waiting for the progress stream…" }
            ol #progress-steps {}
        }
    }
}

fn schedule_facts(schedule: &Schedule) -> Markup {
    html! {
        dl.facts {
            dt { "Expires" } dd #schedule-expires {
                (page::time(schedule.expires)) " (in " (page::seconds(schedule.countdown_secs as f64)) ")"
            }
            dt { "Hard deadline" } dd #schedule-deadline { (page::time(schedule.deadline)) }
            dt { "Extensions left" } dd #schedule-extensions { (schedule.extensions_left) }
        }
    }
}

fn facts(
    ll: &Livelesson,
    current_step: Option<&str>,
    completed_steps: i64,
    now: chrono::DateTime<Utc>,
) -> Markup {
    let settled = matches!(ll.status, Status::Ready | Status::Error);
    html! {
        dl.facts {
            dt { "Lesson" } dd { a href={ "/ui/livelessons?lesson=" (ll.lesson_slug) } { (ll.lesson_slug) } }
            dt { "Lesson version" } dd.mono { (ll.lesson_hash.get(..12).unwrap_or(&ll.lesson_hash)) }
            dt { "Session" } dd.mono { (ll.session_id) }
            dt { "Status" } dd #livelesson-status { (ll.status.as_str()) }
            dt { "Stage" } dd { (ll.current_stage) }
            dt { "Current step" } dd #current-step {
                @if settled { "–" } @else { (current_step.unwrap_or("waiting for a worker")) }
                " (" (completed_steps) " steps completed over all its jobs)"
            }
            dt { "Guide" } dd { (ll.guide_type) @if !ll.guide_domain.is_empty() { " at " (ll.guide_domain) } }
            dt { "Created" } dd { (page::time(ll.created_at)) }
            dt { "READY" } dd {
                @if let Some(ready) = ll.ready_at {
                    (page::time(ready)) " (" (page::between(ll.created_at, ready)) " after creation)"
                } @else { "not yet" }
            }
            dt { "Last active" } dd { (page::ago(ll.last_active_at, now)) }
        }
    }
}

fn endpoints(ll: &Livelesson) -> Markup {
    html! {
        @if ll.endpoints.is_empty() {
            p.empty { "No endpoint." }
        } @else {
            table.endpoints {
                thead { tr {
                    th { "Endpoint" } th { "Image" } th { "Configuration" } th { "Host" }
                    th { "Reachable" } th { "Ports" } th { "Presentations" }
                } }
                tbody {
                    @for endpoint in &ll.endpoints {
                        tr data-endpoint=(endpoint.name) {
                            td { (endpoint.name) }
                            td.mono { (endpoint.image) }
                            td { (endpoint.configuration_type.map_or("–", |kind| kind.as_str())) }
                            td.mono { (endpoint.host.as_deref().unwrap_or("–")) }
                            td { @if endpoint.reachable { span.badge.ll-READY { "yes" } } @else { span.badge { "no" } } }
                            td.mono { (endpoint.ports.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")) }
                            td {
                                @for presentation in &endpoint.presentations {
                                    span.badge { (presentation.name) " " (presentation.kind) ":" (presentation.port) }
                                    " "
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /ui/livelessons/{id}/kill`: deletes the livelesson (its DELETE job runs after any
/// job of it already queued or running).
pub async fn kill(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Redirect, UiError> {
    session.check_form(form)?;
    let id = checked_id(id)?;
    match request::kill(&state.pool, &state.client, &id).await {
        Ok(()) => {
            tracing::info!(livelesson = %id, "dashboard: livelesson killed");
            Ok(Redirect::to(&format!(
                "/ui/livelessons/{id}?notice=kill-requested"
            )))
        }
        Err(err) => Err(failed(&id, "kill", &err)),
    }
}

/// The page's answer to a request that failed: not found for an unknown livelesson, an
/// internal error (logged) otherwise.
fn failed(id: &LivelessonId, action: &str, err: &RequestError) -> UiError {
    if matches!(err, RequestError::UnknownLivelesson(_)) {
        UiError::not_found(format!("no livelesson {id}"))
    } else {
        tracing::error!(error = %crate::api::error::chain(err), "dashboard: {action} failed");
        UiError::internal()
    }
}

/// `POST /ui/livelessons/{id}/extend`: extends the lab as the learner's `/extend` does.
pub async fn extend(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Redirect, UiError> {
    session.check_form(form)?;
    let id = checked_id(id)?;
    let back = |notice: &str| Redirect::to(&format!("/ui/livelessons/{id}?notice={notice}"));
    match lifetime::extend(&state.pool, &state.lifetime, &id).await {
        Ok(_) => {
            tracing::info!(livelesson = %id, "dashboard: livelesson extended");
            Ok(back("extended"))
        }
        Err(RequestError::NotExtendable { .. }) => Ok(back("extend-refused")),
        Err(err) => Err(failed(&id, "extend", &err)),
    }
}
