//! Index maintenance of the claim table: how much of its indexes vacuum left empty, and
//! their rebuild (`REINDEX CONCURRENTLY`, leftovers of an interrupted one dropped).

use sqlx::PgPool;

use crate::error::{QueueError, Result};

/// Bytes of the claim table's indexes, and its live jobs.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn claim_index_usage(pool: &PgPool) -> Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"
        select pg_indexes_size('jobs') as "bytes!",
               (select count(*) from jobs) as "live!"
        "#
    )
    .fetch_one(pool)
    .await
    .map_err(QueueError::db("claim_index_usage"))?;
    Ok((row.bytes, row.live))
}

/// Rebuilds the claim table's indexes without blocking claims or writes.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn rebuild_claim_indexes(pool: &PgPool) -> Result<()> {
    sqlx::query!("reindex table concurrently jobs")
        .execute(pool)
        .await
        .map_err(QueueError::db("rebuild_claim_indexes"))?;
    Ok(())
}

/// Drops the invalid index copies an interrupted concurrent rebuild leaves behind.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn drop_invalid_claim_indexes(pool: &PgPool) -> Result<()> {
    let invalid = sqlx::query_scalar!(
        r#"
        select indexrelid::regclass::text as "name!" from pg_index
        where indrelid = 'jobs'::regclass and not indisvalid
        "#
    )
    .fetch_all(pool)
    .await
    .map_err(QueueError::db("drop_invalid_claim_indexes"))?;
    for name in invalid {
        // An identifier cannot be a parameter; `regclass::text` is already quoted as needed.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop index concurrently if exists {name}"
        )))
        .execute(pool)
        .await
        .map_err(QueueError::db("drop_invalid_claim_indexes"))?;
    }
    Ok(())
}
