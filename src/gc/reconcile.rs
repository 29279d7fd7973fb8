//! Reconciliation (`gc.reconcile`): READY livelessons whose namespace vanished or whose
//! endpoint pods stopped running are marked ERROR with a reason that says so (step
//! `reconcile`). The original never noticed: a namespace deleted behind its back left a
//! READY livelesson pointing at nothing.

use futures::StreamExt;
use sqlx::PgPool;

use crate::backend::{self, Backend, Health};
use crate::curriculum::ContentHash;
use crate::store::{curriculum, gc as sql, livelesson};

use super::{Config, Result};
use crate::ids::LivelessonId;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// READY livelessons checked.
    pub checked: u64,
    /// Marked ERROR because the namespace is gone.
    pub namespace_missing: u64,
    /// Marked ERROR because endpoint pods are not running.
    pub pods_down: u64,
    /// Health checks that failed (tried again next pass).
    pub failed: u64,
}

impl Counts {
    /// Livelessons marked ERROR by this pass.
    pub fn marked(&self) -> u64 {
        self.namespace_missing + self.pods_down
    }
}

enum Outcome {
    Healthy,
    Gone,
    NamespaceMissing,
    PodsDown,
    Failed,
}

/// One pass over every READY livelesson, `config.reconcile_concurrency` at a time.
///
/// # Errors
/// [`super::GcError`] when listing livelessons fails. A failed health check is counted.
pub async fn run_once<B: Backend>(pool: &PgPool, backend: &B, config: &Config) -> Result<Counts> {
    let mut counts = Counts::default();
    let mut after = String::new();
    loop {
        let ids = sql::ready_livelessons(pool, &after, config.batch()).await?;
        let Some(last) = ids.last() else {
            return Ok(counts);
        };
        after = last.to_string();
        let outcomes: Vec<Outcome> = futures::stream::iter(ids)
            .map(|id| async move { check(pool, backend, &id).await })
            .buffer_unordered(config.reconcile_concurrency.max(1))
            .collect()
            .await;
        for outcome in outcomes {
            match outcome {
                Outcome::Healthy => counts.checked += 1,
                Outcome::Gone => {}
                Outcome::NamespaceMissing => {
                    counts.checked += 1;
                    counts.namespace_missing += 1;
                }
                Outcome::PodsDown => {
                    counts.checked += 1;
                    counts.pods_down += 1;
                }
                Outcome::Failed => counts.failed += 1,
            }
        }
    }
}

async fn check<B: Backend>(pool: &PgPool, backend: &B, id: &LivelessonId) -> Outcome {
    match try_check(pool, backend, id).await {
        Ok(outcome) => outcome,
        Err(err) => {
            tracing::warn!(livelesson = %id, error = %super::chain(&err), "health check failed");
            Outcome::Failed
        }
    }
}

async fn try_check<B: Backend>(pool: &PgPool, backend: &B, id: &LivelessonId) -> Result<Outcome> {
    let mut conn = pool.acquire().await.map_err(super::GcError::Transaction)?;
    let Some(row) = livelesson::get(&mut conn, id).await? else {
        return Ok(Outcome::Gone);
    };
    let Some(lesson) = curriculum::lesson_version(
        &mut *conn,
        &row.lesson_slug,
        &ContentHash::from_hex(row.lesson_hash.clone()),
    )
    .await?
    else {
        return Ok(Outcome::Gone);
    };
    // Release the connection during the backend call: it may take a while.
    drop(conn);
    let view = backend::Livelesson {
        id: &row.id,
        session_id: &row.session_id,
        lesson: &lesson,
        images: &row.images,
    };
    let (reason, outcome) = match backend.health(&view).await? {
        Health::Healthy => return Ok(Outcome::Healthy),
        Health::NamespaceMissing => (
            "reconciliation found the livelesson's namespace gone; request the lesson again"
                .to_owned(),
            Outcome::NamespaceMissing,
        ),
        Health::PodsDown(pods) => (
            format!(
                "reconciliation found endpoint pods not running: {}; request the lesson again",
                pods.join(", ")
            ),
            Outcome::PodsDown,
        ),
    };
    // Conditional on READY and not deleting: a stage change or a kill since the check wins.
    if sql::mark_unhealthy(pool, id, &reason).await? {
        tracing::warn!(livelesson = %id, %reason, "livelesson marked ERROR");
        Ok(outcome)
    } else {
        Ok(Outcome::Gone)
    }
}
