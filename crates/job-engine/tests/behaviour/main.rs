//! The engine's behaviour suite: integration tests of the durable job engine against a
//! real PostgreSQL, each on a database of its own migrated by the engine's own `migrate`
//! (no application tables).

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod child;
mod helpers;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use job_engine::store::{self, CancelOutcome, CheckpointRow};
use job_engine::{
    Client, Clock, JobContext, JobError, JobId, JobKind, JobState, KindOptions, NewJob, Observer,
    Registry, RetryPolicy, Schedule, Worker, WorkerEvent, periodic, rescuer,
};
use sqlx::PgPool;
use tokio::sync::{Barrier, Notify, oneshot};

use helpers::{ChildWorker, database_url, event_kinds, fast_config, wait_for, wait_until};

async fn effects_table(pool: &PgPool) {
    sqlx::query(child::EFFECTS_TABLE)
        .execute(pool)
        .await
        .expect("effects table");
}

async fn effect_count(pool: &PgPool, id: JobId, what: &str) -> i64 {
    sqlx::query_scalar("select count(*) from test_effects where job_id = $1 and what = $2")
        .bind(id.0)
        .bind(what)
        .fetch_one(pool)
        .await
        .expect("count effects")
}

/// Starts a worker of `registry` with the test settings, woken by `client`'s enqueues;
/// its events, and the sender that stops it gracefully.
fn start_worker(
    pool: &PgPool,
    registry: Registry,
    client: &Client,
) -> (
    tokio::sync::broadcast::Receiver<WorkerEvent>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let worker = Worker::with_notifier(
        pool.clone(),
        registry,
        fast_config(),
        client.notifier().clone(),
    );
    let events = worker.subscribe();
    let (stop, handle) = start(worker);
    (events, stop, handle)
}

/// Starts `worker` on a task; the returned sender stops it gracefully.
fn start(worker: Worker) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, run) = job_engine::testing::start(worker);
    let handle = tokio::spawn(async move {
        run.await.expect("worker task").expect("worker run");
    });
    (stop, handle)
}

#[sqlx::test(migrations = false)]
async fn ten_thousand_jobs_over_two_processes_run_exactly_once(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    effects_table(&pool).await;
    let client = Client::new(pool.clone());
    let jobs: Vec<NewJob> = (0..10_000)
        .map(|i| NewJob::new("test.effect", serde_json::json!({ "n": i })))
        .collect();
    for chunk in jobs.chunks(1000) {
        client.enqueue_many(chunk).await.expect("enqueue");
    }
    let url = database_url(&pool).await;
    let mut workers = [
        ChildWorker::spawn(&url, 2, 30_000, &[]),
        ChildWorker::spawn(&url, 2, 30_000, &[]),
    ];
    wait_until(Duration::from_secs(120), "every job to finish", || async {
        let left: i64 = sqlx::query_scalar("select count(*) from jobs")
            .fetch_one(&pool)
            .await
            .expect("count");
        left == 0
    })
    .await;
    for worker in &mut workers {
        assert!(
            worker.terminate().success(),
            "child worker exits cleanly on SIGTERM"
        );
    }

    let (runs, distinct, processes): (i64, i64, i64) = sqlx::query_as(
        "select count(*), count(distinct job_id), count(distinct pid) from test_effects",
    )
    .fetch_one(&pool)
    .await
    .expect("effects");
    assert_eq!(runs, 10_000, "every side effect happened once");
    assert_eq!(distinct, 10_000);
    assert_eq!(processes, 2, "both processes did work");
    let completed: i64 =
        sqlx::query_scalar("select count(*) from finished_jobs where state = 'completed'")
            .fetch_one(&pool)
            .await
            .expect("finished");
    assert_eq!(completed, 10_000);
    let claims: i64 = sqlx::query_scalar(
        "select count(*) from job_events where kind = 'claimed' having count(distinct job_id) = 10000",
    )
    .fetch_one(&pool)
    .await
    .expect("one claim per job");
    assert_eq!(claims, 10_000, "no job was claimed twice");
}

/// A test handler's run: job, step key, start, end.
type Span = (i64, String, DateTime<Utc>, DateTime<Utc>);

#[sqlx::test(migrations = false)]
async fn serial_jobs_never_overlap_and_finish_in_order_while_other_keys_run_in_parallel(
    pool: PgPool,
) {
    job_engine::migrate(&pool).await.expect("migrate");
    sqlx::query("create table test_spans (job_id bigint, key text, started timestamptz, finished timestamptz)")
        .execute(&pool)
        .await
        .expect("spans table");
    // The first job of each key waits for the other's: only parallel execution passes it.
    let meet = Arc::new(Barrier::new(2));
    let mut registry = Registry::new();
    registry.register("test.serial", move |ctx: JobContext| {
        let meet = meet.clone();
        async move {
            #[derive(serde::Deserialize)]
            struct Args {
                key: String,
                first: bool,
            }
            let args: Args = ctx.args()?;
            let started = Utc::now();
            if args.first {
                tokio::time::timeout(Duration::from_secs(10), meet.wait())
                    .await
                    .map_err(|_| JobError::Permanent("keys did not run in parallel".into()))?;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            sqlx::query("insert into test_spans values ($1, $2, $3, clock_timestamp())")
                .bind(ctx.id().0)
                .bind(&args.key)
                .bind(started)
                .execute(ctx.pool())
                .await
                .map_err(JobError::transient)?;
            Ok(())
        }
    });
    let client = Client::new(pool.clone());
    let mut jobs = Vec::new();
    for i in 0..6 {
        for key in ["a", "b"] {
            jobs.push(
                NewJob::new(
                    "test.serial",
                    serde_json::json!({ "key": key, "first": i == 0 }),
                )
                .with_serial_key(key),
            );
        }
    }
    let ids = client.enqueue_many(&jobs).await.expect("enqueue");
    let mut config = fast_config();
    config.concurrency = 8;
    let worker = Worker::with_notifier(pool.clone(), registry, config, client.notifier().clone());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let mut left = ids.len();
    while left > 0 {
        let event = wait_for(&mut events, Duration::from_secs(20), |e| {
            matches!(e, WorkerEvent::Completed(_) | WorkerEvent::Failed(_))
        })
        .await;
        assert!(matches!(event, WorkerEvent::Completed(_)), "{event:?}");
        left -= 1;
    }
    let _ = stop.send(());
    handle.await.expect("worker task");

    let spans: Vec<Span> =
        sqlx::query_as("select job_id, key, started, finished from test_spans order by started")
            .fetch_all(&pool)
            .await
            .expect("spans");
    assert_eq!(spans.len(), 12);
    let mut by_key: BTreeMap<&str, Vec<&Span>> = BTreeMap::new();
    for span in &spans {
        by_key.entry(span.1.as_str()).or_default().push(span);
    }
    for (key, runs) in by_key {
        let order: Vec<i64> = runs.iter().map(|s| s.0).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "key {key} ran in enqueue order");
        for pair in runs.windows(2) {
            assert!(
                pair[0].3 <= pair[1].2,
                "key {key}: job {} overlapped job {}",
                pair[0].0,
                pair[1].0
            );
        }
    }
}

#[sqlx::test(migrations = false)]
async fn an_unfinished_unique_key_returns_the_existing_job(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let client = Client::new(pool.clone());
    let job = NewJob::new("test.effect", serde_json::json!({})).with_unique_key("only-one");
    let first = client.enqueue(&job).await.expect("first");
    let second = client.enqueue(&job).await.expect("second");
    assert!(first.inserted);
    assert!(!second.inserted);
    assert_eq!(first.id, second.id);
    let batch = client
        .enqueue_many(&[
            job.clone(),
            NewJob::new("test.effect", serde_json::json!({})),
        ])
        .await
        .expect("batch");
    assert_eq!(batch[0].id, first.id);
    assert!(!batch[0].inserted);
    assert!(batch[1].inserted);
    let count: i64 = sqlx::query_scalar("select count(*) from jobs where unique_key = 'only-one'")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 1);

    // Once finished, the key is free again.
    let claimed = store::claim(&pool, "default", "w", 10, 30_000, None, &Clock::database())
        .await
        .expect("claim");
    let mine = claimed
        .iter()
        .find(|j| j.id == first.id)
        .expect("claimed the unique job");
    store::complete_many(&pool, &[mine.id.0], &[mine.lease_token])
        .await
        .expect("complete");
    let third = client.enqueue(&job).await.expect("third");
    assert!(third.inserted);
    assert_ne!(third.id, first.id);
    assert_eq!(
        event_kinds(&pool, first.id).await,
        ["enqueued", "claimed", "completed"]
    );
}

#[sqlx::test(migrations = false)]
async fn an_enqueue_alone_wakes_listeners_at_its_commit_and_a_duplicate_wakes_none(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    listener
        .listen(job_engine::notifier::DEFAULT_CHANNEL)
        .await
        .expect("listen");
    // The client's debounced notifier can send nothing (its pool is closed), so whatever
    // is heard was sent by the enqueue's own statement.
    let closed = PgPool::connect_lazy_with((*pool.connect_options()).clone());
    closed.close().await;
    let notifier =
        job_engine::notifier::Notifier::start(closed, job_engine::notifier::LocalWakers::default());
    let client = Client::with_notifier(pool.clone(), notifier);
    let job = NewJob::new("test.effect", serde_json::json!({}))
        .with_queue("first")
        .with_unique_key("once");
    assert!(client.enqueue(&job).await.expect("enqueue").inserted);
    let heard = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a wake-up in time")
        .expect("notification");
    assert_eq!(heard.payload(), "first");

    // The duplicate inserts nothing and so wakes nobody: the next wake-up heard is the
    // one of a new job in another queue (notifications arrive in commit order).
    assert!(!client.enqueue(&job).await.expect("duplicate").inserted);
    let other = NewJob::new("test.effect", serde_json::json!({})).with_queue("second");
    assert!(client.enqueue(&other).await.expect("enqueue").inserted);
    let heard = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("a wake-up in time")
        .expect("notification");
    assert_eq!(heard.payload(), "second");
}

#[sqlx::test(migrations = false)]
async fn a_worker_killed_mid_step_is_resumed_by_another_without_rerunning_completed_steps(
    pool: PgPool,
) {
    job_engine::migrate(&pool).await.expect("migrate");
    effects_table(&pool).await;
    let mut signal = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listener");
    signal.listen("test_signal").await.expect("listen");
    let client = Client::new(pool.clone());
    let id = client
        .enqueue(&NewJob::new("test.steps", serde_json::json!({})))
        .await
        .expect("enqueue")
        .id;
    let url = database_url(&pool).await;
    let mut doomed = ChildWorker::spawn(&url, 1, 1000, &[("CHILD_HANG_IN_TWO", "1")]);
    let note = tokio::time::timeout(Duration::from_secs(30), signal.recv())
        .await
        .expect("the child reached step two in time")
        .expect("notification");
    assert_eq!(note.payload(), "in-two");
    doomed.kill();

    let worker = Worker::new(pool.clone(), child::registry(), fast_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let done = wait_for(
        &mut events,
        Duration::from_secs(30),
        |e| matches!(e, WorkerEvent::Completed(j) | WorkerEvent::Failed(j) if *j == id),
    )
    .await;
    assert_eq!(done, WorkerEvent::Completed(id));
    let _ = stop.send(());
    handle.await.expect("worker task");

    assert_eq!(
        effect_count(&pool, id, "one").await,
        1,
        "completed step one is not run again"
    );
    assert_eq!(
        effect_count(&pool, id, "two").await,
        2,
        "interrupted step two runs again"
    );
    assert_eq!(effect_count(&pool, id, "three").await, 1);
    let steps: Vec<(String, i32)> = store::steps(&pool, id)
        .await
        .expect("steps")
        .into_iter()
        .map(|s| (s.name, s.attempt))
        .collect();
    assert_eq!(
        steps,
        [("one".into(), 1), ("two".into(), 2), ("three".into(), 2)]
    );
    assert_eq!(
        event_kinds(&pool, id).await,
        [
            "enqueued",
            "claimed",
            "step_started:one",
            "step_completed:one",
            "step_started:two",
            "rescued",
            "claimed",
            "step_started:two",
            "step_completed:two",
            "step_started:three",
            "step_completed:three",
            "completed",
        ]
    );
    let workers: Vec<Option<String>> = sqlx::query_scalar(
        "select worker from job_events where job_id = $1 and kind = 'claimed' order by id",
    )
    .bind(id.0)
    .fetch_all(&pool)
    .await
    .expect("claimers");
    assert_eq!(workers.len(), 2);
    assert_ne!(workers[0], workers[1], "another worker resumed the job");
}

#[sqlx::test(migrations = false)]
async fn a_worker_whose_lease_was_taken_over_can_write_nothing(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let clock = Clock::database();
    let client = Client::new(pool.clone());
    let id = client
        .enqueue(&NewJob::new("test.steps", serde_json::json!({})))
        .await
        .expect("enqueue")
        .id;
    let zombie = store::claim(&pool, "default", "zombie", 1, 60_000, None, &clock)
        .await
        .expect("claim")
        .remove(0);
    let one = serde_json::json!(1);
    let written = store::write_checkpoints(
        &pool,
        "zombie",
        &[CheckpointRow {
            id,
            token: zombie.lease_token,
            attempt: zombie.attempt,
            step: "one",
            output: Some(&one),
        }],
    )
    .await
    .expect("checkpoint");
    assert_eq!(
        written.get(&(id, zombie.lease_token)),
        Some(&false),
        "the owner may checkpoint"
    );
    // The zombie freezes; its lease runs out and a rescuer hands the job to another worker.
    sqlx::query("update jobs set lease_expires_at = now() - interval '1 second' where id = $1")
        .bind(id.0)
        .execute(&pool)
        .await
        .expect("expire");
    let rescued = rescuer::run_once(&pool, &Registry::new(), &Observer::default(), &clock)
        .await
        .expect("rescue");
    assert_eq!(rescued.jobs.len(), 1);
    let owner = store::claim(&pool, "default", "owner", 1, 60_000, None, &clock)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(owner.id, id);
    assert!(owner.has_steps);

    let token = zombie.lease_token;
    let lost = |r: Result<(), job_engine::QueueError>| matches!(r, Err(job_engine::QueueError::LeaseLost(j)) if j == id);
    // In one group-committed batch, the zombie's completion and start are fenced off
    // while the owner's start, sharing the statement, is written.
    let two = serde_json::json!(2);
    let row = |token, output| CheckpointRow {
        id,
        token,
        attempt: 1,
        step: "two",
        output,
    };
    let written = store::write_checkpoints(
        &pool,
        "mixed",
        &[
            row(token, Some(&two)),
            row(token, None),
            row(owner.lease_token, None),
        ],
    )
    .await
    .expect("checkpoints");
    assert_eq!(
        written.into_iter().collect::<Vec<_>>(),
        vec![((id, owner.lease_token), false)]
    );
    assert!(lost(
        store::step_failed(&pool, id, token, "two", 1, "zombie", "x").await
    ));
    assert!(lost(
        store::finish(&pool, id, token, JobState::Failed, Some("zombie")).await
    ));
    assert!(lost(
        store::release(&pool, id, token, store::Release::Retry, Utc::now(), None).await
    ));
    assert!(
        store::complete_many(&pool, &[id.0], &[token])
            .await
            .expect("complete")
            .is_empty()
    );
    assert!(
        store::extend_leases(&pool, &[id.0], &[token], 60_000, &clock)
            .await
            .expect("extend")
            .is_empty()
    );

    let steps = store::steps(&pool, id).await.expect("steps");
    assert_eq!(steps.len(), 1, "the zombie's step two was not stored");
    let job = store::job(&pool, id).await.expect("job").expect("exists");
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.lease_owner.as_deref(), Some("owner"));
    let done = store::complete_many(&pool, &[id.0], &[owner.lease_token])
        .await
        .expect("complete");
    assert_eq!(done, [id]);
    assert_eq!(
        event_kinds(&pool, id).await,
        [
            "enqueued",
            "claimed",
            "step_completed:one",
            "rescued",
            "claimed",
            "step_started:two",
            "completed"
        ]
    );
}

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

/// A typed kind for the test below.
struct Tally;

#[derive(serde::Serialize, serde::Deserialize)]
struct TallyArgs {
    count: u32,
}

impl JobKind for Tally {
    const NAME: &'static str = "test.tally";
    type Args = TallyArgs;
}

#[sqlx::test(migrations = false)]
async fn a_typed_kind_gets_its_arguments_and_arguments_that_do_not_fit_fail_at_once(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut registry = Registry::new();
    let record = seen.clone();
    registry.register_kind::<Tally, _, _>(move |_ctx: JobContext, args: TallyArgs| {
        let record = record.clone();
        async move {
            record.lock().expect("lock").push(args.count);
            Ok(())
        }
    });
    let client = Client::new(pool.clone());
    let typed = client
        .enqueue(&NewJob::of::<Tally>(&TallyArgs { count: 3 }).expect("arguments"))
        .await
        .expect("enqueue")
        .id;
    // A job of the same kind enqueued untyped, with arguments of another shape.
    let malformed = client
        .enqueue(
            &NewJob::new(Tally::NAME, serde_json::json!({"count": "three"})).with_max_attempts(5),
        )
        .await
        .expect("enqueue")
        .id;
    let (mut events, stop, handle) = start_worker(&pool, registry, &client);
    // The two finish in either order.
    let mut outcomes = Vec::new();
    while outcomes.len() < 2 {
        outcomes.push(
            wait_for(&mut events, Duration::from_secs(20), |e| {
                matches!(e, WorkerEvent::Completed(_) | WorkerEvent::Failed(_))
            })
            .await,
        );
    }
    let _ = stop.send(());
    handle.await.expect("worker task");

    assert!(
        outcomes.contains(&WorkerEvent::Completed(typed)),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&WorkerEvent::Failed(malformed)),
        "{outcomes:?}"
    );
    assert_eq!(*seen.lock().expect("lock"), vec![3]);
    let failed = store::job(&pool, malformed)
        .await
        .expect("job")
        .expect("exists");
    assert_eq!(failed.attempt, 1, "no retry can fix the arguments");
    let error = failed.last_error.unwrap_or_default();
    assert!(error.contains("invalid job arguments"), "{error}");
}

#[sqlx::test(migrations = false)]
async fn a_periodic_job_runs_once_per_slot_while_three_workers_race(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    effects_table(&pool).await;
    let schedule = Schedule::new("tick", "test.effect", Duration::from_millis(100));
    let notifier_client = Client::new(pool.clone());
    let mut events = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..3 {
        let mut config = fast_config();
        config.schedules = vec![schedule.clone()];
        let worker = Worker::with_notifier(
            pool.clone(),
            child::registry(),
            config,
            notifier_client.notifier().clone(),
        );
        events.push(worker.subscribe());
        runs.push(start(worker));
    }
    // Also race the scheduler pass directly, many times at once.
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    periodic::run_once(&pool, &Clock::database())
                        .await
                        .expect("pass");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    for racer in racers {
        racer.await.expect("racer");
    }
    wait_until(Duration::from_secs(20), "six slots", || async {
        let slots: i64 = sqlx::query_scalar(
            "select count(*) from finished_jobs where unique_key like 'tick:%' and state = 'completed'",
        )
        .fetch_one(&pool)
        .await
        .expect("count");
        slots >= 6
    })
    .await;
    for (stop, handle) in runs {
        let _ = stop.send(());
        handle.await.expect("worker");
    }
    let keys: Vec<String> = sqlx::query_scalar(
        "select unique_key from jobs_all where unique_key like 'tick:%' order by id",
    )
    .fetch_all(&pool)
    .await
    .expect("keys");
    let mut slots: Vec<i64> = keys
        .iter()
        .map(|k| k.trim_start_matches("tick:").parse().expect("slot number"))
        .collect();
    let total = slots.len();
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(slots.len(), total, "no slot was enqueued twice: {keys:?}");
    let (runs, jobs): (i64, i64) =
        sqlx::query_as("select count(*), count(distinct job_id) from test_effects")
            .fetch_one(&pool)
            .await
            .expect("effects");
    assert_eq!(runs, jobs, "each slot's job ran once");
}

#[sqlx::test(migrations = false)]
async fn graceful_shutdown_hands_running_jobs_back_and_another_worker_completes_them(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let leaving_id: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let started = Arc::new(Notify::new());
    let mut registry = Registry::new();
    {
        let leaving_id = leaving_id.clone();
        let started = started.clone();
        registry.register("test.long", move |ctx: JobContext| {
            let leaving = leaving_id.lock().expect("lock").clone();
            let started = started.clone();
            async move {
                if leaving.as_deref() == Some(ctx.worker()) {
                    started.notify_one();
                    futures::future::pending::<()>().await;
                }
                Ok(())
            }
        });
    }
    let client = Client::new(pool.clone());
    let id = client
        .enqueue(&NewJob::new("test.long", serde_json::json!({})))
        .await
        .expect("enqueue")
        .id;
    let leaving = Worker::new(pool.clone(), registry.clone(), fast_config());
    *leaving_id.lock().expect("lock") = Some(leaving.id().to_owned());
    let mut leaving_events = leaving.subscribe();
    let (stop, handle) = start(leaving);
    started.notified().await;
    let _ = stop.send(());
    wait_for(&mut leaving_events, Duration::from_secs(10), |e| {
        *e == WorkerEvent::HandedBack(id)
    })
    .await;
    handle.await.expect("leaving worker stops");
    let job = store::job(&pool, id).await.expect("job").expect("exists");
    assert_eq!(job.state, JobState::Available);
    assert_eq!(job.attempt, 0, "a hand-back does not count as an attempt");

    let staying = Worker::new(pool.clone(), registry, fast_config());
    let mut events = staying.subscribe();
    let (stop, handle) = start(staying);
    wait_for(&mut events, Duration::from_secs(10), |e| {
        *e == WorkerEvent::Completed(id)
    })
    .await;
    let _ = stop.send(());
    handle.await.expect("worker");
    let job = store::job(&pool, id).await.expect("job").expect("exists");
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(job.attempt, 1);
    assert_eq!(
        event_kinds(&pool, id).await,
        ["enqueued", "claimed", "handed_back", "claimed", "completed"]
    );
}

#[sqlx::test(migrations = false)]
async fn cancellation_stops_a_running_job_at_once_and_its_next_step_never_runs(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    effects_table(&pool).await;
    let in_one = Arc::new(Notify::new());
    let go_on = Arc::new(Notify::new());
    let mut registry = Registry::new();
    {
        let (in_one, go_on) = (in_one.clone(), go_on.clone());
        registry.register("test.cancellable", move |ctx: JobContext| {
            let (in_one, go_on) = (in_one.clone(), go_on.clone());
            async move {
                ctx.step("one", || async {
                    in_one.notify_one();
                    go_on.notified().await;
                    child::effect(&ctx, "one").await
                })
                .await?;
                ctx.step("two", || async { child::effect(&ctx, "two").await })
                    .await?;
                Ok(())
            }
        });
    }
    let client = Client::new(pool.clone());
    let waiting = client
        .enqueue(
            &NewJob::new("test.cancellable", serde_json::json!({}))
                .with_run_at(Utc::now() + chrono::Duration::hours(1)),
        )
        .await
        .expect("enqueue")
        .id;
    assert_eq!(
        store::cancel(&pool, waiting).await.expect("cancel"),
        CancelOutcome::Cancelled
    );
    assert_eq!(event_kinds(&pool, waiting).await, ["enqueued", "cancelled"]);

    let id = client
        .enqueue(&NewJob::new("test.cancellable", serde_json::json!({})))
        .await
        .expect("enqueue")
        .id;
    let (mut events, stop, handle) = start_worker(&pool, registry, &client);
    in_one.notified().await;
    // The worker is told when the cancel commits and stops the job inside its running
    // step, which is never let go on.
    assert_eq!(
        store::cancel(&pool, id).await.expect("cancel"),
        CancelOutcome::Requested
    );
    wait_for(&mut events, Duration::from_secs(10), |e| {
        *e == WorkerEvent::Cancelled(id)
    })
    .await;
    go_on.notify_one();
    let _ = stop.send(());
    handle.await.expect("worker");

    assert_eq!(
        effect_count(&pool, id, "one").await,
        0,
        "the running step was stopped"
    );
    assert_eq!(
        effect_count(&pool, id, "two").await,
        0,
        "the next step never ran"
    );
    let job = store::job(&pool, id).await.expect("job").expect("exists");
    assert_eq!(job.state, JobState::Cancelled);
    assert_eq!(
        event_kinds(&pool, id).await,
        [
            "enqueued",
            "claimed",
            "step_started:one",
            "cancel_requested",
            "cancelled",
        ]
    );
    assert!(matches!(
        store::cancel(&pool, id).await,
        Err(job_engine::QueueError::InvalidState { .. })
    ));
}

#[sqlx::test(migrations = false)]
async fn a_durable_timer_resumes_with_only_the_remaining_wait(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    let mut registry = Registry::new();
    registry.register("test.timer", |ctx: JobContext| async move {
        ctx.sleep("ready-delay", Duration::from_secs(60)).await
    });
    let client = Client::new(pool.clone());
    let id = client
        .enqueue(&NewJob::new("test.timer", serde_json::json!({})))
        .await
        .expect("enqueue")
        .id;
    let (mut events, stop, handle) = start_worker(&pool, registry, &client);
    wait_for(&mut events, Duration::from_secs(10), |e| {
        *e == WorkerEvent::Snoozed(id)
    })
    .await;
    let _ = stop.send(());
    handle.await.expect("worker");
    let job = store::job(&pool, id).await.expect("job").expect("exists");
    assert_eq!(job.state, JobState::Scheduled);
    assert_eq!(job.attempt, 0, "a snooze does not count as an attempt");
    let steps = store::steps(&pool, id).await.expect("steps");
    let deadline: DateTime<Utc> =
        serde_json::from_value(steps[0].output.clone()).expect("deadline");
    assert_eq!(job.run_at, deadline, "the job wakes at the stored deadline");
}

#[sqlx::test(migrations = false)]
async fn compaction_rebuilds_claim_indexes_that_vacuum_left_mostly_empty(pool: PgPool) {
    use job_engine::maintenance;
    job_engine::migrate(&pool).await.expect("migrate");
    // What a pinned vacuum leaves: the indexes grew with many jobs that are gone now.
    sqlx::query("insert into jobs (kind) select 'test.gone' from generate_series(1, 100000)")
        .execute(&pool)
        .await
        .expect("insert");
    sqlx::query("delete from jobs")
        .execute(&pool)
        .await
        .expect("delete");
    sqlx::query("vacuum jobs")
        .execute(&pool)
        .await
        .expect("vacuum");
    let live = Client::new(pool.clone())
        .enqueue(&NewJob::new("test.kept", serde_json::json!({})))
        .await
        .expect("enqueue")
        .id;

    let compaction = maintenance::compact(&pool, 1024 * 1024)
        .await
        .expect("compact");
    assert!(compaction.rebuilt, "{compaction:?}");
    assert!(
        compaction.after * 10 < compaction.before,
        "the indexes shrank: {compaction:?}"
    );
    // The rebuilt indexes serve claims, and a second pass finds nothing to do.
    let claimed = store::claim(&pool, "default", "w", 10, 30_000, None, &Clock::database())
        .await
        .expect("claim");
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), [live]);
    let again = maintenance::compact(&pool, 1024 * 1024)
        .await
        .expect("compact");
    assert!(!again.rebuilt, "{again:?}");
}

/// The end hook runs exactly once for each job that ends for good, whoever ends it (the
/// attempt's worker on a permanent failure or after the last attempt, the rescuer when a
/// worker was killed on it), while three worker processes are SIGKILLed and restarted,
/// and never for a job that completes.
#[sqlx::test(migrations = false)]
async fn the_end_hook_runs_once_per_final_failure_while_workers_are_killed(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("migrate");
    effects_table(&pool).await;
    let client = Client::new(pool.clone());
    let modes = ["ok", "transient", "permanent"];
    let jobs: Vec<NewJob> = (0..150)
        .map(|n| {
            let mode = modes[n % modes.len()];
            let job = NewJob::new(child::ENDING_KIND, serde_json::json!({ "mode": mode }));
            // Jobs that succeed have attempts to spare for the kills; the others fail on
            // their second attempt, or when a kill ends it.
            if mode == "ok" {
                job
            } else {
                job.with_max_attempts(2)
            }
        })
        .collect();
    client.enqueue_many(&jobs).await.expect("enqueue");
    let url = database_url(&pool).await;
    let spawn = || ChildWorker::spawn(&url, 4, 600, &[]);
    let mut workers = vec![spawn(), spawn(), spawn()];
    let mut kills = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left: i64 = sqlx::query_scalar("select count(*) from jobs")
            .fetch_one(&pool)
            .await
            .expect("unfinished");
        if left == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{left} jobs left");
        if kills < 12 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let victim = kills % workers.len();
            workers[victim].kill();
            workers[victim] = spawn();
            kills += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    drop(workers);

    let by_job: Vec<(String, i64, i64)> = sqlx::query_as(
        "select f.state::text,
                (select count(*) from test_effects e
                 where e.job_id = f.id and e.what like 'ended:%'),
                (select count(*) from test_effects e
                 where e.job_id = f.id and e.what = 'ended:' || f.state::text)
         from finished_jobs f",
    )
    .fetch_all(&pool)
    .await
    .expect("ends");
    let failed = by_job
        .iter()
        .filter(|(state, ..)| state == "failed")
        .count();
    let rescued_failures: i64 = sqlx::query_scalar(
        "select count(*) from finished_jobs where last_error = 'lease expired on the last attempt'",
    )
    .fetch_one(&pool)
    .await
    .expect("rescued failures");
    println!(
        "end hook under kills: jobs {}, worker SIGKILLs {kills}, failed {failed} (by the rescuer {rescued_failures})",
        by_job.len()
    );
    assert_eq!(by_job.len(), jobs.len());
    assert_eq!(failed, 100, "every transient and permanent job failed");
    for (state, ends, matching) in &by_job {
        match state.as_str() {
            "failed" => assert_eq!((*ends, *matching), (1, 1), "one end per failed job"),
            _ => assert_eq!(*ends, 0, "no end hook for a {state} job"),
        }
    }
}
