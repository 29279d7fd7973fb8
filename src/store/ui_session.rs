//! SQL for the dashboard's sign-in: sessions of signed-in browsers and one-time sign-in
//! links. Callers pass the sha256 of the secret values; the values themselves never reach
//! the database.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::{Result, db};

/// Stores a new session and drops expired ones (sign-ins are rare, so the clean-up rides
/// along instead of needing a periodic job).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn create(
    executor: impl PgExecutor<'_>,
    id_hash: &[u8],
    csrf_token: &str,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        r#"
        with purge as (delete from ui_sessions where expires_at < now())
        insert into ui_sessions (id_hash, csrf_token, expires_at) values ($1, $2, $3)
        "#,
        id_hash,
        csrf_token,
        expires_at,
    )
    .execute(executor)
    .await
    .map_err(db("creating a dashboard session"))?;
    Ok(())
}

/// The CSRF token of a live session, or `None` when there is no such session or it
/// expired.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn csrf_token(executor: impl PgExecutor<'_>, id_hash: &[u8]) -> Result<Option<String>> {
    sqlx::query_scalar!(
        "select csrf_token from ui_sessions where id_hash = $1 and expires_at > now()",
        id_hash
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading a dashboard session"))
}

/// Ends a session (sign-out).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn delete(executor: impl PgExecutor<'_>, id_hash: &[u8]) -> Result<()> {
    sqlx::query!("delete from ui_sessions where id_hash = $1", id_hash)
        .execute(executor)
        .await
        .map_err(db("ending a dashboard session"))?;
    Ok(())
}

/// Stores a one-time sign-in link.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn create_link(
    executor: impl PgExecutor<'_>,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        r#"
        with purge as (delete from ui_sign_in_links where expires_at < now())
        insert into ui_sign_in_links (token_hash, expires_at) values ($1, $2)
        "#,
        token_hash,
        expires_at,
    )
    .execute(executor)
    .await
    .map_err(db("creating a sign-in link"))?;
    Ok(())
}

/// Uses up a sign-in link: true when it existed and had not expired. The delete makes the
/// use exclusive: of two browsers racing with one link, one wins.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn consume_link(executor: impl PgExecutor<'_>, token_hash: &[u8]) -> Result<bool> {
    let used = sqlx::query_scalar!(
        r#"delete from ui_sign_in_links where token_hash = $1 returning expires_at > now() as "live!""#,
        token_hash
    )
    .fetch_optional(executor)
    .await
    .map_err(db("using a sign-in link"))?;
    Ok(used.unwrap_or(false))
}
