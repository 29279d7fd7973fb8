//! End hooks: the hook runs exactly once per job that ends for good, whoever ends it,
//! while worker processes are killed and restarted, and never for a completed job.

use std::time::Duration;

use job_engine::{Client, NewJob};
use sqlx::PgPool;

use crate::helpers::{ChildWorker, database_url};
use crate::{child, effects_table};

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
