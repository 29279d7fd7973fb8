//! Maintenance: compaction rebuilds claim indexes that vacuum left mostly empty, and the
//! rebuilt indexes serve claims.

use job_engine::testing::store;
use job_engine::{Client, Clock, NewJob};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn compaction_rebuilds_claim_indexes_that_vacuum_left_mostly_empty(pool: PgPool) {
    use job_engine::maintenance;
    job_engine::migrate(&pool).await.expect("migrate");
    // What a pinned vacuum leaves: the indexes grew with many jobs that are gone now.
    sqlx::query("insert into jobs (kind) select 'test.gone' from generate_series(1, 100000)")
        .execute(&pool)
        .await
        .expect("insert");
    sqlx::query("delete from jobs")
        .execute(&pool)
        .await
        .expect("delete");
    sqlx::query("vacuum jobs")
        .execute(&pool)
        .await
        .expect("vacuum");
    let live = Client::new(pool.clone())
        .enqueue(&NewJob::new("test.kept", serde_json::json!({})))
        .await
        .expect("enqueue")
        .id;

    let compaction = maintenance::compact(&pool, 1024 * 1024)
        .await
        .expect("compact");
    assert!(compaction.rebuilt, "{compaction:?}");
    assert!(
        compaction.after * 10 < compaction.before,
        "the indexes shrank: {compaction:?}"
    );
    // The rebuilt indexes serve claims, and a second pass finds nothing to do.
    let claimed = store::claim(&pool, "default", "w", 10, 30_000, None, &Clock::database())
        .await
        .expect("claim");
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), [live]);
    let again = maintenance::compact(&pool, 1024 * 1024)
        .await
        .expect("compact");
    assert!(!again.rebuilt, "{again:?}");
}
