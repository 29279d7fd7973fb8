//! SQL of warm pools and capacity admission: the applied settings, taking a spare,
//! retiring spares, the failure backoff, counting what capacity and refills need, and the
//! line of requests waiting for capacity. One small function per statement.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};

use super::{Result, db};
use crate::ids::{LivelessonId, SessionId};

/// The reserved session spares belong to until a learner takes one.
pub const POOL_SESSION: &str = "pool";

/// Settings every process admits and refills by (one row, see migration 0010).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalSettings {
    /// Spares kept at most, all lessons together.
    pub max_spares: i32,
    /// A spare older than this many seconds is replaced.
    pub max_age_secs: f64,
    /// First backoff after a lesson's spare failed, doubled per consecutive failure.
    pub failure_backoff_secs: f64,
    /// Longest backoff.
    pub max_backoff_secs: f64,
    /// Live livelessons at most, spares included; 0: unlimited.
    pub max_live: i32,
}

/// One lesson's pool target and capacity share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LessonSettings {
    /// Lesson slug.
    pub lesson_slug: String,
    /// Spares kept READY at stage 0.
    pub spares: i32,
    /// Live livelessons of this lesson at most; 0: only the global maximum.
    pub max_live: i32,
}

/// The applied global settings.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn global_settings(executor: impl PgExecutor<'_>) -> Result<GlobalSettings> {
    sqlx::query_as!(
        GlobalSettings,
        r#"select max_spares, max_age_secs, failure_backoff_secs, max_backoff_secs, max_live
           from pool_settings"#
    )
    .fetch_one(executor)
    .await
    .map_err(db("reading pool settings"))
}

/// Replaces the applied settings: the global row, and every lesson's target and share
/// (lessons not in `lessons` get none; their failure record stays).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn apply_settings(
    conn: &mut PgConnection,
    global: &GlobalSettings,
    lessons: &[LessonSettings],
) -> Result<()> {
    sqlx::query!(
        r#"update pool_settings
           set max_spares = $1, max_age_secs = $2, failure_backoff_secs = $3,
               max_backoff_secs = $4, max_live = $5, updated_at = now()"#,
        global.max_spares,
        global.max_age_secs,
        global.failure_backoff_secs,
        global.max_backoff_secs,
        global.max_live,
    )
    .execute(&mut *conn)
    .await
    .map_err(db("applying pool settings"))?;
    let slugs: Vec<String> = lessons.iter().map(|l| l.lesson_slug.clone()).collect();
    let spares: Vec<i32> = lessons.iter().map(|l| l.spares).collect();
    let max_live: Vec<i32> = lessons.iter().map(|l| l.max_live).collect();
    sqlx::query!(
        r#"with given as (
               select * from unnest($1::text[], $2::int4[], $3::int4[]) as t(slug, spares, max_live)
           ), cleared as (
               update pool_lessons set spares = 0, max_live = 0
               where lesson_slug <> all($1) and (spares <> 0 or max_live <> 0)
           )
           insert into pool_lessons (lesson_slug, spares, max_live)
           select slug, spares, max_live from given
           on conflict (lesson_slug) do update
               set spares = excluded.spares, max_live = excluded.max_live"#,
        &slugs,
        &spares,
        &max_live,
    )
    .execute(&mut *conn)
    .await
    .map_err(db("applying pool lesson settings"))?;
    Ok(())
}

/// One lesson's capacity share (0 when it has none).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn lesson_max_live(executor: impl PgExecutor<'_>, slug: &str) -> Result<i32> {
    let max = sqlx::query_scalar!(
        "select max_live from pool_lessons where lesson_slug = $1",
        slug
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading a lesson's capacity"))?;
    Ok(max.unwrap_or(0))
}

/// Makes sure the pool session exists (session expiry deletes empty sessions) and locks
/// it for the caller's transaction, as a learner's request locks theirs.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn ensure_pool_session(executor: impl PgExecutor<'_>) -> Result<()> {
    sqlx::query!(
        r#"insert into livesessions (id) values ($1)
           on conflict (id) do update set last_active_at = now()"#,
        POOL_SESSION
    )
    .execute(executor)
    .await
    .map_err(db("ensuring the pool session"))?;
    Ok(())
}

/// Takes the oldest READY spare of `slug` at version `hash`, younger than `max_age_secs`,
/// for `session_id`: it leaves the pool, joins the session, and its activity and request
/// time are now. Spares locked by another take or by a retirement are skipped (`skip
/// locked`), so two requests never get the same spare. `ready_now` (a take at stage 0)
/// records that the learner had it READY at once. Returns the spare's id.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn take_spare(
    conn: &mut PgConnection,
    slug: &str,
    hash: &str,
    session_id: &SessionId,
    max_age_secs: f64,
    ready_now: bool,
) -> Result<Option<LivelessonId>> {
    sqlx::query_scalar!(
        r#"with picked as (
               select id from livelessons
               where spare and not deleting and lesson_slug = $1 and lesson_hash = $2
                 and status = 'READY' and created_at > now() - make_interval(secs => $4)
               order by created_at, id
               limit 1
               for update skip locked
           )
           update livelessons l
           set spare = false, session_id = $3, pool_hit = true, requested_at = now(),
               last_active_at = now(),
               learner_ready_at = case when $5 then now() end
           from picked where l.id = picked.id
           returning l.id as "id: LivelessonId""#,
        slug,
        hash,
        session_id.as_str(),
        max_age_secs,
        ready_now,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("taking a spare"))
}

/// Why a spare was retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetireCause {
    /// It failed (ERROR): a failure of its lesson, counted for the backoff.
    Failed,
    /// Older than the maximum age.
    Aged,
    /// Its lesson version is no longer current, or its lesson has no pool (or a smaller
    /// one) any more.
    Unwanted,
}

/// A spare just marked deleting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    /// Livelesson id.
    pub id: LivelessonId,
    /// Its lesson.
    pub lesson_slug: String,
    /// Why.
    pub cause: RetireCause,
    /// The failure's reason, for `Failed`.
    pub error: Option<String>,
}

/// Marks deleting the spares that must go, in the caller's transaction (which enqueues
/// their DELETE jobs before committing): failed ones, ones older than `max_age_secs`,
/// ones of a lesson version no longer current, and the newest beyond their lesson's
/// target. Spares locked by a take are skipped: the take wins, and a later pass sees it.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn retire_spares(conn: &mut PgConnection, max_age_secs: f64) -> Result<Vec<Retired>> {
    let rows = sqlx::query!(
        r#"with candidates as (
               select l.id,
                      case
                          when l.status = 'ERROR' then 'failed'
                          when l.created_at <= now() - make_interval(secs => $1) then 'aged'
                          when c.current_hash is distinct from l.lesson_hash then 'unwanted'
                          when row_number() over (partition by l.lesson_slug
                                                  order by l.created_at, l.id)
                               > coalesce(p.spares, 0) then 'unwanted'
                      end as cause
               from livelessons l
               left join curriculum_lessons c on c.slug = l.lesson_slug
               left join pool_lessons p on p.lesson_slug = l.lesson_slug
               where l.spare and not l.deleting
           ), picked as (
               select l.id, c.cause from livelessons l
               join candidates c on c.id = l.id
               where c.cause is not null
               for update of l skip locked
           )
           update livelessons l set deleting = true
           from picked
           where l.id = picked.id and l.spare and not l.deleting
           returning l.id, l.lesson_slug, picked.cause as "cause!", l.error_reason"#,
        max_age_secs
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db("retiring spares"))?;
    Ok(rows
        .into_iter()
        .map(|r| Retired {
            id: r.id.into(),
            lesson_slug: r.lesson_slug,
            cause: match r.cause.as_str() {
                "failed" => RetireCause::Failed,
                "aged" => RetireCause::Aged,
                _ => RetireCause::Unwanted,
            },
            error: r.error_reason,
        })
        .collect())
}

/// Records `count` failed spares of `slug` (the last with `error`) and backs its refill
/// off: `base_secs` doubled per consecutive failure, at most `max_secs`.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn record_failures(
    executor: impl PgExecutor<'_>,
    slug: &str,
    count: i32,
    error: Option<&str>,
    base_secs: f64,
    max_secs: f64,
) -> Result<()> {
    sqlx::query!(
        r#"insert into pool_lessons as p (lesson_slug, failures, consecutive_failures,
                                          last_failure_at, last_error, backoff_until)
           values ($1, $2::int4, $2::int4, now(), $3::text,
                   now() + make_interval(secs => least($5::float8,
                       $4::float8 * power(2, greatest($2::int4 - 1, 0)))))
           on conflict (lesson_slug) do update
           set failures = p.failures + $2::int4,
               consecutive_failures = p.consecutive_failures + $2::int4,
               last_failure_at = now(),
               last_error = coalesce($3::text, p.last_error),
               backoff_until = now() + make_interval(secs => least($5::float8,
                   $4::float8 * power(2, least(p.consecutive_failures + $2::int4 - 1, 30))))"#,
        slug,
        count,
        error,
        base_secs,
        max_secs,
    )
    .execute(executor)
    .await
    .map_err(db("recording spare failures"))?;
    Ok(())
}

/// Ends the failure streak of every lesson that has a READY spare created after its last
/// failure: the lesson works again, so the next failure backs off from the start.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn clear_recovered(executor: impl PgExecutor<'_>) -> Result<u64> {
    let done = sqlx::query!(
        r#"update pool_lessons p set consecutive_failures = 0
           where consecutive_failures > 0
             and exists (select 1 from livelessons l
                         where l.lesson_slug = p.lesson_slug and l.status = 'READY'
                           and l.created_at > p.last_failure_at
                           and (l.spare or l.pool_hit))"#
    )
    .execute(executor)
    .await
    .map_err(db("clearing recovered pool lessons"))?;
    Ok(done.rows_affected())
}

/// A lesson with a pool and what its refill may create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolNeed {
    /// Lesson slug.
    pub lesson_slug: String,
    /// Target.
    pub target: i32,
    /// Spares kept now (not deleting), any status.
    pub spares: i64,
    /// Live livelessons of the lesson (admitted, deleting included).
    pub live: i64,
    /// The lesson's capacity share (0: none).
    pub max_live: i32,
    /// In backoff after a failure.
    pub backing_off: bool,
}

/// Every lesson with a pool target, with its spares and live counts, in slug order.
/// Lessons no longer in the curriculum are left out.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn pool_needs(executor: impl PgExecutor<'_>) -> Result<Vec<PoolNeed>> {
    sqlx::query_as!(
        PoolNeed,
        r#"select p.lesson_slug, p.spares as target,
                  (select count(*) from livelessons l
                   where l.lesson_slug = p.lesson_slug and l.spare and not l.deleting) as "spares!",
                  (select count(*) from livelessons l
                   where l.lesson_slug = p.lesson_slug and l.admitted) as "live!",
                  p.max_live,
                  coalesce(p.backoff_until > now(), false) as "backing_off!"
           from pool_lessons p
           join curriculum_lessons c on c.slug = p.lesson_slug
           where p.spares > 0
           order by p.lesson_slug"#
    )
    .fetch_all(executor)
    .await
    .map_err(db("counting pool needs"))
}

/// Counts spares created for `slug`.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn count_created(executor: impl PgExecutor<'_>, slug: &str, created: i64) -> Result<()> {
    sqlx::query!(
        "update pool_lessons set created = created + $2 where lesson_slug = $1",
        slug,
        created
    )
    .execute(executor)
    .await
    .map_err(db("counting created spares"))?;
    Ok(())
}

/// Takes the transaction-scoped lock every capacity decision holds (admitting a request,
/// admitting the line, refilling pools), so that counting live livelessons and adding one
/// are one step across every process.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn lock_capacity(executor: impl PgExecutor<'_>) -> Result<()> {
    sqlx::query!("select pg_advisory_xact_lock(hashtextextended('antidote.capacity', 0))")
        .execute(executor)
        .await
        .map_err(db("locking capacity"))?;
    Ok(())
}

/// What capacity admission counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Live (admitted) livelessons, spares and deleting ones included.
    pub live: i64,
    /// Live ones of the lesson asked about.
    pub lesson_live: i64,
    /// Requests waiting in line.
    pub waiting: i64,
    /// Spares not being deleted.
    pub spares: i64,
}

/// Counts live livelessons (and those of `slug`), the waiting line and the spares.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn usage(executor: impl PgExecutor<'_>, slug: &str) -> Result<Usage> {
    let row = sqlx::query!(
        r#"select count(*) filter (where admitted) as "live!",
                  count(*) filter (where admitted and lesson_slug = $1) as "lesson_live!",
                  count(*) filter (where not admitted and not deleting) as "waiting!",
                  count(*) filter (where spare and not deleting) as "spares!"
           from livelessons"#,
        slug
    )
    .fetch_one(executor)
    .await
    .map_err(db("counting capacity"))?;
    Ok(Usage {
        live: row.live,
        lesson_live: row.lesson_live,
        waiting: row.waiting,
        spares: row.spares,
    })
}

/// Marks deleting the oldest spare of a lesson other than `slug`, making room for a
/// waiting learner; returns its id (the caller enqueues its DELETE).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn give_way(conn: &mut PgConnection, slug: &str) -> Result<Option<LivelessonId>> {
    sqlx::query_scalar!(
        r#"with picked as (
               select id from livelessons
               where spare and not deleting and lesson_slug <> $1
               order by created_at, id limit 1
               for update skip locked
           )
           update livelessons l set deleting = true
           from picked where l.id = picked.id
           returning l.id as "id: LivelessonId""#,
        slug
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("making a spare give way"))
}

/// A request waiting for capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// Livelesson id.
    pub id: LivelessonId,
    /// Its lesson.
    pub lesson_slug: String,
    /// Its requested stage.
    pub stage: i32,
}

/// The line of waiting requests, first come first served, up to `limit`.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn waiting_line(executor: impl PgExecutor<'_>, limit: i64) -> Result<Vec<Waiting>> {
    sqlx::query_as!(
        Waiting,
        r#"select id, lesson_slug, current_stage as stage from livelessons
           where not admitted and not deleting
           order by waiting_since, id limit $1"#,
        limit
    )
    .fetch_all(executor)
    .await
    .map_err(db("reading the waiting line"))
}

/// Admits a waiting livelesson; returns the seconds it waited (`None` when it is no
/// longer waiting).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn admit(executor: impl PgExecutor<'_>, id: &LivelessonId) -> Result<Option<f64>> {
    let waited = sqlx::query_scalar!(
        r#"update livelessons set admitted = true
           where id = $1 and not admitted and not deleting
           returning extract(epoch from now() - waiting_since)::float8 as "waited!""#,
        id.as_str()
    )
    .fetch_optional(executor)
    .await
    .map_err(db("admitting a waiting livelesson"))?;
    Ok(waited)
}

/// A waiting livelesson's place in line (1 is next), `None` when it is not waiting.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn place_in_line(
    executor: impl PgExecutor<'_>,
    id: &LivelessonId,
) -> Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"select (select count(*) from livelessons w
                   where not w.admitted and not w.deleting
                     and (w.waiting_since, w.id) <= (l.waiting_since, l.id)) as "place!"
           from livelessons l
           where l.id = $1 and not l.admitted and not l.deleting"#,
        id.as_str()
    )
    .fetch_optional(executor)
    .await
    .map_err(db("reading a place in line"))
}

/// Spares by lesson and status (deleting ones as `DELETING`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpareCount {
    /// Lesson slug.
    pub lesson_slug: String,
    /// Status, or `DELETING`.
    pub state: String,
    /// How many.
    pub count: i64,
}

/// Spares by lesson and state.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn spare_counts(executor: impl PgExecutor<'_>) -> Result<Vec<SpareCount>> {
    sqlx::query_as!(
        SpareCount,
        r#"select lesson_slug,
                  case when deleting then 'DELETING' else status::text end as "state!",
                  count(*) as "count!"
           from livelessons where spare
           group by 1, 2 order by 1, 2"#
    )
    .fetch_all(executor)
    .await
    .map_err(db("counting spares"))
}

/// A lesson's pool as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LessonPool {
    /// Lesson slug.
    pub lesson_slug: String,
    /// Target.
    pub spares: i32,
    /// Capacity share.
    pub max_live: i32,
    /// Spares created.
    pub created: i64,
    /// Spares failed.
    pub failures: i64,
    /// Failures in a row.
    pub consecutive_failures: i32,
    /// Last failure.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Its reason.
    pub last_error: Option<String>,
    /// Refill paused until.
    pub backoff_until: Option<DateTime<Utc>>,
}

/// Every lesson's pool record.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn lesson_pools(executor: impl PgExecutor<'_>) -> Result<Vec<LessonPool>> {
    sqlx::query_as!(
        LessonPool,
        r#"select lesson_slug, spares, max_live, created, failures, consecutive_failures,
                  last_failure_at, last_error, backoff_until
           from pool_lessons order by lesson_slug"#
    )
    .fetch_all(executor)
    .await
    .map_err(db("reading lesson pools"))
}

/// Seconds the oldest waiting request has waited (0 when none waits).
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn longest_wait(executor: impl PgExecutor<'_>) -> Result<f64> {
    sqlx::query_scalar!(
        r#"select coalesce(extract(epoch from now() - min(waiting_since))::float8, 0) as "secs!"
           from livelessons where not admitted and not deleting"#
    )
    .fetch_one(executor)
    .await
    .map_err(db("reading the longest wait"))
}

/// What a learner's request needs to know about pools and capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    /// The global settings.
    pub global: GlobalSettings,
    /// The lesson's pool target.
    pub lesson_spares: i32,
    /// The lesson's capacity share.
    pub lesson_max_live: i32,
}

impl Admission {
    /// Whether a capacity limit applies to the lesson.
    pub fn limits_capacity(&self) -> bool {
        self.global.max_live > 0 || self.lesson_max_live > 0
    }
}

/// The global settings and those of `slug`, in one statement.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn admission_settings(executor: impl PgExecutor<'_>, slug: &str) -> Result<Admission> {
    let row = sqlx::query!(
        r#"select s.max_spares, s.max_age_secs, s.failure_backoff_secs, s.max_backoff_secs,
                  s.max_live, coalesce(p.spares, 0) as "lesson_spares!",
                  coalesce(p.max_live, 0) as "lesson_max_live!"
           from pool_settings s left join pool_lessons p on p.lesson_slug = $1"#,
        slug
    )
    .fetch_one(executor)
    .await
    .map_err(db("reading admission settings"))?;
    Ok(Admission {
        global: GlobalSettings {
            max_spares: row.max_spares,
            max_age_secs: row.max_age_secs,
            failure_backoff_secs: row.failure_backoff_secs,
            max_backoff_secs: row.max_backoff_secs,
            max_live: row.max_live,
        },
        lesson_spares: row.lesson_spares,
        lesson_max_live: row.lesson_max_live,
    })
}

/// Whether any request waits in line for capacity.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn any_waiting(executor: impl PgExecutor<'_>) -> Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from livelessons where not admitted and not deleting) as "any!""#
    )
    .fetch_one(executor)
    .await
    .map_err(db("checking the waiting line"))
}

/// Live (admitted) livelessons by lesson.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn live_by_lesson(executor: impl PgExecutor<'_>) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query!(
        r#"select lesson_slug, count(*) as "n!" from livelessons where admitted group by 1"#
    )
    .fetch_all(executor)
    .await
    .map_err(db("counting live livelessons by lesson"))?;
    Ok(rows.into_iter().map(|r| (r.lesson_slug, r.n)).collect())
}
