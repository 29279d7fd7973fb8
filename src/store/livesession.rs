//! SQL for livesessions: a learner's browser session, the parent of their livelessons.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;

use super::{Result, db};
use crate::ids::{LivelessonId, SessionId};

/// A learner's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Livesession {
    /// `[a-z0-9]{10}`.
    pub id: SessionId,
    /// Client address, when known.
    pub source_ip: Option<String>,
    /// Exempt from livelesson expiry (bounded by a maximum age).
    pub persistent: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last request, heartbeat or stage change in this session.
    pub last_active_at: DateTime<Utc>,
}

/// Inserts a session from `source_ip`, counted under `source_key` by the per-address
/// limit; returns `None` when the id is taken (the caller draws another).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn insert(
    executor: impl PgExecutor<'_>,
    id: &SessionId,
    source_ip: Option<&str>,
    source_key: Option<&str>,
) -> Result<Option<Livesession>> {
    sqlx::query_as!(
        Livesession,
        r#"insert into livesessions (id, source_ip, source_key) values ($1, $2, $3)
           on conflict (id) do nothing
           returning id, source_ip, persistent, created_at, last_active_at"#,
        id.as_str(),
        source_ip,
        source_key
    )
    .fetch_optional(executor)
    .await
    .map_err(db("creating a livesession"))
}

/// One session by id.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn get(executor: impl PgExecutor<'_>, id: &SessionId) -> Result<Option<Livesession>> {
    sqlx::query_as!(
        Livesession,
        "select id, source_ip, persistent, created_at, last_active_at from livesessions where id = $1",
        id.as_str()
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading a livesession"))
}

/// Locks a session row until the end of the caller's transaction, so that session expiry
/// and livelesson creation for that session cannot interleave. Returns the session.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn lock(executor: impl PgExecutor<'_>, id: &SessionId) -> Result<Option<Livesession>> {
    sqlx::query_as!(
        Livesession,
        "select id, source_ip, persistent, created_at, last_active_at from livesessions where id = $1 for update",
        id.as_str()
    )
    .fetch_optional(executor)
    .await
    .map_err(db("locking a livesession"))
}

/// Locks the session of livelesson `livelesson_id` until the end of the caller's
/// transaction, as [`lock`] does; returns the session id, or `None` when the livelesson
/// does not exist.
///
/// A transaction that locks a session and one of its livelessons takes the session first,
/// as a livelesson request does: two that took them in opposite orders could each hold
/// the row the other waits for, and PostgreSQL would abort one as a deadlock.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn lock_of_livelesson(
    executor: impl PgExecutor<'_>,
    livelesson_id: &LivelessonId,
) -> Result<Option<String>> {
    sqlx::query_scalar!(
        "select s.id from livesessions s
         where s.id = (select l.session_id from livelessons l where l.id = $1)
         for update of s",
        livelesson_id.as_str()
    )
    .fetch_optional(executor)
    .await
    .map_err(db("locking the livesession of a livelesson"))
}

/// Takes the transaction-scoped advisory lock of `source_key`, waiting for any other
/// transaction holding it: session creations from one client address (or IPv6 prefix)
/// then count and insert one at a time, in every API process. Unrelated keys whose
/// hashes collide merely wait for each other.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn lock_source(executor: impl PgExecutor<'_>, source_key: &str) -> Result<()> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('livesession.source:' || $1, 0))",
        source_key
    )
    .execute(executor)
    .await
    .map_err(db("locking a client address's sessions"))?;
    Ok(())
}

/// Sessions counted under `source_key` (a client address, or an IPv6 prefix).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn count_from(executor: impl PgExecutor<'_>, source_key: &str) -> Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from livesessions where source_key = $1"#,
        source_key
    )
    .fetch_one(executor)
    .await
    .map_err(db("counting livesessions"))
}

/// Marks activity in the session.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn touch(executor: impl PgExecutor<'_>, id: &SessionId) -> Result<()> {
    sqlx::query!(
        "update livesessions set last_active_at = now() where id = $1",
        id.as_str()
    )
    .execute(executor)
    .await
    .map_err(db("touching a livesession"))?;
    Ok(())
}

/// Sets or clears persistence.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn set_persistent(
    executor: impl PgExecutor<'_>,
    id: &SessionId,
    persistent: bool,
) -> Result<bool> {
    let done = sqlx::query!(
        "update livesessions set persistent = $2 where id = $1",
        id.as_str(),
        persistent
    )
    .execute(executor)
    .await
    .map_err(db("setting livesession persistence"))?;
    Ok(done.rows_affected() == 1)
}
