//! Durable timers: a sleeping job is snoozed to its stored deadline and resumes with only
//! the remaining wait, the snooze not counted as an attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use job_engine::testing::store;
use job_engine::{Client, JobContext, JobState, NewJob, Registry, WorkerEvent};
use sqlx::PgPool;

use crate::helpers::wait_for;
use crate::start_worker;

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
