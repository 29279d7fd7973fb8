//! Applying the `pools:` and `capacity:` settings to the database: every API process
//! admits and every worker refills by the numbers last applied, whichever process applied
//! them (at its start, or on SIGHUP after the file changed).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::queue::Client;
use crate::queue::job::DEFAULT_QUEUE;
use crate::store::pool::{self, GlobalSettings, LessonSettings};

use super::settings::{CapacityConfig, PoolConfig};
use super::{PoolError, Result};

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The settings as stored.
pub fn to_store(
    pools: &PoolConfig,
    capacity: &CapacityConfig,
) -> (GlobalSettings, Vec<LessonSettings>) {
    let global = GlobalSettings {
        max_spares: count(pools.max_spares),
        max_age_secs: Duration::from_secs(pools.max_age_mins.saturating_mul(60)).as_secs_f64(),
        failure_backoff_secs: Duration::from_secs(pools.failure_backoff_secs).as_secs_f64(),
        max_backoff_secs: Duration::from_secs(pools.max_backoff_secs).as_secs_f64(),
        max_live: count(capacity.max_live),
    };
    let mut lessons: BTreeMap<&str, LessonSettings> = BTreeMap::new();
    for (slug, spares) in &pools.lessons {
        lessons.entry(slug).or_insert_with(|| empty(slug)).spares = count(*spares);
    }
    for (slug, max) in &capacity.lessons {
        lessons.entry(slug).or_insert_with(|| empty(slug)).max_live = count(*max);
    }
    (global, lessons.into_values().collect())
}

fn empty(slug: &str) -> LessonSettings {
    LessonSettings {
        lesson_slug: slug.to_owned(),
        spares: 0,
        max_live: 0,
    }
}

/// Stores the settings for every process, in one transaction, and wakes the workers so
/// that a refill pass applies them at once.
///
/// # Errors
/// [`PoolError`] when the database refuses.
pub async fn apply_settings(
    client: &Client,
    pools: &PoolConfig,
    capacity: &CapacityConfig,
) -> Result<()> {
    let (global, lessons) = to_store(pools, capacity);
    let mut tx = client
        .pool()
        .begin()
        .await
        .map_err(PoolError::Transaction)?;
    pool::apply_settings(&mut tx, &global, &lessons).await?;
    let trigger = format!("settings:{}", chrono::Utc::now().timestamp_micros());
    client
        .enqueue_using(&mut tx, &super::refill_job(&trigger))
        .await?;
    tx.commit().await.map_err(PoolError::Transaction)?;
    client.wake(DEFAULT_QUEUE);
    Ok(())
}
