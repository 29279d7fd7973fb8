//! The engine's notion of "now": whose clock decides when a lease expired, when a retry or
//! a snoozed job is due, and which periodic slot has come.
//!
//! In production ([`Clock::database`], the default) every statement reads PostgreSQL's
//! `now()`, so workers on hosts whose clocks disagree still agree on lease expiry and due
//! times. Statements take the clock's [`Clock::statement_time`] and write
//! `coalesce($n::timestamptz, now())`: `NULL` means the database's time.
//!
//! A test clock ([`Clock::fixed`]) stands still until the test moves it
//! ([`Clock::advance`], [`Clock::set`]); statements then use its time instead of `now()`,
//! so a test sees a lease expire or a backoff pass without waiting for it. Clones share
//! one time, so the test, its clients and its workers move together.
//!
//! Rust-side computations of due times (a retry's backoff, a durable timer's deadline)
//! read [`Clock::now`]: the test clock's time, or the host's for a database clock (as the
//! engine always did there). Tokio's waits (poll interval, heartbeat tick) are not the
//! clock's business: tests drive the services' `run_once` instead of waiting on them.
//! Audit timestamps (`created_at`, `finished_at`, events, step completions) and
//! retention's age stay on the database's time.
//!
//! A job due in an hour, claimed an hour later without waiting for it:
//!
//! ```
//! use std::time::Duration;
//!
//! use job_engine::{Client, Clock, NewJob, store};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let Ok(url) = std::env::var("DATABASE_URL") else { return Ok(()) };
//! # let pool = sqlx::PgPool::connect(&url).await?;
//! # job_engine::migrate(&pool).await?;
//! // A queue of its own, so that the example shares its database with anything.
//! let queue = format!("clock-doc-{}", uuid::Uuid::new_v4().simple());
//! let clock = Clock::fixed("2031-01-01T00:00:00Z".parse()?);
//! let client = Client::new(pool.clone()).with_clock(clock.clone());
//! let in_an_hour = clock.now() + chrono::Duration::hours(1);
//! let job = client
//!     .enqueue(&NewJob::new("clock.doc", serde_json::json!({}))
//!         .with_queue(queue.clone())
//!         .with_run_at(in_an_hour))
//!     .await?;
//! // The claim statement a worker going by `clock` runs.
//! let claim = || store::claim(&pool, &queue, "doc", 1, 30_000, None, &clock);
//!
//! assert!(claim().await?.is_empty(), "not due yet");
//! clock.advance(Duration::from_secs(3600));
//! let claimed = claim().await?;
//! assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![job.id]);
//! let tokens: Vec<_> = claimed.iter().map(|j| j.lease_token).collect();
//! store::complete_many(&pool, &[job.id.0], &tokens).await?;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

/// Whose time the engine goes by. Cheap to clone; clones of a test clock share its time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// A test clock's time in microseconds since the epoch (PostgreSQL's precision);
    /// `None` for the database's clock.
    fixed: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The database's clock: statements read PostgreSQL's `now()`. The default.
    pub fn database() -> Self {
        Self::default()
    }

    /// A test clock standing at `at` (truncated to microseconds, as PostgreSQL keeps it)
    /// until it is moved.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self {
            fixed: Some(Arc::new(AtomicI64::new(at.timestamp_micros()))),
        }
    }

    /// Whether this is a test clock.
    pub fn is_fixed(&self) -> bool {
        self.fixed.is_some()
    }

    /// Moves a test clock forward by `by` (to the microsecond), for every clone. The
    /// database's clock is PostgreSQL's and is not moved.
    pub fn advance(&self, by: Duration) {
        if let Some(micros) = &self.fixed {
            let by = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
            // fetch_update cannot fail with a closure that always answers.
            let _ = micros.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(by))
            });
        }
    }

    /// Sets a test clock to `at` (backwards too), for every clone. The database's clock is
    /// not moved.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(micros) = &self.fixed {
            micros.store(at.timestamp_micros(), Ordering::Release);
        }
    }

    /// The time statements go by: a test clock's, or `None` for the database's `now()`.
    pub fn statement_time(&self) -> Option<DateTime<Utc>> {
        self.fixed
            .as_ref()
            .and_then(|micros| DateTime::from_timestamp_micros(micros.load(Ordering::Acquire)))
    }

    /// The time Rust-side due times are computed from: a test clock's, or the host's
    /// (to the microsecond) for the database's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.statement_time()
            .unwrap_or_else(|| Utc::now().trunc_subsecs(6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stands_still_until_moved_and_its_clones_move_with_it() {
        let start = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap_or_default();
        let clock = Clock::fixed(start);
        let shared = clock.clone();
        assert_eq!(clock.now(), start);
        assert_eq!(shared.statement_time(), Some(start));
        clock.advance(Duration::from_millis(1500));
        let later = start + chrono::Duration::milliseconds(1500);
        assert_eq!(shared.now(), later);
        shared.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn a_fixed_clock_keeps_microseconds_only() {
        let at = DateTime::from_timestamp_nanos(1_700_000_000_123_456_789);
        let clock = Clock::fixed(at);
        assert_eq!(clock.now(), at.trunc_subsecs(6));
        clock.advance(Duration::from_nanos(999));
        assert_eq!(clock.now(), at.trunc_subsecs(6), "less than a microsecond");
    }

    #[test]
    fn the_database_clock_leaves_statements_to_now_and_cannot_be_moved() {
        let clock = Clock::database();
        assert!(!clock.is_fixed());
        assert_eq!(clock.statement_time(), None);
        clock.advance(Duration::from_secs(3600));
        assert_eq!(clock.statement_time(), None);
        let host = Utc::now();
        let read = clock.now();
        assert!((read - host).num_seconds().abs() < 60, "the host's time");
    }
}
