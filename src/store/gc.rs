//! SQL of garbage collection: set-based statements that pick expired livelessons and
//! sessions, find the livelessons behind namespaces, flag unhealthy livelessons. (Pruning
//! finished jobs is the job engine's: `queue::maintenance::prune_finished`.) One small function per statement.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use super::{Result, db};
use crate::ids::LivelessonId;

/// Why a livelesson expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryCause {
    /// No activity for the livelesson TTL.
    Inactive,
    /// In ERROR for longer than the error TTL.
    Errored,
    /// A persistent session's livelesson older than the maximum age.
    PersistentMaxAge,
    /// A learner's livelesson past its hard deadline (the lifetime's maximum age since
    /// the learner got it), however active.
    MaxAge,
}

/// A livelesson just marked deleting by expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// Livelesson id.
    pub id: LivelessonId,
    /// Which rule expired it.
    pub cause: ExpiryCause,
}

/// Marks up to `limit` expired livelessons deleting and returns them, in the caller's
/// transaction (which must enqueue their DELETE jobs before committing). Ages are measured
/// to `now`: the engine clock's statement time, `None` for the database's `now()`.
///
/// Expired means: not a spare (the pool's refill retires those), not already deleting, and
/// either in ERROR for `errored_ttl_secs`, or in
/// a persistent session and created more than `persistent_max_age_secs` ago, or in another
/// session and requested more than `max_age_secs` ago (its hard deadline) or inactive for
/// `ttl_secs` and past any extension the learner took. Rows locked by a request, a heartbeat or a kill
/// are skipped (`skip locked`): their activity is being refreshed or their deletion is
/// being requested right now, and the next pass sees the outcome.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn expire_livelessons(
    conn: &mut PgConnection,
    now: Option<DateTime<Utc>>,
    ttl_secs: f64,
    errored_ttl_secs: f64,
    persistent_max_age_secs: f64,
    max_age_secs: f64,
    limit: i64,
) -> Result<Vec<Expired>> {
    let rows = sqlx::query!(
        r#"with picked as (
               select l.id, c.cause
               from livelessons l
               join livesessions s on s.id = l.session_id
               cross join lateral (
                   select case
                       when l.status = 'ERROR'
                            and coalesce(l.errored_at, l.last_active_at)
                                < coalesce($5::timestamptz, now()) - make_interval(secs => $2) then 'errored'
                       when s.persistent
                            and l.created_at < coalesce($5::timestamptz, now()) - make_interval(secs => $3)
                            then 'persistent'
                       when not s.persistent
                            and l.requested_at < coalesce($5::timestamptz, now()) - make_interval(secs => $6)
                            then 'max_age'
                       when not s.persistent
                            and l.last_active_at < coalesce($5::timestamptz, now()) - make_interval(secs => $1)
                            and coalesce(l.extended_until < coalesce($5::timestamptz, now()), true)
                            then 'inactive'
                   end as cause
               ) c
               -- Spares have no learner to be inactive: the pool's maximum age retires them.
               where not l.deleting and not l.spare and c.cause is not null
               order by l.id
               limit $4
               for update of l skip locked
           )
           update livelessons l set deleting = true
           from picked
           where l.id = picked.id and not l.deleting
           returning l.id, picked.cause as "cause!""#,
        ttl_secs,
        errored_ttl_secs,
        persistent_max_age_secs,
        limit,
        now,
        max_age_secs
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db("expiring livelessons"))?;
    Ok(rows
        .into_iter()
        .map(|row| Expired {
            id: row.id.into(),
            cause: match row.cause.as_str() {
                "errored" => ExpiryCause::Errored,
                "persistent" => ExpiryCause::PersistentMaxAge,
                "max_age" => ExpiryCause::MaxAge,
                _ => ExpiryCause::Inactive,
            },
        })
        .collect())
}

/// Deletes up to `limit` sessions inactive for `ttl_secs` (to `now`, as for livelessons)
/// that have no livelesson, and returns their ids.
///
/// No race with a livelesson being created for the session: `request_livelesson` locks the
/// session row `for update` before inserting, and this statement locks it too (`skip
/// locked`), so either the request holds the lock (the session is skipped this pass), or
/// this statement holds it (the request then finds no session and reports it unknown), or
/// the request committed before (its livelesson and its refresh of `last_active_at` are
/// visible: a row changed since the snapshot is re-checked against the new version, whose
/// activity is fresh). The foreign key from livelessons is the last guard: it makes a
/// delete that somehow raced fail rather than orphan a livelesson.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn expire_sessions(
    executor: impl PgExecutor<'_>,
    now: Option<DateTime<Utc>>,
    ttl_secs: f64,
    limit: i64,
) -> Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"with picked as (
               select s.id from livesessions s
               where s.last_active_at < coalesce($3::timestamptz, now()) - make_interval(secs => $1)
                 and not exists (select 1 from livelessons l where l.session_id = s.id)
               order by s.last_active_at
               limit $2
               for update skip locked
           )
           delete from livesessions s
           using picked
           where s.id = picked.id
             and s.last_active_at < coalesce($3::timestamptz, now()) - make_interval(secs => $1)
             and not exists (select 1 from livelessons l where l.session_id = s.id)
           returning s.id"#,
        ttl_secs,
        limit,
        now
    )
    .fetch_all(executor)
    .await
    .map_err(db("expiring livesessions"))
}

/// Which of `ids` are livelessons in the store (deleting ones included).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn existing_livelessons(
    executor: impl PgExecutor<'_>,
    ids: &[LivelessonId],
) -> Result<Vec<LivelessonId>> {
    let ids: Vec<&str> = ids.iter().map(LivelessonId::as_str).collect();
    let found = sqlx::query_scalar!(
        "select id from livelessons where id = any($1)",
        &ids as &[&str]
    )
    .fetch_all(executor)
    .await
    .map_err(db("finding livelessons of namespaces"))?;
    Ok(found.into_iter().map(LivelessonId::from).collect())
}

/// Up to `limit` READY, not deleting livelessons with an id after `after`, in id order
/// (pages through them without holding anything).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn ready_livelessons(
    executor: impl PgExecutor<'_>,
    after: &str,
    limit: i64,
) -> Result<Vec<LivelessonId>> {
    sqlx::query_scalar!(
        r#"select id as "id: LivelessonId" from livelessons
           where status = 'READY' and not deleting and id > $1
           order by id limit $2"#,
        after,
        limit
    )
    .fetch_all(executor)
    .await
    .map_err(db("listing ready livelessons"))
}

/// Puts a livelesson in ERROR for `reason` (step `reconcile`), only if it is still READY
/// and not deleting: a stage change or a deletion started since the health check wins.
/// Returns whether it was marked.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn mark_unhealthy(
    executor: impl PgExecutor<'_>,
    id: &LivelessonId,
    reason: &str,
) -> Result<bool> {
    let done = sqlx::query!(
        r#"update livelessons
           set status = 'ERROR', error_reason = $2, error_step = 'reconcile', error_logs = null
           where id = $1 and status = 'READY' and not deleting"#,
        id.as_str(),
        reason
    )
    .execute(executor)
    .await
    .map_err(db("marking a livelesson unhealthy"))?;
    Ok(done.rows_affected() == 1)
}
