//! The engine's behaviour suite: integration tests of the durable job engine against a
//! real PostgreSQL, each on a database of its own migrated by the engine's own `migrate`
//! (no application tables).

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod cancellation;
mod child;
mod claiming;
mod end_hooks;
mod enqueue;
mod helpers;
mod leases;
mod maintenance;
mod periodic;
mod retries;
mod shutdown;
mod timers;
mod typed_kinds;

use job_engine::{Client, JobId, Registry, Worker, WorkerEvent};
use sqlx::PgPool;
use tokio::sync::oneshot;

use helpers::fast_config;

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
