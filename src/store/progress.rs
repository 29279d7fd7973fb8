//! What the progress stream reads of many livelessons at once, in one statement: each
//! one's status and deletion, and the checkpoints of its newest CREATE job (the plan among
//! them). The job engine's tables are read, never written.

use sqlx::PgExecutor;

use super::livelesson::Status;
use super::{Result, db};

/// One livelesson's progress as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressRow {
    /// The livelesson id asked for.
    pub id: String,
    /// Its status; `None` when the livelesson is gone.
    pub status: Option<Status>,
    /// A DELETE was requested.
    pub deleting: bool,
    /// A spare in a warm pool (nobody's yet).
    pub spare: bool,
    /// Why it failed, when in ERROR (for operators).
    pub error_reason: Option<String>,
    /// The output of its newest CREATE's checkpoint `plan_step`, once written.
    pub plan: Option<serde_json::Value>,
    /// The checkpoints its newest CREATE has completed, in no particular order.
    pub completed: Vec<String>,
}

/// The progress of livelessons `ids`, whose jobs have serial keys `serial_keys` (same
/// order), as their newest job of kind `create_kind` records it; one row per id, gone
/// livelessons included.
///
/// # Errors
/// [`super::StoreError::Database`].
pub async fn read(
    executor: impl PgExecutor<'_>,
    ids: &[String],
    serial_keys: &[String],
    create_kind: &str,
    plan_step: &str,
) -> Result<Vec<ProgressRow>> {
    let rows = sqlx::query!(
        r#"
        select w.id as "id!", l.status as "status?: Status",
               coalesce(l.deleting, false) as "deleting!", coalesce(l.spare, false) as "spare!",
               l.error_reason, c.plan, coalesce(c.completed, '{}') as "completed!"
        from unnest($1::text[], $2::text[]) as w (id, serial_key)
        left join livelessons l on l.id = w.id
        left join lateral (
            select (select s.output from job_steps s where s.job_id = j.id and s.name = $4)
                       as plan,
                   array(select s.name from job_steps s where s.job_id = j.id) as completed
            from jobs_all j
            where j.serial_key = w.serial_key and j.kind = $3
            order by j.id desc
            limit 1
        ) c on true
        "#,
        ids,
        serial_keys,
        create_kind,
        plan_step,
    )
    .fetch_all(executor)
    .await
    .map_err(db("reading livelessons' progress"))?;
    Ok(rows
        .into_iter()
        .map(|r| ProgressRow {
            id: r.id,
            status: r.status,
            deleting: r.deleting,
            spare: r.spare,
            error_reason: r.error_reason,
            plan: r.plan,
            completed: r.completed,
        })
        .collect())
}
