//! What the database says after a run (asked of the current primary directly, not
//! through the scheduler): every request's livelesson and job, checkpoints recorded
//! once, periodic slots run once, nothing left running; and the wake-up probe.
//!
//! The wake-up probe: with the workers idle (their slots far from full), the test
//! enqueues a cheap job of a kind the scheduler runs (`gc.sessions`: one statement) with
//! the engine's own client, directly on the primary, as an API process would; the
//! client's enqueue carries its `NOTIFY` in its statement. The latency is from the
//! moment the enqueue's commit returned (this host's clock) to the claim that starts the
//! attempt, `attempted_at` in the audit trail (the claim statement's `now()`, the
//! database's clock, on this same host). A worker woken by the notification claims
//! within a millisecond or two; one that missed it claims at its next poll, up to
//! `pollIntervalMs` (1 s) later. A probe under 5 ms by chance is rare (about 0.5 % of
//! probes when only polling), so the wake-up counts as back at the first run of five
//! consecutive probes of which at least four started within 5 ms.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use antidote_scheduler::queue::{Client, NewJob};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::learners::{End, Requested};

/// An idle enqueue-to-start latency at most this is a wake-up delivered.
pub const WOKEN: Duration = Duration::from_millis(5);
/// Probes in the window judged; at least [`WINDOW_HITS`] must be woken.
const WINDOW: usize = 5;
const WINDOW_HITS: usize = 4;
/// The kind probes are of.
const PROBE_KIND: &str = antidote_scheduler::gc::SESSIONS;

/// A pool on the primary's `antidote` database, for the test's own questions.
pub async fn connect(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(3)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("the test's connection to {url}: {e}"))
}

/// One probe's result.
#[derive(Debug, Clone, Copy)]
pub enum Sample {
    /// Claimed this long after its enqueue committed (milliseconds).
    Started(f64),
    /// Not claimed within 3 s.
    NotStarted,
    /// The enqueue failed (the test's own connection).
    Failed,
}

impl Sample {
    fn woken(self) -> bool {
        matches!(self, Self::Started(ms) if ms <= WOKEN.as_secs_f64() * 1000.0)
    }
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Started(ms) => write!(f, "{ms:.1} ms"),
            Self::NotStarted => f.write_str("not started in 3 s"),
            Self::Failed => f.write_str("enqueue failed"),
        }
    }
}

/// What the probe found after a fault.
#[derive(Debug, Clone)]
pub struct WakeUp {
    /// When the first probe of the first good window was enqueued, after `from`.
    pub back: Option<Duration>,
    /// Every probe: when it was enqueued (after `from`), and its result.
    pub samples: Vec<(Duration, Sample)>,
}

impl WakeUp {
    /// The samples, for messages.
    pub fn describe(&self) -> String {
        self.samples
            .iter()
            .map(|(at, s)| format!("+{:.1}s {s}", at.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One probe on `pool` through `client`.
async fn sample(pool: &PgPool, client: &Client) -> Sample {
    let Ok(enqueued) = client
        .enqueue(&NewJob::new(PROBE_KIND, serde_json::json!({})))
        .await
    else {
        return Sample::Failed;
    };
    let committed = DateTime::<Utc>::from(SystemTime::now());
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let started: Option<Option<DateTime<Utc>>> =
            sqlx::query_scalar("select attempted_at from jobs_all where id = $1")
                .bind(enqueued.id.0)
                .fetch_optional(pool)
                .await
                .ok()
                .flatten();
        if let Some(Some(started)) = started {
            let micros = (started - committed).num_microseconds().unwrap_or(i64::MAX);
            // A claim may start before the enqueue's answer reaches this process.
            return Sample::Started(micros.max(0) as f64 / 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Sample::NotStarted
}

/// Probes the primary at `url` until the wake-up is back or `within` has passed since
/// `from`.
pub async fn wake_up(url: &str, from: Instant, within: Duration) -> WakeUp {
    let pool = connect(url).await;
    let client = Client::new(pool.clone());
    let mut result = WakeUp {
        back: None,
        samples: Vec::new(),
    };
    while from.elapsed() < within {
        let at = from.elapsed();
        let probe = sample(&pool, &client).await;
        result.samples.push((at, probe));
        let n = result.samples.len();
        if n >= WINDOW {
            let window = &result.samples[n - WINDOW..];
            if window.iter().filter(|(_, s)| s.woken()).count() >= WINDOW_HITS {
                result.back = Some(window[0].0);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
    result
}

/// A CREATE job: id, state, last error.
type CreateJob<'a> = (i64, &'a str, Option<&'a str>);
/// An event of the audit trail: kind, attempt, step, detail.
type Event = (String, Option<i32>, Option<String>, Option<String>);

/// What the database says about the run.
#[derive(Debug, Default)]
pub struct Audit {
    pub requested: usize,
    pub ready: usize,
    pub error: usize,
    /// Requests whose livelesson is not READY or ERROR, or has no job: why.
    pub lost: Grouped,
    /// Each job, checkpoint or slot found twice.
    pub duplicated: Vec<String>,
    /// Jobs unfinished after the drain.
    pub stuck: Grouped,
    /// Livelessons in ERROR: their reason and step.
    pub errors: Vec<String>,
}

/// Findings grouped by what they say, each with one example.
#[derive(Debug, Default)]
pub struct Grouped(Vec<(String, usize, String)>);

impl Grouped {
    /// Adds a finding: `what` it is (shared by its kind), `example` its particulars.
    fn add(&mut self, what: String, example: String) {
        match self.0.iter_mut().find(|(w, _, _)| *w == what) {
            Some((_, count, _)) => *count += 1,
            None => self.0.push((what, 1, example)),
        }
    }

    /// One line per kind.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(what, count, example)| {
                if *count == 1 {
                    format!("{what}: {example}")
                } else {
                    format!("{count} times: {what}; e.g. {example}")
                }
            })
            .collect()
    }
}

/// Waits (up to `within`) for the livelesson jobs to finish and for every job that
/// existed at the start of the wait to leave `running` and `available`; then audits.
pub async fn audit(pool: &PgPool, requested: &[Requested], within: Duration) -> Audit {
    let drain_from: DateTime<Utc> = sqlx::query_scalar("select now()")
        .fetch_one(pool)
        .await
        .expect("now");
    let unfinished = "select id, kind, state::text, attempt, coalesce(last_error, ''),
                             coalesce(lease_owner, '')
                      from jobs
                      where kind like 'livelesson.%'
                         or (state in ('running', 'available') and created_at < $1)
                      order by id";
    let deadline = Instant::now() + within;
    let mut left: Vec<(i64, String, String, i32, String, String)>;
    loop {
        left = sqlx::query_as(unfinished)
            .bind(drain_from)
            .fetch_all(pool)
            .await
            .expect("unfinished jobs");
        if left.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut audit = Audit {
        requested: requested.len(),
        ..Audit::default()
    };
    for (id, kind, state, attempt, error, owner) in &left {
        audit.stuck.add(
            format!(
                "{kind} job still {state} {within:?} after the learners finished (last error {error:?})"
            ),
            format!(
                "job {id}, attempt {attempt}, lease owner {owner:?}, trail: {}",
                trail(pool, *id).await
            ),
        );
    }

    // Every request: its livelesson, in a final state, with exactly one CREATE job.
    let rows: Vec<(String, String, Option<String>, Option<String>)> =
        sqlx::query_as("select id, status::text, error_reason, error_step from livelessons")
            .fetch_all(pool)
            .await
            .expect("livelessons");
    let rows: BTreeMap<String, (String, Option<String>, Option<String>)> = rows
        .into_iter()
        .map(|(id, status, reason, step)| (id, (status, reason, step)))
        .collect();
    let creates: Vec<(String, i64, String, Option<String>)> = sqlx::query_as(
        "select args->>'livelesson', id, state::text, last_error from jobs_all
         where kind = 'livelesson.create' order by id",
    )
    .fetch_all(pool)
    .await
    .expect("CREATE jobs");
    let mut jobs_of: BTreeMap<&str, Vec<CreateJob>> = BTreeMap::new();
    for (livelesson, id, state, error) in &creates {
        jobs_of.entry(livelesson.as_str()).or_default().push((
            *id,
            state.as_str(),
            error.as_deref(),
        ));
    }
    for r in requested {
        let who = format!("{} {}", r.learner, r.lesson);
        let Some(id) = &r.id else {
            audit.lost.add(
                "a request never answered with a livelesson".into(),
                format!("{who}: {:?}", r.end),
            );
            continue;
        };
        let jobs = jobs_of.get(id.as_str()).cloned().unwrap_or_default();
        let job = |jobs: &[CreateJob]| match jobs {
            [] => "no CREATE job".to_owned(),
            [(_, state, error)] => format!("its CREATE job {state} (last error {error:?})"),
            more => format!("{} CREATE jobs", more.len()),
        };
        match jobs.as_slice() {
            [] => audit.lost.add(
                "a livelesson without its CREATE job".into(),
                format!("{who} {id}"),
            ),
            [_] => {}
            more => audit
                .duplicated
                .push(format!("{who} {id}: {} CREATE jobs {more:?}", more.len())),
        }
        match rows.get(id) {
            None => audit.lost.add(
                "an answered livelesson without its row".into(),
                format!("{who} {id} (learner saw {:?})", r.end),
            ),
            Some((status, _, _)) if status == "READY" => {
                audit.ready += 1;
                if r.end != End::Ready {
                    audit.lost.add(
                        "READY in the database, but its learner did not see it".into(),
                        format!("{who} {id}: {:?}", r.end),
                    );
                }
            }
            Some((status, reason, step)) if status == "ERROR" => {
                audit.error += 1;
                audit.errors.push(format!(
                    "{who} {id}: ERROR at step {step:?}: {reason:?}; CREATE jobs {jobs:?}"
                ));
            }
            Some((status, _, _)) => audit.lost.add(
                format!("still {status} at the end, {}", job(&jobs)),
                format!("{who} {id} (learner saw {:?})", r.end),
            ),
        }
    }

    // A step's checkpoint recorded twice: a step run again past its checkpoint.
    let twice: Vec<(i64, String, i64)> = sqlx::query_as(
        "select job_id, step, count(*) from job_event_log where kind = 'step_completed'
         group by 1, 2 having count(*) > 1 order by 1",
    )
    .fetch_all(pool)
    .await
    .expect("checkpoints");
    for (job, step, count) in twice {
        audit.duplicated.push(format!(
            "job {job}: step {step} completed {count} times; trail: {}",
            trail(pool, job).await
        ));
    }
    // A periodic slot (unique key `<schedule>:<slot>`) with more than one job.
    let slots: Vec<(String, i64)> = sqlx::query_as(
        "select j.unique_key, count(*) from jobs_all j
         where exists (select 1 from periodic_jobs p where j.unique_key like p.name || ':%')
         group by 1 having count(*) > 1",
    )
    .fetch_all(pool)
    .await
    .expect("periodic slots");
    for (slot, count) in slots {
        audit
            .duplicated
            .push(format!("periodic slot {slot} enqueued {count} times"));
    }
    let ran: i64 = sqlx::query_scalar(
        "select count(*) from jobs_all j
         where exists (select 1 from periodic_jobs p where j.unique_key like p.name || ':%')",
    )
    .fetch_one(pool)
    .await
    .expect("periodic jobs");
    assert!(
        ran > 0,
        "failover harness: no periodic job ran, so the slot check proves nothing"
    );
    audit
}

/// A job's audit trail on one line.
pub async fn trail(pool: &PgPool, job: i64) -> String {
    let events: Vec<Event> = sqlx::query_as(
        "select kind, attempt, step, detail from job_events where job_id = $1 order by id",
    )
    .bind(job)
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    events
        .into_iter()
        .map(|(kind, attempt, step, detail)| {
            let mut text = kind;
            if let Some(attempt) = attempt {
                let _ = write!(text, "#{attempt}");
            }
            if let Some(step) = step {
                let _ = write!(text, ":{step}");
            }
            if let Some(detail) = detail {
                let _ = write!(text, "({detail})");
            }
            text
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Livelesson statuses of `ids` (to see provisioning under way).
pub async fn statuses(pool: &PgPool, ids: &[String]) -> BTreeMap<String, usize> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "select status::text, count(*) from livelessons where id = any($1) group by 1",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    rows.into_iter()
        .map(|(s, n)| (s, usize::try_from(n).unwrap_or(0)))
        .collect()
}
