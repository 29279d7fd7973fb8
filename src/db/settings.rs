//! The database's settings (`database:` in the configuration file): the server-side
//! timeouts of each pool, how long a connection may take to get, and how long the API
//! waits for a writable primary before it answers 503. A leaf: it depends on nothing
//! else of the crate.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Timeouts of one pool: sent as startup parameters of each of its connections (no round
/// trip), so every statement it runs is bounded by the server itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PoolLimits {
    /// `statement_timeout` in milliseconds (0: none): a statement running longer is
    /// cancelled by the server (SQLSTATE 57014).
    pub statement_timeout_ms: u64,
    /// `lock_timeout` in milliseconds (0: none): a lock waited for longer fails the
    /// statement (55P03).
    pub lock_timeout_ms: u64,
    /// `idle_in_transaction_session_timeout` in milliseconds (0: none): a connection left
    /// idle inside a transaction this long is closed by the server, its locks released.
    pub idle_in_transaction_timeout_ms: u64,
    /// Longest wait for a connection from the pool (a new one included) before the
    /// caller gets an error, in milliseconds.
    pub acquire_timeout_ms: u64,
}

impl PoolLimits {
    /// The API's: its statements are single-row reads and short request transactions, so
    /// anything slow is a fault to answer (503) rather than wait on.
    pub const API: Self = Self {
        statement_timeout_ms: 5_000,
        lock_timeout_ms: 2_000,
        idle_in_transaction_timeout_ms: 10_000,
        acquire_timeout_ms: 3_000,
    };

    /// The workers': claims, checkpoints and fenced writes are short, but GC and
    /// retention passes delete in batches and maintenance rebuilds indexes, so the bound
    /// is looser; a statement that hits it is a transient failure of its attempt.
    pub const WORKER: Self = Self {
        statement_timeout_ms: 60_000,
        lock_timeout_ms: 10_000,
        idle_in_transaction_timeout_ms: 60_000,
        acquire_timeout_ms: 10_000,
    };

    /// The startup parameters that set these timeouts (PostgreSQL reads milliseconds).
    pub fn startup_parameters(&self) -> [(&'static str, String); 3] {
        [
            ("statement_timeout", self.statement_timeout_ms.to_string()),
            ("lock_timeout", self.lock_timeout_ms.to_string()),
            (
                "idle_in_transaction_session_timeout",
                self.idle_in_transaction_timeout_ms.to_string(),
            ),
        ]
    }

    /// [`Self::acquire_timeout_ms`] as a duration.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }

    /// The first setting out of range, named by its key in `keys` (acquire, statement,
    /// lock and idle-in-transaction timeouts, in that order), with why.
    fn problem(&self, keys: [&'static str; 4]) -> Option<(&'static str, String)> {
        let [acquire, statement, lock, idle] = keys;
        if self.acquire_timeout_ms == 0 {
            return Some((acquire, "must be at least 1".into()));
        }
        // PostgreSQL's integer settings stop at 2^31 - 1 ms (about 24 days).
        let max = u64::from(i32::MAX.unsigned_abs());
        [
            (statement, self.statement_timeout_ms),
            (lock, self.lock_timeout_ms),
            (idle, self.idle_in_transaction_timeout_ms),
        ]
        .into_iter()
        .find(|(_, value)| *value > max)
        .map(|(key, _)| (key, format!("must be at most {max}")))
    }
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self::API
    }
}

/// Everything under `database:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// The API's pool.
    pub api: PoolLimits,
    /// The workers' pool.
    pub worker: PoolLimits,
    /// How long a learner's request that meets an unreachable or read-only database is
    /// retried inside the API (requests are idempotent) before it is answered 503 with
    /// `Retry-After`, in milliseconds (0: answer at once).
    pub writable_wait_ms: u64,
}

impl DatabaseSettings {
    /// [`Self::writable_wait_ms`] as a duration.
    pub fn writable_wait(&self) -> Duration {
        Duration::from_millis(self.writable_wait_ms)
    }

    /// The first setting that is out of range, with why.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        self.api
            .problem([
                "database.api.acquireTimeoutMs",
                "database.api.statementTimeoutMs",
                "database.api.lockTimeoutMs",
                "database.api.idleInTransactionTimeoutMs",
            ])
            .or_else(|| {
                self.worker.problem([
                    "database.worker.acquireTimeoutMs",
                    "database.worker.statementTimeoutMs",
                    "database.worker.lockTimeoutMs",
                    "database.worker.idleInTransactionTimeoutMs",
                ])
            })
            .or_else(|| {
                (self.writable_wait_ms > 300_000).then(|| {
                    (
                        "database.writableWaitMs",
                        "must be at most 300000 (a learner's browser gives up long before)"
                            .to_owned(),
                    )
                })
            })
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            api: PoolLimits::API,
            worker: PoolLimits::WORKER,
            writable_wait_ms: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounded() {
        let settings = DatabaseSettings::default();
        assert_eq!(settings.problem(), None);
        assert_eq!(settings.writable_wait(), Duration::from_secs(10));
        assert!(settings.api.statement_timeout_ms < settings.worker.statement_timeout_ms);
    }

    #[test]
    fn out_of_range_settings_are_named() {
        let mut settings = DatabaseSettings::default();
        settings.worker.lock_timeout_ms = u64::MAX;
        assert_eq!(
            settings.problem().map(|(setting, _)| setting),
            Some("database.worker.lockTimeoutMs")
        );
        settings = DatabaseSettings::default();
        settings.api.acquire_timeout_ms = 0;
        assert_eq!(
            settings.problem().map(|(setting, _)| setting),
            Some("database.api.acquireTimeoutMs")
        );
    }

    #[test]
    fn parameters_are_milliseconds() {
        let parameters = PoolLimits::API.startup_parameters();
        assert_eq!(parameters[0], ("statement_timeout", "5000".to_owned()));
    }
}
