//! `antidoted bench ui`: how fast the dashboard's pages answer over a long history. Seeds
//! finished jobs (with their steps and audit events) spread over the last day, a few
//! hundred livelessons and some running jobs; serves the real API on loopback; signs in
//! like a browser; then requests every page many times and reports the latency of each
//! (client side, over HTTP). Also prints the plans of the job list's filters.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::{Config, Secret};
use crate::queue::bench::synthetic::{
    self, FinishedTemplate, SyntheticHistory, UnfinishedTemplate,
};
use crate::queue::bench::{figures, tables};
use crate::queue::inspect::{self, JobPageFilter};
use crate::queue::{Client, JobId, JobState};

/// Benchmark size.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Finished jobs in the history.
    pub finished: usize,
    /// Livelessons in the store.
    pub livelessons: usize,
    /// Requests per page.
    pub samples: usize,
    /// Spread the history over this many hours back from now.
    pub hours: u32,
}

/// Latency of one page.
#[derive(Debug, Clone, Serialize)]
pub struct PageReport {
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
    /// The first request, before the samples (cold caches), milliseconds.
    pub first_ms: f64,
    /// Size of the answer in bytes.
    pub bytes: usize,
}

/// The benchmark's result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Finished jobs in the history.
    pub finished_jobs: usize,
    /// Audit events stored.
    pub events: i64,
    /// Livelessons stored.
    pub livelessons: usize,
    /// Requests per page.
    pub samples: usize,
    /// Per page (by name).
    pub pages: BTreeMap<String, PageReport>,
    /// The slowest page's 95th percentile, milliseconds.
    pub worst_p95_ms: f64,
    /// The slowest single answer, milliseconds.
    pub worst_max_ms: f64,
    /// Plans of the job list per filter (one `EXPLAIN` each).
    #[serde(skip)]
    pub plans: Vec<(String, Vec<String>)>,
}

/// Failures of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setting up rows failed.
    #[error("benchmark database work")]
    Database(#[from] sqlx::Error),
    /// A read model failed.
    #[error("queue read model")]
    Queue(#[from] crate::queue::QueueError),
    /// Serving or requesting failed.
    #[error("HTTP: {0}")]
    Http(String),
}

const BENCH_TOKEN: &str = "bench-ui-admin-token";

/// Empties the tables and fills them: `finished` finished jobs over the last `hours`
/// (kinds and states in a production-like mix, each with five steps and twelve events),
/// `livelessons` livelessons with two endpoints each (a tenth in ERROR with logs), and
/// 20 running plus 30 waiting jobs.
///
/// # Errors
/// Database errors.
pub async fn seed(pool: &PgPool, params: &Params) -> Result<(), sqlx::Error> {
    super::reset_with_bench_lesson(pool).await?;
    let finished = i64::try_from(params.finished).unwrap_or(i64::MAX);
    let livelessons = i64::try_from(params.livelessons).unwrap_or(i64::MAX).max(1);
    let span_ms = i64::from(params.hours.max(1)) * 3_600_000;
    synthetic::load_history(
        pool,
        &SyntheticHistory {
            jobs: finished,
            span_ms,
            templates: history_templates(),
            steps: [
                "namespace",
                "secrets",
                "endpoint:linux1",
                "pods-ready",
                "status:READY",
            ]
            .map(String::from)
            .to_vec(),
            worker: "bench-worker".into(),
        },
    )
    .await
    .map_err(super::engine_error)?;
    sqlx::query("insert into livesessions (id) select 's' || n from generate_series(1, $1) n")
        .bind(livelessons)
        .execute(pool)
        .await?;
    sqlx::query(
        "insert into livelessons (id, session_id, lesson_slug, lesson_hash, status,
                                  current_stage, guide_type, images, total_tests, healthy_tests,
                                  error_reason, error_step, error_logs, ready_at)
         select lpad(n::text, 10, '0'), 's' || n, 'bench-lesson', $2,
                case when n % 10 = 0 then 'ERROR'::livelesson_status
                     when n % 10 = 1 then 'BOOTING'::livelesson_status
                     else 'READY'::livelesson_status end,
                0, 'markdown', '{}', 2, case when n % 10 = 1 then 0 else 2 end,
                case when n % 10 = 0 then 'pod linux1: CrashLoopBackOff' end,
                case when n % 10 = 0 then 'pods-ready' end,
                case when n % 10 = 0 then repeat('==> linux1/linux1: exiting with code 1' || chr(10), 40) end,
                case when n % 10 > 1 then now() end
         from generate_series(1, $1) n",
    )
    .bind(livelessons)
    .bind(super::BENCH_LESSON_HASH)
    .execute(pool)
    .await?;
    sqlx::query(
        "insert into live_endpoints (livelesson_id, name, position, image, ports, presentations,
                                     host, reachable)
         select l.id, e.name, e.i, 'utility', '{22}',
                '[{\"name\": \"cli\", \"port\": 22, \"type\": \"ssh\", \"hepDomain\": \"\"}]',
                '127.0.9.' || e.i, l.status = 'READY'
         from livelessons l, unnest(array['linux1', 'linux2']) with ordinality as e(name, i)",
    )
    .execute(pool)
    .await?;
    // 20 running jobs (on three workers) and 30 waiting, of livelessons 1 to 50.
    let unfinished: Vec<UnfinishedTemplate> = (1..=50)
        .map(|n| UnfinishedTemplate {
            kind: "livelesson.create".into(),
            args: serde_json::json!({ "livelesson": format!("{n:010}") }),
            serial_key: Some(format!("livelesson:{n:010}")),
            lease_owner: (n <= 20).then(|| format!("bench-worker-{}", n % 3)),
        })
        .collect();
    synthetic::load_unfinished(pool, &unfinished)
        .await
        .map_err(super::engine_error)?;
    tables::vacuum_analyze_all(pool)
        .await
        .map_err(super::engine_error)?;
    sqlx::query("vacuum analyze livelessons, live_endpoints")
        .execute(pool)
        .await?;
    Ok(())
}

/// The finished jobs of the seeded history, one per residue of the job id modulo 15,000
/// (every pattern below repeats within it): every third job is a DELETE, one in fifty a
/// GC pass; one in a hundred failed, one in three hundred cancelled. Livelesson jobs
/// belong to livelessons `n % 5000` (the live ones among them get the newest jobs).
fn history_templates() -> Vec<FinishedTemplate> {
    (0..15_000_u32)
        .map(|n| {
            let livelesson = format!("{:010}", n % 5000);
            FinishedTemplate {
                kind: if n % 50 == 0 {
                    "gc.expire"
                } else if n % 3 == 0 {
                    "livelesson.delete"
                } else {
                    "livelesson.create"
                }
                .into(),
                args: serde_json::json!({ "livelesson": livelesson, "stage": 0 }),
                state: if n % 100 == 7 {
                    JobState::Failed
                } else if n % 300 == 11 {
                    JobState::Cancelled
                } else {
                    JobState::Completed
                },
                last_error: (n % 100 == 7).then(|| "pods-ready: CrashLoopBackOff".into()),
                serial_key: (n % 50 != 0).then(|| format!("livelesson:{livelesson}")),
            }
        })
        .collect()
}

fn quantiles(mut samples: Vec<f64>, first_ms: f64, bytes: usize) -> PageReport {
    samples.sort_by(f64::total_cmp);
    PageReport {
        first_ms: super::round2(first_ms),
        p50_ms: super::round2(super::quantile(&samples, 0.5)),
        p95_ms: super::round2(super::quantile(&samples, 0.95)),
        max_ms: super::round2(samples.last().copied().unwrap_or(0.0)),
        bytes,
    }
}

/// The job list's filters the benchmark explains and requests (and the test of the list's
/// plans checks), by name, with the query string of each, over a history seeded by [`seed`]
/// with `finished` jobs over `hours`.
pub fn job_list_cases(finished: i64, hours: u32) -> Vec<(&'static str, JobPageFilter, String)> {
    let now = chrono::Utc::now();
    let hours = i64::from(hours.max(1));
    let from = now - chrono::TimeDelta::minutes(hours * 60 * 3 / 4);
    let to = from + chrono::TimeDelta::minutes(10);
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let page = |filter: JobPageFilter| JobPageFilter {
        limit: crate::api::ui::jobs::PAGE,
        ..filter
    };
    vec![
        ("jobs", page(JobPageFilter::default()), String::new()),
        (
            "jobs_failed",
            page(JobPageFilter {
                state: Some(JobState::Failed),
                ..JobPageFilter::default()
            }),
            "?state=failed".into(),
        ),
        (
            "jobs_kind_gc",
            page(JobPageFilter {
                kind: Some("gc.expire".into()),
                ..JobPageFilter::default()
            }),
            "?kind=gc.expire".into(),
        ),
        (
            "jobs_livelesson",
            page(JobPageFilter {
                serial_key: Some("livelesson:0000000042".into()),
                ..JobPageFilter::default()
            }),
            "?livelesson=0000000042".into(),
        ),
        (
            "jobs_other_queue",
            page(JobPageFilter {
                queue: Some("priority".into()),
                ..JobPageFilter::default()
            }),
            "?queue=priority".into(),
        ),
        (
            "jobs_older_page",
            page(JobPageFilter {
                before: Some(JobId(finished / 2)),
                ..JobPageFilter::default()
            }),
            format!("?before={}", finished / 2),
        ),
        (
            "jobs_time_range",
            page(JobPageFilter {
                created_from: Some(from),
                created_to: Some(to),
                ..JobPageFilter::default()
            }),
            format!("?from={}&to={}", stamp(from), stamp(to)),
        ),
    ]
}

/// Seeds, serves, signs in, measures every page.
///
/// # Errors
/// [`BenchError`].
pub async fn run(pool: &PgPool, params: &Params) -> Result<Report, BenchError> {
    seed(pool, params).await?;
    let finished = i64::try_from(params.finished).unwrap_or(i64::MAX);
    let events = figures::events(pool).await.map_err(super::engine_error)?;
    let cases = job_list_cases(finished, params.hours);
    let mut plans = Vec::new();
    for (name, filter, _) in &cases {
        plans.push((
            (*name).to_owned(),
            inspect::explain_job_page(pool, filter).await?,
        ));
    }

    let config = Config {
        admin_token: Secret::new(BENCH_TOKEN),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::Http(e.to_string()))?;
    let base = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| BenchError::Http(e.to_string()))?
    );
    let stop = CancellationToken::new();
    let server_stop = stop.clone();
    let server = tokio::spawn(api::serve(
        listener,
        AppState::new(pool.clone(), Client::new(pool.clone()), &config),
        async move { server_stop.cancelled().await },
    ));
    let result = measure(&base, params, &cases).await;
    stop.cancel();
    let _ = server.await;
    let pages = result?;
    let worst_p95_ms = pages.values().map(|p| p.p95_ms).fold(0.0, f64::max);
    let worst_max_ms = pages.values().map(|p| p.max_ms).fold(0.0, f64::max);
    Ok(Report {
        finished_jobs: params.finished,
        events,
        livelessons: params.livelessons,
        samples: params.samples,
        pages,
        worst_p95_ms,
        worst_max_ms,
        plans,
    })
}

async fn measure(
    base: &str,
    params: &Params,
    cases: &[(&'static str, JobPageFilter, String)],
) -> Result<BTreeMap<String, PageReport>, BenchError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| BenchError::Http(e.to_string()))?;
    let signed_in = http
        .post(format!("{base}/ui/sign-in"))
        .header("origin", base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={BENCH_TOKEN}&next=%2Fui"))
        .send()
        .await
        .map_err(|e| BenchError::Http(e.to_string()))?;
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| BenchError::Http(format!("sign-in answered {}", signed_in.status())))?;

    let mut pages: Vec<(String, String)> = vec![("overview".into(), "/ui".into())];
    for (name, _, query) in cases {
        pages.push(((*name).to_owned(), format!("/ui/jobs{query}")));
    }
    // A finished job near the newest end, with its steps and events; and a running one.
    let finished = i64::try_from(params.finished).unwrap_or(1).max(1);
    pages.push(("job".into(), format!("/ui/jobs/{}", (finished - 1).max(1))));
    pages.push(("job_running".into(), format!("/ui/jobs/{}", finished + 1)));
    pages.push(("livelessons".into(), "/ui/livelessons".into()));
    pages.push((
        "livelessons_error".into(),
        "/ui/livelessons?status=ERROR".into(),
    ));
    pages.push(("livelesson".into(), "/ui/livelessons/0000000010".into()));

    let mut reports = BTreeMap::new();
    for (name, path) in pages {
        let url = format!("{base}{path}");
        let mut samples = Vec::with_capacity(params.samples);
        let mut bytes = 0;
        let mut first_ms = 0.0;
        // The first request is reported apart: the samples meet warm caches, as the
        // page's own refreshes do.
        for round in 0..=params.samples {
            let started = Instant::now();
            let response = http
                .get(&url)
                .header("cookie", &cookie)
                .send()
                .await
                .map_err(|e| BenchError::Http(e.to_string()))?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .map_err(|e| BenchError::Http(e.to_string()))?;
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            if !status.is_success() {
                return Err(BenchError::Http(format!("{path} answered {status}")));
            }
            bytes = body.len();
            if round == 0 {
                first_ms = elapsed;
            } else {
                samples.push(elapsed);
            }
        }
        reports.insert(name, quantiles(samples, first_ms, bytes));
    }
    Ok(reports)
}
