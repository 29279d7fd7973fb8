//! Typing in a terminal is the learner's activity for the lab's lifetime (issue 32):
//! written at most once a minute per livelesson, here by remembering the last write in
//! this process and in the database by the write's own condition (other processes), as a
//! heartbeat is written: the session's lock first ([`request::typed`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::ids::LivelessonId;
use crate::workflow::request;

/// At most one activity write per livelesson within this.
pub const EVERY: Duration = Duration::from_secs(60);

/// The livelessons' last activity writes in this process.
#[derive(Debug, Default)]
pub struct Activity {
    written: Mutex<HashMap<String, Instant>>,
}

impl Activity {
    /// Records typing in a terminal of `livelesson`: writes it (on a task of its own, so
    /// keystrokes never wait for the database) unless written within [`EVERY`].
    pub fn typed(&self, pool: &PgPool, livelesson: &str) {
        let now = Instant::now();
        {
            let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
            if written
                .get(livelesson)
                .is_some_and(|at| now.duration_since(*at) < EVERY)
            {
                return;
            }
            // Forget livelessons not written for a while, so the map stays as small as
            // the set of labs being typed in.
            written.retain(|_, at| now.duration_since(*at) < EVERY);
            written.insert(livelesson.to_owned(), now);
        }
        let pool = pool.clone();
        let id = LivelessonId::from(livelesson);
        tokio::spawn(async move {
            if let Err(err) = request::typed(&pool, &id, EVERY).await {
                tracing::warn!(error = %err, livelesson = %id.as_str(), "recording terminal activity");
            }
        });
    }
}
