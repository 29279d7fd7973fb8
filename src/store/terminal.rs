//! SQL of the terminal gateway: which livelesson an address belongs to (authorization),
//! whether the livelessons of open terminals still stand, and a learner's typing as
//! activity.

use sqlx::PgExecutor;

use crate::ids::LivelessonId;

use super::{Result, db};

/// An endpoint whose Service has the address a terminal asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalTarget {
    /// The livelesson.
    pub livelesson_id: String,
    /// The endpoint's name.
    pub endpoint: String,
    /// The livelesson's status (`READY`, ...).
    pub status: String,
    /// Its deletion was requested.
    pub deleting: bool,
    /// The port is one of the endpoint's `ssh` presentations.
    pub ssh_port: bool,
    /// The trace of the request that created the livelesson.
    pub traceparent: Option<String>,
}

/// The endpoints at `host` (a Service address is reused only after its livelesson is
/// gone, so there is normally one), the most usable first: READY and not deleting, then
/// the newest. Uses the partial index `live_endpoints_host`.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn targets(
    executor: impl PgExecutor<'_>,
    host: &str,
    port: u16,
) -> Result<Vec<TerminalTarget>> {
    sqlx::query_as!(
        TerminalTarget,
        r#"select l.id as livelesson_id, e.name as endpoint, l.status::text as "status!",
                  l.deleting, l.traceparent,
                  exists (select 1 from jsonb_array_elements(e.presentations) p
                          where p->>'type' = 'ssh' and p->>'port' = $2::int4::text) as "ssh_port!"
           from live_endpoints e join livelessons l on l.id = e.livelesson_id
           where e.host = $1
           order by (l.status = 'READY' and not l.deleting) desc, l.created_at desc
           limit 4"#,
        host,
        i32::from(port)
    )
    .fetch_all(executor)
    .await
    .map_err(db("looking up a terminal's endpoint"))
}

/// Of `ids`, those still READY and not being deleted.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn standing(executor: impl PgExecutor<'_>, ids: &[String]) -> Result<Vec<String>> {
    sqlx::query_scalar!(
        "select id from livelessons where id = any($1) and status = 'READY' and not deleting",
        ids
    )
    .fetch_all(executor)
    .await
    .map_err(db("checking the livelessons of open terminals"))
}

/// Counts typing in a terminal of livelesson `id` as its learner's activity (and the
/// session's), unless another gateway process did so within `within_secs`: at most one
/// write a minute per livelesson whatever the number of terminals and processes.
/// Returns whether a row was written.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn touch(
    executor: impl PgExecutor<'_>,
    id: &LivelessonId,
    within_secs: f64,
) -> Result<bool> {
    let touched = sqlx::query_scalar!(
        r#"with lesson as (
               update livelessons set last_active_at = now()
               where id = $1 and not deleting
                     and last_active_at < now() - make_interval(secs => $2)
               returning session_id
           ), session as (
               update livesessions s set last_active_at = now()
               from lesson where s.id = lesson.session_id
               returning s.id
           )
           select count(*) as "count!" from lesson"#,
        id.as_str(),
        within_secs
    )
    .fetch_one(executor)
    .await
    .map_err(db("recording terminal activity"))?;
    Ok(touched > 0)
}
