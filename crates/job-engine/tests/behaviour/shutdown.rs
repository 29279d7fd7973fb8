//! Graceful shutdown: a stopping worker hands its running jobs back without counting an
//! attempt, and another worker completes them.

use std::sync::Arc;
use std::time::Duration;

use job_engine::testing::store;
use job_engine::{Client, JobContext, JobState, NewJob, Registry, Worker, WorkerEvent};
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::helpers::{event_kinds, fast_config, wait_for};
use crate::start;

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
