//! Orphan sweep (`gc.orphans`): namespaces labelled with this instance whose livelesson is
//! not in the store are deleted, periodically rather than only at start-up.
//!
//! The original deleted every namespace of its instance at start-up, because its state was
//! in memory: each restart destroyed every running lab. Here a namespace is an orphan only
//! if the store has no row for its livelesson (a deleting row counts as a row: its DELETE
//! job owns the namespace), so a restart deletes nothing that still has state.

use std::collections::HashSet;

use chrono::Utc;
use sqlx::PgPool;

use crate::backend::Backend;
use crate::ids::LivelessonId;
use crate::store::gc as sql;

use super::{Config, Result};

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Namespaces of this instance listed.
    pub namespaces: u64,
    /// Orphans whose delete was requested.
    pub deleted: u64,
    /// Orphans younger than the grace period, left for a later pass.
    pub too_young: u64,
    /// Orphan deletes that failed (retried next pass).
    pub failed: u64,
}

/// One pass over the backend's namespaces.
///
/// # Errors
/// [`super::GcError`] when listing namespaces or reading the store fails. A failed delete
/// is counted, not returned: the others still get their chance.
pub async fn run_once<B: Backend>(pool: &PgPool, backend: &B, config: &Config) -> Result<Counts> {
    // List first, read the store second: a livelesson created after the listing has a
    // namespace this pass did not see, and one deleted in between had its namespace
    // deleted first (DELETE removes infrastructure before state).
    let namespaces = backend.list_namespaces().await?;
    let mut counts = Counts {
        namespaces: namespaces.len() as u64,
        ..Counts::default()
    };
    let ids: Vec<LivelessonId> = namespaces
        .iter()
        .filter(|ns| !ns.terminating)
        .map(|ns| ns.livelesson_id.clone())
        .collect();
    let existing: HashSet<LivelessonId> = sql::existing_livelessons(pool, &ids)
        .await?
        .into_iter()
        .collect();
    let grace = chrono::Duration::from_std(config.orphan_grace).unwrap_or(chrono::Duration::MAX);
    let now = Utc::now();
    for ns in namespaces {
        if ns.terminating || existing.contains(&ns.livelesson_id) {
            continue;
        }
        // The grace protects a namespace whose livelesson row is being written or read
        // right now; a namespace of unknown age is never old enough.
        let old_enough = ns
            .created_at
            .is_some_and(|created| now.signed_duration_since(created) >= grace);
        if !old_enough {
            counts.too_young += 1;
            continue;
        }
        match backend.delete_namespace(&ns.livelesson_id).await {
            Ok(()) => {
                tracing::info!(namespace = %ns.name, livelesson = %ns.livelesson_id, "deleted orphan namespace");
                counts.deleted += 1;
            }
            Err(err) => {
                tracing::warn!(namespace = %ns.name, error = %err, "orphan namespace not deleted");
                counts.failed += 1;
            }
        }
    }
    Ok(counts)
}
