//! Cancellation: a waiting job is cancelled at once, a running one is stopped inside its
//! running step and its next step never runs, and a finished one cannot be cancelled.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use job_engine::testing::store::{self, CancelOutcome};
use job_engine::{Client, JobContext, JobState, NewJob, Registry, WorkerEvent};
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::helpers::{event_kinds, wait_for};
use crate::{child, effect_count, effects_table, start_worker};

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
