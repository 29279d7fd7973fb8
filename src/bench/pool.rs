//! `bench pool`: learners arriving at a steady rate for the example curriculum's lessons,
//! with and without warm pools, on an embedded kubesim whose pods take as long to start
//! as a network OS takes to boot (30 s by default).
//!
//! Each learner (a task, as an API handler would be) creates a session, requests a lesson
//! through [`request::request_livelesson`], reads its livelesson every 100 ms until READY
//! (a front end polls every second; finer here so that the figure is the scheduler's),
//! keeps the lab for a while and kills it. One in-process worker runs the workflows and
//! the refill pass (periodic, and after every take). With pools, each lesson keeps as many
//! spares as arrive for it while one boots (Little's law, with headroom), READY before the
//! first learner arrives.
//!
//! Figures: time from request to READY (p50, p99) for hits and misses, hit rate, spares
//! created, peak live livelessons (sampled every second).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;

use crate::backend::Settings;
use crate::backend::kubernetes::KubernetesBackend;
use crate::curriculum::{self, Options};
use crate::queue::{Client, Worker, WorkerConfig};
use crate::startup::JobSettings;
use crate::store;
use crate::store::pool::{GlobalSettings, LessonSettings};
use crate::workflow::request::{self, Requested};

use super::{quantile, round2};

/// Size and shape of a run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Learner requests.
    pub requests: usize,
    /// Arrivals per second.
    pub rate: f64,
    /// Delay between a pod being scheduled and its containers starting.
    pub pod_start_latency: Duration,
    /// How long a learner keeps the lab once READY.
    pub hold: Duration,
    /// Spares per lesson; `None` sizes the pools to the arrival rate; `Some(0)`: no pools.
    pub spares_per_lesson: Option<u32>,
    /// Job tasks of the worker.
    pub concurrency: usize,
    /// The curriculum whose lessons learners ask for.
    pub curriculum: std::path::PathBuf,
}

/// Figures of a run; the JSON keys are a stable interface.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Learner requests.
    pub requests: usize,
    /// Arrivals per second.
    pub rate_per_s: f64,
    /// kubesim's pod start latency.
    pub pod_start_latency_s: f64,
    /// Spares kept per lesson.
    pub spares_per_lesson: u32,
    /// Share of requests that took a spare.
    pub hit_rate: f64,
    /// Time from request to READY of hits, median.
    pub ready_hit_p50_s: f64,
    /// 99th percentile.
    pub ready_hit_p99_s: f64,
    /// Time from request to READY of misses, median.
    pub ready_miss_p50_s: f64,
    /// 99th percentile.
    pub ready_miss_p99_s: f64,
    /// Spares created (the warm-up's included).
    pub spares_created: i64,
    /// Most live (admitted) livelessons at once, spares included.
    pub peak_live: i64,
    /// Requests that did not reach READY.
    pub failed: usize,
    /// The run, from the first arrival to the last READY.
    pub total_s: f64,
}

/// Failures of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A database statement failed.
    #[error("database")]
    Database(#[from] sqlx::Error),
    /// The store failed.
    #[error("store")]
    Store(#[from] store::StoreError),
    /// A request was refused.
    #[error("request")]
    Request(#[from] request::RequestError),
    /// kubesim or its client failed.
    #[error("kubesim: {0}")]
    Kubesim(String),
    /// The curriculum did not load.
    #[error("curriculum: {0}")]
    Curriculum(String),
    /// The pools did not fill in time.
    #[error("the pools did not fill within {0:?}")]
    WarmUp(Duration),
    /// The worker failed.
    #[error("worker")]
    Worker(#[from] crate::queue::QueueError),
    /// The labs did not all become READY (one failed, or time ran out).
    #[error("provisioning")]
    Provisioning(#[from] super::lessons::LessonsError),
    /// The worker could not be put together.
    #[error("worker set-up")]
    Startup(#[from] crate::startup::StartupError),
}

/// Lessons of the bench: every lesson of the curriculum, requested in turn.
fn lessons(curriculum: &curriculum::Curriculum) -> Vec<String> {
    curriculum.lessons.iter().map(|l| l.slug.clone()).collect()
}

/// Empties the state and job tables and imports the curriculum in `dir`; returns it.
pub(super) async fn reset(pool: &PgPool, dir: &Path) -> Result<curriculum::Curriculum, BenchError> {
    sqlx::query("truncate live_endpoints, livelessons, livesessions, pool_lessons")
        .execute(pool)
        .await?;
    crate::queue::bench::tables::truncate_all(pool)
        .await
        .map_err(super::engine_error)?;
    let loaded = curriculum::load(dir, &Options::default());
    let curriculum = loaded
        .valid()
        .ok_or_else(|| BenchError::Curriculum(format!("{} is not valid", dir.display())))?;
    store::curriculum::import(pool, curriculum).await?;
    Ok(curriculum.clone())
}

/// Spares per lesson for `rate` arrivals per second over `lessons` lessons, when a spare
/// takes about `boot` to become READY: the arrivals during one boot and half again (arrivals
/// are not evenly spread over lessons, and a taken spare's replacement must boot before
/// it can be taken in turn).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a float-to-integer `as` saturates, and the value is rounded and not negative"
)]
pub fn spares_for(rate: f64, lessons: usize, boot: Duration) -> u32 {
    let per_lesson = rate / lessons.max(1) as f64;
    (per_lesson * boot.as_secs_f64() * 1.5).ceil().max(1.0) as u32
}

struct Outcome {
    hit: bool,
    ready_s: Option<f64>,
}

/// One run: the learners use `pool` (as API processes would), the worker `worker_pool`, as
/// `antidoted serve` keeps them apart: a learner's request must not wait behind a thousand
/// job tasks for a connection.
///
/// # Errors
/// [`BenchError`].
pub async fn run(
    pool: &PgPool,
    worker_pool: &PgPool,
    params: &Params,
) -> Result<Report, BenchError> {
    let lessons = lessons(&reset(pool, &params.curriculum).await?);
    let settings = Settings {
        instance_id: "benchpool".into(),
        pod_ready_timeout: params.pod_start_latency + Duration::from_secs(120),
        ..Settings::default()
    };
    let (sim, kube) = start_cluster(params.pod_start_latency, &settings).await?;
    // Boot: the endpoints' pods start, then the configuration jobs' pods (each pod start
    // takes the latency), then reachability and the rest (a few seconds in kubesim).
    let boot = params.pod_start_latency * 2 + Duration::from_secs(5);
    let spares = params
        .spares_per_lesson
        .unwrap_or_else(|| spares_for(params.rate, lessons.len(), boot));
    let global = GlobalSettings {
        max_spares: i32::MAX,
        max_age_secs: 24.0 * 3600.0,
        failure_backoff_secs: 30.0,
        max_backoff_secs: 3600.0,
        max_live: 0,
    };
    let targets: Vec<LessonSettings> = lessons
        .iter()
        .map(|slug| LessonSettings {
            lesson_slug: slug.clone(),
            spares: i32::try_from(spares).unwrap_or(i32::MAX),
            max_live: 0,
        })
        .collect();
    let mut tx = pool.begin().await?;
    store::pool::apply_settings(&mut tx, &global, &targets).await?;
    tx.commit().await?;

    let client = Client::new(pool.clone());
    let backend = Arc::new(KubernetesBackend::new(kube.clone(), settings.clone()));
    let registry = JobSettings::new(settings.clone()).registry(backend)?;
    // The refill pass only, every second: the benchmark measures takes and refills.
    let worker = Worker::with_notifier(
        worker_pool.clone(),
        registry,
        WorkerConfig {
            concurrency: params.concurrency,
            schedules: crate::pool::schedules(Duration::from_secs(1)),
            ..WorkerConfig::default()
        },
        client.notifier().clone(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker_task = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));

    if spares > 0 {
        let expected = i64::from(spares) * i64::try_from(lessons.len()).unwrap_or(i64::MAX);
        let within = boot * 4 + Duration::from_secs(60);
        let started = Instant::now();
        println!("warming up: {expected} spares ({spares} per lesson)");
        loop {
            let ready: i64 = sqlx::query_scalar(
                "select count(*) from livelessons where spare and status = 'READY'",
            )
            .fetch_one(pool)
            .await?;
            if ready >= expected {
                break;
            }
            if started.elapsed() > within {
                return Err(BenchError::WarmUp(within));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        println!("warm: {:.1} s", started.elapsed().as_secs_f64());
    }

    let peak = Arc::new(AtomicI64::new(0));
    let sampler = {
        let pool = pool.clone();
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(live) =
                    sqlx::query_scalar::<_, i64>("select count(*) from livelessons where admitted")
                        .fetch_one(&pool)
                        .await
                {
                    peak.fetch_max(live, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    let started = Instant::now();
    let mut learners = Vec::with_capacity(params.requests);
    let interval = Duration::from_secs_f64(1.0 / params.rate.max(0.001));
    for n in 0..params.requests {
        tokio::time::sleep_until(
            (started + interval * u32::try_from(n).unwrap_or(u32::MAX)).into(),
        )
        .await;
        let lesson = lessons[n % lessons.len()].clone();
        let pool = pool.clone();
        let client = client.clone();
        let settings = settings.clone();
        let hold = params.hold;
        let within = boot * 6 + Duration::from_secs(120);
        learners.push(tokio::spawn(async move {
            learner(&pool, &client, &settings, &lesson, hold, within).await
        }));
        if n % 100 == 99 {
            println!(
                "{} requests sent ({:.0} s)",
                n + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let mut outcomes = Vec::with_capacity(learners.len());
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for learner in learners {
        let error = match learner.await {
            Ok(Ok(outcome)) => {
                outcomes.push(outcome);
                continue;
            }
            Ok(Err(err)) => crate::queue::error::chain(&err),
            Err(err) => err.to_string(),
        };
        *errors.entry(error).or_default() += 1;
        outcomes.push(Outcome {
            hit: false,
            ready_s: None,
        });
    }
    for (error, count) in &errors {
        println!("{count} learners failed: {error}");
    }
    let total_s = started.elapsed().as_secs_f64();
    sampler.abort();
    let spares_created: i64 =
        sqlx::query_scalar("select coalesce(sum(created), 0)::int8 from pool_lessons")
            .fetch_one(pool)
            .await?;
    let _ = stop.send(());
    let _ = worker_task.await;
    drop(sim);

    let mut hits: Vec<f64> = outcomes
        .iter()
        .filter(|o| o.hit)
        .filter_map(|o| o.ready_s)
        .collect();
    let mut misses: Vec<f64> = outcomes
        .iter()
        .filter(|o| !o.hit)
        .filter_map(|o| o.ready_s)
        .collect();
    hits.sort_by(f64::total_cmp);
    misses.sort_by(f64::total_cmp);
    let hit_count = outcomes.iter().filter(|o| o.hit).count();
    Ok(Report {
        requests: params.requests,
        rate_per_s: params.rate,
        pod_start_latency_s: params.pod_start_latency.as_secs_f64(),
        spares_per_lesson: spares,
        hit_rate: round2(hit_count as f64 / outcomes.len().max(1) as f64),
        ready_hit_p50_s: round2(quantile(&hits, 0.5)),
        ready_hit_p99_s: round2(quantile(&hits, 0.99)),
        ready_miss_p50_s: round2(quantile(&misses, 0.5)),
        ready_miss_p99_s: round2(quantile(&misses, 0.99)),
        spares_created,
        peak_live: peak.load(Ordering::Relaxed),
        failed: outcomes.iter().filter(|o| o.ready_s.is_none()).count(),
        total_s: round2(total_s),
    })
}

/// One learner: session, request, READY, hold, kill.
async fn learner(
    pool: &PgPool,
    client: &Client,
    settings: &Settings,
    lesson: &str,
    hold: Duration,
    within: Duration,
) -> Result<Outcome, BenchError> {
    let session = request::create_session(pool, None, request::Limits::default()).await?;
    let asked = Instant::now();
    let requested = request::request_livelesson(
        pool,
        client,
        settings,
        request::Limits::default(),
        &session.id,
        lesson,
        0,
    )
    .await?;
    let hit = matches!(requested, Requested::FromPool(_));
    let id = requested.livelesson().id.clone();
    let mut ready_s = None;
    while asked.elapsed() < within {
        let mut conn = pool.acquire().await?;
        let status = store::livelesson::get(&mut conn, &id)
            .await?
            .map(|ll| ll.status);
        drop(conn);
        match status {
            Some(store::livelesson::Status::Ready) => {
                ready_s = Some(asked.elapsed().as_secs_f64());
                break;
            }
            Some(store::livelesson::Status::Error) | None => break,
            Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    if ready_s.is_some() {
        tokio::time::sleep(hold).await;
    }
    request::kill(pool, client, &id).await?;
    Ok(Outcome { hit, ready_s })
}

/// Lesson `slug` of `curriculum`, or [`BenchError::Curriculum`] naming it.
pub(super) fn find_lesson<'a>(
    curriculum: &'a curriculum::Curriculum,
    slug: &str,
) -> Result<&'a curriculum::Lesson, BenchError> {
    curriculum
        .lessons
        .iter()
        .find(|l| l.slug == slug)
        .ok_or_else(|| BenchError::Curriculum(format!("no lesson {slug}")))
}

/// A loopback port free now, for a child process of the benchmark to listen on.
pub(super) fn free_port() -> Result<u16, BenchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BenchError::Kubesim(format!("finding a free port: {e}")))
}

/// kubesim in this process, its pods starting `pod_start_delay` after they are scheduled,
/// and a client of it, the cluster seeded for `settings` ([`seed_cluster`]).
pub(super) async fn start_cluster(
    pod_start_delay: Duration,
    settings: &Settings,
) -> Result<(kubesim::KubeSim, kube::Client), BenchError> {
    let sim = kubesim::KubeSim::start(kubesim::Config {
        pod_start_delay,
        event_history: 20_000,
        ..kubesim::Config::default()
    })
    .await
    .map_err(|e| BenchError::Kubesim(format!("kubesim: {e}")))?;
    let kube = sim
        .client()
        .map_err(|e| BenchError::Kubesim(format!("kubesim client: {e}")))?;
    seed_cluster(&kube, settings).await?;
    Ok((sim, kube))
}

/// The secrets namespace and TLS secret every livelesson copies.
pub(super) async fn seed_cluster(
    client: &kube::Client,
    settings: &Settings,
) -> Result<(), BenchError> {
    use k8s_openapi::api::core::v1::{Namespace, Secret};
    use kube::Api;
    use kube::api::PostParams;
    let fail = |e: kube::Error| BenchError::Kubesim(e.to_string());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": { "name": settings.secrets_namespace }
    }))
    .map_err(|e| BenchError::Kubesim(e.to_string()))?;
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .map_err(fail)?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.secrets_namespace);
    let tls: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": settings.tls_cert_name },
        "type": "kubernetes.io/tls",
        "stringData": { "tls.crt": "certificate", "tls.key": "key" }
    }))
    .map_err(|e| BenchError::Kubesim(e.to_string()))?;
    secrets
        .create(&PostParams::default(), &tls)
        .await
        .map_err(fail)?;
    Ok(())
}
