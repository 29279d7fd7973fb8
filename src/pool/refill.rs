//! The refill pass (`pool.refill`), in one transaction under the capacity lock, so that
//! every decision counts what the others committed:
//!
//! 1. admit the waiting line, first come first served, while there is room (a request
//!    whose lesson is at its own maximum lets later ones of other lessons pass);
//! 2. retire spares that failed, passed the maximum age, pin a lesson version no longer
//!    current, or exceed their lesson's target: marked deleting (so no request can take
//!    them any more) with their DELETE enqueued; a failure records the lesson's backoff;
//! 3. unless someone waits for capacity, create each lesson's missing spares (round robin
//!    over the lessons, within the spare cap and the capacity), a spare row and its CREATE
//!    per missing spare. Two passes cannot both create a missing spare: the second counts
//!    the first one's rows, committed before it got the lock.

use std::collections::BTreeMap;

use crate::backend::Settings;
use crate::provision::jobs::{Args, Create, Delete, livelesson_job};
use crate::provision::rows::{self, NewKind};
use crate::queue::Client;
use crate::queue::job::DEFAULT_QUEUE;
use crate::store::curriculum;
use crate::store::pool::{self as sql, RetireCause};

use super::{PoolError, Result};
use crate::ids::{LivelessonId, SessionId};

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Waiting requests admitted (their CREATE enqueued).
    pub admitted: u64,
    /// Spares retired because they failed.
    pub failed: u64,
    /// Spares retired for age.
    pub aged: u64,
    /// Spares retired because they are no longer wanted.
    pub unwanted: u64,
    /// Spares created.
    pub created: u64,
}

impl Counts {
    /// Whether the pass changed anything.
    pub fn changed(&self) -> bool {
        *self != Self::default()
    }
}

/// One pass.
///
/// # Errors
/// [`PoolError`] when a statement fails; nothing of the pass is then committed.
pub async fn run_once(client: &Client, settings: &Settings) -> Result<Counts> {
    let mut counts = Counts::default();
    let mut tx = client
        .pool()
        .begin()
        .await
        .map_err(PoolError::Transaction)?;
    sql::lock_capacity(&mut *tx).await?;
    let global = sql::global_settings(&mut *tx).await?;
    let cause = crate::telemetry::current_traceparent();
    let mut new_jobs = Vec::new();

    // 1. The waiting line.
    let line = sql::waiting_line(&mut *tx, 10_000).await?;
    if !line.is_empty() {
        let mut live = live_by_lesson(&mut tx).await?;
        let mut total: i64 = live.values().sum();
        let maxima = lesson_maxima(&mut tx).await?;
        for waiting in line {
            if global.max_live > 0 && total >= i64::from(global.max_live) {
                break;
            }
            let lesson_live = live.entry(waiting.lesson_slug.clone()).or_default();
            let lesson_max = maxima.get(&waiting.lesson_slug).copied().unwrap_or(0);
            if lesson_max > 0 && *lesson_live >= i64::from(lesson_max) {
                continue;
            }
            if let Some(waited) = sql::admit(&mut *tx, &waiting.id).await? {
                *lesson_live += 1;
                total += 1;
                counts.admitted += 1;
                crate::telemetry::metrics().capacity_wait.observe(waited);
                new_jobs.push(job::<Create>(&waiting.id, waiting.stage, cause.as_deref())?);
            }
        }
    }

    // 2. Retirement.
    let retired = sql::retire_spares(&mut tx, global.max_age_secs).await?;
    let mut failures: BTreeMap<String, (i32, Option<String>)> = BTreeMap::new();
    for spare in &retired {
        match spare.cause {
            RetireCause::Failed => {
                counts.failed += 1;
                let entry = failures.entry(spare.lesson_slug.clone()).or_default();
                entry.0 += 1;
                entry.1.clone_from(&spare.error);
                crate::telemetry::metrics()
                    .pool_spares_failed
                    .with_label_values(&[&spare.lesson_slug])
                    .inc();
            }
            RetireCause::Aged => counts.aged += 1,
            RetireCause::Unwanted => counts.unwanted += 1,
        }
        new_jobs.push(job::<Delete>(&spare.id, 0, cause.as_deref())?);
    }
    for (slug, (count, error)) in &failures {
        tracing::warn!(lesson = %slug, failed = count, error = ?error, "spares failed; refill backs off");
        sql::record_failures(
            &mut *tx,
            slug,
            *count,
            error.as_deref(),
            global.failure_backoff_secs,
            global.max_backoff_secs,
        )
        .await?;
    }
    sql::clear_recovered(&mut *tx).await?;

    // 3. Refill, unless learners wait for the room spares would take.
    if !sql::any_waiting(&mut *tx).await? {
        let needs = sql::pool_needs(&mut *tx).await?;
        let usage = sql::usage(&mut *tx, "").await?;
        let mut spare_room = i64::from(global.max_spares) - usage.spares;
        let mut live_room = if global.max_live > 0 {
            i64::from(global.max_live) - usage.live
        } else {
            i64::MAX
        };
        let mut plan: Vec<(String, i64)> = needs
            .iter()
            .filter(|n| !n.backing_off)
            .map(|n| {
                let mut deficit = i64::from(n.target) - n.spares;
                if n.max_live > 0 {
                    deficit = deficit.min(i64::from(n.max_live) - n.live);
                }
                (n.lesson_slug.clone(), deficit.max(0))
            })
            .filter(|(_, deficit)| *deficit > 0)
            .collect();
        let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
        // Round robin: under a cap, every lesson gets its share before any gets a second.
        while spare_room > 0 && live_room > 0 && plan.iter().any(|(_, d)| *d > 0) {
            for (slug, deficit) in &mut plan {
                if *deficit == 0 || spare_room == 0 || live_room == 0 {
                    continue;
                }
                *deficit -= 1;
                spare_room -= 1;
                live_room -= 1;
                *wanted.entry(slug.clone()).or_default() += 1;
            }
        }
        if !wanted.is_empty() {
            sql::ensure_pool_session(&mut *tx).await?;
        }
        for (slug, n) in wanted {
            let Some(stored) = curriculum::current_lesson(&mut *tx, &slug).await? else {
                continue;
            };
            for _ in 0..n {
                let id = rows::insert_livelesson(
                    &mut tx,
                    settings,
                    &stored,
                    &SessionId::from(sql::POOL_SESSION),
                    0,
                    NewKind::Spare,
                    cause.as_deref(),
                )
                .await?
                .ok_or_else(|| PoolError::Transaction(sqlx::Error::RowNotFound))?;
                new_jobs
                    .push(job::<Create>(&id, 0, cause.as_deref())?.with_priority(SPARE_PRIORITY));
            }
            sql::count_created(&mut *tx, &slug, n).await?;
            crate::telemetry::metrics()
                .pool_spares_created
                .with_label_values(&[&slug])
                .inc_by(u64::try_from(n).unwrap_or(0));
            counts.created += u64::try_from(n).unwrap_or(0);
        }
    }

    if !new_jobs.is_empty() {
        client.enqueue_many_using(&mut tx, &new_jobs).await?;
    }
    tx.commit().await.map_err(PoolError::Transaction)?;
    if !new_jobs.is_empty() {
        client.wake(DEFAULT_QUEUE);
    }
    Ok(counts)
}

/// The claim priority of a spare's CREATE: after every learner's job (the default, 1). A
/// class taking a thousand spares enqueues a thousand refills as it changes stage: its
/// stage changes must not wait behind labs nobody has asked for yet.
pub const SPARE_PRIORITY: i16 = 10;

fn job<K: crate::queue::JobKind<Args = Args>>(
    id: &LivelessonId,
    stage: i32,
    cause: Option<&str>,
) -> Result<crate::queue::NewJob> {
    let job = livelesson_job::<K>(id, stage)?;
    Ok(crate::queue::NewJob {
        traceparent: cause.map(str::to_owned),
        ..job
    })
}

async fn live_by_lesson(tx: &mut sqlx::PgConnection) -> Result<BTreeMap<String, i64>> {
    Ok(sql::live_by_lesson(&mut *tx).await?.into_iter().collect())
}

async fn lesson_maxima(tx: &mut sqlx::PgConnection) -> Result<BTreeMap<String, i32>> {
    Ok(sql::lesson_pools(&mut *tx)
        .await?
        .into_iter()
        .map(|p| (p.lesson_slug, p.max_live))
        .collect())
}
