//! SQL read models of the livelessons for the operator dashboard: counts by status and
//! lesson, and filtered lists. Livelessons are live state (expired ones are collected), so
//! these read a table of at most thousands of rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;

use super::livelesson::Status;
use super::{Result, db};

/// How many livelessons of one lesson are in one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusCount {
    /// Lesson slug.
    pub lesson_slug: String,
    /// Status.
    pub status: Status,
    /// Whether these are being deleted (killed or expired, namespace not yet gone).
    pub deleting: bool,
    /// How many.
    pub count: i64,
}

/// Livelessons counted by lesson, status and deletion.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn status_counts(executor: impl PgExecutor<'_>) -> Result<Vec<StatusCount>> {
    sqlx::query_as!(
        StatusCount,
        r#"
        select lesson_slug, status as "status: Status", deleting, count(*) as "count!"
        from livelessons group by lesson_slug, status, deleting
        order by lesson_slug, status, deleting
        "#
    )
    .fetch_all(executor)
    .await
    .map_err(db("counting livelessons"))
}

/// One line of a livelesson list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LivelessonLine {
    /// Livelesson id.
    pub id: String,
    /// Owning session.
    pub session_id: String,
    /// Lesson slug.
    pub lesson_slug: String,
    /// Status.
    pub status: Status,
    /// 0-based stage.
    pub current_stage: i32,
    /// Reachable endpoints.
    pub healthy_tests: i32,
    /// Endpoints to reach.
    pub total_tests: i32,
    /// The failed step, when in ERROR.
    pub error_step: Option<String>,
    /// A delete was requested.
    pub deleting: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// First READY.
    pub ready_at: Option<DateTime<Utc>>,
    /// Last request, heartbeat or stage change.
    pub last_active_at: DateTime<Utc>,
}

/// Filters of [`list`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct LivelessonFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this lesson.
    pub lesson_slug: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// Livelessons matching `filter`, newest first.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn list(
    executor: impl PgExecutor<'_>,
    filter: &LivelessonFilter,
) -> Result<Vec<LivelessonLine>> {
    sqlx::query_as!(
        LivelessonLine,
        r#"
        select id, session_id, lesson_slug, status as "status: Status", current_stage,
               healthy_tests, total_tests, error_step, deleting, created_at, ready_at,
               last_active_at
        from livelessons
        where ($1::livelesson_status is null or status = $1)
          and ($2::text is null or lesson_slug = $2)
        order by created_at desc, id
        limit $3
        "#,
        filter.status as Option<Status>,
        filter.lesson_slug,
        filter.limit,
    )
    .fetch_all(executor)
    .await
    .map_err(db("listing livelessons"))
}
