//! SQL of the terminal gateway: which livelesson an address belongs to (authorization)
//! and whether the livelessons of open terminals still stand. Typing as activity is a
//! throttled heartbeat ([`crate::workflow::request::typed`]).

use sqlx::PgExecutor;

use super::{Result, db};

/// The endpoint whose Service has the address a terminal asked for, at one of its `ssh`
/// presentation ports.
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
    /// The trace of the request that created the livelesson.
    pub traceparent: Option<String>,
}

/// The endpoint at `host` with an `ssh` presentation on `port`, of a learner's livelesson
/// (not a spare nobody took), the most usable first if several (a Service address is
/// reused only after its livelesson is gone): READY and not deleting, then the newest.
/// Uses the partial index `live_endpoints_host`.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn target(
    executor: impl PgExecutor<'_>,
    host: &str,
    port: u16,
) -> Result<Option<TerminalTarget>> {
    sqlx::query_as!(
        TerminalTarget,
        r#"select l.id as livelesson_id, e.name as endpoint, l.status::text as "status!",
                  l.deleting, l.traceparent
           from live_endpoints e join livelessons l on l.id = e.livelesson_id
           where e.host = $1 and not l.spare
             and exists (select 1 from jsonb_array_elements(e.presentations) p
                         where p->>'type' = 'ssh' and p->>'port' = $2::int4::text)
           order by (l.status = 'READY' and not l.deleting) desc, l.created_at desc
           limit 1"#,
        host,
        i32::from(port)
    )
    .fetch_optional(executor)
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
