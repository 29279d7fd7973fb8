//! Workers' liveness locks (migration 0012): a worker registers the key of the advisory
//! lock its liveness connection holds; rescuers find registered workers whose lock is free
//! and, once it has been free for the grace, take over their jobs (see `rescue`).
//!
//! A lock is probed with `pg_try_advisory_xact_lock`, never by reading `pg_locks`: the
//! probe is keyed by database (a lock in another database of the server cannot answer
//! for one here), costs one lock-table lookup instead of a scan of every lock of the
//! server, and holds a free lock until the rescuer's transaction ends, so that a worker
//! coming back cannot take it in the middle of the takeover of its jobs.

use sqlx::{PgConnection, PgExecutor};

use super::millis;
use crate::error::{QueueError, Result};

/// The first key of every liveness lock (`pg_advisory_lock(LIVENESS_LOCK_CLASS, key)`):
/// "jobe" in ASCII. The application's advisory locks of one bigint key are told apart
/// from two-int4 ones by PostgreSQL itself, so they cannot meet these.
pub const LIVENESS_LOCK_CLASS: i32 = 0x6A6F_6265;

/// Tries to take the liveness lock `key` for the rest of `conn`'s session: false when
/// another session holds it.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn try_liveness_lock(conn: &mut PgConnection, key: i32) -> Result<bool> {
    sqlx::query_scalar!(
        r#"select pg_try_advisory_lock($1, $2) as "taken!""#,
        LIVENESS_LOCK_CLASS,
        key
    )
    .fetch_one(conn)
    .await
    .map_err(QueueError::db("liveness lock"))
}

/// Registers `worker` (the id it records in `jobs.lease_owner`) as holding the liveness
/// lock `key`, which the caller's session must hold already: a rescuer that probes the
/// new key in between finds it taken. Clears a rescuer's note that the lock was free.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn register_worker(executor: impl PgExecutor<'_>, worker: &str, key: i32) -> Result<()> {
    sqlx::query!(
        r#"
        insert into job_workers (worker, lock_key) values ($1, $2)
        on conflict (worker) do update
        set lock_key = excluded.lock_key, registered_at = now(), lost_since = null
        "#,
        worker,
        key
    )
    .execute(executor)
    .await
    .map_err(QueueError::db("register worker"))?;
    Ok(())
}

/// What one look at the registered workers found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LivenessCheck {
    /// Workers whose lock was found free for the first time (now noted).
    pub newly_lost: Vec<String>,
    /// Workers gone for the grace or longer that still own running jobs: take them over.
    pub dead: Vec<String>,
    /// Workers gone for the grace or longer with no job left: unregistered.
    pub forgotten: Vec<String>,
}

/// Probes the lock of every registered worker: notes when one is first found free, and
/// returns those free for at least `grace` (by the database's time). With `own`, the lock
/// key of the caller's own worker, nothing is judged unless that lock is seen held: a
/// rescuer whose own lock is free is looking at a server that lost every lock (a restart,
/// a failover to a standby) or from a worker that is itself reconnecting, and would
/// declare dead workers that are merely reconnecting too.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn check_liveness(
    executor: impl PgExecutor<'_>,
    grace: std::time::Duration,
    own: Option<i32>,
) -> Result<LivenessCheck> {
    let row = sqlx::query!(
        r#"
        with judge as materialized (
            -- Held by our own liveness connection, the lock cannot be taken from here.
            select $3::int4 is null or not pg_try_advisory_xact_lock($1, $3::int4) as judge
        ), probed as materialized (
            select worker, lost_since, pg_try_advisory_xact_lock($1, lock_key) as free
            from job_workers
            where (select judge from judge)
        ), noted as (
            update job_workers w set lost_since = now()
            from probed p
            where w.worker = p.worker and p.free and p.lost_since is null
            returning w.worker
        ), gone as (
            select p.worker,
                   exists (select 1 from jobs j
                           where j.lease_owner = p.worker and j.state = 'running') as owns
            from probed p
            where p.free and p.lost_since <= now() - make_interval(secs => $2::float8 / 1000)
        ), forgotten as (
            delete from job_workers w using gone g
            where w.worker = g.worker and not g.owns
            returning w.worker
        )
        select array(select worker from noted) as "newly_lost!",
               array(select worker from gone where owns) as "dead!",
               array(select worker from forgotten) as "forgotten!"
        "#,
        LIVENESS_LOCK_CLASS,
        millis(grace) as f64,
        own,
    )
    .fetch_one(executor)
    .await
    .map_err(QueueError::db("check liveness"))?;
    Ok(LivenessCheck {
        newly_lost: row.newly_lost,
        dead: row.dead,
        forgotten: row.forgotten,
    })
}
