//! `bench lessons`: N livelessons of a two-endpoint lesson (one configuration job each),
//! requested through the store as the API does and provisioned by one worker against an
//! embedded kubesim with zero latency. Reports time to READY, Kubernetes requests and
//! objects per livelesson, database transactions per livelesson and peak RSS.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;

use crate::backend::Settings;
use crate::backend::kubernetes::KubernetesBackend;
use crate::curriculum::{self, Options};
use crate::queue::{Client, Registry, Worker, WorkerConfig};
use crate::store;
use crate::workflow::{self, request};

use super::{quantile, round2};

/// Kubernetes objects one livelesson of the bench lesson creates: namespace, network
/// policy, TLS secret copy, configuration credentials, lesson files, 2 pods, 2 services,
/// 2 configuration jobs.
pub const OBJECTS_PER_LIVELESSON: u64 = 11;

/// Figures of a run; the JSON keys are a stable interface.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Livelessons provisioned.
    pub livelessons: usize,
    /// From the first request to the last READY.
    pub total_s: f64,
    /// Time to READY (creation to READY), median.
    pub ready_p50_s: f64,
    /// 99th percentile.
    pub ready_p99_s: f64,
    /// Kubernetes API requests per livelesson (all verbs, shared watches included).
    pub k8s_requests_per_livelesson: f64,
    /// Kubernetes API requests per livelesson by verb.
    pub k8s_requests_by_verb: std::collections::BTreeMap<String, f64>,
    /// Objects each livelesson creates.
    pub objects_per_livelesson: u64,
    /// Database transactions per livelesson (every statement outside an explicit
    /// transaction is one; from `pg_stat_database`).
    pub db_statements_per_livelesson: f64,
    /// Peak resident memory of this process (worker and kubesim together), MB.
    pub peak_rss_mb: f64,
}

const LESSON: &str = r#"name: Bench pair
slug: bench-pair
category: fundamentals
tier: prod
description: Two hosts, each configured by a script.
shortDescription: Two configured hosts
endpoints:
  - name: host-a
    image: utility
    configurationType: python
    presentations: [{name: cli, port: 22, type: ssh}]
  - name: host-b
    image: utility
    configurationType: python
    presentations: [{name: cli, port: 22, type: ssh}]
stages:
  - description: Only stage
    guideType: markdown
"#;

/// Writes the bench curriculum into `dir`.
fn write_curriculum(dir: &Path) -> std::io::Result<()> {
    let lesson = dir.join("lessons/bench-pair");
    std::fs::create_dir_all(lesson.join("stage0/configs"))?;
    std::fs::create_dir_all(dir.join("images/utility"))?;
    std::fs::write(
        dir.join("curriculum.meta.yaml"),
        "name: bench\ndescription: bench\nwebsite: https://example.org\naVer: 0.7.0\ngitRoot: https://example.org/bench\n",
    )?;
    std::fs::write(
        dir.join("images/utility/image.meta.yaml"),
        "slug: utility\ndescription: host\nflavor: untrusted\nsshUser: u\nsshPassword: p\nconfigUser: u\nconfigPassword: p\n",
    )?;
    std::fs::write(lesson.join("lesson.meta.yaml"), LESSON)?;
    std::fs::write(lesson.join("stage0/guide.md"), "# Bench\n")?;
    std::fs::write(lesson.join("stage0/configs/host-a.py"), "print('a')\n")?;
    std::fs::write(lesson.join("stage0/configs/host-b.py"), "print('b')\n")?;
    Ok(())
}

/// Runs the benchmark on `pool` (the database at `database_url`, which it empties first)
/// with `concurrency` job tasks.
///
/// # Errors
/// Any failure, as text.
pub async fn run(
    pool: &PgPool,
    database_url: &str,
    livelessons: usize,
    concurrency: usize,
) -> Result<Report, String> {
    let err = |what: &str| {
        let what = what.to_owned();
        move |e: &dyn std::fmt::Display| format!("{what}: {e}")
    };
    sqlx::query(
        "truncate livelessons, live_endpoints, livesessions, jobs, finished_jobs, job_events, job_steps cascade",
    )
    .execute(pool)
    .await
    .map_err(|e| err("emptying the database")(&e))?;
    let dir = tempfile::tempdir().map_err(|e| err("temp dir")(&e))?;
    write_curriculum(dir.path()).map_err(|e| err("writing the curriculum")(&e))?;
    let loaded = curriculum::load(dir.path(), &Options::default());
    let curriculum = loaded
        .valid()
        .ok_or_else(|| format!("bench curriculum invalid: {:?}", loaded.report.problems))?;
    store::curriculum::import(pool, curriculum)
        .await
        .map_err(|e| err("import")(&e))?;

    let sim = kubesim::KubeSim::start(kubesim::Config::default())
        .await
        .map_err(|e| err("kubesim")(&e))?;
    let kube = sim.client().map_err(|e| err("kube client")(&e))?;
    let settings = Settings {
        instance_id: "bench".into(),
        ..Settings::default()
    };
    seed(&kube, &settings).await?;

    let client = Client::new(pool.clone());
    let mut registry = Registry::new();
    workflow::register(
        &mut registry,
        Arc::new(KubernetesBackend::new(kube, settings.clone())),
        Arc::new(settings.clone()),
    );
    let worker_pool = crate::db::connect_worker(database_url, 32)
        .await
        .map_err(|e| err("worker pool")(&e))?;
    let worker = Worker::with_notifier(
        worker_pool,
        registry,
        WorkerConfig {
            concurrency,
            claim_batch: 50,
            ..WorkerConfig::default()
        },
        client.notifier().clone(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));

    let xacts_before = transactions(pool).await?;
    let requests_before = sim.requests();
    let started = Instant::now();
    for _ in 0..livelessons {
        let session = request::create_session(pool, None, request::Limits::default())
            .await
            .map_err(|e| err("session")(&e))?;
        request::request_livelesson(
            pool,
            &client,
            &settings,
            request::Limits::default(),
            &session.id,
            "bench-pair",
            0,
        )
        .await
        .map_err(|e| err("request")(&e))?;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (ready, failed): (i64, i64) = sqlx::query_as(
            "select count(*) filter (where status = 'READY'), count(*) filter (where status = 'ERROR') from livelessons",
        )
        .fetch_one(pool)
        .await
        .map_err(|e| err("progress")(&e))?;
        if failed > 0 {
            return Err(format!("{failed} livelessons failed"));
        }
        if ready as usize >= livelessons {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {ready} of {livelessons} READY after 600 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total_s = started.elapsed().as_secs_f64();
    let requests = sim.requests();
    let xacts = transactions(pool).await? - xacts_before;
    let _ = stop.send(());
    let _ = handle.await;

    let mut ready: Vec<f64> = sqlx::query_scalar(
        "select extract(epoch from ready_at - created_at)::float8 from livelessons",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| err("times")(&e))?;
    ready.sort_by(f64::total_cmp);
    let n = livelessons.max(1) as f64;
    let mut by_verb = std::collections::BTreeMap::new();
    for ((verb, resource), count) in &requests.counts {
        let before = requests_before.count(verb, resource);
        *by_verb.entry(verb.clone()).or_insert(0.0) += (count - before) as f64 / n;
    }
    let k8s_total: f64 = by_verb.values().sum();
    sim.shutdown().await;
    Ok(Report {
        livelessons,
        total_s: round2(total_s),
        ready_p50_s: round2(quantile(&ready, 0.5)),
        ready_p99_s: round2(quantile(&ready, 0.99)),
        k8s_requests_per_livelesson: round2(k8s_total),
        k8s_requests_by_verb: by_verb.into_iter().map(|(k, v)| (k, round2(v))).collect(),
        objects_per_livelesson: OBJECTS_PER_LIVELESSON,
        db_statements_per_livelesson: round2(xacts as f64 / n),
        peak_rss_mb: round2(peak_rss_kb() as f64 / 1024.0),
    })
}

async fn seed(kube: &kube::Client, settings: &Settings) -> Result<(), String> {
    use k8s_openapi::api::core::v1::{Namespace, Secret};
    use kube::Api;
    use kube::api::PostParams;
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": { "name": settings.secrets_namespace }
    }))
    .map_err(|e| e.to_string())?;
    Api::<Namespace>::all(kube.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .map_err(|e| e.to_string())?;
    let tls: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": settings.tls_cert_name },
        "stringData": { "tls.crt": "bench", "tls.key": "bench" }
    }))
    .map_err(|e| e.to_string())?;
    Api::<Secret>::namespaced(kube.clone(), &settings.secrets_namespace)
        .create(&PostParams::default(), &tls)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

async fn transactions(pool: &PgPool) -> Result<i64, String> {
    sqlx::query_scalar(
        "select (xact_commit + xact_rollback)::int8 from pg_stat_database where datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .map_err(|e| format!("pg_stat_database: {e}"))
}

/// Peak resident set size of this process in kB (`VmHWM`), 0 when unknown.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
