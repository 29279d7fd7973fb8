//! `bench demo-memory`: the resident memory of a real `antidoted demo` process (kubesim,
//! the API and the workers in one) over many livelesson create/delete cycles, driven over
//! its HTTP API as a front end would. A cycle requests a lesson, polls it to READY, kills
//! it and polls until it is gone; the lessons of the curriculum run side by side.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// What to run.
#[derive(Debug, Clone)]
pub struct Params {
    /// The `antidoted` binary.
    pub exe: PathBuf,
    /// The database the demo uses (created when missing).
    pub database_url: String,
    /// Cycles before the first measurement: caches and allocator pools fill.
    pub warmup: usize,
    /// Cycles measured.
    pub cycles: usize,
    /// Longest wait for one livelesson to be READY, or gone.
    pub timeout: Duration,
}

/// What it measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Cycles measured (after the warm-up).
    pub cycles: usize,
    /// Resident memory once the demo's own scenario finished, MB.
    pub rss_start_mb: f64,
    /// After the warm-up cycles, MB.
    pub rss_warm_mb: f64,
    /// After every cycle, MB.
    pub rss_end_mb: f64,
    /// `rss_end_mb - rss_warm_mb`.
    pub growth_mb: f64,
    /// Growth per measured cycle, kB.
    pub growth_per_cycle_kb: f64,
    /// Wall time of the measured cycles, s.
    pub seconds: f64,
}

/// Why the benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoMemoryError {
    /// The demo could not be started or ended before serving.
    #[error("starting antidoted demo: {0}")]
    Start(String),
    /// A request to the demo's API failed.
    #[error("{what}")]
    Http {
        /// Which request.
        what: &'static str,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// The API answered something unexpected.
    #[error("{0}")]
    Unexpected(String),
    /// The process's memory could not be read.
    #[error("reading /proc/{0}/status")]
    Proc(u32),
}

/// Runs the benchmark; the demo is stopped (SIGTERM, so it cleans up) at the end.
///
/// # Errors
/// [`DemoMemoryError`] naming the step that failed.
pub async fn run(params: &Params) -> Result<Report, DemoMemoryError> {
    let mut child = tokio::process::Command::new(&params.exe)
        .args(["demo", "--keep-running", "--plain"])
        .env("DATABASE_URL", &params.database_url)
        // The driver writes from one address far faster than a learner does.
        .env("ANTIDOTE_RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "0")
        .env("ANTIDOTE_RATE_LIMIT_GLOBAL_PER_SECOND", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| DemoMemoryError::Start(e.to_string()))?;
    let pid = child
        .id()
        .ok_or_else(|| DemoMemoryError::Start("the demo exited at once".into()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| DemoMemoryError::Start("no stdout".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                if let Some(rest) = line.trim().strip_prefix("API: ") {
                    break rest.split_whitespace().next().unwrap_or("").to_owned();
                }
            }
            Ok(None) | Err(_) => {
                return Err(DemoMemoryError::Start(
                    "the demo ended before its API was up (is PostgreSQL running?)".into(),
                ));
            }
        }
    };
    // Keep draining its output so that it never blocks on a full pipe.
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let outcome = measure(params, &base, pid).await;

    let _ = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(120), child.wait()).await;
    drain.abort();
    outcome
}

async fn measure(params: &Params, base: &str, pid: u32) -> Result<Report, DemoMemoryError> {
    let http = reqwest::Client::new();
    let rss_start = rss_mb(pid)?;
    let lessons: Value = get_json(&http, &format!("{base}/exp/lesson"), "listing lessons").await?;
    let slugs: Vec<String> = lessons["lessons"]
        .as_array()
        .into_iter()
        .flatten()
        // `Slug` as the original's gateway spells it; `slug` as lessons were listed before.
        .filter_map(|l| l["Slug"].as_str().or_else(|| l["slug"].as_str()))
        .map(str::to_owned)
        .collect();
    if slugs.is_empty() {
        return Err(DemoMemoryError::Unexpected(
            "the demo has no lessons".into(),
        ));
    }
    let session: Value = http
        .post(format!("{base}/exp/livesession"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|source| DemoMemoryError::Http {
            what: "creating a session",
            source,
        })?
        .json()
        .await
        .map_err(|source| DemoMemoryError::Http {
            what: "reading the session",
            source,
        })?;
    let session = session["ID"].as_str().unwrap_or_default().to_owned();

    let mut done = 0;
    while done < params.warmup {
        done += round(
            &http,
            base,
            &session,
            &slugs,
            params.warmup - done,
            params.timeout,
        )
        .await?;
    }
    let rss_warm = rss_mb(pid)?;
    let started = Instant::now();
    let mut measured = 0;
    while measured < params.cycles {
        measured += round(
            &http,
            base,
            &session,
            &slugs,
            params.cycles - measured,
            params.timeout,
        )
        .await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let rss_end = rss_mb(pid)?;
    let growth = rss_end - rss_warm;
    Ok(Report {
        cycles: measured,
        rss_start_mb: super::round2(rss_start),
        rss_warm_mb: super::round2(rss_warm),
        rss_end_mb: super::round2(rss_end),
        growth_mb: super::round2(growth),
        growth_per_cycle_kb: super::round2(growth * 1024.0 / measured.max(1) as f64),
        seconds: super::round2(seconds),
    })
}

/// One cycle of up to `at_most` lessons side by side; returns how many ran.
async fn round(
    http: &reqwest::Client,
    base: &str,
    session: &str,
    slugs: &[String],
    at_most: usize,
    timeout: Duration,
) -> Result<usize, DemoMemoryError> {
    let chosen = &slugs[..slugs.len().min(at_most)];
    let cycles = chosen
        .iter()
        .map(|slug| cycle(http, base, session, slug, timeout));
    for outcome in futures::future::join_all(cycles).await {
        outcome?;
    }
    Ok(chosen.len())
}

async fn cycle(
    http: &reqwest::Client,
    base: &str,
    session: &str,
    slug: &str,
    timeout: Duration,
) -> Result<(), DemoMemoryError> {
    let requested: Value = http
        .post(format!("{base}/exp/livelesson"))
        .json(&serde_json::json!({"sessionId": session, "lessonSlug": slug, "lessonStage": 0}))
        .send()
        .await
        .map_err(|source| DemoMemoryError::Http {
            what: "requesting a lesson",
            source,
        })?
        .json()
        .await
        .map_err(|source| DemoMemoryError::Http {
            what: "reading a lesson request's answer",
            source,
        })?;
    let Some(id) = requested["id"].as_str() else {
        return Err(DemoMemoryError::Unexpected(format!(
            "requesting {slug}: {requested}"
        )));
    };
    let url = format!("{base}/exp/livelesson/{id}");
    let deadline = Instant::now() + timeout;
    loop {
        let view: Value = get_json(http, &url, "polling a livelesson").await?;
        match view["Status"].as_str() {
            Some("READY") => break,
            Some("ERROR") => {
                return Err(DemoMemoryError::Unexpected(format!(
                    "{slug} failed: {}",
                    view["Failure"]
                )));
            }
            _ if Instant::now() > deadline => {
                return Err(DemoMemoryError::Unexpected(format!(
                    "{slug} not READY in time"
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    http.delete(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|source| DemoMemoryError::Http {
            what: "killing a livelesson",
            source,
        })?;
    let deadline = Instant::now() + timeout;
    loop {
        let status = http
            .get(&url)
            .send()
            .await
            .map_err(|source| DemoMemoryError::Http {
                what: "polling a deletion",
                source,
            })?
            .status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(DemoMemoryError::Unexpected(format!(
                "{slug} not deleted in time"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get_json(
    http: &reqwest::Client,
    url: &str,
    what: &'static str,
) -> Result<Value, DemoMemoryError> {
    http.get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|source| DemoMemoryError::Http { what, source })?
        .json()
        .await
        .map_err(|source| DemoMemoryError::Http { what, source })
}

/// Resident memory of `pid` now (`VmRSS`), MB.
fn rss_mb(pid: u32) -> Result<f64, DemoMemoryError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|_| DemoMemoryError::Proc(pid))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .ok_or(DemoMemoryError::Proc(pid))
}
