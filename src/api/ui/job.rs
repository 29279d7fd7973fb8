//! `GET /ui/jobs/{id}`: one job with its arguments (secrets redacted), attempts, step
//! timeline and audit events; `POST .../retry` and `POST .../cancel`, which come back to
//! the page with their outcome.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use axum::{Extension, Form};
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{self, Notice, Section, Tone, UiError};
use super::session::{ActionForm, Session};
use super::{redact, timeline};
use crate::api::AppState;
use crate::queue::CancelOutcome;
use crate::queue::inspect::{self as queue_store, JobEvent, JobRecord};
use crate::queue::{JobId, JobState, QueueError};

/// The page's query: the outcome of the action that led here, if any.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// `retried`, `cancelled`, `cancel-requested`, `retry-refused`, `cancel-refused`.
    pub notice: Option<String>,
}

/// The job id of a path, checked before any SQL.
///
/// # Errors
/// 404 for anything but a positive integer.
pub fn job_id(text: &str) -> Result<JobId, UiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(JobId)
        .ok_or_else(|| UiError::not_found(format!("no job {text:?}")))
}

/// What an action's outcome code says, given the job as it is now.
fn notice(code: &str, job: &JobRecord) -> Option<Notice> {
    let state = job.state.as_str();
    let (tone, text) = match code {
        "retried" => (
            Tone::Done,
            format!(
                "Retried: job {} runs again with a fresh attempt budget.",
                job.id
            ),
        ),
        "cancelled" => (
            Tone::Done,
            format!("Cancelled: job {} will not run.", job.id),
        ),
        "cancel-requested" => (
            Tone::Done,
            format!(
                "Cancel requested: job {} is running and stops at its next step.",
                job.id
            ),
        ),
        "retry-refused" => (
            Tone::Refused,
            format!(
                "Retry refused: job {} is {state}; only failed or cancelled jobs can be retried.",
                job.id
            ),
        ),
        "cancel-refused" => (
            Tone::Refused,
            format!(
                "Cancel refused: job {} is {state}; only unfinished jobs can be cancelled.",
                job.id
            ),
        ),
        _ => return None,
    };
    Some(Notice { tone, text })
}

/// `GET /ui/jobs/{id}`.
pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Markup, UiError> {
    let query = page::query(query)?;
    let id = job_id(&id)?;
    let job = queue_store::job(&state.pool, id)
        .await?
        .ok_or_else(|| UiError::not_found(format!("no job {id}")))?;
    let steps = queue_store::steps(&state.pool, id).await?;
    let events = queue_store::events(&state.pool, id).await?;
    let now = Utc::now();
    let timeline = timeline::build(&job, &steps, &events, now);
    let notice = query.notice.as_deref().and_then(|code| notice(code, &job));
    let args = serde_json::to_string_pretty(&redact::redacted(&job.args)).unwrap_or_default();
    let live = html! {
        h1 { "Job " (job.id) " " span.kind { (job.kind) } " " (page::job_state(job.state)) }
        (actions(&job, &session.csrf))
        div.grid {
            section.panel #job-facts {
                h2 { "Job" }
                (facts(&job, now))
            }
            section.panel #job-args {
                h2 { "Arguments" }
                pre.args { (args) }
                @if let Some(error) = &job.last_error {
                    h2 { "Latest error" }
                    pre.logs #last-error { (error) }
                }
            }
        }
        section.panel #timeline {
            h2 { "Steps" }
            p.legend {
                span { span.swatch.sw-completed {} "completed" }
                span { span.swatch.sw-running {} "running" }
                span { span.swatch.sw-failed {} "failed" }
                span { span.swatch.sw-interrupted {} "interrupted (attempt ended)" }
                span { "dashed line: a claim; red line: a retry, rescue, failure or cancel" }
            }
            (timeline::render(&timeline, now))
        }
        section.panel #events {
            h2 { "Audit events" }
            (events_table(&events))
        }
    };
    Ok(page::shell(
        &format!("Job {}", job.id),
        Section::Jobs,
        Some(&session.csrf),
        notice,
        &live,
    ))
}

fn actions(job: &JobRecord, csrf: &str) -> Markup {
    let can_retry = matches!(job.state, JobState::Failed | JobState::Cancelled);
    let can_cancel = !job.state.is_finished();
    html! {
        div.actions {
            @if can_retry {
                form method="post" action={ "/ui/jobs/" (job.id) "/retry" }
                    data-confirm={ "Retry job " (job.id) " (" (job.kind) ")? It runs again from its first unfinished step." } {
                    input type="hidden" name="csrf" value=(csrf);
                    button #retry type="submit" { "Retry" }
                }
            }
            @if can_cancel {
                form method="post" action={ "/ui/jobs/" (job.id) "/cancel" }
                    data-confirm={ "Cancel job " (job.id) " (" (job.kind) ")?" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button.danger #cancel type="submit" { "Cancel" }
                }
            }
        }
    }
}

fn facts(job: &JobRecord, now: chrono::DateTime<Utc>) -> Markup {
    html! {
        dl.facts {
            dt { "State" } dd #job-state { (job.state.as_str()) }
            dt { "Attempts" } dd #job-attempts { (job.attempt) " of " (job.max_attempts) }
            dt { "Queue" } dd { (job.queue) }
            dt { "Serial key" } dd.mono {
                @if let Some(key) = &job.serial_key {
                    @if let Some(id) = page::livelesson_of(key) {
                        a href={ "/ui/livelessons/" (id) } { (key) }
                    } @else { (key) }
                } @else { "–" }
            }
            dt { "Unique key" } dd.mono { (job.unique_key.as_deref().unwrap_or("–")) }
            dt { "Enqueued" } dd { (page::time(job.created_at)) }
            dt { "Due" } dd { (page::time(job.run_at)) }
            dt { "Latest attempt started" } dd { (page::time_or_dash(job.attempted_at)) }
            dt { "Finished" } dd {
                (page::time_or_dash(job.finished_at))
                @if let (Some(started), Some(finished)) = (job.attempted_at, job.finished_at) {
                    " (latest attempt " (page::between(started, finished)) ")"
                }
            }
            @if let Some(owner) = &job.lease_owner {
                dt { "Worker" } dd.mono { (owner) }
            }
            dt { "Age" } dd { (page::between(job.created_at, job.finished_at.unwrap_or(now))) }
            @if let Some(traceparent) = &job.traceparent {
                dt { "Trace" } dd.mono { (traceparent) }
            }
        }
    }
}

fn events_table(events: &[JobEvent]) -> Markup {
    html! {
        @if events.is_empty() {
            p.empty { "No event recorded (pruned by retention?)." }
        } @else {
            table.events {
                thead { tr { th { "At" } th { "Event" } th.num { "Attempt" } th { "Worker" } th { "Step" } th { "Detail" } } }
                tbody {
                    @for event in events {
                        tr data-event=(event.kind) {
                            td { (page::time_ms(event.at)) }
                            td { (event.kind) }
                            td.num { @if let Some(attempt) = event.attempt { (attempt) } }
                            td.mono { (event.worker.as_deref().unwrap_or("")) }
                            td { (event.step.as_deref().unwrap_or("")) }
                            td.error-text { (event.detail.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

fn back(id: JobId, code: &str) -> Redirect {
    Redirect::to(&format!("/ui/jobs/{id}?notice={code}"))
}

/// `POST /ui/jobs/{id}/retry`: a failed or cancelled job runs again.
pub async fn retry(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Redirect, UiError> {
    session.check_form(form)?;
    let id = job_id(&id)?;
    match state.client.retry(id).await {
        Ok(()) => {
            tracing::info!(job = %id, "dashboard: job retried");
            Ok(back(id, "retried"))
        }
        Err(QueueError::InvalidState { .. }) => Ok(back(id, "retry-refused")),
        Err(QueueError::NotFound(_)) => Err(UiError::not_found(format!("no job {id}"))),
        Err(err) => Err(err.into()),
    }
}

/// `POST /ui/jobs/{id}/cancel`: a waiting job is cancelled at once, a running one at its
/// next step.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Redirect, UiError> {
    session.check_form(form)?;
    let id = job_id(&id)?;
    match state.client.cancel(id).await {
        Ok(outcome) => {
            tracing::info!(job = %id, ?outcome, "dashboard: job cancel");
            Ok(back(
                id,
                match outcome {
                    CancelOutcome::Cancelled => "cancelled",
                    CancelOutcome::Requested => "cancel-requested",
                },
            ))
        }
        Err(QueueError::InvalidState { .. }) => Ok(back(id, "cancel-refused")),
        Err(QueueError::NotFound(_)) => Err(UiError::not_found(format!("no job {id}"))),
        Err(err) => Err(err.into()),
    }
}
