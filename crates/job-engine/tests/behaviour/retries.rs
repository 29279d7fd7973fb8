//! Retries: transient errors retry with growing delays while permanent ones fail at once,
//! a hung handler is stopped by its kind's timeout and retried, and each kind retries on
//! its own policy.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use job_engine::testing::store;
use job_engine::{
    Client, JobContext, JobError, JobState, KindOptions, NewJob, Registry, RetryPolicy, WorkerEvent,
};
use sqlx::PgPool;

use crate::helpers::{event_kinds, wait_for};
use crate::start_worker;

#[sqlx::test(migrations = false)]
async fn transient_errors_retry_with_growing_delays_and_permanent_errors_fail_at_once(
    pool: PgPool,
) {
    job_engine::migrate(&pool).await.expect("migrate");
    let mut registry = Registry::new();
    registry.register("test.flaky", |_ctx: JobContext| async {
        Err::<(), _>(JobError::Transient("upstream answered 503".into()))
    });
    registry.register("test.broken", |_ctx: JobContext| async {
        Err::<(), _>(JobError::Permanent("lesson definition is invalid".into()))
    });
    let client = Client::new(pool.clone());
    let flaky = client
        .enqueue(&NewJob::new("test.flaky", serde_json::json!({})).with_max_attempts(3))
        .await
        .expect("enqueue")
        .id;
    let broken = client
        .enqueue(&NewJob::new("test.broken", serde_json::json!({})).with_max_attempts(3))
        .await
        .expect("enqueue")
        .id;
    let (mut events, stop, handle) = start_worker(&pool, registry, &client);
    let mut failed = Vec::new();
    while failed.len() < 2 {
        if let WorkerEvent::Failed(id) = wait_for(&mut events, Duration::from_secs(20), |e| {
            matches!(e, WorkerEvent::Failed(_))
        })
        .await
        {
            failed.push(id);
        }
    }
    let _ = stop.send(());
    handle.await.expect("worker task");

    assert_eq!(
        event_kinds(&pool, flaky).await,
        [
            "enqueued",
            "claimed",
            "retry_scheduled",
            "claimed",
            "retry_scheduled",
            "claimed",
            "failed"
        ]
    );
    assert_eq!(
        event_kinds(&pool, broken).await,
        ["enqueued", "claimed", "failed"]
    );
    let job = store::job(&pool, broken)
        .await
        .expect("job")
        .expect("exists");
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempt, 1);
    assert_eq!(
        job.last_error.as_deref(),
        Some("lesson definition is invalid")
    );
    let job = store::job(&pool, flaky)
        .await
        .expect("job")
        .expect("exists");
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempt, 3);

    // Delays grow: the policy is 40 ms then 80 ms (no jitter in tests). Each retry's run_at
    // is set after its claim, and the next claim happens at or after run_at, so the gap
    // between claims is at least the delay.
    let claims: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "select at from job_events where job_id = $1 and kind = 'claimed' order by id",
    )
    .bind(flaky.0)
    .fetch_all(&pool)
    .await
    .expect("claims");
    let gap = |n: usize| (claims[n + 1] - claims[n]).num_milliseconds();
    assert!(gap(0) >= 40, "first retry waited {} ms", gap(0));
    assert!(gap(1) >= 80, "second retry waited {} ms", gap(1));
}

/// Counts the handler futures dropped: a stopped attempt is dropped, never left running.
struct DropCount(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[sqlx::test(migrations = false)]
async fn a_hung_handler_is_stopped_by_its_kinds_timeout_and_retried(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut registry = Registry::new();
    let hung = KindOptions {
        timeout: Some(Duration::from_millis(200)),
        ..KindOptions::default()
    };
    let count = dropped.clone();
    registry.register_with("test.hung", hung, move |_ctx: JobContext| {
        let guard = DropCount(count.clone());
        async move {
            let _guard = guard;
            // Hangs; the heartbeat would renew its lease for ever without the timeout.
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    registry.register("test.quick", |_ctx: JobContext| async { Ok(()) });
    let client = Client::new(pool.clone());
    let job = client
        .enqueue(&NewJob::new("test.hung", serde_json::json!({})).with_max_attempts(2))
        .await
        .expect("enqueue")
        .id;
    let (mut events, stop, handle) = start_worker(&pool, registry, &client);
    wait_for(&mut events, Duration::from_secs(20), |e| {
        *e == WorkerEvent::Failed(job)
    })
    .await;

    assert_eq!(
        event_kinds(&pool, job).await,
        [
            "enqueued",
            "claimed",
            "retry_scheduled",
            "claimed",
            "failed"
        ]
    );
    let failed = store::job(&pool, job).await.expect("job").expect("exists");
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.attempt, 2);
    let error = failed.last_error.unwrap_or_default();
    assert!(
        error.contains("timed out") && error.contains("200 ms"),
        "{error}"
    );
    assert_eq!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "each stopped attempt's handler was dropped"
    );
    // Each attempt ended at its limit, not at a lease expiry (1.5 s here): the lease was
    // given back when the attempt was stopped, not renewed until the rescuer came.
    let claims: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "select at from job_events where job_id = $1 and kind = 'claimed' order by id",
    )
    .bind(job.0)
    .fetch_all(&pool)
    .await
    .expect("claims");
    let gap = (claims[1] - claims[0]).num_milliseconds();
    assert!((200..1500).contains(&gap), "attempts {gap} ms apart");

    // The worker is whole: its slots came back.
    let quick = client
        .enqueue(&NewJob::new("test.quick", serde_json::json!({})))
        .await
        .expect("enqueue")
        .id;
    wait_for(&mut events, Duration::from_secs(20), |e| {
        *e == WorkerEvent::Completed(quick)
    })
    .await;
    let _ = stop.send(());
    handle.await.expect("worker task");
}

#[sqlx::test(migrations = false)]
async fn each_kind_retries_on_its_own_policy(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let mut registry = Registry::new();
    let patient = KindOptions {
        retry: Some(RetryPolicy {
            base: Duration::from_secs(3600),
            max: Duration::from_secs(7200),
            jitter: 0.0,
        }),
        ..KindOptions::default()
    };
    let fail = |_ctx: JobContext| async { Err::<(), _>(JobError::Transient("503".into())) };
    registry.register_with("test.patient", patient, fail);
    registry.register("test.eager", fail);
    let client = Client::new(pool.clone());
    let enqueue = |kind: &'static str| {
        let client = client.clone();
        async move {
            client
                .enqueue(&NewJob::new(kind, serde_json::json!({})).with_max_attempts(2))
                .await
                .expect("enqueue")
                .id
        }
    };
    let patient = enqueue("test.patient").await;
    let eager = enqueue("test.eager").await;
    let (mut events, stop, handle) = start_worker(&pool, registry, &client);
    // The worker's policy (40 ms) lets the eager kind use its second attempt at once.
    wait_for(&mut events, Duration::from_secs(20), |e| {
        *e == WorkerEvent::Failed(eager)
    })
    .await;
    let _ = stop.send(());
    handle.await.expect("worker task");

    let waiting = store::job(&pool, patient)
        .await
        .expect("job")
        .expect("exists");
    assert_eq!(waiting.state, JobState::Retryable);
    assert_eq!(waiting.attempt, 1);
    let wait = waiting.run_at - Utc::now();
    assert!(
        wait > chrono::Duration::minutes(59),
        "the patient kind waits its own hour, not the worker's 40 ms: {wait}"
    );
}
