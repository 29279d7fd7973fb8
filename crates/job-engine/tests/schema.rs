//! The engine's own migrations against a real PostgreSQL: on an empty database, again on
//! a migrated one, and beside an application's versions in the shared history table.

// A test fails on a broken expectation (the workspace lints keep `expect` out of runtime
// code).
#![allow(clippy::expect_used)]

use job_engine::{Client, NewJob};
use sqlx::PgPool;

async fn applied_versions(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("select version from _sqlx_migrations order by version")
        .fetch_all(pool)
        .await
        .expect("history")
}

#[sqlx::test(migrations = false)]
async fn migrate_builds_the_schema_on_an_empty_database_and_then_changes_nothing(pool: PgPool) {
    job_engine::migrate(&pool).await.expect("first migrate");
    assert_eq!(applied_versions(&pool).await, vec![1, 5, 9]);
    job_engine::migrate(&pool).await.expect("second migrate");
    assert_eq!(applied_versions(&pool).await, vec![1, 5, 9]);

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
    assert_eq!(applied_versions(&pool).await, vec![1, 2, 5, 9]);
}
