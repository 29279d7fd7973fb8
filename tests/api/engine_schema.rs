//! The job engine in a schema of its own (`engineSchema`): `db::migrate` builds both
//! layouts, the API runs over the schema layout (a livelesson request enqueues its job
//! there, readiness looks for each migration in its own history), and a database is
//! never migrated into the other layout than the one it has.

use std::collections::BTreeSet;

use antidote_scheduler::config::Config;
use antidote_scheduler::db::{self, DbError, MIGRATOR};
use antidote_scheduler::queue::schema::{self, SchemaName};
use axum::http::StatusCode;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::helpers::{spawn_app_with, test_config};

fn jobs_schema() -> SchemaName {
    "jobs".parse().expect("schema name")
}

/// The versions recorded in `history`.
async fn recorded(pool: &PgPool, history: &str) -> BTreeSet<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select version from {history}"
    )))
    .fetch_all(pool)
    .await
    .expect("history")
    .into_iter()
    .collect()
}

async fn schema_exists(pool: &PgPool, schema: &str) -> bool {
    sqlx::query_scalar("select exists (select 1 from pg_namespace where nspname = $1)")
        .bind(schema)
        .fetch_one(pool)
        .await
        .expect("schemas")
}

/// Tables, views, sequences and types named like the engine's in `schema`.
async fn engine_relations_in(pool: &PgPool, schema: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = $1 and c.relkind in ('r', 'v', 'S')
           and relname in ('jobs', 'finished_jobs', 'jobs_all', 'job_steps', 'job_event_log',
                           'job_events', 'job_event_seq', 'periodic_jobs')
         union all
         select typname::text from pg_type t join pg_namespace n on n.oid = t.typnamespace
         where n.nspname = $1 and typname = 'job_state'
         order by 1",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
    .expect("catalog")
}

#[sqlx::test(migrations = false)]
async fn the_api_runs_with_the_engine_in_its_own_schema(pool: PgPool) {
    let jobs = jobs_schema();
    db::migrate(&pool, Some(&jobs)).await.expect("migrate");
    db::migrate(&pool, Some(&jobs))
        .await
        .expect("migrate again");

    let engine: BTreeSet<i64> = schema::migrator().iter().map(|m| m.version).collect();
    let everything: BTreeSet<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    let application: BTreeSet<i64> = everything.difference(&engine).copied().collect();
    assert_eq!(recorded(&pool, "jobs._sqlx_migrations").await, engine);
    assert_eq!(
        recorded(&pool, "public._sqlx_migrations").await,
        application
    );
    assert_eq!(
        engine_relations_in(&pool, "public").await,
        Vec::<String>::new()
    );
    assert_eq!(engine_relations_in(&pool, "jobs").await.len(), 9);
    // The application's 0008 indexed the engine's table where it is.
    let job_list_index: Option<String> =
        sqlx::query_scalar("select to_regclass('jobs.finished_jobs_kind')::text")
            .fetch_one(&pool)
            .await
            .expect("index");
    assert_eq!(job_list_index.as_deref(), Some("jobs.finished_jobs_kind"));

    // The application's pool, as `db::connect` opens it with `engineSchema: jobs`.
    let app_pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(schema::connect_options(
            (*pool.connect_options()).clone(),
            &jobs,
        ))
        .await
        .expect("application pool");
    assert_eq!(
        db::pending_migrations(&app_pool, Some(&jobs))
            .await
            .expect("pending"),
        Vec::<i64>::new()
    );
    let app = spawn_app_with(
        app_pool,
        Config {
            engine_schema: Some(jobs.clone()),
            ..test_config()
        },
    )
    .await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);

    // A request's transaction writes the livelesson (public) and enqueues its job (jobs).
    let session = app.session().await;
    let requested = app.request_lesson(&session, "linux-first-steps", 0).await;
    assert_eq!(requested.status, StatusCode::OK, "{}", requested.text);
    let rows: (i64, i64) = sqlx::query_as(
        "select (select count(*) from public.livelessons),
                (select count(*) from jobs.jobs where kind = 'livelesson.create')",
    )
    .fetch_one(&pool)
    .await
    .expect("rows");
    assert_eq!(rows, (1, 1));
    let metrics = app.get("/metrics").await;
    assert!(
        metrics
            .text
            .contains("antidote_jobs{state=\"available\",kind=\"livelesson.create\"} 1"),
        "{}",
        metrics.text
    );

    // Readiness reads the engine's history where it is.
    sqlx::query("delete from jobs._sqlx_migrations where version = 1")
        .execute(&pool)
        .await
        .expect("forget an engine migration");
    let reply = app.get("/readyz").await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert_eq!(reply.code(), "not_ready");
}

#[sqlx::test(migrations = false)]
async fn the_default_layout_keeps_one_history_in_public(pool: PgPool) {
    db::migrate(&pool, None).await.expect("migrate");
    let everything: BTreeSet<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    assert_eq!(recorded(&pool, "public._sqlx_migrations").await, everything);
    assert_eq!(engine_relations_in(&pool, "public").await.len(), 9);
    assert!(!schema_exists(&pool, "jobs").await);
    assert_eq!(
        db::pending_migrations(&pool, None).await.expect("pending"),
        Vec::<i64>::new()
    );
}

#[sqlx::test(migrations = false)]
async fn a_database_is_not_migrated_into_the_other_layout(pool: PgPool) {
    // Shared layout, then a schema configured: refused before a second engine is built.
    db::migrate(&pool, None).await.expect("shared layout");
    let refused = db::migrate(&pool, Some(&jobs_schema())).await;
    assert!(
        matches!(&refused, Err(DbError::Layout(message)) if message.contains("unset engineSchema")),
        "{refused:?}"
    );
    assert!(
        !schema_exists(&pool, "jobs").await,
        "no jobs schema was created"
    );
}

#[sqlx::test(migrations = false)]
async fn a_schema_layout_is_not_migrated_as_the_shared_one(pool: PgPool) {
    db::migrate(&pool, Some(&jobs_schema()))
        .await
        .expect("schema layout");
    let refused = db::migrate(&pool, None).await;
    assert!(
        matches!(&refused, Err(DbError::Layout(message)) if message.contains("set engineSchema")),
        "{refused:?}"
    );
    assert_eq!(
        engine_relations_in(&pool, "public").await,
        Vec::<String>::new()
    );
}
