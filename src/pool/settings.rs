//! The `pools:` and `capacity:` settings of the configuration file and their validation
//! (a leaf: how they reach the database is [`super::apply`]'s). Defaults: no pools, no
//! capacity limit.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Warm pools (`pools:`).
///
/// ```yaml
/// pools:
///   lessons: { router-configuration: 3 }   # spares kept READY at stage 0, per lesson
///   maxSpares: 50          # spares at most, all lessons together
///   maxAgeMins: 60         # a spare older than this is replaced
///   failureBackoffSecs: 30 # after a lesson's spare failed; doubled per failure in a row
///   maxBackoffSecs: 3600
///   refillIntervalSecs: 10 # the periodic refill pass (takes also trigger one)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Spares per lesson slug.
    pub lessons: BTreeMap<String, u32>,
    /// Spares at most, all lessons together.
    pub max_spares: u32,
    /// Maximum age of a spare in minutes.
    pub max_age_mins: u64,
    /// First backoff in seconds after a lesson's spare failed.
    pub failure_backoff_secs: u64,
    /// Longest backoff in seconds.
    pub max_backoff_secs: u64,
    /// Seconds between periodic refill passes.
    pub refill_interval_secs: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            lessons: BTreeMap::new(),
            max_spares: 50,
            max_age_mins: 60,
            failure_backoff_secs: 30,
            max_backoff_secs: 3600,
            refill_interval_secs: 10,
        }
    }
}

impl PoolConfig {
    /// The refill period.
    pub fn refill_interval(&self) -> Duration {
        Duration::from_secs(self.refill_interval_secs.max(1))
    }
}

/// Capacity admission (`capacity:`).
///
/// ```yaml
/// capacity:
///   maxLive: 200                           # live livelessons at most, spares included
///   lessons: { router-configuration: 40 }  # per lesson, within maxLive
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CapacityConfig {
    /// Live livelessons at most, spares included; 0: unlimited.
    pub max_live: u32,
    /// Live livelessons of a lesson at most.
    pub lessons: BTreeMap<String, u32>,
}

/// A problem with the settings, naming the setting.
///
/// # Errors
/// The first problem found, as `(setting, message)`.
pub fn validate(
    pools: &PoolConfig,
    capacity: &CapacityConfig,
) -> Result<(), (&'static str, String)> {
    for slug in pools.lessons.keys() {
        if !crate::curriculum::names::is_lesson_slug(slug) {
            return Err(("pools.lessons", format!("{slug:?} is not a lesson slug")));
        }
    }
    for slug in capacity.lessons.keys() {
        if !crate::curriculum::names::is_lesson_slug(slug) {
            return Err(("capacity.lessons", format!("{slug:?} is not a lesson slug")));
        }
    }
    if pools.max_age_mins == 0 {
        return Err(("pools.maxAgeMins", "must be at least 1".to_owned()));
    }
    let too_big = |n: u32| i32::try_from(n).is_err();
    if too_big(pools.max_spares)
        || too_big(capacity.max_live)
        || pools
            .lessons
            .values()
            .chain(capacity.lessons.values())
            .any(|n| too_big(*n))
    {
        return Err((
            "pools/capacity",
            "a count is larger than 2147483647".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pool_settings_name_the_setting() {
        let mut pools = PoolConfig::default();
        pools.lessons.insert("Not A Slug".into(), 1);
        let problem = validate(&pools, &CapacityConfig::default()).expect_err("bad slug");
        assert_eq!(problem.0, "pools.lessons");
        let pools = PoolConfig {
            max_age_mins: 0,
            ..PoolConfig::default()
        };
        let problem = validate(&pools, &CapacityConfig::default()).expect_err("zero age");
        assert_eq!(problem.0, "pools.maxAgeMins");
    }
}
