//! Judging the journal of a run against the faults it went through, and the figures of
//! the summary line.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::audit::WakeUp;
use super::learners::{Exchange, Outcome, summary};
use super::system::LogLine;

/// The scheduler answers every request within this, during a fault too: with success
/// when a writable primary answers in time, else 503.
pub const ANSWER_BOUND: Duration = Duration::from_secs(10);
/// Scheduling slack of a busy two-core machine on top of [`ANSWER_BOUND`].
const SLACK: Duration = Duration::from_secs(1);
/// Writes must resume, and `/readyz` say ready, within this of a writable primary.
pub const RESUME_BOUND: Duration = Duration::from_secs(10);
/// The wake-up must be back within this of a writable primary.
pub const WAKE_UP_BOUND: Duration = Duration::from_secs(15);
/// `/readyz` answers sent this long after a fault began must say not ready.
const READYZ_GRACE: Duration = Duration::from_millis(500);

/// One fault: when it began, and when a writable primary answered at the proxy's
/// address again.
#[derive(Debug, Clone)]
pub struct Outage {
    pub what: String,
    pub began: Instant,
    pub writable: Instant,
    /// While the proxy's address led to no server that takes writes (down, stopping, in
    /// recovery): `/readyz` must say so. A failover whose old primary is still up until
    /// the proxy moves has none (that server takes writes; only their synchronous
    /// commits wait).
    pub unwritable: Option<(Instant, Instant)>,
    /// The wake-up probe after it.
    pub wake_up: Option<WakeUp>,
}

/// The summary's figures.
#[derive(Debug, Default)]
pub struct Figures {
    /// Per outage: from a writable primary to the first write answered with success.
    pub writes_resumed: Vec<Option<Duration>>,
    /// Per outage: from a writable primary to the wake-up back.
    pub wake_up_back: Vec<Option<Duration>>,
    /// Over all outages: from the first 503 sent to the last one answered, per outage.
    pub api_503: Duration,
    /// Answers by status over the run, for the record.
    pub statuses: BTreeMap<String, usize>,
}

/// Failures of one kind, counted, with their first and last time.
#[derive(Debug)]
struct Seen {
    count: usize,
    first: Instant,
    last: Instant,
}

/// Collects failures grouped by message (which holds no time, id or count).
#[derive(Debug)]
struct Tally<'a> {
    t0: Instant,
    outages: &'a [Outage],
    seen: BTreeMap<String, Seen>,
}

impl Tally<'_> {
    fn add(&mut self, at: Instant, message: String) {
        self.seen
            .entry(message)
            .and_modify(|s| {
                s.count += 1;
                s.first = s.first.min(at);
                s.last = s.last.max(at);
            })
            .or_insert(Seen {
                count: 1,
                first: at,
                last: at,
            });
    }

    fn into_failures(self, failures: &mut Vec<String>) {
        let t0 = self.t0;
        let at = |i: Instant| i.saturating_duration_since(t0).as_secs_f64();
        let mut seen: Vec<_> = self.seen.into_iter().collect();
        seen.sort_by_key(|(_, s)| s.first);
        for (message, s) in seen {
            let when = phase(self.outages, s.first);
            failures.push(if s.count == 1 {
                format!("{message} [at +{:.1} s, {when}]", at(s.first))
            } else {
                format!(
                    "{message} [{} times, +{:.1} s to +{:.1} s, first {when}]",
                    s.count,
                    at(s.first),
                    at(s.last)
                )
            });
        }
    }
}

/// Which fault `at` falls in, for messages: `during fault 1 (0.8 s in)`.
fn phase(outages: &[Outage], at: Instant) -> String {
    for (i, o) in outages.iter().enumerate().rev() {
        if at >= o.began {
            let since = at.duration_since(o.began).as_secs_f64();
            return if at < o.writable {
                format!("during fault {} ({since:.1} s in)", i + 1)
            } else {
                format!(
                    "{:.1} s after fault {} was over",
                    at.duration_since(o.writable).as_secs_f64(),
                    i + 1
                )
            };
        }
    }
    "before any fault".into()
}

/// What the scheduler logged as the cause of `e`'s error answer: its error line on the
/// same route while the request was under way.
fn cause(e: &Exchange, log: &[LogLine]) -> Option<String> {
    let from = DateTime::<Utc>::from(e.sent_wall) - chrono::Duration::milliseconds(10);
    let to = DateTime::<Utc>::from(e.answered_wall) + chrono::Duration::milliseconds(10);
    log.iter()
        .find(|l| {
            l.level == "ERROR"
                && !l.target.starts_with("tower_http")
                && l.route.as_deref() == Some(e.what.as_str())
                && (from..=to).contains(&l.at)
        })
        .map(|l| {
            let mut text = l.text();
            if text.len() > 400 {
                let mut cut = 400;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push_str("...");
            }
            text
        })
}

/// An answer's body for a message, cut.
fn body(e: &Exchange) -> String {
    match &e.outcome {
        Outcome::Answered { body, .. } => {
            let mut body = body.clone();
            if body.len() > 200 {
                let mut cut = 200;
                while !body.is_char_boundary(cut) {
                    cut -= 1;
                }
                body.truncate(cut);
                body.push_str("...");
            }
            body
        }
        Outcome::None(why) => why.clone(),
    }
}

/// Judges `journal`; adds what failed to `failures`, returns the figures.
pub fn judge(
    journal: &[Exchange],
    outages: &[Outage],
    log: &[LogLine],
    t0: Instant,
    end: Instant,
    failures: &mut Vec<String>,
) -> Figures {
    let mut tally = Tally {
        t0,
        outages,
        seen: BTreeMap::new(),
    };
    let mut figures = Figures::default();
    for e in journal {
        let key = match e.status() {
            Some(status) => format!("{} {status}", e.what),
            None => format!("{} no answer", e.what),
        };
        *figures.statuses.entry(key).or_default() += 1;
    }

    // Learners' and the writer's requests: 503 with Retry-After in the gateway's shape
    // within the bound, never another 5xx, never a hang.
    for e in journal.iter().filter(|e| e.what.contains(" /exp")) {
        let caused = || {
            cause(e, log).map_or_else(
                || "; antidoted logged no error for it".to_owned(),
                |c| format!("; antidoted logged: {c}"),
            )
        };
        match &e.outcome {
            Outcome::None(why) => {
                let why = why.split(": ").next().unwrap_or(why);
                tally.add(e.answered, format!("{} got no answer: {why}", e.what));
                continue;
            }
            Outcome::Answered {
                status: 503,
                retry_after,
                ..
            } => {
                let json = e.json();
                let shaped =
                    json["error"].is_string() && json["message"].is_string() && json["code"] == 14;
                let retry = retry_after
                    .as_deref()
                    .is_some_and(|v| v.trim().parse::<u64>().is_ok());
                if !(shaped && retry) {
                    tally.add(
                        e.answered,
                        format!(
                            "{} answered 503 without {}: {}",
                            e.what,
                            match (shaped, retry) {
                                (false, false) => {
                                    "Retry-After nor the gateway's body {error, code 14, message}"
                                }
                                (false, true) => "the gateway's body {error, code 14, message}",
                                _ => "a Retry-After of whole seconds",
                            },
                            summary(e)
                        ),
                    );
                }
            }
            Outcome::Answered { status, .. } if *status >= 500 => {
                tally.add(
                    e.answered,
                    format!("{} answered {status} {}{}", e.what, body(e), caused()),
                );
            }
            // A livelesson in ERROR is answered 409 code 9: the audit reports it.
            Outcome::Answered { status: 409, .. } if e.json()["code"] == 9 => {}
            Outcome::Answered { status, .. } if *status >= 400 => {
                tally.add(
                    e.answered,
                    format!("{} answered {status} {}", e.what, body(e)),
                );
            }
            Outcome::Answered { .. } => {}
        }
        if e.took() > ANSWER_BOUND + SLACK {
            tally.add(
                e.answered,
                format!(
                    "{} answered {} only after more than {:?} (longest {:.1} s)",
                    e.what,
                    e.status().unwrap_or_default(),
                    ANSWER_BOUND + SLACK,
                    journal
                        .iter()
                        .filter(|o| o.what == e.what && o.status() == e.status())
                        .map(|o| o.took().as_secs_f64())
                        .fold(0.0, f64::max)
                ),
            );
        }
    }

    let readyz: Vec<&Exchange> = journal.iter().filter(|e| e.who == "readyz").collect();
    for e in &readyz {
        if let Outcome::None(why) = &e.outcome {
            let why = why.split(": ").next().unwrap_or(why);
            tally.add(e.answered, format!("/readyz got no answer: {why}"));
        } else if e.took() > ANSWER_BOUND + SLACK {
            tally.add(
                e.answered,
                format!(
                    "/readyz answered only after more than {:?}",
                    ANSWER_BOUND + SLACK
                ),
            );
        }
    }

    for (i, o) in outages.iter().enumerate() {
        let n = i + 1;
        let next = outages.get(i + 1).map_or(end, |o| o.began);
        // /readyz while no writable primary answers: not ready, naming the database.
        let (down, up) = o.unwritable.unwrap_or((o.writable, o.writable));
        for e in readyz
            .iter()
            .filter(|e| e.sent >= down + READYZ_GRACE && e.answered < up)
        {
            let said = e.json()["message"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase();
            if e.status() != Some(503) || !said.contains("database") {
                tally.add(
                    e.answered,
                    format!(
                        "/readyz answered {} while no writable primary answered (fault {n}: {})",
                        summary(e),
                        o.what
                    ),
                );
            }
        }
        let ready_again = readyz
            .iter()
            .filter(|e| e.sent >= o.writable && e.status() == Some(200))
            .map(|e| e.answered)
            .min();
        let limit = (o.writable + RESUME_BOUND).min(next);
        if ready_again.is_none_or(|at| at > limit) && next > limit {
            failures.push(format!(
                "/readyz did not answer 200 within {RESUME_BOUND:?} of a writable primary after fault {n} ({}); first 200 {}",
                o.what,
                ready_again.map_or("never".into(), |at| format!(
                    "after {:.1} s",
                    at.duration_since(o.writable).as_secs_f64()
                ))
            ));
        }

        // Writes resumed: the first write answered with success once the primary is.
        let resumed = journal
            .iter()
            .filter(|e| {
                e.is_write()
                    && e.sent >= o.began
                    && e.answered >= o.writable
                    && e.answered < next
                    && e.status().is_some_and(|s| (200..300).contains(&s))
            })
            .map(|e| e.answered.duration_since(o.writable))
            .min();
        match resumed {
            Some(after) if after <= RESUME_BOUND => {}
            Some(after) => failures.push(format!(
                "writes resumed {:.1} s after fault {n} ({}) was over, past the {RESUME_BOUND:?} bound",
                after.as_secs_f64(),
                o.what
            )),
            None => failures.push(format!(
                "no write succeeded after fault {n} ({}) was over (until {:.1} s later)",
                o.what,
                next.duration_since(o.writable).as_secs_f64()
            )),
        }
        figures.writes_resumed.push(resumed);

        // The wake-up back.
        let back = o.wake_up.as_ref().and_then(|w| w.back);
        if back.is_none_or(|b| b > WAKE_UP_BOUND) {
            failures.push(format!(
                "wake-ups did not come back within {WAKE_UP_BOUND:?} of fault {n} ({}): idle enqueue-to-start latency never stayed within {} ms (4 of 5 probes); probes: {}",
                o.what,
                super::audit::WOKEN.as_millis(),
                o.wake_up.as_ref().map_or("none".into(), WakeUp::describe)
            ));
        }
        figures.wake_up_back.push(back);

        // How long the API answered 503 around this fault.
        let unavailable: Vec<&Exchange> = journal
            .iter()
            .filter(|e| e.status() == Some(503) && e.sent >= o.began && e.sent < next)
            .collect();
        if let (Some(first), Some(last)) = (
            unavailable.iter().map(|e| e.sent).min(),
            unavailable.iter().map(|e| e.answered).max(),
        ) {
            figures.api_503 += last.duration_since(first);
        }
    }
    tally.into_failures(failures);
    figures
}

/// `S` of the summary line: the worst of `values` in seconds, `n/a` when one is missing.
pub fn worst(values: &[Option<Duration>]) -> String {
    if values.iter().any(Option::is_none) || values.is_empty() {
        return "n/a".into();
    }
    let worst = values.iter().flatten().max().copied().unwrap_or_default();
    format!("{:.1}", worst.as_secs_f64())
}
