//! A job's timeline: each run of each step as a bar (start, end, the attempt and worker
//! that ran it, how it ended) and the job's turning points as marks (claims, retries,
//! rescues, snoozes, cancels), built from its audit events and stored checkpoints; and
//! its drawing as SVG.
//!
//! Events are the primary source. A checkpoint without a matching start event (an audit
//! trail that records fewer routine events) still gets a bar, from the end of the step
//! before it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::page;
use crate::queue::JobState;
use crate::queue::inspect::{JobEvent, JobRecord, StepRecord};

/// How a run of a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its checkpoint was stored.
    Completed,
    /// It failed with this error.
    Failed(String),
    /// Still running.
    Running,
    /// Its attempt ended before it did (lease lost, rescued, handed back, cancelled).
    Interrupted,
}

impl Outcome {
    /// CSS class and word of the outcome.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed(_) => "failed",
            Self::Running => "running",
            Self::Interrupted => "interrupted",
        }
    }
}

/// One run of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// Step name.
    pub step: String,
    /// The attempt that ran it.
    pub attempt: Option<i32>,
    /// The worker that ran it.
    pub worker: Option<String>,
    /// When it started.
    pub start: DateTime<Utc>,
    /// When it ended; `None` while running.
    pub end: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: Outcome,
}

/// A turning point of the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// When.
    pub at: DateTime<Utc>,
    /// The event kind (`claimed`, `retry_scheduled`, `rescued`, ...).
    pub kind: String,
    /// The attempt concerned.
    pub attempt: Option<i32>,
    /// The worker concerned.
    pub worker: Option<String>,
    /// Error text or other detail.
    pub detail: Option<String>,
}

impl Mark {
    /// Whether the mark stands for something going wrong or being redone, which the
    /// drawing shows louder than a routine claim.
    pub fn is_alarm(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "retry_scheduled"
                | "rescued"
                | "lease_lost"
                | "failed"
                | "cancel_requested"
                | "cancelled"
                | "retried"
        )
    }
}

/// A job's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// The left edge: the job's enqueue time.
    pub start: DateTime<Utc>,
    /// The right edge: when it finished, or now.
    pub end: DateTime<Utc>,
    /// Step runs in start order.
    pub bars: Vec<Bar>,
    /// Turning points in order.
    pub marks: Vec<Mark>,
}

/// Events that end an attempt: a step still open then was interrupted.
const ATTEMPT_ENDS: [&str; 9] = [
    "rescued",
    "retry_scheduled",
    "snoozed",
    "handed_back",
    "lease_lost",
    "completed",
    "failed",
    "cancelled",
    "retried",
];

/// Builds the timeline of `job` from its checkpoints and audit events (in id order), as
/// of `now`.
pub fn build(
    job: &JobRecord,
    steps: &[StepRecord],
    events: &[JobEvent],
    now: DateTime<Utc>,
) -> Timeline {
    let mut bars: Vec<Bar> = Vec::new();
    let mut open: HashMap<String, usize> = HashMap::new();
    let mut marks = Vec::new();
    // Where a step without a start event is taken to have started.
    let mut cursor = job.created_at;
    for event in events {
        match event.kind.as_str() {
            "step_started" => {
                let step = event.step.clone().unwrap_or_default();
                if let Some(index) = open.remove(&step) {
                    close(&mut bars[index], event.at, Outcome::Interrupted);
                }
                open.insert(step.clone(), bars.len());
                bars.push(Bar {
                    step,
                    attempt: event.attempt,
                    worker: event.worker.clone(),
                    start: event.at,
                    end: None,
                    outcome: Outcome::Running,
                });
            }
            "step_completed" | "step_failed" => {
                let step = event.step.clone().unwrap_or_default();
                let outcome = if event.kind == "step_completed" {
                    Outcome::Completed
                } else {
                    Outcome::Failed(event.detail.clone().unwrap_or_default())
                };
                match open.remove(&step) {
                    Some(index) => close(&mut bars[index], event.at, outcome),
                    None => bars.push(Bar {
                        step,
                        attempt: event.attempt,
                        worker: event.worker.clone(),
                        start: cursor.min(event.at),
                        end: Some(event.at),
                        outcome,
                    }),
                }
                cursor = event.at;
            }
            kind => {
                if ATTEMPT_ENDS.contains(&kind) {
                    for (_, index) in open.drain() {
                        close(&mut bars[index], event.at, Outcome::Interrupted);
                    }
                }
                if kind == "claimed" {
                    cursor = event.at;
                }
                if kind != "enqueued" && kind != "completed" {
                    marks.push(Mark {
                        at: event.at,
                        kind: kind.to_owned(),
                        attempt: event.attempt,
                        worker: event.worker.clone(),
                        detail: event.detail.clone(),
                    });
                }
            }
        }
    }
    // Checkpoints the events do not mention (their events pruned or never written).
    for step in steps {
        let seen = bars
            .iter()
            .any(|bar| bar.step == step.name && bar.outcome == Outcome::Completed);
        if !seen {
            // From the latest step end or claim before it, else from the enqueue.
            let start = bars
                .iter()
                .filter_map(|bar| bar.end)
                .chain(marks.iter().filter(|m| m.kind == "claimed").map(|m| m.at))
                .filter(|at| *at <= step.completed_at)
                .max()
                .unwrap_or(job.created_at)
                .min(step.completed_at);
            bars.push(Bar {
                step: step.name.clone(),
                attempt: Some(step.attempt),
                worker: Some(step.worker.clone()),
                start,
                end: Some(step.completed_at),
                outcome: Outcome::Completed,
            });
        }
    }
    // Steps still open: running if the job runs, else cut off when the job ended.
    if job.state != JobState::Running {
        for index in open.into_values() {
            let end = job.finished_at.unwrap_or(bars[index].start);
            close(&mut bars[index], end, Outcome::Interrupted);
        }
    }
    bars.sort_by_key(|bar| bar.start);
    let end = job.finished_at.unwrap_or(now);
    let latest = bars
        .iter()
        .map(|bar| bar.end.unwrap_or(now))
        .chain(marks.iter().map(|mark| mark.at))
        .max()
        .unwrap_or(end);
    Timeline {
        start: job.created_at,
        end: end.max(latest),
        bars,
        marks,
    }
}

fn close(bar: &mut Bar, at: DateTime<Utc>, outcome: Outcome) {
    bar.end = Some(at.max(bar.start));
    bar.outcome = outcome;
}

/// Geometry of the drawing, in SVG user units.
const WIDTH: f64 = 1000.0;
const LABEL: f64 = 220.0;
const ROW: f64 = 22.0;
const TOP: f64 = 24.0;
/// Room a bar's label ("1.25 s · #8") needs beside the bar.
const LABEL_ROOM: f64 = 110.0;

/// The timeline as an SVG drawing (bars on a time axis, marks as vertical lines) followed
/// by a table of the same runs, which is what screen readers and tests read.
pub fn render(timeline: &Timeline, now: DateTime<Utc>) -> Markup {
    let span = (timeline.end - timeline.start).as_seconds_f64().max(0.001);
    let x = |at: DateTime<Utc>| {
        LABEL + (at - timeline.start).as_seconds_f64().max(0.0) / span * (WIDTH - LABEL - 10.0)
    };
    let height = TOP + ROW * timeline.bars.len() as f64 + 8.0;
    html! {
        @if timeline.bars.is_empty() {
            p.empty { "No step has started yet." }
        } @else {
            svg.timeline viewBox={ "0 0 " (WIDTH) " " (height) } role="img"
                aria-label="Step timeline" preserveAspectRatio="xMinYMin meet" {
                text.axis x=(LABEL) y="14" { "+0 s" }
                text.axis x=(WIDTH - 10.0) y="14" text-anchor="end" { "+" (page::seconds(span)) }
                @for mark in &timeline.marks {
                    line.mark .alarm[mark.is_alarm()] x1=(x(mark.at)) x2=(x(mark.at)) y1="18" y2=(height - 4.0) {
                        title { (mark.kind) (mark_suffix(mark)) " at " (page::time(mark.at)) }
                    }
                }
                @for (row, bar) in timeline.bars.iter().enumerate() {
                    @let y = TOP + ROW * row as f64;
                    @let start = x(bar.start);
                    @let end = x(bar.end.unwrap_or(now));
                    text.step-label x=(LABEL - 8.0) y=(y + 14.0) text-anchor="end" { (bar.step) }
                    rect.bar .{ "bar-" (bar.outcome.name()) } x=(start) y=(y + 3.0)
                        width=((end - start).max(2.0)) height=(ROW - 6.0) rx="2" {
                        title {
                            (bar.step) ": " (bar.outcome.name()) ", " (duration(bar, now))
                            @if let Some(attempt) = bar.attempt { ", attempt " (attempt) }
                        }
                    }
                    // The label goes right of the bar; near the right edge, left of it; and
                    // inside a bar that leaves room on neither side (never over the step
                    // names).
                    @let right = end.max(start + 2.0) + 4.0;
                    @let (label_x, anchor, inside) = if right <= WIDTH - LABEL_ROOM {
                        (right, "start", false)
                    } else if start - LABEL >= LABEL_ROOM {
                        (start - 4.0, "end", false)
                    } else {
                        (end - 4.0, "end", true)
                    };
                    text.bar-label .inside[inside] x=(label_x) y=(y + 14.0) text-anchor=(anchor) {
                        (duration(bar, now))
                        @if let Some(attempt) = bar.attempt { " · #" (attempt) }
                    }
                }
            }
            table.steps #steps {
                thead { tr { th { "Step" } th { "Attempt" } th { "Worker" } th { "Started" } th { "Ended" } th { "Duration" } th { "Outcome" } } }
                tbody {
                    @for bar in &timeline.bars {
                        tr data-step=(bar.step) data-outcome=(bar.outcome.name()) {
                            td.step-name { (bar.step) }
                            td { @if let Some(attempt) = bar.attempt { (attempt) } }
                            td.mono { (bar.worker.as_deref().unwrap_or("")) }
                            td { (page::time_ms(bar.start)) }
                            td { (bar.end.map_or_else(|| "–".to_owned(), page::time_ms)) }
                            td { (duration(bar, now)) }
                            td {
                                span.badge .{ "bar-" (bar.outcome.name()) } { (bar.outcome.name()) }
                                @if let Outcome::Failed(error) = &bar.outcome {
                                    " " span.error-text { (error) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn duration(bar: &Bar, now: DateTime<Utc>) -> String {
    page::between(bar.start, bar.end.unwrap_or(now))
}

fn mark_suffix(mark: &Mark) -> String {
    match (mark.attempt, &mark.worker) {
        (Some(attempt), Some(worker)) => format!(" (attempt {attempt}, {worker})"),
        (Some(attempt), None) => format!(" (attempt {attempt})"),
        (None, Some(worker)) => format!(" ({worker})"),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::JobId;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).expect("in range")
    }

    fn job(state: JobState) -> JobRecord {
        JobRecord {
            id: JobId(7),
            kind: "livelesson.create".into(),
            args: serde_json::json!({}),
            queue: "default".into(),
            state,
            attempt: 2,
            max_attempts: 8,
            run_at: at(0),
            created_at: at(0),
            attempted_at: Some(at(500)),
            finished_at: state.is_finished().then(|| at(900)),
            last_error: None,
            traceparent: None,
            unique_key: None,
            serial_key: Some("livelesson:abcde12345".into()),
            lease_owner: None,
        }
    }

    fn event(id: i64, ms: i64, kind: &str, step: Option<&str>, attempt: i32) -> JobEvent {
        JobEvent {
            id,
            job_id: JobId(7),
            at: at(ms),
            kind: kind.into(),
            attempt: Some(attempt),
            worker: Some(format!("w{attempt}")),
            step: step.map(str::to_owned),
            detail: None,
        }
    }

    #[test]
    fn steps_become_bars_in_start_order_with_their_attempts() {
        let events = vec![
            event(1, 0, "enqueued", None, 0),
            event(2, 10, "claimed", None, 1),
            event(3, 20, "step_started", Some("namespace"), 1),
            event(4, 50, "step_completed", Some("namespace"), 1),
            event(5, 60, "step_started", Some("pods-ready"), 1),
            event(6, 300, "retry_scheduled", None, 1),
            event(7, 500, "claimed", None, 2),
            event(8, 510, "step_started", Some("pods-ready"), 2),
            event(9, 800, "step_completed", Some("pods-ready"), 2),
            event(10, 900, "completed", None, 2),
        ];
        let timeline = build(&job(JobState::Completed), &[], &events, at(1000));
        let runs: Vec<(&str, Option<i32>, &str)> = timeline
            .bars
            .iter()
            .map(|b| (b.step.as_str(), b.attempt, b.outcome.name()))
            .collect();
        assert_eq!(
            runs,
            vec![
                ("namespace", Some(1), "completed"),
                ("pods-ready", Some(1), "interrupted"),
                ("pods-ready", Some(2), "completed"),
            ]
        );
        assert_eq!(timeline.bars[1].end, Some(at(300)));
        let kinds: Vec<&str> = timeline.marks.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, vec!["claimed", "retry_scheduled", "claimed"]);
        assert!(timeline.marks[1].is_alarm());
        assert_eq!(timeline.start, at(0));
        assert_eq!(timeline.end, at(900));
    }

    #[test]
    fn a_failed_step_carries_its_error_and_a_running_one_stays_open() {
        let mut failing = event(4, 40, "step_failed", Some("pods-ready"), 1);
        failing.detail = Some("CrashLoopBackOff".into());
        let events = vec![
            event(1, 10, "claimed", None, 1),
            event(2, 20, "step_started", Some("pods-ready"), 1),
            failing,
            event(5, 50, "step_started", Some("hosts"), 1),
        ];
        let timeline = build(&job(JobState::Running), &[], &events, at(100));
        assert_eq!(
            timeline.bars[0].outcome,
            Outcome::Failed("CrashLoopBackOff".into())
        );
        assert_eq!(timeline.bars[1].outcome, Outcome::Running);
        assert_eq!(timeline.bars[1].end, None);
        assert_eq!(timeline.end, at(100));
    }

    #[test]
    fn checkpoints_without_events_still_get_bars() {
        let steps = vec![
            StepRecord {
                name: "namespace".into(),
                output: serde_json::Value::Null,
                attempt: 1,
                worker: "w1".into(),
                completed_at: at(100),
            },
            StepRecord {
                name: "secrets".into(),
                output: serde_json::Value::Null,
                attempt: 1,
                worker: "w1".into(),
                completed_at: at(250),
            },
        ];
        let timeline = build(&job(JobState::Completed), &steps, &[], at(1000));
        let names: Vec<&str> = timeline.bars.iter().map(|b| b.step.as_str()).collect();
        assert_eq!(names, vec!["namespace", "secrets"]);
        let spans: Vec<_> = timeline.bars.iter().map(|b| (b.start, b.end)).collect();
        assert_eq!(
            spans,
            vec![(at(0), Some(at(100))), (at(100), Some(at(250)))]
        );
    }

    #[test]
    fn a_bar_as_wide_as_the_axis_carries_its_label_inside_not_over_the_step_names() {
        let events = vec![
            event(1, 0, "claimed", None, 1),
            event(2, 1, "step_started", Some("namespace"), 1),
            event(3, 2, "step_completed", Some("namespace"), 1),
            event(4, 2, "step_started", Some("namespace-gone"), 1),
            event(5, 895, "step_completed", Some("namespace-gone"), 1),
            event(6, 896, "step_started", Some("remove-state"), 1),
            event(7, 898, "step_completed", Some("remove-state"), 1),
        ];
        // The job finished at 900 ms: the middle bar fills nearly the whole axis.
        let timeline = build(&job(JobState::Completed), &[], &events, at(1000));
        let html = render(&timeline, at(1000)).into_string();
        let labels: Vec<(f64, bool)> = html
            .match_indices("<text class=\"bar-label")
            .map(|(at, _)| {
                let tag = &html[at..at + html[at..].find('>').expect("end of tag")];
                let x = tag
                    .split("x=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .and_then(|x| x.parse().ok())
                    .expect("x");
                (x, tag.contains("inside"))
            })
            .collect();
        assert_eq!(labels.len(), 3);
        // Every label starts or ends right of the step names' column.
        assert!(labels.iter().all(|(x, _)| *x > LABEL), "{labels:?}");
        // The long middle bar has room on neither side: its label is inside it.
        assert!(!labels[0].1 && labels[1].1 && !labels[2].1, "{labels:?}");
    }

    #[test]
    fn the_drawing_lists_every_run_in_order() {
        let events = vec![
            event(1, 10, "claimed", None, 1),
            event(2, 20, "step_started", Some("namespace"), 1),
            event(3, 30, "step_completed", Some("namespace"), 1),
            event(4, 40, "step_started", Some("secrets"), 1),
            event(5, 60, "step_completed", Some("secrets"), 1),
        ];
        let timeline = build(&job(JobState::Completed), &[], &events, at(1000));
        let html = render(&timeline, at(1000)).into_string();
        let namespace = html.find("data-step=\"namespace\"").expect("namespace row");
        let secrets = html.find("data-step=\"secrets\"").expect("secrets row");
        assert!(namespace < secrets);
        assert!(html.contains("<svg"));
    }
}
