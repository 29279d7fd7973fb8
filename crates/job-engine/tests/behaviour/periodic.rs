//! Periodic jobs: one job per schedule slot, run once, while three workers and many
//! direct scheduler passes race to enqueue it.

use std::time::Duration;

use job_engine::{Client, Clock, Schedule, Worker, periodic};
use sqlx::PgPool;

use crate::helpers::{fast_config, wait_until};
use crate::{child, effects_table, start};

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
