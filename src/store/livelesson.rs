//! SQL for livelessons and their live endpoints: status, stage, guide, reachability
//! progress, endpoint hosts and the explicit ERROR with its reason, step and logs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};

use crate::curriculum::{ConfigurationType, GuideType, Image, PresentationType};

use crate::ids::{LivelessonId, SessionId};

use super::{Result, db};

/// Where a livelesson is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "livelesson_status", rename_all = "UPPERCASE")]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Requested; provisioning has not created its pods yet.
    Initialized,
    /// Objects created; waiting for pods and reachability.
    Booting,
    /// Configuring the endpoints for the requested stage.
    Configuration,
    /// Ready for the learner.
    Ready,
    /// Failed; see the error reason, step and logs.
    Error,
}

impl Status {
    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialized => "INITIALIZED",
            Self::Booting => "BOOTING",
            Self::Configuration => "CONFIGURATION",
            Self::Ready => "READY",
            Self::Error => "ERROR",
        }
    }
}

/// One way to reach a live endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LivePresentation {
    /// Presentation name.
    pub name: String,
    /// Port.
    pub port: u16,
    /// A terminal or a web page.
    #[serde(rename = "type")]
    pub kind: PresentationType,
    /// Where a learner's browser reaches an http presentation: its ingress host
    /// (`<ns>-<ep>-<pres>.<hepsDomain>`), with `:<hepsPort>` when that is set.
    pub hep_domain: String,
}

/// An endpoint of a livelesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveEndpoint {
    /// Endpoint name (pod, service and DNS name).
    pub name: String,
    /// Provisioning order.
    pub position: i32,
    /// Image slug (or the jupyter image reference for the guide endpoint).
    pub image: String,
    /// How it is configured at each stage, if it is.
    pub configuration_type: Option<ConfigurationType>,
    /// Presentation ports then additional ports.
    pub ports: Vec<i32>,
    /// Presentations.
    pub presentations: Vec<LivePresentation>,
    /// Service ClusterIP once known.
    pub host: Option<String>,
    /// Whether reachability succeeded.
    pub reachable: bool,
}

/// The failure of a livelesson in ERROR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LivelessonError {
    /// Why.
    pub reason: String,
    /// The workflow step that failed.
    pub step: Option<String>,
    /// Logs captured at the failure (pod or job logs), possibly truncated.
    pub logs: Option<String>,
}

/// A livelesson with its endpoints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Livelesson {
    /// `[a-z0-9]{10}`.
    pub id: LivelessonId,
    /// Owning session.
    pub session_id: SessionId,
    /// Lesson slug.
    pub lesson_slug: String,
    /// Pinned lesson version.
    pub lesson_hash: String,
    /// Status.
    pub status: Status,
    /// 0-based stage.
    pub current_stage: i32,
    /// The current stage's guide format.
    pub guide_type: GuideType,
    /// Guide text of the current stage.
    pub guide_contents: String,
    /// Jupyter guide host, or empty.
    pub guide_domain: String,
    /// Reachable endpoints.
    pub healthy_tests: i32,
    /// Endpoints to reach.
    pub total_tests: i32,
    /// Set when status is ERROR.
    pub error: Option<LivelessonError>,
    /// Image definitions copied at creation, by slug.
    #[serde(skip)]
    pub images: BTreeMap<String, Image>,
    /// A DELETE was requested.
    pub deleting: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last request, heartbeat or stage change.
    pub last_active_at: DateTime<Utc>,
    /// When it first became READY.
    pub ready_at: Option<DateTime<Utc>>,
    /// A spare in a warm pool, belonging to no learner yet.
    pub spare: bool,
    /// Taken from a warm pool.
    pub pool_hit: bool,
    /// When its learner asked for it (the request that created it, or took it from a pool).
    pub requested_at: DateTime<Utc>,
    /// False while the request waits in line for capacity (no CREATE yet).
    pub admitted: bool,
    /// When it started waiting for capacity.
    pub waiting_since: Option<DateTime<Utc>>,
    /// Endpoints in provisioning order.
    pub endpoints: Vec<LiveEndpoint>,
}

/// What a new livelesson starts with.
#[derive(Debug, Clone)]
pub struct NewLivelesson<'a> {
    /// Fresh id.
    pub id: &'a LivelessonId,
    /// Session.
    pub session_id: &'a SessionId,
    /// Lesson slug.
    pub lesson_slug: &'a str,
    /// Pinned version.
    pub lesson_hash: &'a str,
    /// Requested stage.
    pub stage: i32,
    /// Guide type of that stage.
    pub guide_type: GuideType,
    /// Guide text of that stage.
    pub guide_contents: &'a str,
    /// Jupyter host or empty.
    pub guide_domain: &'a str,
    /// Images of the endpoints.
    pub images: &'a BTreeMap<String, Image>,
    /// Endpoints in provisioning order (host empty, not reachable).
    pub endpoints: &'a [LiveEndpoint],
    /// W3C traceparent of the creating request (its later jobs link to this trace).
    pub traceparent: Option<&'a str>,
    /// A spare for a warm pool (its session is the pool's).
    pub spare: bool,
    /// False: the request waits in line for capacity.
    pub admitted: bool,
}

/// Inserts a livelesson and its endpoints. Returns `false` (inserting nothing) when the
/// session already has an unfinished livelesson of this lesson, or the id is taken.
///
/// # Errors
/// [`super::StoreError`].
pub async fn insert(conn: &mut PgConnection, new: &NewLivelesson<'_>) -> Result<bool> {
    let images = super::to_json("livelesson images", new.images)?;
    let inserted = sqlx::query_scalar!(
        r#"insert into livelessons (id, session_id, lesson_slug, lesson_hash, current_stage,
                                    guide_type, guide_contents, guide_domain, images, total_tests,
                                    traceparent, spare, admitted, waiting_since)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                   case when $13 then null else clock_timestamp() end)
           on conflict do nothing
           returning id"#,
        new.id.as_str(),
        new.session_id.as_str(),
        new.lesson_slug,
        new.lesson_hash,
        new.stage,
        new.guide_type.as_str(),
        new.guide_contents,
        new.guide_domain,
        images,
        i32::try_from(new.endpoints.len()).unwrap_or(i32::MAX),
        new.traceparent,
        new.spare,
        new.admitted,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("creating a livelesson"))?;
    if inserted.is_none() {
        return Ok(false);
    }
    let names: Vec<String> = new.endpoints.iter().map(|e| e.name.clone()).collect();
    let positions: Vec<i32> = new.endpoints.iter().map(|e| e.position).collect();
    let images: Vec<String> = new.endpoints.iter().map(|e| e.image.clone()).collect();
    let kinds: Vec<Option<String>> = new
        .endpoints
        .iter()
        .map(|e| e.configuration_type.map(|kind| kind.as_str().to_owned()))
        .collect();
    let ports: Vec<serde_json::Value> = new
        .endpoints
        .iter()
        .map(|e| serde_json::json!(e.ports))
        .collect();
    let presentations: Vec<serde_json::Value> = new
        .endpoints
        .iter()
        .map(|e| super::to_json("presentations", &e.presentations))
        .collect::<Result<_>>()?;
    sqlx::query!(
        r#"insert into live_endpoints (livelesson_id, name, position, image, configuration_type,
                                       ports, presentations)
           select $1, name, position, image, kind,
                  array(select jsonb_array_elements_text(ports)::int4), presentations
           from unnest($2::text[], $3::int4[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
                as t(name, position, image, kind, ports, presentations)"#,
        new.id.as_str(),
        &names,
        &positions,
        &images,
        &kinds as &[Option<String>],
        &ports,
        &presentations,
    )
    .execute(&mut *conn)
    .await
    .map_err(db("creating live endpoints"))?;
    Ok(true)
}

struct Row {
    id: String,
    session_id: String,
    lesson_slug: String,
    lesson_hash: String,
    status: Status,
    current_stage: i32,
    guide_type: String,
    guide_contents: String,
    guide_domain: String,
    healthy_tests: i32,
    total_tests: i32,
    error_reason: Option<String>,
    error_step: Option<String>,
    error_logs: Option<String>,
    images: Json<BTreeMap<String, Image>>,
    deleting: bool,
    created_at: DateTime<Utc>,
    last_active_at: DateTime<Utc>,
    ready_at: Option<DateTime<Utc>>,
    spare: bool,
    pool_hit: bool,
    requested_at: DateTime<Utc>,
    admitted: bool,
    waiting_since: Option<DateTime<Utc>>,
}

/// One livelesson with its endpoints.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn get(conn: &mut PgConnection, id: &LivelessonId) -> Result<Option<Livelesson>> {
    let row = sqlx::query_as!(
        Row,
        r#"select id, session_id, lesson_slug, lesson_hash, status as "status: Status",
                  current_stage, guide_type, guide_contents, guide_domain, healthy_tests,
                  total_tests, error_reason, error_step, error_logs,
                  images as "images: Json<BTreeMap<String, Image>>", deleting, created_at,
                  last_active_at, ready_at, spare, pool_hit, requested_at, admitted,
                  waiting_since
           from livelessons where id = $1"#,
        id.as_str()
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("reading a livelesson"))?;
    let Some(row) = row else { return Ok(None) };
    let endpoints = endpoints(&mut *conn, id).await?;
    assemble(row, endpoints).map(Some)
}

/// When livelesson `id`, or one of its endpoints, last changed (`None` when it is gone):
/// a trigger sets it on every write (migration 0015).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn changed_at(
    executor: impl PgExecutor<'_>,
    id: &LivelessonId,
) -> Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        "select changed_at from livelessons where id = $1",
        id.as_str()
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading when a livelesson changed"))
}

/// What [`changed_since`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The livelessons that changed, with when (as [`changed_at`] tells).
    pub changed: Vec<(LivelessonId, DateTime<Utc>)>,
    /// The database's time as it read them.
    pub now: DateTime<Utc>,
}

/// The livelessons that changed after `since`.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn changed_since(executor: impl PgExecutor<'_>, since: DateTime<Utc>) -> Result<Changes> {
    let row = sqlx::query!(
        r#"select now() as "now!", coalesce(array_agg(id), '{}') as "ids!",
                  coalesce(array_agg(changed_at), '{}') as "times!"
           from livelessons where changed_at > $1"#,
        since
    )
    .fetch_one(executor)
    .await
    .map_err(db("reading which livelessons changed"))?;
    let changed = row
        .ids
        .into_iter()
        .map(LivelessonId::from)
        .zip(row.times)
        .collect();
    Ok(Changes {
        changed,
        now: row.now,
    })
}

/// The W3C traceparent of the request that created livelesson `id` (`None` when unknown
/// or the livelesson is gone).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn first_trace(conn: &mut PgConnection, id: &LivelessonId) -> Result<Option<String>> {
    let traceparent = sqlx::query_scalar!(
        "select traceparent from livelessons where id = $1",
        id.as_str()
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("reading a livelesson's first trace"))?;
    Ok(traceparent.flatten())
}

/// The session's unfinished livelesson of `lesson_slug`, locked for the caller's
/// transaction.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn find_active_for_update(
    conn: &mut PgConnection,
    session_id: &SessionId,
    lesson_slug: &str,
) -> Result<Option<Livelesson>> {
    let id = sqlx::query_scalar!(
        "select id from livelessons where session_id = $1 and lesson_slug = $2 and not deleting for update",
        session_id.as_str(),
        lesson_slug
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("finding a livelesson"))?;
    match id {
        Some(id) => get(conn, &LivelessonId::from(id)).await,
        None => Ok(None),
    }
}

/// A livelesson row held for the caller's transaction ([`lock`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    /// Its status.
    pub status: Status,
    /// A delete was requested.
    pub deleting: bool,
    /// It is a spare of a warm pool (nobody's yet).
    pub spare: bool,
}

/// Locks a livelesson row for the caller's transaction; `None` if there is none.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn lock(conn: &mut PgConnection, id: &LivelessonId) -> Result<Option<Locked>> {
    let row = sqlx::query!(
        r#"select status as "status: Status", deleting, spare from livelessons where id = $1 for update"#,
        id.as_str()
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("locking a livelesson"))?;
    Ok(row.map(|r| Locked {
        status: r.status,
        deleting: r.deleting,
        spare: r.spare,
    }))
}

/// Unfinished livelessons of a session.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn count_for_session(
    executor: impl PgExecutor<'_>,
    session_id: &SessionId,
) -> Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from livelessons where session_id = $1 and not deleting"#,
        session_id.as_str()
    )
    .fetch_one(executor)
    .await
    .map_err(db("counting livelessons"))
}

async fn endpoints(conn: &mut PgConnection, id: &LivelessonId) -> Result<Vec<LiveEndpoint>> {
    let rows = sqlx::query!(
        r#"select name, position, image, configuration_type, ports,
                  presentations as "presentations: Json<Vec<LivePresentation>>", host, reachable
           from live_endpoints where livelesson_id = $1 order by position"#,
        id.as_str()
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db("reading live endpoints"))?;
    rows.into_iter()
        .map(|r| {
            Ok(LiveEndpoint {
                configuration_type: r
                    .configuration_type
                    .map(|text| {
                        ConfigurationType::parse(&text)
                            .ok_or_else(|| undecodable("a configuration type", &text))
                    })
                    .transpose()?,
                name: r.name,
                position: r.position,
                image: r.image,
                ports: r.ports,
                presentations: r.presentations.0,
                host: r.host,
                reachable: r.reachable,
            })
        })
        .collect()
}

/// A stored value no enum of this version knows (written by a newer one).
fn undecodable(what: &str, text: &str) -> super::StoreError {
    super::StoreError::Database {
        operation: "reading a livelesson",
        source: sqlx::Error::Decode(format!("unknown {what} {text:?}").into()),
    }
}

fn assemble(row: Row, endpoints: Vec<LiveEndpoint>) -> Result<Livelesson> {
    let error = row.error_reason.map(|reason| LivelessonError {
        reason,
        step: row.error_step,
        logs: row.error_logs,
    });
    Ok(Livelesson {
        id: row.id.into(),
        session_id: row.session_id.into(),
        lesson_slug: row.lesson_slug,
        lesson_hash: row.lesson_hash,
        status: row.status,
        current_stage: row.current_stage,
        guide_type: GuideType::parse(&row.guide_type)
            .ok_or_else(|| undecodable("a guide type", &row.guide_type))?,
        guide_contents: row.guide_contents,
        guide_domain: row.guide_domain,
        healthy_tests: row.healthy_tests,
        total_tests: row.total_tests,
        error,
        images: row.images.0,
        deleting: row.deleting,
        created_at: row.created_at,
        last_active_at: row.last_active_at,
        ready_at: row.ready_at,
        spare: row.spare,
        pool_hit: row.pool_hit,
        requested_at: row.requested_at,
        admitted: row.admitted,
        waiting_since: row.waiting_since,
        endpoints,
    })
}

/// Sets the status (READY also records `ready_at` the first time).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn set_status(
    executor: impl PgExecutor<'_>,
    id: &LivelessonId,
    status: Status,
) -> Result<()> {
    sqlx::query!(
        r#"update livelessons
           set status = $2,
               ready_at = case when $2 = 'READY'::livelesson_status then coalesce(ready_at, now())
                               else ready_at end
           where id = $1"#,
        id.as_str(),
        status as Status
    )
    .execute(executor)
    .await
    .map_err(db("setting a livelesson status"))?;
    Ok(())
}

/// Records that a READY livelesson is READY for its learner, once: returns the seconds
/// from the learner's request to now and whether it came from a pool, or `None` for a
/// spare (no learner yet) or when already recorded (a later stage change).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn mark_learner_ready(
    executor: impl PgExecutor<'_>,
    id: &LivelessonId,
) -> Result<Option<(f64, bool)>> {
    let row = sqlx::query!(
        r#"update livelessons set learner_ready_at = now()
           where id = $1 and not spare and learner_ready_at is null and status = 'READY'
           returning extract(epoch from now() - requested_at)::float8 as "waited!", pool_hit"#,
        id.as_str()
    )
    .fetch_optional(executor)
    .await
    .map_err(db("recording a livelesson ready for its learner"))?;
    Ok(row.map(|r| (r.waited, r.pool_hit)))
}

/// Most bytes of logs kept with an error.
pub const MAX_ERROR_LOGS: usize = 50_000;

/// Puts the livelesson in ERROR with why, where, and the logs captured (their last
/// [`MAX_ERROR_LOGS`] bytes, cut on a character boundary).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn set_error(
    executor: impl PgExecutor<'_>,
    id: &LivelessonId,
    step: &str,
    reason: &str,
    logs: Option<&str>,
) -> Result<()> {
    let logs = logs.map(|l| tail_on_char_boundary(l, MAX_ERROR_LOGS));
    sqlx::query!(
        r#"update livelessons
           set status = 'ERROR', error_reason = $2, error_step = $3, error_logs = $4
           where id = $1"#,
        id.as_str(),
        reason,
        step,
        logs
    )
    .execute(executor)
    .await
    .map_err(db("setting a livelesson error"))?;
    Ok(())
}

/// The last `max` bytes of `text`, starting on a character boundary.
pub fn tail_on_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Records the hosts (Service ClusterIPs) of endpoints.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn set_hosts(
    executor: impl PgExecutor<'_>,
    id: &LivelessonId,
    hosts: &BTreeMap<String, String>,
) -> Result<()> {
    let names: Vec<String> = hosts.keys().cloned().collect();
    let values: Vec<String> = hosts.values().cloned().collect();
    sqlx::query!(
        r#"update live_endpoints e set host = t.host
           from unnest($2::text[], $3::text[]) as t(name, host)
           where e.livelesson_id = $1 and e.name = t.name"#,
        id.as_str(),
        &names,
        &values
    )
    .execute(executor)
    .await
    .map_err(db("recording endpoint hosts"))?;
    Ok(())
}

/// Marks one endpoint reachable and recounts the livelesson's healthy tests, atomically.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn set_reachable(
    executor: impl PgExecutor<'_>,
    id: &LivelessonId,
    endpoint: &str,
) -> Result<()> {
    sqlx::query!(
        r#"with e as (
               update live_endpoints set reachable = true
               where livelesson_id = $1 and name = $2 and not reachable
               returning 1
           )
           -- An increment, not a recount: concurrent probes of one livelesson finish at
           -- once, and a recount from the statement's snapshot would miss the others.
           update livelessons set healthy_tests = healthy_tests + (select count(*) from e)
           where id = $1"#,
        id.as_str(),
        endpoint
    )
    .execute(executor)
    .await
    .map_err(db("recording reachability"))?;
    Ok(())
}

/// Changes the stage and guide, and sets CONFIGURATION (the API's stage change).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn set_stage(
    executor: impl PgExecutor<'_>,
    id: &LivelessonId,
    stage: i32,
    guide_type: GuideType,
    guide_contents: &str,
) -> Result<()> {
    sqlx::query!(
        r#"update livelessons
           set current_stage = $2, guide_type = $3, guide_contents = $4,
               status = 'CONFIGURATION', last_active_at = now()
           where id = $1"#,
        id.as_str(),
        stage,
        guide_type.as_str(),
        guide_contents
    )
    .execute(executor)
    .await
    .map_err(db("changing a livelesson stage"))?;
    Ok(())
}

/// Refreshes the activity clock of a livelesson and its session. Returns false for an
/// unknown or deleting livelesson, and, with `quiet_secs`, for one whose activity was
/// written within that many seconds (so that several processes seeing the same activity,
/// typing in the lab's terminals, write it at most once in that time).
///
/// Call it holding the session's lock ([`super::livesession::lock`] or
/// [`super::livesession::lock_of_livelesson`]): it locks the livelesson and the session.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn touch(
    executor: impl PgExecutor<'_>,
    id: &LivelessonId,
    quiet_secs: Option<f64>,
) -> Result<bool> {
    let touched = sqlx::query_scalar!(
        r#"with l as (
               update livelessons set last_active_at = now()
               where id = $1 and not deleting and not spare
                     and ($2::float8 is null
                          or last_active_at < now() - make_interval(secs => $2))
               returning session_id
           ), s as (
               update livesessions set last_active_at = now()
               where id in (select session_id from l)
           )
           select count(*) as "n!" from l"#,
        id.as_str(),
        quiet_secs
    )
    .fetch_one(executor)
    .await
    .map_err(db("refreshing livelesson activity"))?;
    Ok(touched == 1)
}

/// Marks a livelesson as being deleted. Returns false when unknown or already deleting.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn mark_deleting(executor: impl PgExecutor<'_>, id: &LivelessonId) -> Result<bool> {
    let done = sqlx::query!(
        "update livelessons set deleting = true where id = $1 and not deleting",
        id.as_str()
    )
    .execute(executor)
    .await
    .map_err(db("marking a livelesson for deletion"))?;
    Ok(done.rows_affected() == 1)
}

/// Removes a livelesson's state (endpoints cascade). The audit trail is in the job tables.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn delete(executor: impl PgExecutor<'_>, id: &LivelessonId) -> Result<bool> {
    let done = sqlx::query!("delete from livelessons where id = $1", id.as_str())
        .execute(executor)
        .await
        .map_err(db("deleting a livelesson"))?;
    Ok(done.rows_affected() == 1)
}

/// Whether a livelesson exists.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn exists(executor: impl PgExecutor<'_>, id: &LivelessonId) -> Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from livelessons where id = $1) as "e!""#,
        id.as_str()
    )
    .fetch_one(executor)
    .await
    .map_err(db("checking a livelesson"))
}

#[cfg(test)]
mod tests {
    use super::tail_on_char_boundary;

    #[test]
    fn log_tails_never_split_a_character() {
        let text = "aé€😀";
        for max in 0..=text.len() {
            let tail = tail_on_char_boundary(text, max);
            assert!(tail.len() <= max);
            assert!(text.ends_with(tail));
        }
        assert_eq!(tail_on_char_boundary(text, 4), "😀");
        assert_eq!(tail_on_char_boundary(text, 5), "😀");
        assert_eq!(tail_on_char_boundary(text, 7), "€😀");
    }
}
