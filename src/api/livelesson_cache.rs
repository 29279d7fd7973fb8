//! The answers of `GET /exp/livelesson/{id}`, kept in an API process's memory while the
//! database says they are current.
//!
//! A learner's browser reads its livelesson twice a second until it is READY, and again
//! through every stage change: a class of a thousand sends two thousand reads a second,
//! each two statements, while the lab itself changes a few times a minute. So an answer
//! read from the database is kept with the time its livelesson last changed
//! (`changed_at`, set by a trigger on every write, migration 0015), and one poller per
//! process asks the database a few times a second which livelessons changed lately
//! ([`POLL`]): an answer older than its livelesson's change is dropped. No `NOTIFY`: it
//! takes a database-wide lock at commit, which would serialise every livelesson write.
//!
//! What keeps an answer from being served stale:
//! - `changed_at` is read before the livelesson, so a change committed between the two
//!   reads carries a later time and drops the answer at the next poll.
//! - `changed_at` is the time of the write, not of its commit: each poll asks for changes
//!   since [`SLACK`] before the previous poll, so a transaction that commits within that
//!   long after its write is still seen; [`TTL`] bounds any answer's age whatever happens.
//! - Answers are served only while the last poll that succeeded started less than
//!   [`FRESH`] ago: when the database cannot be read, every read goes to it (and meets
//!   its fault as before), and the kept answers are dropped.
//! - The process's own writes (a stage change, a kill) drop their livelesson's answer at
//!   once, so a learner reads what they just did; another API process sees it at its next
//!   poll.
//!
//! Only answers of admitted livelessons that are not in ERROR are kept: a place in line
//! changes without its livelesson changing, and an ERROR is answered as an error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::wire::live::LiveLesson;
use crate::ids::LivelessonId;
use crate::store::livelesson;

/// Between two polls for changes.
pub const POLL: Duration = Duration::from_millis(250);

/// How long after its write a transaction may commit and still be seen by the next poll.
pub const SLACK: Duration = Duration::from_secs(3);

/// The longest an answer is kept, whatever the polls say.
pub const TTL: Duration = Duration::from_secs(10);

/// Answers are served while the last successful poll started at most this long ago.
pub const FRESH: Duration = Duration::from_secs(1);

/// Polls without a kept answer before the poller stops (it starts again with the next
/// answer to keep).
const IDLE_POLLS: u32 = 40;

/// The kept answers of one API process and its poller.
#[derive(Debug)]
pub struct LivelessonCache {
    pool: PgPool,
    state: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    answers: HashMap<LivelessonId, Answer>,
    /// Whether the poller runs.
    polling: bool,
    /// When the last poll that succeeded started (answers are served until [`FRESH`]
    /// after it).
    fresh_at: Option<Instant>,
}

impl Kept {
    /// Whether the last successful poll started less than [`FRESH`] ago.
    fn fresh(&self) -> bool {
        self.fresh_at.is_some_and(|at| at.elapsed() < FRESH)
    }
}

#[derive(Debug)]
struct Answer {
    livelesson: LiveLesson,
    changed_at: DateTime<Utc>,
    kept_at: Instant,
}

impl LivelessonCache {
    /// An empty cache reading changes through `pool`.
    pub fn new(pool: PgPool) -> Arc<Self> {
        Arc::new(Self {
            pool,
            state: Mutex::new(Kept::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, Kept> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kept answer of `id`, when there is one and the polls are fresh.
    pub fn get(&self, id: &LivelessonId) -> Option<LiveLesson> {
        let state = self.state();
        if !state.fresh() {
            return None;
        }
        state
            .answers
            .get(id)
            .filter(|answer| answer.kept_at.elapsed() < TTL)
            .map(|answer| answer.livelesson.clone())
    }

    /// Keeps `livelesson`, the answer for its id read after `changed_at` was. Starts the
    /// poller when it is not running; until its first poll succeeds nothing is kept.
    pub fn keep(self: &Arc<Self>, livelesson: &LiveLesson, changed_at: DateTime<Utc>) {
        let mut state = self.state();
        if !state.polling {
            state.polling = true;
            tokio::spawn(self.clone().poll());
            return;
        }
        if state.fresh() {
            state.answers.insert(
                LivelessonId::from(livelesson.id.as_str()),
                Answer {
                    livelesson: livelesson.clone(),
                    changed_at,
                    kept_at: Instant::now(),
                },
            );
        }
    }

    /// Drops the answer of `id` (this process changed it).
    pub fn forget(&self, id: &LivelessonId) {
        self.state().answers.remove(id);
    }

    /// Reads the changes every [`POLL`] and drops the answers they make old; stops after
    /// [`IDLE_POLLS`] polls without an answer kept.
    async fn poll(self: Arc<Self>) {
        let mut since: Option<DateTime<Utc>> = None;
        let mut idle = 0;
        loop {
            let started = Instant::now();
            // The first poll only learns the database's time: nothing is kept yet.
            let window = since.map_or_else(
                || Utc::now() + chrono::TimeDelta::days(365),
                |since| since - SLACK,
            );
            let read = livelesson::changed_since(&self.pool, window).await;
            if !self.apply(read, started, &mut since, &mut idle) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Applies one poll's outcome; false when the poller stops (under the lock, so that
    /// the next answer to keep starts another).
    fn apply(
        &self,
        read: Result<livelesson::Changes, crate::store::StoreError>,
        started: Instant,
        since: &mut Option<DateTime<Utc>>,
        idle: &mut u32,
    ) -> bool {
        let mut state = self.state();
        match read {
            Ok(livelesson::Changes { changed, now }) => {
                if since.is_none() {
                    // Nothing kept before the first poll can be trusted.
                    state.answers.clear();
                }
                for (id, changed_at) in changed {
                    if state
                        .answers
                        .get(&id)
                        .is_some_and(|answer| answer.changed_at < changed_at)
                    {
                        state.answers.remove(&id);
                    }
                }
                state
                    .answers
                    .retain(|_, answer| answer.kept_at.elapsed() < TTL);
                state.fresh_at = Some(started);
                *since = Some(now);
            }
            Err(err) => {
                tracing::debug!(error = %err, "livelesson cache: changes not read; reads go to the database");
                state.answers.clear();
                state.fresh_at = None;
                *since = None;
            }
        }
        *idle = if state.answers.is_empty() {
            *idle + 1
        } else {
            0
        };
        if *idle >= IDLE_POLLS {
            state.polling = false;
            state.fresh_at = None;
            return false;
        }
        true
    }
}
