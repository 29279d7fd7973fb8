//! The injectable clock against a real PostgreSQL: lease expiry, backoff, durable timers
//! and periodic slots, each seen to happen at the clock's time without waiting for it.
//!
//! The test clock stands years away from the real time, so a statement that read the
//! database's `now()` instead of the clock would get every due time wrong.

// A test fails on a broken expectation (the workspace lints keep `expect` out of runtime
// code).
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use job_engine::{
    Clock, JobContext, JobError, JobId, JobState, NewJob, Observer, Registry, RetryPolicy,
    Schedule, Worker, WorkerConfig, WorkerEvent, periodic, rescuer, store, testing,
};
use sqlx::PgPool;

/// Long enough for a loaded machine; every wait ends at an event, not at this bound.
const WITHIN: Duration = Duration::from_secs(30);

/// A time far from the real one, with microseconds (what PostgreSQL keeps).
fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2031-03-14T09:26:53.589793Z")
        .expect("a valid time")
        .with_timezone(&Utc)
}

fn after(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    at + chrono::Duration::from_std(by).expect("a short duration")
}

fn before(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    at - chrono::Duration::from_std(by).expect("a short duration")
}

async fn migrated(pool: &PgPool) {
    job_engine::migrate(pool).await.expect("migrate");
}

async fn record(pool: &PgPool, id: JobId) -> store::JobRecord {
    store::job(pool, id).await.expect("read").expect("the job")
}

/// What one claim statement, as a worker runs it, takes from `queue` at `clock`'s time.
async fn claimable(pool: &PgPool, queue: &str, clock: &Clock) -> Vec<JobId> {
    store::claim(pool, queue, "probe", 10, 30_000, None, clock)
        .await
        .expect("claim")
        .into_iter()
        .map(|job| job.id)
        .collect()
}

/// A worker of `registry` on `queue` going by `clock`, started, with its events.
fn run_worker(
    pool: &PgPool,
    client: &job_engine::Client,
    registry: Registry,
    config: WorkerConfig,
) -> (
    tokio::sync::broadcast::Receiver<WorkerEvent>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<job_engine::worker::RunStats, job_engine::QueueError>>,
) {
    let worker = Worker::with_notifier(pool.clone(), registry, config, client.notifier().clone());
    let events = worker.subscribe();
    let (stop, handle) = testing::start(worker);
    (events, stop, handle)
}

#[sqlx::test(migrations = false)]
async fn a_lease_expires_at_the_clocks_time_and_a_renewal_counts_from_its_own(pool: PgPool) {
    migrated(&pool).await;
    let clock = Clock::fixed(start());
    let lease = Duration::from_secs(30);
    let ms = Duration::from_millis(1);
    let client = job_engine::Client::new(pool.clone()).with_clock(clock.clone());
    let job = client
        .enqueue(&NewJob::new("clock.lease", serde_json::json!({})).with_queue("lease"))
        .await
        .expect("enqueue")
        .id;
    let claimed = store::claim(&pool, "lease", "frozen", 1, 30_000, None, &clock)
        .await
        .expect("claim");
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![job]);
    let (registry, observer) = (Registry::new(), Observer::default());
    let rescue = || async {
        rescuer::run_once(&pool, &registry, &observer, &clock)
            .await
            .map(|pass| pass.jobs)
    };

    clock.set(before(after(start(), lease), ms));
    assert!(
        rescue().await.expect("rescue").is_empty(),
        "not expired yet"
    );
    assert_eq!(record(&pool, job).await.state, JobState::Running);

    clock.set(after(after(start(), lease), ms));
    let rescued = rescue().await.expect("rescue");
    assert_eq!(rescued.iter().map(|r| r.id).collect::<Vec<_>>(), vec![job]);
    let back = record(&pool, job).await;
    assert_eq!(back.state, JobState::Available);
    assert_eq!(
        back.run_at,
        clock.now(),
        "runnable again at the clock's time"
    );

    // Claimed again at T2 and renewed 20 s later: it expires 30 s after the renewal.
    let t2 = clock.now();
    let token = store::claim(&pool, "lease", "alive", 1, 30_000, None, &clock)
        .await
        .expect("claim again")
        .first()
        .expect("the rescued job")
        .lease_token;
    let renewed_at = after(t2, Duration::from_secs(20));
    clock.set(renewed_at);
    let kept = store::extend_leases(&pool, &[job.0], &[token], 30_000, &clock)
        .await
        .expect("renew");
    assert_eq!(kept, vec![(job, false)]);
    clock.set(after(after(t2, lease), ms));
    assert!(
        rescue().await.expect("rescue").is_empty(),
        "the renewal moved the expiry"
    );
    clock.set(before(after(renewed_at, lease), ms));
    assert!(
        rescue().await.expect("rescue").is_empty(),
        "not expired yet"
    );
    clock.set(after(after(renewed_at, lease), ms));
    assert_eq!(
        rescue()
            .await
            .expect("rescue")
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![job]
    );
}

#[sqlx::test(migrations = false)]
async fn a_transient_failure_is_claimable_only_once_the_clock_passes_its_backoff(pool: PgPool) {
    migrated(&pool).await;
    let clock = Clock::fixed(start());
    let backoff = Duration::from_secs(600);
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::new();
    let seen = attempts.clone();
    registry.register("clock.flaky", move |_ctx: JobContext| {
        let attempt = seen.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if attempt == 1 {
                Err(JobError::Transient("first attempt fails".into()))
            } else {
                Ok(())
            }
        }
    });
    let config = WorkerConfig {
        queue: "backoff".into(),
        retry: RetryPolicy {
            base: backoff,
            max: backoff,
            jitter: 0.0,
        },
        clock: clock.clone(),
        ..WorkerConfig::default()
    };
    let client = job_engine::Client::new(pool.clone()).with_clock(clock.clone());
    let (mut events, stop, handle) = run_worker(&pool, &client, registry, config);
    let job = client
        .enqueue(&NewJob::new("clock.flaky", serde_json::json!({})).with_queue("backoff"))
        .await
        .expect("enqueue")
        .id;

    let retry = testing::wait_for(&mut events, WITHIN, |e| {
        *e == WorkerEvent::RetryScheduled(job)
    })
    .await;
    assert_eq!(retry, Some(WorkerEvent::RetryScheduled(job)));
    let waiting = record(&pool, job).await;
    assert_eq!(waiting.state, JobState::Retryable);
    assert_eq!(
        waiting.run_at,
        after(start(), backoff),
        "the failure's time plus the backoff"
    );

    clock.set(before(after(start(), backoff), Duration::from_millis(1)));
    assert!(
        claimable(&pool, "backoff", &clock).await.is_empty(),
        "inside the backoff"
    );
    assert_eq!(record(&pool, job).await.state, JobState::Retryable);

    clock.set(after(start(), backoff));
    client.wake("backoff");
    let end = testing::wait_for(&mut events, WITHIN, |e| testing::ends(e, job)).await;
    assert_eq!(end, Some(WorkerEvent::Completed(job)));
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(record(&pool, job).await.attempt, 2);
    let _ = stop.send(());
    handle.await.expect("worker task").expect("worker");
}

#[sqlx::test(migrations = false)]
async fn a_durable_timer_of_an_hour_resumes_when_the_clock_passes_it(pool: PgPool) {
    migrated(&pool).await;
    let clock = Clock::fixed(start());
    let hour = Duration::from_secs(3600);
    let runs = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let mut registry = Registry::new();
    let counted = runs.clone();
    registry.register("clock.nap", move |ctx: JobContext| {
        let runs = counted.clone();
        async move {
            ctx.step("before", || async {
                runs[0].fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await?;
            ctx.sleep("nap", hour).await?;
            ctx.step("after", || async {
                runs[1].fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await
        }
    });
    let config = WorkerConfig {
        queue: "timer".into(),
        clock: clock.clone(),
        ..WorkerConfig::default()
    };
    let client = job_engine::Client::new(pool.clone()).with_clock(clock.clone());
    let (mut events, stop, handle) = run_worker(&pool, &client, registry, config);
    let job = client
        .enqueue(&NewJob::new("clock.nap", serde_json::json!({})).with_queue("timer"))
        .await
        .expect("enqueue")
        .id;

    let snoozed = testing::wait_for(&mut events, WITHIN, |e| *e == WorkerEvent::Snoozed(job)).await;
    assert_eq!(snoozed, Some(WorkerEvent::Snoozed(job)));
    let asleep = record(&pool, job).await;
    assert_eq!(asleep.state, JobState::Scheduled);
    assert_eq!(
        asleep.run_at,
        after(start(), hour),
        "due when the hour has passed"
    );
    assert_eq!(asleep.attempt, 0, "a snooze is not an attempt");

    clock.set(before(after(start(), hour), Duration::from_millis(1)));
    assert!(
        claimable(&pool, "timer", &clock).await.is_empty(),
        "still asleep"
    );

    clock.set(after(after(start(), hour), Duration::from_millis(1)));
    client.wake("timer");
    let end = testing::wait_for(&mut events, WITHIN, |e| testing::ends(e, job)).await;
    assert_eq!(end, Some(WorkerEvent::Completed(job)));
    assert_eq!(
        runs[0].load(Ordering::SeqCst),
        1,
        "the completed step is not run again"
    );
    assert_eq!(runs[1].load(Ordering::SeqCst), 1);
    let steps: Vec<String> = store::steps(&pool, job)
        .await
        .expect("steps")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
    for name in ["before", "nap", "after"] {
        assert!(steps.iter().any(|s| s == name), "{name} in {steps:?}");
    }
    let _ = stop.send(());
    handle.await.expect("worker task").expect("worker");
}

#[sqlx::test(migrations = false)]
async fn a_periodic_schedule_enqueues_one_job_per_slot_as_the_clock_reaches_it(pool: PgPool) {
    migrated(&pool).await;
    let hour = Duration::from_secs(3600);
    let hour_ms = 3_600_000;
    // Slot k starts at k hours after the epoch; the schedule is stored during slot k - 1.
    let k = start().timestamp_millis() / hour_ms + 1;
    let slot_start =
        |slot: i64| DateTime::from_timestamp_millis(slot * hour_ms).expect("a slot's start");
    let clock = Clock::fixed(before(slot_start(k), Duration::from_secs(600)));
    let schedule = Schedule::new("hourly", "clock.tick", hour);
    periodic::register(&pool, &schedule, &clock)
        .await
        .expect("register");
    let pass = || async {
        periodic::run_once(&pool, &clock)
            .await
            .map(|pass| pass.enqueued)
    };
    let keys = || async {
        sqlx::query_scalar::<_, String>(
            "select unique_key from jobs_all where kind = 'clock.tick' order by id",
        )
        .fetch_all(&pool)
        .await
        .expect("keys")
    };

    assert!(
        pass().await.expect("pass").is_empty(),
        "slot k has not come"
    );
    clock.set(slot_start(k));
    assert_eq!(pass().await.expect("pass").len(), 1, "slot k at its start");
    assert!(pass().await.expect("pass").is_empty(), "slot k only once");
    clock.set(before(slot_start(k + 1), Duration::from_millis(1)));
    assert!(
        pass().await.expect("pass").is_empty(),
        "slot k + 1 has not come"
    );
    assert_eq!(keys().await, vec![format!("hourly:{k}")]);

    clock.set(after(slot_start(k + 1), Duration::from_millis(1)));
    assert_eq!(
        pass().await.expect("pass").len(),
        1,
        "slot k + 1 once it has come"
    );
    clock.set(after(slot_start(k + 1), Duration::from_secs(1800)));
    assert!(
        pass().await.expect("pass").is_empty(),
        "slot k + 1 only once"
    );
    assert_eq!(
        keys().await,
        vec![format!("hourly:{k}"), format!("hourly:{}", k + 1)]
    );
    // Each slot's job is due when the clock's pass enqueued it, not at the database's time.
    let due: Vec<DateTime<Utc>> =
        sqlx::query_scalar("select run_at from jobs where kind = 'clock.tick' order by id")
            .fetch_all(&pool)
            .await
            .expect("due times");
    assert_eq!(
        due,
        vec![
            slot_start(k),
            after(slot_start(k + 1), Duration::from_millis(1))
        ]
    );
}
