//! A synthetic history loaded in bulk: the fixture of benchmarks that measure reads over
//! millions of jobs without running them. The caller describes the jobs (kinds,
//! arguments, outcomes, steps); the engine writes them as a worker would have left them.

use sqlx::PgPool;

use crate::error::{QueueError, Result};
use crate::job::JobState;

/// What a synthetic finished job looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedTemplate {
    /// Its kind.
    pub kind: String,
    /// Its arguments.
    pub args: serde_json::Value,
    /// How it ended: completed, failed or cancelled.
    pub state: JobState,
    /// Its error, if it failed.
    pub last_error: Option<String>,
    /// Its serial key.
    pub serial_key: Option<String>,
}

/// A history of finished jobs to load with [`load_history`].
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticHistory {
    /// How many: ids 1 to `jobs`; jobs enqueued later get higher ids.
    pub jobs: i64,
    /// Job `n` finishes `span_ms - span_ms * n / jobs` milliseconds before now.
    pub span_ms: i64,
    /// Job `n` is `templates[n % templates.len()]`.
    pub templates: Vec<FinishedTemplate>,
    /// The steps every job checkpointed, in order.
    pub steps: Vec<String>,
    /// The worker that ran them all.
    pub worker: String,
}

/// Writes `history` into the (empty) finished-job tables: each job enqueued 900 ms
/// before it finished in the default queue, claimed 20 ms later for its one attempt (of
/// 8), its steps checkpointed 150 ms apart from then; and its events (enqueued, claimed,
/// each step started and completed, its end) in the event log, in time order, as
/// stored events rather than folded into the job rows as a worker would (the log is the
/// larger of the two to search).
///
/// # Errors
/// [`QueueError::Database`].
pub async fn load_history(pool: &PgPool, history: &SyntheticHistory) -> Result<()> {
    let kinds: Vec<String> = history.templates.iter().map(|t| t.kind.clone()).collect();
    let args: Vec<String> = history
        .templates
        .iter()
        .map(|t| t.args.to_string())
        .collect();
    let states: Vec<String> = history
        .templates
        .iter()
        .map(|t| t.state.as_str().to_owned())
        .collect();
    let errors: Vec<Option<String>> = history
        .templates
        .iter()
        .map(|t| t.last_error.clone())
        .collect();
    let serial_keys: Vec<Option<String>> = history
        .templates
        .iter()
        .map(|t| t.serial_key.clone())
        .collect();
    let period = i64::try_from(history.templates.len().max(1)).unwrap_or(i64::MAX);
    // Rows go in in id order, as a worker finishing them in turn would have written them.
    sqlx::query!(
        r#"
        insert into finished_jobs (id, kind, args, queue, priority, state, attempt, max_attempts,
                                   run_at, created_at, attempted_at, finished_at, last_error,
                                   serial_key)
        select n, tpl.kind, tpl.args::jsonb, 'default', 1, tpl.state::job_state, 1, 8,
               t - interval '900 ms', t - interval '900 ms', t - interval '880 ms', t,
               tpl.last_error, tpl.serial_key
        from generate_series(1, $1::int8) n
             cross join lateral
                 (select now() - make_interval(secs => ($2::int8 - $2::int8 * n / $1::int8) / 1000.0))
                 as at(t)
             join unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                 with ordinality as tpl(kind, args, state, last_error, serial_key, i)
                 on tpl.i = n % $8::int8 + 1
        order by n
        "#,
        history.jobs,
        history.span_ms,
        &kinds,
        &args,
        &states,
        &errors as &[Option<String>],
        &serial_keys as &[Option<String>],
        period,
    )
    .execute(pool)
    .await
    .map_err(QueueError::db("load_history"))?;
    sqlx::query!(
        r#"
        insert into job_steps (job_id, name, output, attempt, worker, completed_at)
        select j.id, s.name, 'null', 1, $2, j.attempted_at + s.i * interval '150 ms'
        from finished_jobs j, unnest($1::text[]) with ordinality as s(name, i)
        "#,
        &history.steps,
        history.worker,
    )
    .execute(pool)
    .await
    .map_err(QueueError::db("load_history"))?;
    sqlx::query!(
        r#"
        insert into job_event_log (job_id, at, kind, attempt, worker, step)
        select j.id, j.created_at, 'enqueued', null, null, null from finished_jobs j
        union all
        select j.id, j.attempted_at, 'claimed', 1, $1, null from finished_jobs j
        union all
        select s.job_id, s.completed_at - interval '140 ms', 'step_started', 1, s.worker, s.name
        from job_steps s
        union all
        select s.job_id, s.completed_at, 'step_completed', 1, s.worker, s.name from job_steps s
        union all
        select j.id, j.finished_at, j.state::text, 1, $1, null from finished_jobs j
        order by 2
        "#,
        history.worker,
    )
    .execute(pool)
    .await
    .map_err(QueueError::db("load_history"))?;
    sqlx::query!(
        "select setval(pg_get_serial_sequence('jobs', 'id'), greatest($1::int8, 1))",
        history.jobs
    )
    .fetch_one(pool)
    .await
    .map_err(QueueError::db("load_history"))?;
    Ok(())
}

/// An unfinished job of a synthetic load.
#[derive(Debug, Clone, PartialEq)]
pub struct UnfinishedTemplate {
    /// Its kind.
    pub kind: String,
    /// Its arguments.
    pub args: serde_json::Value,
    /// Its serial key.
    pub serial_key: Option<String>,
    /// The worker running it (on its first attempt, under a lease good for an hour), or
    /// `None` for a job waiting to be claimed.
    pub lease_owner: Option<String>,
}

/// Enqueues `jobs` as given, in order, running or waiting.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn load_unfinished(pool: &PgPool, jobs: &[UnfinishedTemplate]) -> Result<()> {
    let kinds: Vec<String> = jobs.iter().map(|j| j.kind.clone()).collect();
    let args: Vec<String> = jobs.iter().map(|j| j.args.to_string()).collect();
    let serial_keys: Vec<Option<String>> = jobs.iter().map(|j| j.serial_key.clone()).collect();
    let owners: Vec<Option<String>> = jobs.iter().map(|j| j.lease_owner.clone()).collect();
    sqlx::query!(
        r#"
        insert into jobs (kind, args, state, attempt, attempted_at, serial_key, lease_owner,
                          lease_token, lease_expires_at)
        select u.kind, u.args::jsonb,
               case when u.owner is not null then 'running'::job_state
                    else 'available'::job_state end,
               case when u.owner is not null then 1 else 0 end,
               case when u.owner is not null then now() end,
               u.serial_key, u.owner,
               case when u.owner is not null then gen_random_uuid() end,
               case when u.owner is not null then now() + interval '1 hour' end
        from unnest($1::text[], $2::text[], $3::text[], $4::text[])
             with ordinality as u(kind, args, serial_key, owner, i)
        order by u.i
        "#,
        &kinds,
        &args,
        &serial_keys as &[Option<String>],
        &owners as &[Option<String>],
    )
    .execute(pool)
    .await
    .map_err(QueueError::db("load_unfinished"))?;
    Ok(())
}
