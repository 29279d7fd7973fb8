//! Leases: a worker killed mid-step is resumed by another without rerunning completed
//! steps, and a worker whose lease was taken over is fenced off from every write.

use std::time::Duration;

use chrono::Utc;
use job_engine::testing::store::{self, CheckpointRow};
use job_engine::{
    Client, Clock, JobState, NewJob, Observer, Registry, Worker, WorkerEvent, rescuer,
};
use sqlx::PgPool;

use crate::helpers::{ChildWorker, database_url, event_kinds, fast_config, wait_for};
use crate::{child, effect_count, effects_table, start};

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
