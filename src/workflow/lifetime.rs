//! A learner's lab lifetime: when it expires, and extending it.
//!
//! Every learner's livelesson has an inactivity deadline (its last activity plus
//! `liveLessonTTL`, as in antidote) and a hard deadline (`lifetime.maxAgeMins` after the
//! learner got it: requested, or taken from a pool; a spare is exempt until taken). A
//! learner may extend the inactivity deadline by `lifetime.overtimeMins`, at most
//! `lifetime.maxExtensions` times and never past the hard deadline, as Educates lets a
//! session run into overtime. Garbage collection deletes a livelesson past either
//! deadline ([`crate::gc::expiry`]). A persistent session's livelessons have neither: they
//! live until their own maximum age (`gc.persistentMaxAgeMins`) and cannot be extended.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::ids::LivelessonId;
use crate::store::lifetime::{self as sql, Lifetime};

use super::request::RequestError;

/// The `lifetime:` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LifetimeSettings {
    /// Hard deadline: minutes after a learner got a lab. Default 480 (8 hours).
    pub max_age_mins: u64,
    /// Minutes one extension adds to the inactivity deadline. Default 15.
    pub overtime_mins: u64,
    /// Extensions a learner may take. Default 4.
    pub max_extensions: u32,
}

impl Default for LifetimeSettings {
    fn default() -> Self {
        Self {
            max_age_mins: 8 * 60,
            overtime_mins: 15,
            max_extensions: 4,
        }
    }
}

/// The rules a schedule is computed by: the settings with the lifetimes they go with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Inactivity before a livelesson expires (`liveLessonTTL`).
    pub inactivity: Duration,
    /// The hard deadline after a learner got the lab.
    pub max_age: Duration,
    /// The maximum age of a persistent session's livelessons.
    pub persistent_max_age: Duration,
    /// What one extension adds.
    pub overtime: Duration,
    /// Extensions a learner may take.
    pub max_extensions: u32,
}

/// When a livelesson expires and whether the learner may extend it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// When garbage collection deletes it unless the learner is active or extends it.
    pub expires: DateTime<Utc>,
    /// Seconds from the database's now to `expires` (0 when past).
    pub countdown_secs: i64,
    /// The hard deadline: no activity or extension keeps it past this.
    pub deadline: DateTime<Utc>,
    /// An extension would move `expires`.
    pub extendable: bool,
    /// Extensions the learner may still take.
    pub extensions_left: u32,
}

fn span(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

impl Policy {
    /// The schedule of a livelesson in `lifetime`.
    pub fn schedule(&self, lifetime: &Lifetime) -> Schedule {
        if lifetime.persistent {
            let deadline = lifetime.deadline_from + span(self.persistent_max_age);
            return Schedule {
                expires: deadline,
                countdown_secs: (deadline - lifetime.now).num_seconds().max(0),
                deadline,
                extendable: false,
                extensions_left: 0,
            };
        }
        let deadline = lifetime.deadline_from + span(self.max_age);
        let inactive_at = lifetime.last_active_at + span(self.inactivity);
        let expires = lifetime
            .extended_until
            .map_or(inactive_at, |until| until.max(inactive_at))
            .min(deadline);
        let extensions_left = self
            .max_extensions
            .saturating_sub(u32::try_from(lifetime.extensions).unwrap_or(u32::MAX));
        Schedule {
            expires,
            countdown_secs: (expires - lifetime.now).num_seconds().max(0),
            deadline,
            extendable: extensions_left > 0 && expires < deadline && expires > lifetime.now,
            extensions_left,
        }
    }

    /// Where one extension would move `expires`: overtime past the later of now and the
    /// current expiry, never past the deadline.
    fn extended(&self, lifetime: &Lifetime, current: &Schedule) -> DateTime<Utc> {
        (current.expires.max(lifetime.now) + span(self.overtime)).min(current.deadline)
    }
}

/// The schedule of learner's livelesson `id`.
///
/// # Errors
/// [`RequestError::UnknownLivelesson`] (spares and livelessons being deleted included),
/// or a storage failure.
pub async fn schedule(
    pool: &PgPool,
    policy: &Policy,
    id: &LivelessonId,
) -> Result<Schedule, RequestError> {
    let lifetime = sql::get(pool, id)
        .await?
        .ok_or_else(|| RequestError::UnknownLivelesson(id.clone()))?;
    Ok(policy.schedule(&lifetime))
}

/// Extends learner's livelesson `id` by the policy's overtime; its new schedule.
///
/// # Errors
/// [`RequestError::NotExtendable`] naming why (no extension left, at its hard deadline,
/// a persistent session's, already expired), [`RequestError::UnknownLivelesson`], or a
/// storage failure.
pub async fn extend(
    pool: &PgPool,
    policy: &Policy,
    id: &LivelessonId,
) -> Result<Schedule, RequestError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(crate::store::db("starting an extension"))?;
    let lifetime = sql::lock(&mut tx, id)
        .await?
        .ok_or_else(|| RequestError::UnknownLivelesson(id.clone()))?;
    let current = policy.schedule(&lifetime);
    if !current.extendable {
        let reason = if lifetime.persistent {
            "a persistent session's lab lives until its maximum age".to_owned()
        } else if current.extensions_left == 0 {
            format!(
                "no extension left (at most {} per lab)",
                policy.max_extensions
            )
        } else if current.expires >= current.deadline {
            format!(
                "the lab already runs until its hard deadline, {}",
                current.deadline.to_rfc3339()
            )
        } else {
            "the lab has expired".to_owned()
        };
        return Err(RequestError::NotExtendable {
            id: id.clone(),
            reason,
        });
    }
    let until = policy.extended(&lifetime, &current);
    sql::extend(&mut tx, id, until).await?;
    tx.commit()
        .await
        .map_err(crate::store::db("committing an extension"))?;
    Ok(policy.schedule(&Lifetime {
        extended_until: Some(until),
        extensions: lifetime.extensions.saturating_add(1),
        ..lifetime
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
            + chrono::Duration::minutes(minutes)
    }

    fn lifetime(now: i64, active: i64) -> Lifetime {
        Lifetime {
            deadline_from: at(0),
            last_active_at: at(active),
            extended_until: None,
            extensions: 0,
            persistent: false,
            now: at(now),
        }
    }

    fn policy() -> Policy {
        Policy {
            inactivity: Duration::from_secs(30 * 60),
            max_age: Duration::from_secs(60 * 60),
            persistent_max_age: Duration::from_secs(24 * 3600),
            overtime: Duration::from_secs(15 * 60),
            max_extensions: 2,
        }
    }

    #[test]
    fn a_lab_expires_after_its_inactivity_and_never_past_its_deadline() {
        let fresh = policy().schedule(&lifetime(10, 10));
        assert_eq!(fresh.expires, at(40));
        assert_eq!(fresh.countdown_secs, 30 * 60);
        assert!(fresh.extendable);
        assert_eq!(fresh.extensions_left, 2);
        // Active at 50: inactivity would end at 80, the deadline at 60 wins.
        let late = policy().schedule(&lifetime(50, 50));
        assert_eq!((late.expires, late.deadline), (at(60), at(60)));
        assert!(!late.extendable, "at its deadline");
    }

    #[test]
    fn an_extension_adds_overtime_up_to_the_deadline() {
        let policy = policy();
        let l = lifetime(20, 10);
        let now = policy.schedule(&l);
        let until = policy.extended(&l, &now);
        assert_eq!(until, at(55));
        let twice = Lifetime {
            extended_until: Some(until),
            extensions: 1,
            ..l.clone()
        };
        let then = policy.schedule(&twice);
        assert_eq!(then.expires, at(55));
        assert_eq!(
            policy.extended(&twice, &then),
            at(60),
            "capped by the deadline"
        );
        let spent = policy.schedule(&Lifetime {
            extensions: 2,
            ..twice
        });
        assert!(!spent.extendable && spent.extensions_left == 0);
    }

    #[test]
    fn a_persistent_session_s_lab_lives_to_its_own_maximum_age() {
        let schedule = policy().schedule(&Lifetime {
            persistent: true,
            ..lifetime(10, 10)
        });
        assert_eq!(schedule.expires, at(24 * 60));
        assert!(!schedule.extendable);
    }
}
