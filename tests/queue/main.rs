//! The job engine inside the application's database: its migrations are among the
//! application's, under their original versions. The engine's own behaviour suite is
//! `crates/job-engine/tests/behaviour` (`cargo test -p job-engine --features testing`).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use sqlx::PgPool;

/// A database the application migrated (its history holds the engine's versions among its
/// own, as every database migrated before the engine was its own crate does) is already
/// current for the engine's own `migrate`.
#[sqlx::test]
async fn the_engines_migrate_finds_an_application_migrated_database_current(pool: PgPool) {
    let history = |pool: PgPool| async move {
        sqlx::query_as::<_, (i64, Vec<u8>)>(
            "select version, checksum from _sqlx_migrations order by version",
        )
        .fetch_all(&pool)
        .await
        .expect("history")
    };
    let before = history(pool.clone()).await;
    assert!(
        before.iter().any(|(version, _)| *version == 9),
        "{before:?}"
    );
    antidote_scheduler::queue::migrate(&pool)
        .await
        .expect("engine migrate");
    assert_eq!(history(pool.clone()).await, before);
}
