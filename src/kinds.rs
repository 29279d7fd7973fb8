//! Every production job kind in one table: how long one attempt may run, how many
//! attempts a job gets, and the backoff between them. The engine stops an attempt at its
//! kind's timeout (a hung backend call included), counts it as a transient failure and
//! retries it after the backoff; the last attempt's failure is final (a livelesson's
//! CREATE or MODIFY then leaves it in ERROR, naming the step).
//!
//! | kind | timeout (default) | attempts | backoff |
//! |---|---|---|---|
//! | `livelesson.create` | the backend's pod, reachability, clean-up and configuration budgets + 5 min (31 min) | 8 | 1 s doubling to 10 min, ±20 % |
//! | `livelesson.modify` | clean-up and configuration budgets + 5 min (16 min) | 8 | 1 s doubling to 10 min, ±20 % |
//! | `livelesson.delete` | clean-up and namespace-deletion budgets + 5 min (8 min) | 8 | 1 s doubling to 10 min, ±20 % |
//! | `gc.expire`, `gc.sessions` | 2 min | 20 | 5 s doubling to 1 min |
//! | `gc.orphans` | 10 min | 20 | 5 s doubling to 1 min |
//! | `gc.reconcile` | 15 min | 20 | 5 s doubling to 1 min |
//! | `gc.retention` | 30 min | 20 | 5 s doubling to 1 min |
//! | `pool.refill` | 2 min | 20 | 1 s doubling to 30 s |
//!
//! Timeouts and backoff can be changed per kind under `worker.kinds` of the
//! configuration file; attempts are fixed where the jobs are made.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::Settings as BackendSettings;
use crate::gc::{EXPIRE, ORPHANS, RECONCILE, RETENTION, SESSIONS};
use crate::pool::REFILL;
use crate::queue::{KindOptions, Registry, RetryPolicy};
use crate::workflow::{CREATE, DELETE, MODIFY};

/// Attempts every livelesson job (CREATE, MODIFY, DELETE) gets before it fails.
pub const LIVELESSON_ATTEMPTS: i32 = crate::workflow::MAX_ATTEMPTS;

/// How the engine runs one kind's attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contract {
    /// Longest one attempt may run.
    pub timeout: Duration,
    /// Attempts a job gets (set where its jobs are made; shown here).
    pub attempts: i32,
    /// Backoff between attempts.
    pub retry: RetryPolicy,
}

/// A kind's settings under `worker.kinds` (each optional: the table's default otherwise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContractSettings {
    /// Longest one attempt may run, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Backoff after the first failed attempt, in milliseconds (doubled after each).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_base_ms: Option<u64>,
    /// Longest backoff, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_max_ms: Option<u64>,
}

/// The contract of every production kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Contracts(BTreeMap<&'static str, Contract>);

impl Contracts {
    /// The defaults of the table above, the livelesson kinds' timeouts from the backend's
    /// own budgets (`backend`), with `settings` (by kind name) applied over them.
    ///
    /// # Errors
    /// What is wrong, naming the key under `worker.kinds`: a kind that does not exist, or
    /// a zero timeout.
    pub fn new(
        backend: &BackendSettings,
        settings: &BTreeMap<String, ContractSettings>,
    ) -> Result<Self, String> {
        let mut contracts = Self::for_backend(backend);
        for (kind, set) in settings {
            let Some(contract) = contracts.0.get_mut(kind.as_str()) else {
                return Err(format!(
                    "{kind}: no such job kind (the kinds are {})",
                    contracts.0.keys().copied().collect::<Vec<_>>().join(", ")
                ));
            };
            if let Some(secs) = set.timeout_secs {
                if secs == 0 {
                    return Err(format!("{kind}.timeoutSecs: must be at least 1"));
                }
                contract.timeout = Duration::from_secs(secs);
            }
            if let Some(ms) = set.retry_base_ms {
                contract.retry.base = Duration::from_millis(ms);
            }
            if let Some(ms) = set.retry_max_ms {
                contract.retry.max = Duration::from_millis(ms);
            }
        }
        Ok(contracts)
    }

    /// The defaults of the table above, the livelesson kinds' timeouts from `backend`'s
    /// budgets.
    pub fn for_backend(backend: &BackendSettings) -> Self {
        // What the workflow's own bounded waits may take, plus room for its other calls
        // (each bounded by the client's timeouts).
        let slack = Duration::from_secs(300);
        let livelesson = |timeout: Duration| Contract {
            timeout: timeout + slack,
            attempts: LIVELESSON_ATTEMPTS,
            retry: RetryPolicy::default(),
        };
        let periodic = |secs: u64| Contract {
            timeout: Duration::from_secs(secs),
            attempts: crate::queue::job::DEFAULT_MAX_ATTEMPTS,
            retry: RetryPolicy {
                base: Duration::from_secs(5),
                max: Duration::from_secs(60),
                jitter: 0.2,
            },
        };
        let configure = backend.job_cleanup_timeout + backend.config_timeout;
        Self(BTreeMap::from([
            (
                CREATE,
                livelesson(backend.pod_ready_timeout + backend.reachability_timeout + configure),
            ),
            (MODIFY, livelesson(configure)),
            (
                DELETE,
                livelesson(backend.job_cleanup_timeout + backend.namespace_delete_timeout),
            ),
            (EXPIRE, periodic(120)),
            (SESSIONS, periodic(120)),
            (ORPHANS, periodic(600)),
            (RECONCILE, periodic(900)),
            (RETENTION, periodic(1800)),
            (
                REFILL,
                Contract {
                    retry: RetryPolicy {
                        base: Duration::from_secs(1),
                        max: Duration::from_secs(30),
                        jitter: 0.2,
                    },
                    ..periodic(120)
                },
            ),
        ]))
    }

    /// The contract of `kind`, if it is a production kind.
    pub fn get(&self, kind: &str) -> Option<&Contract> {
        self.0.get(kind)
    }

    /// Every kind and its contract, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Contract)> {
        self.0.iter().map(|(kind, contract)| (*kind, contract))
    }

    /// Runs every kind registered on `registry` under its contract.
    ///
    /// # Errors
    /// The registered kinds this table has no contract for: every production kind must
    /// have one, so that no attempt can run forever.
    pub fn apply(&self, registry: &mut Registry) -> Result<(), Vec<String>> {
        let mut missing = Vec::new();
        for kind in registry.kinds().map(str::to_owned).collect::<Vec<_>>() {
            match self.0.get(kind.as_str()) {
                Some(contract) => {
                    registry.set_options(
                        &kind,
                        KindOptions {
                            timeout: Some(contract.timeout),
                            retry: Some(contract.retry),
                        },
                    );
                }
                None => missing.push(kind),
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    }
}

impl Default for Contracts {
    fn default() -> Self {
        Self::for_backend(&BackendSettings::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_outlasts_the_backend_budgets() {
        let contracts = Contracts::default();
        let create = contracts.get(CREATE).map(|c| c.timeout);
        assert_eq!(
            create,
            Some(Duration::from_secs(300 + 600 + 60 + 600 + 300))
        );
        assert_eq!(contracts.iter().count(), 9);
    }

    #[test]
    fn settings_override_and_unknown_kinds_are_named() {
        let settings = BTreeMap::from([(
            CREATE.to_owned(),
            ContractSettings {
                timeout_secs: Some(3),
                retry_base_ms: Some(100),
                retry_max_ms: None,
            },
        )]);
        let contracts = Contracts::new(&BackendSettings::default(), &settings).expect("valid");
        let create = contracts.get(CREATE).expect("create");
        assert_eq!(create.timeout, Duration::from_secs(3));
        assert_eq!(create.retry.base, Duration::from_millis(100));
        let unknown = BTreeMap::from([("gc.nothing".to_owned(), ContractSettings::default())]);
        let err = Contracts::new(&BackendSettings::default(), &unknown).expect_err("unknown");
        assert!(err.starts_with("gc.nothing: no such job kind"), "{err}");
    }
}
