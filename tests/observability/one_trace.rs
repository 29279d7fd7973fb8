//! The whole story of one request on the wire: the HTTP request, every attempt of its job
//! (a retry after Kubernetes errors and a resume after a lost lease included) and every
//! CREATE step in one trace; no password in any span, event, status, resource or log
//! line; `/metrics` shows every series after the scenario.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use antidote_scheduler::queue::{JobId, StepHook, WorkerConfig};
use antidote_scheduler::telemetry;
use antidote_scheduler::workflow::CREATE;
use kubesim::InjectedError;
use sqlx::PgPool;
use tokio::sync::Notify;

use super::collector::{Collector, Received};
use super::helpers::{Lab, start, worker_config};
use super::{call, request_livelesson, router, wait_ready};

/// The example curriculum's passwords (SSH and configuration).
const PASSWORDS: [&str; 2] = ["antidotepassword", "rootpassword"];

#[path = "../support/steps.rs"]
mod steps;
use steps::ROUTER_CONFIGURATION_CREATE_STEPS as CREATE_STEPS;

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
    let collector = Collector::get();
    let lab = Lab::start(pool).await;
    let router = router(&lab);

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
    let first = lab.worker(WorkerConfig {
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
    // A second worker going by a clock an hour ahead: by its time the frozen worker's lease
    // has long run out (the frozen worker's heartbeat renews it by the database's time
    // only), so its rescuer takes the job over and it resumes the job.
    let later = lab.later(Duration::from_secs(3600)).await;
    let second = lab.worker(WorkerConfig {
        clock: later.clock().clone(),
        ..worker_config()
    });
    let (stop_second, second) = start(second);
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
    let job_name = format!("{CREATE} attempt");
    let is_attempt =
        |s: &Received| s.name().starts_with(&job_name) && s.attr("job.id") == Some(job.to_string());
    let spans = collector
        .wait_for(
            "every step of the traced job",
            Duration::from_secs(30),
            |spans| {
                let steps: BTreeSet<String> = spans
                    .iter()
                    .filter(|s| s.attr("job.id") == Some(job.to_string()))
                    .filter_map(|s| s.attr("antidote.step"))
                    .collect();
                CREATE_STEPS.iter().all(|step| steps.contains(*step))
                    && spans.iter().filter(|s| is_attempt(s)).count() >= 2
            },
        )
        .await;

    // One trace: the HTTP request, every attempt of the job, every CREATE step.
    let job_spans: Vec<&Received> = spans.iter().filter(|s| is_attempt(s)).collect();
    let trace = job_spans[0].trace_id();
    let request = spans
        .iter()
        .find(|s| s.name() == "POST /exp/livelesson" && s.trace_id() == trace)
        .expect("the request's span is in the job's trace");
    let job_attempts: BTreeSet<String> = job_spans
        .iter()
        .filter_map(|s| s.attr("job.attempt"))
        .collect();
    assert!(
        job_attempts.len() >= 2,
        "spans of every attempt: {job_attempts:?}"
    );
    for span in &job_spans {
        assert_eq!(span.trace_id(), trace, "every attempt continues the trace");
        assert!(
            span.links()
                .iter()
                .any(|(t, s, _)| *t == trace && *s == request.span_id()),
            "every attempt links to the request"
        );
    }
    let steps: Vec<&Received> = spans
        .iter()
        .filter(|s| s.name().starts_with("step ") && s.attr("job.id") == Some(job.to_string()))
        .collect();
    let names: BTreeSet<String> = steps
        .iter()
        .filter_map(|s| s.attr("antidote.step"))
        .collect();
    for step in CREATE_STEPS {
        assert!(names.contains(*step), "a span for {step}: {names:?}");
    }
    for span in &steps {
        let step = span.attr("antidote.step").expect("step attribute");
        assert_eq!(span.name(), format!("step {step}"));
        assert_eq!(span.trace_id(), trace, "{step}");
        assert_eq!(
            span.attr("antidote.livelesson.id").as_deref(),
            Some(id.as_str())
        );
        assert_eq!(
            span.attr("antidote.lesson.slug").as_deref(),
            Some("router-configuration")
        );
        assert!(span.attr("antidote.session.id").is_some());
        if let Some(endpoint) = step.strip_prefix("endpoint:") {
            assert_eq!(span.attr("antidote.endpoint").as_deref(), Some(endpoint));
        }
    }
    assert!(
        spans
            .iter()
            .any(|s| s.name() == "CREATE router-configuration" && s.trace_id() == trace),
        "the workflow span is in the trace"
    );
    // The flaky livelesson's failed attempt is marked as an error on its spans.
    assert!(
        spans
            .iter()
            .any(|s| s.name().starts_with(&job_name) && s.is_error()),
        "a failed attempt is an error span"
    );

    // No password in any span (name, attributes, events, links, status) or its resource,
    // nor in any log line.
    for span in &spans {
        let text = span.text();
        for password in PASSWORDS {
            assert!(
                !text.contains(password),
                "span {} leaks a password",
                span.name()
            );
        }
    }
    let logs = collector.logs.text();
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
