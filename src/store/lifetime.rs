//! SQL of a livelesson's lifetime: what its schedule is computed from, and an extension.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::ids::LivelessonId;

use super::{Result, db};

/// What a livelesson's schedule is computed from, with the database's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifetime {
    /// Where the hard deadline counts from, as garbage collection counts it: when a
    /// learner got the lab (requested, or taken from a pool), or, in a persistent session,
    /// when the lab was created.
    pub deadline_from: DateTime<Utc>,
    /// The learner's last activity.
    pub last_active_at: DateTime<Utc>,
    /// The extended inactivity deadline, if the learner extended it.
    pub extended_until: Option<DateTime<Utc>>,
    /// Extensions granted so far.
    pub extensions: i32,
    /// Its session is persistent (exempt from inactivity, bounded by its own maximum age).
    pub persistent: bool,
    /// The database's time of the read.
    pub now: DateTime<Utc>,
}

/// The lifetime of a learner's livelesson `id` (not a spare, not being deleted).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn get(executor: impl PgExecutor<'_>, id: &LivelessonId) -> Result<Option<Lifetime>> {
    sqlx::query_as!(
        Lifetime,
        r#"select case when s.persistent then l.created_at else l.requested_at end
                      as "deadline_from!", l.last_active_at, l.extended_until, l.extensions,
                  s.persistent, now() as "now!"
           from livelessons l join livesessions s on s.id = l.session_id
           where l.id = $1 and not l.spare and not l.deleting"#,
        id.as_str()
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading a livelesson's lifetime"))
}

/// Like [`get`], locking the livelesson's row for the caller's transaction (an extension
/// reads and writes it).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn lock(conn: &mut PgConnection, id: &LivelessonId) -> Result<Option<Lifetime>> {
    sqlx::query_as!(
        Lifetime,
        r#"select case when s.persistent then l.created_at else l.requested_at end
                      as "deadline_from!", l.last_active_at, l.extended_until, l.extensions,
                  s.persistent, now() as "now!"
           from livelessons l join livesessions s on s.id = l.session_id
           where l.id = $1 and not l.spare and not l.deleting
           for update of l"#,
        id.as_str()
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("locking a livelesson's lifetime"))
}

/// Extends livelesson `id`'s inactivity deadline to `until`, counting one extension.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn extend(
    conn: &mut PgConnection,
    id: &LivelessonId,
    until: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        "update livelessons set extended_until = $2, extensions = extensions + 1 where id = $1",
        id.as_str(),
        until
    )
    .execute(&mut *conn)
    .await
    .map_err(db("extending a livelesson"))?;
    Ok(())
}
