//! Observability: one livelesson request is one trace, from the HTTP request through every
//! attempt of its job (a crash-resume included) to every CREATE step; no password reaches
//! a span or a log line; `/metrics` shows every series after a scenario.
//!
//! One test in this binary: the subscriber, the span exporter and the metrics are
//! process-wide.

#[allow(dead_code)]
#[path = "../lifecycle/helpers.rs"]
mod helpers;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::config::{Config, LogFormat};
use antidote_scheduler::queue::{JobId, StepHook};
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::telemetry;
use antidote_scheduler::workflow::CREATE;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use kubesim::InjectedError;
use opentelemetry::Value as OtelValue;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Notify;
use tower::ServiceExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use helpers::{Lab, start, worker_config};

/// The example curriculum's passwords (SSH and configuration).
const PASSWORDS: [&str; 2] = ["antidotepassword", "rootpassword"];

/// Every CREATE step of `router-configuration`.
const CREATE_STEPS: &[&str] = &[
    "images",
    "namespace",
    "network-policy",
    "secrets",
    "lesson-files",
    "networks",
    "endpoint:linux1",
    "endpoint:vqfx-1",
    "endpoint:vqfx-2",
    "status:BOOTING",
    "pods-ready",
    "hosts",
    "reachability",
    "status:CONFIGURATION",
    "config-cleanup:0",
    "config-start:0",
    "config-wait:0",
    "ready-delay",
    "status:READY",
];

/// Log lines, captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

struct Telemetry {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    logs: Captured,
}

/// The process's subscriber: the production layers, spans to memory, logs to a buffer.
fn telemetry() -> &'static Telemetry {
    static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let logs = Captured::default();
        // Debug for our crate: whatever is logged, at any level we might turn on, is checked.
        let filter = EnvFilter::new("info,antidote_scheduler=debug,sqlx=warn,kubesim=warn");
        tracing::subscriber::set_global_default(telemetry::subscriber(
            LogFormat::Json,
            filter,
            logs.clone(),
            &provider,
        ))
        .expect("the only subscriber");
        Telemetry {
            exporter,
            provider,
            logs,
        }
    })
}

async fn call(router: &Router, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let mut builder = Request::builder().method(method).uri(path);
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    let mut request = builder
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("address");
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn request_livelesson(router: &Router, lesson: &str) -> String {
    let (status, body) = call(router, "POST", "/exp/livesession", Some(json!({}))).await;
    assert!(status < 300, "session: {status} {body}");
    let session: Value = serde_json::from_str(&body).expect("json");
    let session = session["ID"].as_str().expect("session id").to_owned();
    let (status, body) = call(
        router,
        "POST",
        "/exp/livelesson",
        Some(json!({ "lessonSlug": lesson, "sessionId": session, "lessonStage": 0 })),
    )
    .await;
    assert!(status < 300, "livelesson: {status} {body}");
    let ll: Value = serde_json::from_str(&body).expect("json");
    ll["id"].as_str().expect("livelesson id").to_owned()
}

async fn wait_ready(lab: &Lab, id: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let ll = lab.livelesson(id).await.expect("livelesson");
        if ll.status == Status::Ready {
            return;
        }
        assert!(
            ll.status != Status::Error,
            "{id} failed: {:?} {}",
            ll.error,
            helpers::trail(&lab.pool, lab.job(CREATE, id).await).await
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} not READY in time: {}",
            helpers::trail(&lab.pool, lab.job(CREATE, id).await).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match &kv.value {
            OtelValue::String(s) => s.as_str().to_owned(),
            other => other.to_string(),
        })
}

/// The value of the first series named `name` carrying every label of `labels`.
fn series(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

#[sqlx::test]
async fn a_livelesson_request_is_one_trace_without_secrets_and_shows_in_metrics(pool: PgPool) {
    let telemetry = telemetry();
    let lab = Lab::start(pool).await;
    let config = Config {
        backend: lab.settings.clone(),
        ..Config::default()
    };
    let router = api::router(AppState::new(lab.pool.clone(), lab.queue.clone(), &config));

    // The first worker stops dead after the checkpoint of `endpoint:vqfx-1` (once).
    let armed = Arc::new(AtomicBool::new(true));
    let stuck = Arc::new(Notify::new());
    let hook = {
        let (armed, stuck) = (armed.clone(), stuck.clone());
        StepHook(Arc::new(move |_job: JobId, step: String| {
            let (armed, stuck) = (armed.clone(), stuck.clone());
            Box::pin(async move {
                if step == "endpoint:vqfx-1" && armed.swap(false, Ordering::SeqCst) {
                    stuck.notify_one();
                    futures::future::pending::<()>().await;
                }
            })
        }))
    };
    // One slot: the frozen attempt holds it until its lost lease aborts it, so this worker
    // cannot claim the job again while the frozen attempt still runs.
    let first = lab.worker(antidote_scheduler::queue::WorkerConfig {
        step_hook: Some(hook),
        concurrency: 1,
        ..worker_config()
    });
    let (stop_first, first) = start(first);

    // Kubernetes API errors on every create until the first job retries.
    lab.sim
        .knobs()
        .set_error_rate(Some("create"), 1.0, InjectedError::Internal);
    let flaky = request_livelesson(&router, "linux-first-steps").await;
    let retried = tokio::time::timeout(Duration::from_secs(20), async {
        while telemetry::metrics()
            .retries
            .with_label_values(&[CREATE])
            .get()
            == 0
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    lab.sim.knobs().clear_error_rates();
    assert!(retried.is_ok(), "the failing create was retried");
    wait_ready(&lab, &flaky, Duration::from_secs(60)).await;

    // The traced request; its first worker freezes mid-way and its lease expires.
    let id = request_livelesson(&router, "router-configuration").await;
    let job = lab.job(CREATE, &id).await;
    tokio::time::timeout(Duration::from_secs(30), stuck.notified())
        .await
        .expect("the first worker reached endpoint:vqfx-1");
    let second = lab.worker(worker_config());
    let (stop_second, second) = start(second);
    // The frozen worker's lease runs out, as if it had stopped heartbeating: expired again
    // and again (its heartbeat would renew it) until a rescuer takes the job from it.
    let token: Option<uuid::Uuid> =
        sqlx::query_scalar("select lease_token from jobs where id = $1")
            .bind(job.0)
            .fetch_one(&lab.pool)
            .await
            .expect("lease token");
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let expired = sqlx::query(
                "update jobs set lease_expires_at = now() - interval '1 second' \
                 where id = $1 and lease_token = $2",
            )
            .bind(job.0)
            .bind(token)
            .execute(&lab.pool)
            .await
            .expect("expire the lease");
            if expired.rows_affected() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the job was rescued");
    wait_ready(&lab, &id, Duration::from_secs(60)).await;
    let attempts: i32 = sqlx::query_scalar("select attempt from jobs_all where id = $1")
        .bind(job.0)
        .fetch_one(&lab.pool)
        .await
        .expect("attempt");
    assert!(attempts >= 2, "the job was resumed by a new attempt");
    // Let the completion land before reading the job and the metrics.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (_, metrics) = call(&router, "GET", "/metrics", None).await;
    let _ = stop_first.send(());
    let _ = stop_second.send(());
    // Bounded, so that a worker stuck in shutdown fails the assertions below, not the run.
    for worker in [first, second] {
        let abort = worker.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), worker)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    telemetry.provider.force_flush().expect("flush");

    // One trace: the HTTP request, every attempt of the job, every CREATE step.
    let spans = telemetry.exporter.get_finished_spans().expect("spans");
    let request = spans
        .iter()
        .filter(|s| s.name == "POST /exp/livelesson")
        .find(|s| {
            spans.iter().any(|j| {
                j.span_context.trace_id() == s.span_context.trace_id()
                    && j.name == "job"
                    && attr(j, "job_id").as_deref() == Some(job.to_string().as_str())
            })
        })
        .expect("the request's span is in the job's trace");
    let trace = request.span_context.trace_id();
    let job_spans: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "job" && attr(s, "job_id") == Some(job.to_string()))
        .collect();
    let job_attempts: BTreeSet<String> = job_spans
        .iter()
        .filter_map(|s| attr(s, "attempt"))
        .collect();
    assert!(
        job_attempts.len() >= 2,
        "spans of every attempt: {job_attempts:?}"
    );
    for span in &job_spans {
        assert_eq!(
            span.span_context.trace_id(),
            trace,
            "every attempt continues the trace"
        );
    }
    let steps: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "step" && attr(s, "job_id") == Some(job.to_string()))
        .collect();
    let names: BTreeSet<String> = steps.iter().filter_map(|s| attr(s, "step")).collect();
    for step in CREATE_STEPS {
        assert!(names.contains(*step), "a span for {step}: {names:?}");
    }
    for span in &steps {
        assert_eq!(
            span.span_context.trace_id(),
            trace,
            "{:?}",
            attr(span, "step")
        );
        assert_eq!(attr(span, "livelesson").as_deref(), Some(id.as_str()));
        assert_eq!(
            attr(span, "lesson").as_deref(),
            Some("router-configuration")
        );
        assert!(attr(span, "session").is_some());
        if let Some(endpoint) =
            attr(span, "step").and_then(|s| s.strip_prefix("endpoint:").map(str::to_owned))
        {
            assert_eq!(attr(span, "endpoint"), Some(endpoint));
        }
    }
    assert!(
        spans
            .iter()
            .any(|s| s.name == "livelesson" && s.span_context.trace_id() == trace),
        "the workflow span is in the trace"
    );
    // The flaky livelesson's failed attempt is marked as an error on its spans.
    assert!(
        spans
            .iter()
            .any(|s| s.name == "job"
                && matches!(s.status, opentelemetry::trace::Status::Error { .. })),
        "a failed attempt is an error span"
    );

    // No password in any span (attributes, events, status) or log line.
    for span in &spans {
        let text = format!(
            "{:?} {:?} {:?} {:?}",
            span.name, span.attributes, span.events, span.status
        );
        for password in PASSWORDS {
            assert!(
                !text.contains(password),
                "span {} leaks a password",
                span.name
            );
        }
    }
    let logs = telemetry.logs.text();
    assert!(logs.contains("livelesson READY"), "logs were captured");
    for password in PASSWORDS {
        assert!(!logs.contains(password), "a log line leaks a password");
    }

    // Every series, with plausible values.
    let create = [("kind", CREATE)];
    let at_least = |name: &str, labels: &[(&str, &str)], min: f64| {
        let value = series(&metrics, name, labels)
            .unwrap_or_else(|| panic!("{name}{labels:?} in /metrics:\n{metrics}"));
        assert!(
            value >= min,
            "{name}{labels:?} = {value}, expected >= {min}"
        );
    };
    at_least(
        "antidote_jobs",
        &[("state", "completed"), ("kind", CREATE)],
        2.0,
    );
    at_least("antidote_livelessons", &[("status", "READY")], 2.0);
    at_least("antidote_job_enqueue_to_start_seconds_count", &create, 2.0);
    at_least(
        "antidote_step_duration_seconds_count",
        &[("kind", CREATE), ("step", "endpoint"), ("outcome", "ok")],
        3.0,
    );
    at_least(
        "antidote_step_duration_seconds_count",
        &[
            ("kind", CREATE),
            ("step", "namespace"),
            ("outcome", "error"),
        ],
        1.0,
    );
    at_least("antidote_job_retries_total", &create, 1.0);
    at_least("antidote_lease_rescues_total", &[], 1.0);
    at_least("antidote_livelesson_time_to_ready_seconds_count", &[], 2.0);
    let ready_sum = series(
        &metrics,
        "antidote_livelesson_time_to_ready_seconds_sum",
        &[],
    )
    .expect("sum");
    assert!(
        ready_sum > 0.0 && ready_sum < 600.0,
        "time to READY {ready_sum}"
    );
    at_least(
        "antidote_kubernetes_api_errors_total",
        &[("verb", "create"), ("resource", "namespaces")],
        1.0,
    );
    at_least("antidote_gc_deleted_total", &[], 0.0);
    at_least("antidote_gc_orphans_swept_total", &[], 0.0);
}
