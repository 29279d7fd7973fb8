//! One test per defect of issue 20, each asserting on what the OTLP receiver got.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "../support/fs.rs"]
mod fs;
use fs::copy_dir;

use antidote_scheduler::gc;
use antidote_scheduler::ids::LivelessonId;
use antidote_scheduler::queue::{self, JobId, NewJob, StepHook, Worker, WorkerConfig};
use antidote_scheduler::store::livelesson::Status;
use antidote_scheduler::workflow::{CREATE, DELETE, MODIFY, request};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::DeleteParams;
use sqlx::PgPool;
use tokio::sync::{Notify, mpsc};

use super::collector::{Collector, Received};
use super::helpers::{self, Lab, start, worker_config};
use super::{
    call, find, named, request_in, request_livelesson, router, session, wait_ready, wait_status,
};

const WITHIN: Duration = Duration::from_secs(30);

/// Defect 1: `antidoted demo` initialised no telemetry, so it exported nothing and stored
/// no traceparent on its jobs.
#[sqlx::test]
async fn demo_exports_its_spans_and_stores_a_traceparent_on_its_jobs(pool: PgPool) {
    let collector = Collector::get();
    // One lesson keeps the run short: the example curriculum without the other three.
    let curriculum = tempfile::tempdir().expect("temporary directory");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-curriculum");
    copy_dir(&source, curriculum.path());
    for lesson in [
        "notebook-automation",
        "router-configuration",
        "web-automation",
    ] {
        std::fs::remove_dir_all(curriculum.path().join("lessons").join(lesson))
            .expect("remove a lesson");
    }
    let service = "antidote-demo-under-test";
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_antidoted"))
        .args([
            "demo",
            "--plain",
            "--tier",
            "local",
            "--timeout-secs",
            "120",
        ])
        .arg("--curriculum")
        .arg(curriculum.path())
        .env("DATABASE_URL", helpers::database_url(&pool).await)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint)
        .env("OTEL_SERVICE_NAME", service)
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the demo");
    assert!(
        output.status.success(),
        "demo failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The demo flushed its spans before it exited: they are here, or on their way.
    let spans = collector
        .wait_for("the demo's spans", WITHIN, |spans| {
            let demo: Vec<&Received> = spans
                .iter()
                .filter(|s| s.resource_attr("service.name").as_deref() == Some(service))
                .collect();
            [
                "POST /exp/livelesson",
                "livelesson.create attempt 1",
                "step namespace",
            ]
            .iter()
            .all(|name| demo.iter().any(|s| s.name() == *name))
        })
        .await;
    assert!(
        spans
            .iter()
            .filter(|s| s.resource_attr("service.name").as_deref() == Some(service))
            .any(|s| s.name() == "DELETE linux-first-steps"),
        "the demo's kill is traced too"
    );
    let untraced: i64 = sqlx::query_scalar(
        "select count(*) from jobs_all where kind like 'livelesson.%' and traceparent is null",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    let jobs: i64 =
        sqlx::query_scalar("select count(*) from jobs_all where kind like 'livelesson.%'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert!(jobs >= 2, "the demo's jobs are stored ({jobs})");
    assert_eq!(untraced, 0, "every job of the demo has a traceparent");
}

/// Defect 2: the resource had no `service.version`, the scope no version.
#[sqlx::test]
async fn spans_carry_the_service_and_scope_versions(pool: PgPool) {
    let collector = Collector::get();
    let lab = Lab::start(pool).await;
    let (status, _) = call(&router(&lab), "GET", "/healthz", None).await;
    assert_eq!(status, 200);
    let spans = collector
        .wait_for("the request span", WITHIN, |spans| {
            !named(spans, "GET /healthz").is_empty()
        })
        .await;
    let span = named(&spans, "GET /healthz")[0];
    assert_eq!(
        span.resource_attr("service.name").as_deref(),
        Some("antidote-scheduler")
    );
    assert_eq!(
        span.resource_attr("service.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(span.scope_name, "antidote-scheduler");
    assert_eq!(span.scope_version, env!("CARGO_PKG_VERSION"));
}

/// Defect 3: HTTP server spans had no `http.response.status_code`, and a 5xx left the
/// status UNSET.
#[sqlx::test]
async fn http_spans_carry_the_status_code_and_a_5xx_is_an_error(pool: PgPool) {
    let collector = Collector::get();
    let lab = Lab::start(pool).await;
    let router = router(&lab);
    let (ok, _) = call(&router, "GET", "/healthz", None).await;
    let (missing, _) = call(&router, "GET", "/exp/livelesson/zzzzzzzzzz", None).await;
    assert_eq!((ok, missing), (200, 404));
    // The database goes away: the next request cannot be served.
    lab.pool.close().await;
    let (failed, body) = call(
        &router,
        "POST",
        "/exp/livesession",
        Some(serde_json::json!({})),
    )
    .await;
    assert!(
        failed >= 500,
        "a request without database fails: {failed} {body}"
    );

    let spans = collector
        .wait_for("three request spans", WITHIN, |spans| {
            !named(spans, "GET /healthz").is_empty()
                && !named(spans, "GET /exp/livelesson/{id}").is_empty()
                && !named(spans, "POST /exp/livesession").is_empty()
        })
        .await;
    let ok = named(&spans, "GET /healthz")[0];
    assert_eq!(ok.attr("http.response.status_code").as_deref(), Some("200"));
    assert_eq!(ok.attr("http.request.method").as_deref(), Some("GET"));
    assert_eq!(ok.attr("http.route").as_deref(), Some("/healthz"));
    assert!(!ok.is_error());
    let missing = named(&spans, "GET /exp/livelesson/{id}")[0];
    assert_eq!(
        missing.attr("http.response.status_code").as_deref(),
        Some("404")
    );
    assert!(!missing.is_error(), "a 4xx is the client's error");
    let failed_span = named(&spans, "POST /exp/livesession")[0];
    assert_eq!(
        failed_span.attr("http.response.status_code"),
        Some(failed.to_string())
    );
    assert!(failed_span.is_error(), "a 5xx is an error span");
    assert_eq!(failed_span.attr("error.type"), Some(failed.to_string()));
}

/// The spans of `router-configuration`'s CREATE, requested over HTTP while no worker runs,
/// with a worker started `wait` later. Returns (livelesson id, job id, spans).
async fn traced_create(pool: PgPool, wait: Duration) -> (String, JobId, Vec<Received>) {
    let collector = Collector::get();
    let lab = Lab::start(pool).await;
    let router = router(&lab);
    let id = request_livelesson(&router, "router-configuration").await;
    let job = lab.job(CREATE, &id).await;
    tokio::time::sleep(wait).await;
    let (stop, worker) = start(lab.worker(worker_config()));
    wait_ready(&lab, &id, Duration::from_secs(60)).await;
    let spans = collector
        .wait_for("the CREATE's last step", WITHIN, |spans| {
            find(spans, "step status:READY", "job.id", &job.to_string()).is_some()
                && find(
                    spans,
                    "livelesson.create attempt 1",
                    "job.id",
                    &job.to_string(),
                )
                .is_some()
        })
        .await;
    let _ = stop.send(());
    let _ = worker.await;
    (id, job, spans)
}

/// Defect 4: every span was named `job`, `livelesson` or `step`; `target`, `busy_ns`,
/// `idle_ns` and a duplicated traceparent were exported as attributes.
#[sqlx::test]
async fn spans_have_readable_names_and_no_tracing_internals(pool: PgPool) {
    let (id, job, spans) = traced_create(pool, Duration::ZERO).await;
    let job_id = job.to_string();
    let attempt = find(&spans, "livelesson.create attempt 1", "job.id", &job_id)
        .expect("the attempt span is named after the job kind and attempt");
    assert_eq!(attempt.attr("job.kind").as_deref(), Some(CREATE));
    assert_eq!(attempt.attr("job.attempt").as_deref(), Some("1"));
    let workflow = find(&spans, "CREATE router-configuration", "job.id", &job_id)
        .expect("the workflow span is named after the workflow and lesson");
    assert_eq!(workflow.attr("antidote.livelesson.id"), Some(id.clone()));
    assert_eq!(
        workflow.attr("antidote.workflow").as_deref(),
        Some("CREATE")
    );
    assert_eq!(workflow.attr("antidote.stage").as_deref(), Some("0"));
    for step in ["namespace", "endpoint:vqfx-1", "pods-ready", "status:READY"] {
        let span = find(&spans, &format!("step {step}"), "job.id", &job_id)
            .unwrap_or_else(|| panic!("a span named `step {step}`"));
        assert_eq!(span.attr("antidote.step").as_deref(), Some(step));
        assert_eq!(span.attr("job.kind").as_deref(), Some(CREATE));
        assert_eq!(span.attr("job.attempt").as_deref(), Some("1"));
        assert_eq!(span.attr("antidote.livelesson.id"), Some(id.clone()));
        assert_eq!(
            span.attr("antidote.lesson.slug").as_deref(),
            Some("router-configuration")
        );
        assert_eq!(
            span.attr("antidote.endpoint").as_deref(),
            step.strip_prefix("endpoint:"),
            "only an endpoint's step names its endpoint"
        );
    }
    for span in &spans {
        assert!(
            !["job", "livelesson", "step", "http_request"].contains(&span.name()),
            "a bare span name: {}",
            span.name()
        );
        for key in span.keys() {
            assert!(
                !["target", "busy_ns", "idle_ns", "traceparent"].contains(&key.as_str())
                    && !key.starts_with("thread.")
                    && !key.starts_with("code."),
                "span {} exports tracing's {key}",
                span.name()
            );
        }
    }
}

/// Defect 5: the time in the queue was an unexplained gap, and the job's span was a child
/// of the HTTP span that it outlives.
#[sqlx::test]
async fn queue_wait_is_visible_and_the_job_is_linked_not_parented_by_the_request(pool: PgPool) {
    let queued = Duration::from_millis(800);
    let (_, job, spans) = traced_create(pool, queued).await;
    let job_id = job.to_string();
    let attempt = find(&spans, "livelesson.create attempt 1", "job.id", &job_id).expect("attempt");
    let request = spans
        .iter()
        .find(|s| s.name() == "POST /exp/livelesson" && s.trace_id() == attempt.trace_id())
        .expect("the attempt is in the request's trace");
    assert!(attempt.is_root(), "the attempt is not the request's child");
    assert!(
        attempt.links_to(request, "cause"),
        "the attempt links to the request: {:?}",
        attempt.links()
    );
    assert!(attempt.has_event("job.enqueued") && attempt.has_event("job.claimed"));
    let wait = spans
        .iter()
        .find(|s| s.name() == "queue wait" && s.parent_id() == attempt.span_id())
        .expect("a queue wait span under the attempt");
    assert_eq!(
        wait.start_ns(),
        attempt.start_ns(),
        "the attempt starts at enqueue"
    );
    let waited = Duration::from_nanos(wait.end_ns() - wait.start_ns());
    assert!(
        waited >= queued,
        "the queue wait ({waited:?}) covers the time no worker ran ({queued:?})"
    );
    assert!(
        wait.start_ns() <= request.end_ns(),
        "the wait starts within the request"
    );
    let workflow =
        find(&spans, "CREATE router-configuration", "job.id", &job_id).expect("workflow span");
    assert_eq!(workflow.parent_id(), attempt.span_id());
    assert!(
        workflow.start_ns() >= wait.end_ns(),
        "the work starts after the wait"
    );
}

/// Defect 6: the `ready-delay` timer's wait was covered by no span.
#[sqlx::test]
async fn the_ready_delay_timer_is_covered_by_a_span(pool: PgPool) {
    let (_, job, spans) = traced_create(pool, Duration::ZERO).await;
    let job_id = job.to_string();
    let workflow =
        find(&spans, "CREATE router-configuration", "job.id", &job_id).expect("workflow span");
    let timer = find(&spans, "wait ready-delay", "job.id", &job_id).expect("a span of the wait");
    assert_eq!(timer.parent_id(), workflow.span_id());
    assert!(timer.attr("antidote.timer.deadline").is_some());
    let waited = Duration::from_nanos(timer.end_ns() - timer.start_ns());
    // `router-configuration` has `readyDelay: 1`; the deadline was set just before.
    assert!(
        waited >= Duration::from_millis(900),
        "the timer span covers the wait: {waited:?}"
    );
    let ready = find(&spans, "step status:READY", "job.id", &job_id).expect("READY step");
    assert!(ready.start_ns() >= timer.end_ns(), "READY follows the wait");
}

/// A hook holding every job at step `at` until the test releases it; reports arrivals.
struct Gate {
    released: Arc<Mutex<HashSet<JobId>>>,
    opened: Arc<Notify>,
    arrived: mpsc::UnboundedReceiver<JobId>,
}

fn gate(at: &'static str) -> (Gate, StepHook) {
    let released = Arc::new(Mutex::new(HashSet::new()));
    let opened = Arc::new(Notify::new());
    let (arrivals, arrived) = mpsc::unbounded_channel();
    let hook = {
        let (released, opened) = (released.clone(), opened.clone());
        StepHook(Arc::new(move |job: JobId, step: String| {
            let (released, opened, arrivals) = (released.clone(), opened.clone(), arrivals.clone());
            Box::pin(async move {
                if step != at {
                    return;
                }
                let _ = arrivals.send(job);
                loop {
                    let notified = opened.notified();
                    if released
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .contains(&job)
                    {
                        return;
                    }
                    notified.await;
                }
            })
        }))
    };
    (
        Gate {
            released,
            opened,
            arrived,
        },
        hook,
    )
}

impl Gate {
    async fn reached(&mut self, job: JobId) {
        let arrived = tokio::time::timeout(WITHIN, self.arrived.recv())
            .await
            .expect("a job reached the gate");
        assert_eq!(arrived, Some(job));
    }

    fn release(&self, job: JobId) {
        self.released
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(job);
        self.opened.notify_waiters();
    }
}

/// Defect 7: a CREATE failing for good left its livelesson span UNSET, and an attempt
/// handed back at shutdown looked like a success. A cancel gets its own status too.
#[sqlx::test]
async fn failures_hand_backs_and_cancels_end_with_their_own_status(pool: PgPool) {
    let collector = Collector::get();
    let lab = Lab::start(pool).await;
    let router = router(&lab);
    let (mut gate, hook) = gate("namespace");
    let (stop, worker) = start(lab.worker(WorkerConfig {
        step_hook: Some(hook),
        ..worker_config()
    }));

    // Cancelled at the step boundary after `namespace`.
    let cancelled = request_livelesson(&router, "linux-first-steps").await;
    let cancelled_job = lab.job(CREATE, &cancelled).await;
    gate.reached(cancelled_job).await;
    let outcome = lab.queue.cancel(cancelled_job).await.expect("cancel");
    assert_eq!(outcome, queue::CancelOutcome::Requested);
    gate.release(cancelled_job);

    // Handed back: the worker stops while the job waits at the gate.
    let handed = request_livelesson(&router, "router-configuration").await;
    let handed_job = lab.job(CREATE, &handed).await;
    gate.reached(handed_job).await;
    let _ = stop.send(());
    worker.await.expect("worker stopped");

    // Fails for good: the TLS secret every livelesson copies is gone.
    Api::<Secret>::namespaced(lab.kube.clone(), &lab.settings.secrets_namespace)
        .delete(&lab.settings.tls_cert_name, &DeleteParams::default())
        .await
        .expect("delete the TLS secret");
    let failed = request_livelesson(&router, "linux-first-steps").await;
    let failed_job = lab.job(CREATE, &failed).await;
    let (stop, worker) = start(lab.worker(worker_config()));
    wait_status(&lab, &failed, Status::Error, Duration::from_secs(60)).await;
    let reason = lab
        .livelesson(&LivelessonId::from(failed.as_str()))
        .await
        .and_then(|ll| ll.error)
        .expect("an error record")
        .reason;

    let attempt_of = |spans: &[Received], job: JobId, outcome: &str| -> Option<Received> {
        spans
            .iter()
            .find(|s| {
                s.name().starts_with("livelesson.create attempt")
                    && s.attr("job.id") == Some(job.to_string())
                    && s.attr("job.outcome").as_deref() == Some(outcome)
            })
            .cloned()
    };
    let spans = collector
        .wait_for("the three outcomes", WITHIN, |spans| {
            attempt_of(spans, cancelled_job, "cancelled").is_some()
                && attempt_of(spans, handed_job, "handed_back").is_some()
                && attempt_of(spans, failed_job, "failed").is_some()
        })
        .await;
    let _ = stop.send(());
    let _ = worker.await;

    let span = attempt_of(&spans, cancelled_job, "cancelled").expect("cancelled");
    assert!(span.is_error() && span.status_message().contains("cancelled"));
    assert!(span.has_event("job.cancelled"));
    let span = attempt_of(&spans, handed_job, "handed_back").expect("handed back");
    assert!(span.is_error() && span.status_message().contains("handed back"));
    assert!(span.has_event("job.handed_back"));
    let span = attempt_of(&spans, failed_job, "failed").expect("failed");
    assert!(span.is_error() && span.status_message().contains(&reason));
    assert!(span.has_event("job.failed"));
    let workflow = spans
        .iter()
        .find(|s| {
            s.name() == "CREATE linux-first-steps"
                && s.attr("job.id") == Some(failed_job.to_string())
                && s.is_error()
        })
        .expect("the livelesson span of the final attempt is an error");
    assert_eq!(workflow.status_message(), reason);
}

/// Defect 8: DELETE's livelesson span lacked the lesson and session, its step spans the
/// livelesson id; MODIFY did not record the target stage.
#[sqlx::test]
async fn modify_and_delete_spans_describe_their_livelesson(pool: PgPool) {
    let collector = Collector::get();
    let lab = Lab::start(pool).await;
    let router = router(&lab);
    let (stop, worker) = start(lab.worker(worker_config()));
    let session = session(&router).await;
    let id = request_in(&router, &session, "router-configuration", 0).await;
    wait_ready(&lab, &id, Duration::from_secs(60)).await;
    request_in(&router, &session, "router-configuration", 1).await;
    let modify = lab.job(MODIFY, &id).await;
    wait_completed(&lab, modify).await;
    request::kill(&lab.pool, &lab.queue, &LivelessonId::from(id.as_str()))
        .await
        .expect("kill");
    let delete = lab.job(DELETE, &id).await;
    let spans = collector
        .wait_for("the DELETE's last step", WITHIN, |spans| {
            find(spans, "step remove-state", "job.id", &delete.to_string()).is_some()
        })
        .await;
    let _ = stop.send(());
    let _ = worker.await;

    let span = find(
        &spans,
        "MODIFY router-configuration",
        "job.id",
        &modify.to_string(),
    )
    .expect("MODIFY span");
    assert_eq!(span.attr("antidote.stage").as_deref(), Some("1"));
    assert_eq!(span.attr("antidote.session.id"), Some(session.clone()));
    let span = find(
        &spans,
        "DELETE router-configuration",
        "job.id",
        &delete.to_string(),
    )
    .expect("DELETE span named after its lesson");
    assert_eq!(span.attr("antidote.livelesson.id"), Some(id.clone()));
    assert_eq!(span.attr("antidote.session.id"), Some(session.clone()));
    assert_eq!(
        span.attr("antidote.lesson.slug").as_deref(),
        Some("router-configuration")
    );
    for step in ["delete-namespace", "namespace-gone", "remove-state"] {
        let span = find(
            &spans,
            &format!("step {step}"),
            "job.id",
            &delete.to_string(),
        )
        .unwrap_or_else(|| panic!("step {step}"));
        assert_eq!(span.attr("antidote.livelesson.id"), Some(id.clone()));
        assert_eq!(
            span.attr("antidote.lesson.slug").as_deref(),
            Some("router-configuration")
        );
    }
}

/// Waits until `job` completed.
async fn wait_completed(lab: &Lab, job: JobId) {
    tokio::time::timeout(WITHIN, async {
        loop {
            let state: Option<String> =
                sqlx::query_scalar("select state::text from jobs_all where id = $1")
                    .bind(job.0)
                    .fetch_optional(&lab.pool)
                    .await
                    .expect("job state");
            if state.as_deref() == Some("completed") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("job {job} did not complete"));
}

/// Defect 9: a GC run's DELETE carried no traceparent and started an unrelated trace; a
/// livelesson's CREATE, MODIFY and DELETE were unrelated traces.
#[sqlx::test]
async fn a_gc_delete_is_caused_by_its_run_and_linked_to_the_first_trace(pool: PgPool) {
    let collector = Collector::get();
    let lab = Lab::start(pool).await;
    let router = router(&lab);
    let worker = |config: WorkerConfig| {
        Worker::with_notifier(
            lab.pool.clone(),
            helpers::registry(lab.kube.clone(), &lab.settings),
            config,
            lab.queue.notifier().clone(),
        )
    };
    let (stop, running) = start(worker(worker_config()));
    let id = request_livelesson(&router, "linux-first-steps").await;
    let create = lab.job(CREATE, &id).await;
    wait_ready(&lab, &id, Duration::from_secs(60)).await;
    let _ = stop.send(());
    let _ = running.await;

    // An hour later by the engine's clock: the livelesson has been inactive for that long,
    // and the next expiry run (by a worker going by that clock) deletes it.
    let later = lab.later(Duration::from_secs(3600)).await;
    let (stop, worker) = start(worker(WorkerConfig {
        clock: later.clock().clone(),
        ..worker_config()
    }));
    let run = later
        .enqueue(&NewJob::new(gc::EXPIRE, serde_json::json!({})))
        .await
        .expect("enqueue an expiry run")
        .id;
    let delete = tokio::time::timeout(WITHIN, async {
        loop {
            if let Ok(Some(job)) =
                sqlx::query_scalar::<_, i64>("select id from jobs_all where unique_key = $1")
                    .bind(format!("{DELETE}:{id}"))
                    .fetch_optional(&lab.pool)
                    .await
            {
                return JobId(job);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the run enqueued a DELETE");
    let spans = collector
        .wait_for("the DELETE's last step", WITHIN, |spans| {
            find(spans, "step remove-state", "job.id", &delete.to_string()).is_some()
        })
        .await;
    let _ = stop.send(());
    let _ = worker.await;

    let run_span =
        find(&spans, "gc.expire attempt 1", "job.id", &run.to_string()).expect("the GC run");
    let traceparent: Option<String> =
        sqlx::query_scalar("select traceparent from jobs_all where id = $1")
            .bind(delete.0)
            .fetch_one(&lab.pool)
            .await
            .expect("traceparent");
    let traceparent = traceparent.expect("the GC's DELETE has a traceparent");
    assert!(
        traceparent.contains(&run_span.span_id()),
        "the DELETE's traceparent names the run: {traceparent}"
    );
    let attempt = find(
        &spans,
        "livelesson.delete attempt 1",
        "job.id",
        &delete.to_string(),
    )
    .expect("the DELETE's attempt");
    assert_eq!(
        attempt.trace_id(),
        run_span.trace_id(),
        "in the run's trace"
    );
    assert!(attempt.links_to(run_span, "cause"), "linked to the run");
    // The CREATE request's span is the livelesson's first trace; the DELETE links to it.
    let create_attempt = find(
        &spans,
        "livelesson.create attempt 1",
        "job.id",
        &create.to_string(),
    )
    .expect("the CREATE's attempt");
    let first = spans
        .iter()
        .find(|s| s.name() == "POST /exp/livelesson" && s.trace_id() == create_attempt.trace_id())
        .expect("the CREATE request");
    let workflow = find(
        &spans,
        "DELETE linux-first-steps",
        "job.id",
        &delete.to_string(),
    )
    .expect("the DELETE's workflow span");
    assert!(
        workflow.links_to(first, "livelesson.first"),
        "the DELETE links to the livelesson's first trace: {:?}",
        workflow.links()
    );
}
