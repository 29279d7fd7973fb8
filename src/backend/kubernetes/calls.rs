//! How the backend calls the Kubernetes API: every call bounded by a timeout, transient
//! failures retried in place for a moment, and the last time the API failed remembered
//! so that a wait which ran out of time during an outage is not taken for a lab that
//! never became ready.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::error::is_transient_kube;

/// How long a call keeps being retried in place: a blip (a dropped connection, a 503
/// while an API server restarts) passes within it; a slow failure (a 504 after the API
/// server's own timeout while etcd is away, or a call that never answers) goes to the job
/// engine's backoff at once instead of being waited out again inside the same attempt.
const IN_PLACE_BUDGET: Duration = Duration::from_secs(2);

/// Tries a call gets in place.
const IN_PLACE_ATTEMPTS: u32 = 5;

/// How long after a failure of the API a Forbidden may be its aftermath: an API server
/// that has just restarted serves requests before its authorizer's caches have synced
/// (before it reports itself ready) and refuses what the scheduler's role allows.
const SETTLING: Duration = Duration::from_secs(30);

/// How long such a Forbidden is retried in place before it counts as a real refusal.
const SETTLING_BUDGET: Duration = Duration::from_secs(10);

/// The longest pause between two tries in place.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// The backend's way of calling the API, shared by its calls and its watches.
#[derive(Debug, Clone)]
pub struct Calls {
    timeout: Duration,
    failing: Arc<Failing>,
}

impl Calls {
    /// Calls bounded by `timeout` each.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            failing: Arc::default(),
        }
    }

    /// Runs `call`, each try bounded by the call timeout. Transient failures (5xx, 429,
    /// connection failures, a try that timed out) are retried up to 5 times, 50 ms
    /// doubling, while the call has taken less than [`IN_PLACE_BUDGET`]; a Forbidden
    /// within [`SETTLING`] of a failure of the API is retried for up to
    /// [`SETTLING_BUDGET`].
    pub async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            let outcome = match tokio::time::timeout(self.timeout, call()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(self.timed_out()),
            };
            let again = match &outcome {
                Err(err) if is_transient_kube(err) => {
                    self.failing.now();
                    attempt < IN_PLACE_ATTEMPTS && started.elapsed() + delay < IN_PLACE_BUDGET
                }
                // A quota's refusal is an answer about the lab, never an authorizer
                // that has not synced.
                Err(kube::Error::Api(status))
                    if status.code == 403
                        && crate::backend::error::quota_refusal(status).is_none() =>
                {
                    self.failing.within(SETTLING) && started.elapsed() + delay < SETTLING_BUDGET
                }
                _ => false,
            };
            match outcome {
                Err(err) if again => {
                    tracing::debug!(error = %err, attempt, "kubernetes API error; retrying in place");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_DELAY);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Records that the API failed just now (a watch that was interrupted, say).
    pub fn failed(&self) {
        self.failing.now();
    }

    /// Whether a call or watch of this backend failed at or after `since`.
    pub fn failed_since(&self, since: Instant) -> bool {
        self.failing.since(since)
    }

    fn timed_out(&self) -> kube::Error {
        // A transport failure: `is_transient_kube` retries it like a lost connection.
        kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "the Kubernetes API did not answer within {} s",
                self.timeout.as_secs_f64()
            ),
        )))
    }
}

/// When the API last failed this backend.
#[derive(Debug, Default)]
struct Failing(Mutex<Option<Instant>>);

impl Failing {
    fn now(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    fn within(&self, window: Duration) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() <= window)
    }

    fn since(&self, since: Instant) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at >= since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("etcd is away", "ServiceUnavailable")
                .with_code(503)
                .boxed(),
        )
    }

    #[tokio::test]
    async fn a_blip_is_retried_in_place_and_remembered() {
        let calls = Calls::new(Duration::from_secs(30));
        let started = Instant::now();
        let mut tries = 0;
        let answer = calls
            .run(|| {
                tries += 1;
                let fail = tries < 3;
                async move { if fail { Err(unavailable()) } else { Ok(7) } }
            })
            .await;
        assert_eq!(answer.ok(), Some(7));
        assert_eq!(tries, 3);
        assert!(calls.failed_since(started));
    }

    #[tokio::test]
    async fn a_call_that_never_answers_fails_at_the_timeout_without_a_second_try() {
        // Longer than the in-place budget, so that the timeout spends it.
        let calls = Calls::new(Duration::from_millis(2500));
        let started = Instant::now();
        let mut tries = 0;
        let answer: Result<(), _> = calls
            .run(|| {
                tries += 1;
                std::future::pending()
            })
            .await;
        let err = answer.expect_err("timed out");
        assert!(is_transient_kube(&err), "{err}");
        assert!(err.to_string().contains("within 2.5 s"), "{err}");
        assert_eq!(tries, 1, "the in-place budget is spent");
        assert!(started.elapsed() >= Duration::from_millis(2500));
        assert!(calls.failed_since(started));
    }

    fn forbidden() -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("no", "Forbidden")
                .with_code(403)
                .boxed(),
        )
    }

    #[tokio::test]
    async fn a_forbidden_just_after_the_api_failed_is_retried_until_it_settles() {
        let calls = Calls::new(Duration::from_secs(30));
        let mut tries = 0;
        let answer = calls
            .run(|| {
                tries += 1;
                let answer = match tries {
                    1 => Err(unavailable()),
                    2 | 3 => Err(forbidden()),
                    _ => Ok(7),
                };
                async move { answer }
            })
            .await;
        assert_eq!(answer.ok(), Some(7));
        assert_eq!(tries, 4);
    }

    #[tokio::test]
    async fn a_permanent_failure_is_neither_retried_nor_remembered() {
        let calls = Calls::new(Duration::from_secs(10));
        let started = Instant::now();
        let mut tries = 0;
        let answer: Result<(), _> = calls
            .run(|| {
                tries += 1;
                async { Err(forbidden()) }
            })
            .await;
        assert!(answer.is_err());
        assert_eq!(tries, 1);
        assert!(!calls.failed_since(started));
    }
}
