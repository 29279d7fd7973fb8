//! The test kit against a real PostgreSQL: a job run to its end without a worker loop
//! (its step-done events in order, a retry scheduled, the retry resumed), and the
//! rescuer's and periodic scheduler's passes run on demand, returning and telling what
//! they did. No test sleeps: every run returns when its job's attempt is over, and the
//! events it told are already buffered then.

// A test fails on a broken expectation (the workspace lints keep `expect` out of runtime
// code).
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use job_engine::periodic::{self, Schedule};
use job_engine::testing::{End, TestRunner};
use job_engine::{
    Client, Clock, JobContext, JobError, JobId, JobState, NewJob, Registry, WorkerConfig,
    WorkerEvent, store,
};
use sqlx::PgPool;
use tokio::sync::broadcast;

async fn migrated(pool: &PgPool) {
    job_engine::migrate(pool).await.expect("migrate");
}

async fn enqueue(pool: &PgPool, job: NewJob) -> JobId {
    Client::new(pool.clone())
        .enqueue(&job)
        .await
        .expect("enqueue")
        .id
}

/// Every event told so far, in order.
fn told(events: &mut broadcast::Receiver<WorkerEvent>) -> Vec<WorkerEvent> {
    std::iter::from_fn(|| events.try_recv().ok()).collect()
}

fn steps_done(events: &[WorkerEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|event| match event {
            WorkerEvent::StepDone { step, .. } => Some(step.as_str()),
            _ => None,
        })
        .collect()
}

async fn state_of(pool: &PgPool, job: JobId) -> JobState {
    store::job(pool, job)
        .await
        .expect("read")
        .expect("the job exists")
        .state
}

#[sqlx::test(migrations = false)]
async fn a_three_step_job_runs_to_its_end_without_a_worker_telling_each_step_in_order(
    pool: PgPool,
) {
    migrated(&pool).await;
    let mut registry = Registry::new();
    registry.register("kit.three-steps", |ctx: JobContext| async move {
        let one: i32 = ctx.step("one", || async { Ok(1) }).await?;
        let two = ctx.step("two", || async move { Ok(one + 1) }).await?;
        ctx.step("three", || async move { Ok(two + 1) }).await?;
        Ok(())
    });
    let job = enqueue(&pool, NewJob::new("kit.three-steps", serde_json::json!({}))).await;
    let runner = TestRunner::new(pool.clone(), registry, WorkerConfig::default());
    let mut events = runner.subscribe();

    let end = runner.run_to_end(job).await.expect("run");

    assert_eq!(end, End::Completed);
    assert_eq!(state_of(&pool, job).await, JobState::Completed);
    let told = told(&mut events);
    assert_eq!(told.first(), Some(&WorkerEvent::Claimed(job)), "{told:?}");
    assert_eq!(told.last(), Some(&WorkerEvent::Completed(job)), "{told:?}");
    assert_eq!(steps_done(&told), ["one", "two", "three"], "{told:?}");
    assert!(
        told.iter()
            .all(|event| !matches!(event, WorkerEvent::StepDone { job: j, .. } if *j != job)),
        "{told:?}"
    );
    let mut stored: Vec<String> = store::steps(&pool, job)
        .await
        .expect("steps")
        .into_iter()
        .map(|step| step.name)
        .collect();
    stored.sort();
    assert_eq!(stored, ["one", "three", "two"]);
}

#[sqlx::test(migrations = false)]
async fn a_failing_attempt_schedules_its_retry_and_the_next_run_resumes_after_the_stored_step(
    pool: PgPool,
) {
    migrated(&pool).await;
    let first_step_runs = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::new();
    let runs = first_step_runs.clone();
    registry.register("kit.flaky", move |ctx: JobContext| {
        let runs = runs.clone();
        async move {
            ctx.step("fetch", || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await?;
            ctx.step("apply", || async {
                if ctx.attempt() == 1 {
                    Err(JobError::Transient("the first apply fails".into()))
                } else {
                    Ok(())
                }
            })
            .await
        }
    });
    let job = enqueue(&pool, NewJob::new("kit.flaky", serde_json::json!({}))).await;
    let runner = TestRunner::new(pool.clone(), registry, WorkerConfig::default());
    let mut events = runner.subscribe();

    let first = runner.run_to_end(job).await.expect("first run");
    assert_eq!(first, End::RetryScheduled);
    let record = store::job(&pool, job).await.expect("read").expect("job");
    assert_eq!(record.state, JobState::Retryable);
    assert_eq!(record.attempt, 1);
    assert!(
        record
            .last_error
            .as_deref()
            .is_some_and(|error| error.contains("the first apply fails")),
        "{record:?}"
    );
    let told_first = told(&mut events);
    assert_eq!(steps_done(&told_first), ["fetch"], "{told_first:?}");
    assert_eq!(told_first.last(), Some(&WorkerEvent::RetryScheduled(job)));

    // The retry runs now, whatever its backoff: the test decides when time has passed.
    let second = runner.run_to_end(job).await.expect("second run");
    assert_eq!(second, End::Completed);
    let told_second = told(&mut events);
    assert_eq!(steps_done(&told_second), ["apply"], "{told_second:?}");
    assert_eq!(
        first_step_runs.load(Ordering::SeqCst),
        1,
        "fetch was stored"
    );
    assert_eq!(state_of(&pool, job).await, JobState::Completed);
}

#[sqlx::test(migrations = false)]
async fn a_job_that_cannot_be_claimed_is_refused_with_its_state(pool: PgPool) {
    migrated(&pool).await;
    let runner = TestRunner::new(pool.clone(), Registry::new(), WorkerConfig::default());
    let missing = runner.run_to_end(JobId(i64::MAX)).await;
    assert!(
        matches!(
            missing,
            Err(job_engine::QueueError::NotFound(JobId(i64::MAX)))
        ),
        "{missing:?}"
    );

    let job = enqueue(&pool, NewJob::new("kit.unknown", serde_json::json!({}))).await;
    // No handler: the engine fails it permanently, as a worker would.
    assert_eq!(runner.run_to_end(job).await.expect("run"), End::Failed);
    let again = runner.run_to_end(job).await;
    assert!(
        matches!(
            again,
            Err(job_engine::QueueError::InvalidState { id, state: "failed", .. }) if id == job
        ),
        "{again:?}"
    );
}

#[sqlx::test(migrations = false)]
async fn the_rescuers_pass_returns_and_tells_the_jobs_whose_lease_expired(pool: PgPool) {
    migrated(&pool).await;
    let queue = "kit-rescue";
    let requeued = enqueue(
        &pool,
        NewJob::new("kit.lost", serde_json::json!({})).with_queue(queue),
    )
    .await;
    let exhausted = enqueue(
        &pool,
        NewJob::new("kit.lost", serde_json::json!({}))
            .with_queue(queue)
            .with_max_attempts(1),
    )
    .await;
    // A worker claims both and vanishes; its leases run out.
    let claimed = store::claim(
        &pool,
        queue,
        "vanished-worker",
        10,
        60_000,
        None,
        &Clock::database(),
    )
    .await
    .expect("claim");
    assert_eq!(claimed.len(), 2);
    sqlx::query("update jobs set lease_expires_at = now() - interval '1 second' where queue = $1")
        .bind(queue)
        .execute(&pool)
        .await
        .expect("expire the leases");
    let runner = TestRunner::new(pool.clone(), Registry::new(), WorkerConfig::default());
    let mut events = runner.subscribe();

    let pass = runner.rescue_once().await.expect("rescue");

    assert_eq!((pass.requeued(), pass.failed()), (1, 1), "{pass:?}");
    let mut rescued: Vec<(JobId, bool)> = pass.jobs.iter().map(|j| (j.id, j.failed)).collect();
    rescued.sort();
    assert_eq!(rescued, [(requeued, false), (exhausted, true)]);
    let mut told: Vec<WorkerEvent> = told(&mut events);
    told.sort_by_key(|event| match event {
        WorkerEvent::Rescued { job, .. } => job.0,
        _ => i64::MIN,
    });
    assert_eq!(
        told,
        [
            WorkerEvent::Rescued {
                job: requeued,
                failed: false
            },
            WorkerEvent::Rescued {
                job: exhausted,
                failed: true
            },
        ]
    );
    assert_eq!(state_of(&pool, requeued).await, JobState::Available);
    assert_eq!(state_of(&pool, exhausted).await, JobState::Failed);
    // Nothing is expired any more: the next pass rescues nothing and tells nothing.
    assert!(runner.rescue_once().await.expect("again").jobs.is_empty());
    assert_eq!(events.try_recv().ok(), None);
}

#[sqlx::test(migrations = false)]
async fn the_periodic_pass_returns_and_tells_the_slot_it_enqueued(pool: PgPool) {
    migrated(&pool).await;
    let schedule = Schedule::new("kit-hourly", "kit.tick", Duration::from_secs(3600));
    periodic::register(&pool, &schedule, &Clock::database())
        .await
        .expect("register");
    // The schedule's next slot is due now rather than at the next hour.
    sqlx::query(
        "update periodic_jobs set next_run_at = now() - interval '1 second' where name = $1",
    )
    .bind(&schedule.name)
    .execute(&pool)
    .await
    .expect("make the slot due");
    let runner = TestRunner::new(pool.clone(), Registry::new(), WorkerConfig::default());
    let mut events = runner.subscribe();

    let pass = runner.periodic_once().await.expect("pass");

    let [slot] = pass.enqueued.as_slice() else {
        panic!("one slot enqueued: {pass:?}")
    };
    assert_eq!(slot.schedule, "kit-hourly");
    assert_eq!(slot.queue, schedule.queue);
    let job = store::job(&pool, slot.job)
        .await
        .expect("read")
        .expect("job");
    assert_eq!(job.kind, "kit.tick");
    assert_eq!(
        job.unique_key.as_deref(),
        Some(format!("kit-hourly:{}", slot.slot).as_str())
    );
    assert_eq!(
        told(&mut events),
        [WorkerEvent::SlotEnqueued {
            schedule: "kit-hourly".into(),
            slot: slot.slot,
            job: slot.job,
        }]
    );
    // The slot is taken: the next pass enqueues nothing.
    assert!(
        runner
            .periodic_once()
            .await
            .expect("again")
            .enqueued
            .is_empty()
    );
    assert_eq!(events.try_recv().ok(), None);
}
