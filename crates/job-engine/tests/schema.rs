//! The engine's own migrations against a real PostgreSQL: on an empty database, again on
//! a migrated one, beside an application's versions in the shared history table, and in a
//! schema of its own, where jobs run through the normal API and `public` stays empty.

// A test fails on a broken expectation (the workspace lints keep `expect` out of runtime
// code).
#![allow(clippy::expect_used)]

use std::time::Duration;

use job_engine::inspect::{self, JobPageFilter};
use job_engine::schema::{self, SchemaName};
use job_engine::{
    Client, JobContext, JobState, NewJob, Registry, Worker, WorkerConfig, WorkerEvent,
};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

async fn applied_versions(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("select version from _sqlx_migrations order by version")
        .fetch_all(pool)
        .await
        .expect("history")
}

#[sqlx::test(migrations = false)]
async fn migrate_builds_the_schema_on_an_empty_database_and_then_changes_nothing(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("first migrate");
    assert_eq!(applied_versions(&pool).await, vec![1, 5, 9, 11, 12]);
    job_engine::migrate(&pool).await.expect("second migrate");
    assert_eq!(applied_versions(&pool).await, vec![1, 5, 9, 11, 12]);

    let enqueued = Client::new(pool.clone())
        .enqueue(&NewJob::new("schema.check", serde_json::json!({})))
        .await
        .expect("enqueue into the migrated schema");
    assert!(enqueued.inserted);
}

#[sqlx::test(migrations = false)]
async fn an_applications_own_versions_in_the_shared_history_are_left_alone(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("engine migrate");
    // An application's migration recorded in the same table, as its migrator would.
    sqlx::raw_sql(
        "create table app_things (id int);
         insert into _sqlx_migrations
             (version, description, success, checksum, execution_time)
         values (2, 'app things', true, '\\x00', 0)",
    )
    .execute(&pool)
    .await
    .expect("application migration");

    job_engine::migrate(&pool)
        .await
        .expect("migrate beside the application's versions");
    assert_eq!(applied_versions(&pool).await, vec![1, 2, 5, 9, 11, 12]);
}

/// The engine's tables, views, types, sequences and functions in `schema`.
async fn engine_objects_in(pool: &PgPool, schema: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = $1 and c.relkind in ('r', 'v', 'S', 'i')
         union all
         select t.typname::text from pg_type t join pg_namespace n on n.oid = t.typnamespace
         where n.nspname = $1 and t.typtype = 'e'
         union all
         select p.proname::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = $1
         order by 1",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
    .expect("catalog")
}

async fn versions_in(pool: &PgPool, table: &str) -> Vec<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select version from {table} order by version"
    )))
    .fetch_all(pool)
    .await
    .expect("history")
}

#[sqlx::test(migrations = false)]
async fn an_engine_in_its_own_schema_runs_jobs_and_leaves_public_without_engine_objects(
    pool: PgPool,
) {
    let jobs: SchemaName = "jobs".parse().expect("schema name");
    schema::migrate_in(&pool, &jobs)
        .await
        .expect("migrate into jobs");
    schema::migrate_in(&pool, &jobs)
        .await
        .expect("migrate into jobs again");

    // The history lives with the engine's tables; `public` holds nothing of the engine's.
    assert_eq!(
        versions_in(&pool, "jobs._sqlx_migrations").await,
        vec![1, 5, 9, 11, 12]
    );
    assert_eq!(
        engine_objects_in(&pool, "public").await,
        Vec::<String>::new()
    );
    let in_jobs = engine_objects_in(&pool, "jobs").await;
    for object in [
        "_sqlx_migrations",
        "jobs",
        "finished_jobs",
        "finished_jobs_kind",
        "jobs_all",
        "job_steps",
        "job_event_log",
        "job_events",
        "job_event_seq",
        "periodic_jobs",
        "job_workers",
        "job_state",
        "job_events_insert",
    ] {
        assert!(
            in_jobs.iter().any(|o| o == object),
            "{object} in {in_jobs:?}"
        );
    }

    let engine_pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(schema::connect_options(
            (*pool.connect_options()).clone(),
            &jobs,
        ))
        .await
        .expect("pool reaching the jobs schema");

    let mut registry = Registry::new();
    registry.register("schema.two-steps", |ctx: JobContext| async move {
        let one = ctx.step("one", || async { Ok(1) }).await?;
        ctx.step("two", || async move { Ok(one + 1) }).await?;
        Ok(())
    });
    let client = Client::new(engine_pool.clone());
    let job = client
        .enqueue(&NewJob::new("schema.two-steps", serde_json::json!({})).with_queue("schema"))
        .await
        .expect("enqueue into the jobs schema");
    let worker = Worker::with_notifier(
        engine_pool.clone(),
        registry,
        WorkerConfig {
            queue: "schema".into(),
            ..WorkerConfig::default()
        },
        client.notifier().clone(),
    );
    let mut events = worker.subscribe();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let claimed_and_completed = tokio::time::timeout(Duration::from_secs(30), async {
        let mut claimed = false;
        loop {
            match events.recv().await {
                Ok(WorkerEvent::Claimed(id)) if id == job.id => claimed = true,
                Ok(WorkerEvent::Completed(id)) if id == job.id => return claimed,
                Ok(_) => {}
                Err(err) => panic!("worker events: {err}"),
            }
        }
    })
    .await
    .expect("the job completes within 30 s");
    assert!(claimed_and_completed, "claimed before completed");
    let _ = stop.send(());
    running.await.expect("worker task").expect("worker run");

    // The job, its steps and its events are in the jobs schema.
    let finished: (String, i64, i64) = sqlx::query_as(
        "select state::text,
                (select count(*) from jobs.job_steps where job_id = $1),
                (select count(*) from jobs.job_events where job_id = $1)
         from jobs.finished_jobs where id = $1",
    )
    .bind(job.id.0)
    .fetch_one(&pool)
    .await
    .expect("the finished job in jobs.finished_jobs");
    assert_eq!(finished.0, "completed");
    assert_eq!(finished.1, 2, "two step checkpoints");
    assert!(
        finished.2 >= 3,
        "enqueued, claimed, completed: {}",
        finished.2
    );

    // The engine's type and its trigger function resolve through the search path: a read
    // filtered by `job_state`, and an event written through the `job_events` view.
    let page = inspect::job_page(
        &engine_pool,
        &JobPageFilter {
            state: Some(JobState::Completed),
            limit: 10,
            ..JobPageFilter::default()
        },
    )
    .await
    .expect("job page filtered by state");
    assert_eq!(
        page.iter().map(|line| line.id).collect::<Vec<_>>(),
        vec![job.id]
    );
    sqlx::query("insert into job_events (job_id, kind) values ($1, 'noted')")
        .bind(job.id.0)
        .execute(&engine_pool)
        .await
        .expect("an event through the view's trigger");
    let noted: i64 = sqlx::query_scalar(
        "select count(*) from jobs.job_event_log where job_id = $1 and kind = 'noted'",
    )
    .bind(job.id.0)
    .fetch_one(&pool)
    .await
    .expect("noted event");
    assert_eq!(noted, 1);
}

#[sqlx::test(migrations = false)]
async fn two_schemas_hold_two_engines_apart_and_an_application_history_is_left_alone(pool: PgPool) {
    // The shared layout beside an engine of its own in another schema: neither sees the
    // other's jobs or history.
    job_engine::migrate(&pool).await.expect("shared layout");
    let jobs: SchemaName = "jobs".parse().expect("schema name");
    schema::migrate_in(&pool, &jobs).await.expect("own schema");
    assert_eq!(applied_versions(&pool).await, vec![1, 5, 9, 11, 12]);
    assert_eq!(
        versions_in(&pool, "jobs._sqlx_migrations").await,
        vec![1, 5, 9, 11, 12]
    );

    let in_jobs = PgPoolOptions::new()
        .connect_with(schema::connect_options(
            (*pool.connect_options()).clone(),
            &jobs,
        ))
        .await
        .expect("pool reaching the jobs schema");
    Client::new(in_jobs)
        .enqueue(&NewJob::new("schema.check", serde_json::json!({})))
        .await
        .expect("enqueue into jobs");
    let counts: (i64, i64) = sqlx::query_as(
        "select (select count(*) from public.jobs), (select count(*) from jobs.jobs)",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!(counts, (0, 1));
}

#[sqlx::test(migrations = false)]
async fn the_job_list_indexes_made_by_an_application_before_are_kept(pool: PgPool) {
    // An application applied versions 1, 5 and 9 and, in its own migration 8, the job
    // list's indexes under the same names; the engine's version 11 must accept them.
    schema::migrator()
        .run_to(10, &pool)
        .await
        .expect("versions before 11");
    sqlx::raw_sql(
        "create index finished_jobs_kind on finished_jobs (kind, id);
         create index finished_jobs_serial_key on finished_jobs (serial_key, id)
             where serial_key is not null",
    )
    .execute(&pool)
    .await
    .expect("the application's indexes");

    job_engine::migrate(&pool)
        .await
        .expect("version 11 over them");
    assert_eq!(applied_versions(&pool).await, vec![1, 5, 9, 11, 12]);
    let indexes: Vec<String> = sqlx::query_scalar(
        "select indexname::text from pg_indexes
         where tablename = 'finished_jobs'
           and indexname not in ('finished_jobs_pkey', 'finished_jobs_finished_at')
         order by 1",
    )
    .fetch_all(&pool)
    .await
    .expect("indexes");
    assert_eq!(
        indexes,
        vec![
            "finished_jobs_kind",
            "finished_jobs_other_queues",
            "finished_jobs_serial_key",
            "finished_jobs_unsuccessful"
        ]
    );
}
