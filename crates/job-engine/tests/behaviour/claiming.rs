//! Claiming: ten thousand jobs over two worker processes each run exactly once, and jobs
//! of one serial key run one at a time in enqueue order while other keys run in parallel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use job_engine::{Client, JobContext, JobError, NewJob, Registry, Worker, WorkerEvent};
use sqlx::PgPool;
use tokio::sync::Barrier;

use crate::helpers::{ChildWorker, database_url, fast_config, wait_for, wait_until};
use crate::{effects_table, start};

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
