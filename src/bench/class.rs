//! `bench class`: a class of learners opening the same lesson within seconds, through the
//! real HTTP API, as antidote-ui does.
//!
//! Real processes: `antidoted api` and `antidoted worker` (children of this binary) over
//! the benchmark database, and kubesim in this process, whose pods take as long to start
//! as a network OS takes to boot (30 s by default). With pools, the worker keeps as many
//! spares of the lesson as arrive while one boots (at most one per learner), READY before
//! the first learner comes.
//!
//! Each learner is an HTTP client of its own loopback address (so the API's per-address
//! limits apply as they do in production) that creates a session, requests the lesson,
//! reads its livelesson every 500 ms until READY, changes to stage 1 (when the lesson
//! has one) and reads again until READY, keeps the lab for a while and kills it. A 429 is waited out as its
//! `Retry-After` says and retried; every other failure is counted by route and status.
//!
//! Figures: time from request to READY (p50, p99) and from the stage change to READY,
//! per-route API latency, errors and retried 429s, the API's and the worker's CPU seconds
//! per learner and peak resident memory.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;

use crate::backend::Settings;

use super::lessons::Usage;
use super::pool::{BenchError, find_lesson, free_port, reset, spares_for, start_cluster};
use super::{quantile, round2};

/// Size and shape of a run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Learners in the class.
    pub learners: usize,
    /// They all arrive within this, evenly.
    pub arrival: Duration,
    /// The lesson they open.
    pub lesson: String,
    /// kubesim's delay between a pod's scheduling and its containers' start.
    pub pod_start_latency: Duration,
    /// How long a learner keeps the lab once READY at stage 1.
    pub hold: Duration,
    /// Whether the worker keeps warm spares of the lesson.
    pub pools: bool,
    /// Between two reads of a learner's livelesson (antidote-ui: 500 ms).
    pub poll: Duration,
    /// The curriculum holding the lesson.
    pub curriculum: PathBuf,
    /// This binary (the API and the worker run as its subcommands).
    pub exe: PathBuf,
    /// The benchmark database, for the API and the worker.
    pub database_url: String,
}

/// One route's latency, ms.
#[derive(Debug, Clone, Serialize)]
pub struct RouteFigures {
    /// Answers received (429s included).
    pub requests: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// Figures of a run; the JSON keys are a stable interface.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Learners in the class.
    pub learners: usize,
    /// Seconds within which they arrived.
    pub arrival_s: f64,
    /// Spares kept of the lesson (0: no pools).
    pub spares: u32,
    /// Learners whose lab reached READY at stage 0.
    pub ready: usize,
    /// Request to READY, median, s.
    pub ready_p50_s: f64,
    /// 99th percentile, s.
    pub ready_p99_s: f64,
    /// Learners whose lab reached READY again after the stage change.
    pub stage_ready: usize,
    /// Stage change to READY, median, s.
    pub stage_ready_p50_s: f64,
    /// 99th percentile, s.
    pub stage_ready_p99_s: f64,
    /// Every API answer's latency (429s included), median, ms.
    pub api_p50_ms: f64,
    /// 99th percentile, ms.
    pub api_p99_ms: f64,
    /// Latency by route (`POST /exp/livesession`, `GET /exp/livelesson/{id}`, ...).
    pub routes: BTreeMap<String, RouteFigures>,
    /// 429 answers, each waited out and retried.
    pub retried_429: u64,
    /// Calls sent again after a first failure in transport (a keep-alive connection the
    /// API closed as the request went out).
    pub resent: u64,
    /// Failures other than 429, by route and status (or transport error).
    pub errors: BTreeMap<String, u64>,
    /// The API process's CPU per learner, from the first arrival to the last kill, s.
    pub api_cpu_s_per_learner: f64,
    /// The worker process's, s.
    pub worker_cpu_s_per_learner: f64,
    /// The API process's peak resident memory, MB.
    pub api_peak_rss_mb: f64,
    /// The worker process's, MB.
    pub worker_peak_rss_mb: f64,
    /// From the first arrival to the last kill, s.
    pub wall_s: f64,
}

/// What the learners saw, shared by their tasks.
#[derive(Debug, Default)]
struct Seen {
    latencies: BTreeMap<&'static str, Vec<f64>>,
    retried_429: u64,
    resent: u64,
    errors: BTreeMap<String, u64>,
}

/// One run.
///
/// # Errors
/// [`BenchError`]: the database, kubesim, or a process that did not start or answer.
pub async fn run(pool: &PgPool, params: &Params) -> Result<Report, BenchError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| BenchError::Kubesim(format!("{what}: {e}"));
    let curriculum = reset(pool, &params.curriculum).await?;
    // A lesson of one stage has no stage to change to.
    let change_stage = find_lesson(&curriculum, &params.lesson)?.stages.len() > 1;
    let settings = Settings {
        instance_id: "benchclass".into(),
        ..Settings::default()
    };
    let (sim, _) = start_cluster(params.pod_start_latency, &settings).await?;
    // Boot: the endpoints' pods start, then the configuration jobs' pods.
    let boot = params.pod_start_latency * 2 + Duration::from_secs(5);
    let rate = params.learners as f64 / params.arrival.as_secs_f64().max(0.001);
    let spares = if params.pools {
        spares_for(rate, 1, boot).min(u32::try_from(params.learners).unwrap_or(u32::MAX))
    } else {
        0
    };
    let dir = tempfile::tempdir().map_err(|e| fail("a working directory", &e))?;
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    std::fs::write(&kubeconfig, sim.kubeconfig_yaml()).map_err(|e| fail("the kubeconfig", &e))?;
    // Each process listens on a port of its own: the API's, the worker's probes and metrics.
    let start = |role: &str| -> Result<(Child, u16), BenchError> {
        let port = free_port()?;
        let config = dir.path().join(format!("{role}.yaml"));
        std::fs::write(
            &config,
            config_yaml(params, port, spares, &kubeconfig, boot),
        )
        .map_err(|e| fail("a configuration file", &e))?;
        Ok((Child::start(params, role, &config)?, port))
    };
    let (mut api, port) = start("api")?;
    let (mut worker, _) = start("worker")?;
    let base = format!("http://127.0.0.1:{port}");
    api.wait_ready(&base).await?;

    if spares > 0 {
        warm_up(pool, spares, boot, &mut worker).await?;
    }

    let before = (Usage::of(&api.pid()), Usage::of(&worker.pid()));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let started = Instant::now();
    let learners: Vec<_> = (0..params.learners)
        .map(|i| {
            let at = params.arrival.mul_f64(i as f64 / params.learners as f64);
            let learner = Learner {
                http: learner_client(i)?,
                base: base.clone(),
                seen: Arc::clone(&seen),
            };
            let params = params.clone();
            Ok(tokio::spawn(async move {
                tokio::time::sleep_until((started + at).into()).await;
                learner.run(&params, change_stage).await
            }))
        })
        .collect::<Result<_, BenchError>>()?;
    let mut ready = Vec::new();
    let mut stage_ready = Vec::new();
    for learner in learners {
        if let Ok(Some((first, stage))) = learner.await {
            ready.push(first.as_secs_f64());
            if let Some(stage) = stage {
                stage_ready.push(stage.as_secs_f64());
            }
        }
    }
    let wall = started.elapsed();
    let after = (Usage::of(&api.pid()), Usage::of(&worker.pid()));
    api.stop().await;
    worker.stop().await;
    sim.shutdown().await;

    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    let figures = |samples: &mut Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        (quantile(samples, 0.5), quantile(samples, 0.99))
    };
    let (ready_p50, ready_p99) = figures(&mut ready);
    let (stage_p50, stage_p99) = figures(&mut stage_ready);
    let mut all = Vec::new();
    let mut routes = BTreeMap::new();
    for (route, mut samples) in seen.latencies {
        all.extend_from_slice(&samples);
        let (p50, p99) = figures(&mut samples);
        routes.insert(
            route.to_owned(),
            RouteFigures {
                requests: samples.len(),
                p50_ms: round2(p50),
                p99_ms: round2(p99),
            },
        );
    }
    let (api_p50, api_p99) = figures(&mut all);
    let per_learner = |before: Option<Usage>, after: Option<Usage>| match (before, after) {
        (Some(a), Some(b)) => round2((b.cpu_s - a.cpu_s) / params.learners.max(1) as f64),
        _ => 0.0,
    };
    let peak_mb =
        |usage: Option<Usage>| usage.map_or(0.0, |u| round2(u.peak_rss_kb as f64 / 1024.0));
    Ok(Report {
        learners: params.learners,
        arrival_s: params.arrival.as_secs_f64(),
        spares,
        ready: ready.len(),
        ready_p50_s: round2(ready_p50),
        ready_p99_s: round2(ready_p99),
        stage_ready: stage_ready.len(),
        stage_ready_p50_s: round2(stage_p50),
        stage_ready_p99_s: round2(stage_p99),
        api_p50_ms: round2(api_p50),
        api_p99_ms: round2(api_p99),
        routes,
        retried_429: seen.retried_429,
        resent: seen.resent,
        errors: seen.errors,
        api_cpu_s_per_learner: per_learner(before.0, after.0),
        worker_cpu_s_per_learner: per_learner(before.1, after.1),
        api_peak_rss_mb: peak_mb(after.0),
        worker_peak_rss_mb: peak_mb(after.1),
        wall_s: round2(wall.as_secs_f64()),
    })
}

/// The API's and the worker's configuration: no per-address write limit beyond the
/// defaults, connections for the whole class, pools of `spares`.
fn config_yaml(
    params: &Params,
    port: u16,
    spares: u32,
    kubeconfig: &std::path::Path,
    boot: Duration,
) -> String {
    let pools = if spares > 0 {
        format!(
            "pools:\n  lessons: {{ {}: {spares} }}\n  maxSpares: {spares}\n  refillIntervalSecs: 1\n",
            params.lesson
        )
    } else {
        String::new()
    };
    format!(
        "httpAddress: 127.0.0.1\nhttpPort: {port}\ndatabaseUrl: {}\n\
         gateway: {{ enabled: false }}\nliveSessionLimit: 0\nliveLessonLimit: 0\n\
         http:\n  maxConnections: {}\n\
         backend:\n  instanceId: benchclass\n  podReadyTimeout: {}\n\
         kubernetes:\n  kubeconfig: {}\n\
         worker:\n  concurrency: 200\n{pools}",
        params.database_url,
        params.learners + 256,
        boot.as_secs() + 120,
        kubeconfig.display(),
    )
}

/// Waits until `spares` spares of the lesson are READY.
async fn warm_up(
    pool: &PgPool,
    spares: u32,
    boot: Duration,
    worker: &mut Child,
) -> Result<(), BenchError> {
    let within = boot * 4 + Duration::from_secs(120);
    let started = Instant::now();
    println!("warming up: {spares} spares");
    loop {
        let ready: i64 =
            sqlx::query_scalar("select count(*) from livelessons where spare and status = 'READY'")
                .fetch_one(pool)
                .await?;
        if ready >= i64::from(spares) {
            println!("warm: {:.1} s", started.elapsed().as_secs_f64());
            return Ok(());
        }
        if started.elapsed() > within {
            return Err(BenchError::WarmUp(within));
        }
        worker.check("worker")?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Learner `i`'s HTTP client, from loopback address 127.100.0.0 + i + 1.
fn learner_client(i: usize) -> Result<reqwest::Client, BenchError> {
    let n = u32::try_from(i + 1).unwrap_or(u32::MAX) & 0x00ff_ffff;
    let address = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 100, 0, 0)) + n);
    reqwest::Client::builder()
        .local_address(IpAddr::V4(address))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| BenchError::Kubesim(format!("a learner's HTTP client: {e}")))
}

/// One learner's browser.
struct Learner {
    http: reqwest::Client,
    base: String,
    seen: Arc<Mutex<Seen>>,
}

impl Learner {
    /// The learner's visit: times to READY at stage 0 and after the stage change, or
    /// `None` when the lab never got READY.
    async fn run(
        &self,
        params: &Params,
        change_stage: bool,
    ) -> Option<(Duration, Option<Duration>)> {
        let session = self
            .call(
                "POST /exp/livesession",
                reqwest::Method::POST,
                "/exp/livesession",
                None,
            )
            .await?;
        let session = session["id"]
            .as_str()
            .or(session["ID"].as_str())?
            .to_owned();
        let asked = Instant::now();
        let id = self.request(&session, &params.lesson, 0).await?;
        self.until_ready(&id, params.poll).await?;
        let first = asked.elapsed();
        let changed = Instant::now();
        let stage = if change_stage && self.request(&session, &params.lesson, 1).await.is_some() {
            self.until_ready(&id, params.poll)
                .await
                .map(|()| changed.elapsed())
        } else {
            None
        };
        tokio::time::sleep(params.hold).await;
        let path = format!("/exp/livelesson/{id}");
        let _ = self
            .call(
                "DELETE /exp/livelesson/{id}",
                reqwest::Method::DELETE,
                &path,
                None,
            )
            .await;
        Some((first, stage))
    }

    /// `POST /exp/livelesson` for `stage`: the livelesson's id.
    async fn request(&self, session: &str, lesson: &str, stage: u32) -> Option<String> {
        let body = serde_json::json!({
            "lessonSlug": lesson, "sessionId": session, "lessonStage": stage,
        });
        let answer = self
            .call(
                "POST /exp/livelesson",
                reqwest::Method::POST,
                "/exp/livelesson",
                Some(body),
            )
            .await?;
        answer["id"]
            .as_str()
            .or(answer["ID"].as_str())
            .map(str::to_owned)
    }

    /// Reads the livelesson every `poll` until it is READY; `None` on a failure.
    async fn until_ready(&self, id: &str, poll: Duration) -> Option<()> {
        let path = format!("/exp/livelesson/{id}");
        loop {
            let ll = self
                .call(
                    "GET /exp/livelesson/{id}",
                    reqwest::Method::GET,
                    &path,
                    None,
                )
                .await?;
            if ll["Status"] == "READY" {
                return Some(());
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// One API call, its 429s waited out and retried, and sent once more on a fresh
    /// connection when the first failed in transport (as a browser does when the server
    /// closed an idle keep-alive connection as the request went out); the answer's JSON,
    /// or `None` (and the failure counted).
    async fn call(
        &self,
        route: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Option<serde_json::Value> {
        let mut resent = false;
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base));
            if let Some(body) = &body {
                request = request.json(body);
            }
            let sent = Instant::now();
            let answer = request.send().await;
            let ms = sent.elapsed().as_secs_f64() * 1000.0;
            let outcome = match &answer {
                Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    Outcome::Retry(retry_after(response))
                }
                Ok(response) if response.status().is_success() => Outcome::Answered,
                Ok(response) => Outcome::Failed(response.status().as_u16().to_string()),
                Err(err) if err.is_timeout() => Outcome::Failed("timeout".into()),
                Err(_) if !resent => Outcome::Resend,
                Err(_) => Outcome::Failed("transport".into()),
            };
            {
                let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
                seen.latencies.entry(route).or_default().push(ms);
                match &outcome {
                    Outcome::Retry(_) => seen.retried_429 += 1,
                    Outcome::Resend => seen.resent += 1,
                    Outcome::Failed(why) => {
                        *seen.errors.entry(format!("{route} {why}")).or_default() += 1;
                    }
                    Outcome::Answered => {}
                }
            }
            match (outcome, answer) {
                (Outcome::Retry(wait), _) => tokio::time::sleep(wait).await,
                (Outcome::Resend, _) => resent = true,
                (Outcome::Answered, Ok(response)) => {
                    return Some(response.json().await.unwrap_or(serde_json::Value::Null));
                }
                _ => return None,
            }
        }
    }
}

/// What became of one call.
enum Outcome {
    /// 2xx.
    Answered,
    /// 429: retry after this.
    Retry(Duration),
    /// A first failure in transport: send again.
    Resend,
    /// Anything else: the status, or why there was none.
    Failed(String),
}

/// A 429's `Retry-After` (seconds; 1 s when absent), within 50 ms and 30 s.
fn retry_after(response: &reqwest::Response) -> Duration {
    let secs = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(secs.clamp(0.05, 30.0))
}

/// An `antidoted` child process (`api` or `worker`) over the benchmark's configuration.
struct Child {
    child: tokio::process::Child,
}

impl Child {
    fn start(params: &Params, role: &str, config: &std::path::Path) -> Result<Self, BenchError> {
        let child = tokio::process::Command::new(&params.exe)
            .arg(role)
            .arg("--config")
            .arg(config)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::Kubesim(format!("starting antidoted {role}: {e}")))?;
        Ok(Self { child })
    }

    fn pid(&self) -> String {
        self.child.id().unwrap_or(0).to_string()
    }

    /// An error when the process has exited.
    fn check(&mut self, role: &str) -> Result<(), BenchError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(BenchError::Kubesim(format!(
                "antidoted {role} exited: {status}"
            ))),
            Err(e) => Err(BenchError::Kubesim(format!("antidoted {role}: {e}"))),
        }
    }

    /// Waits until the API at `base` answers `/readyz`.
    async fn wait_ready(&mut self, base: &str) -> Result<(), BenchError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| BenchError::Kubesim(format!("an HTTP client: {e}")))?;
        let started = Instant::now();
        loop {
            let answer = http.get(format!("{base}/readyz")).send().await;
            if matches!(answer, Ok(r) if r.status().is_success()) {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(BenchError::Kubesim(
                    "antidoted api: not ready within 30 s".into(),
                ));
            }
            self.check("api")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
