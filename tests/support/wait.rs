//! Waiting on a condition only the database can tell (work done by other processes or
//! by periodic passes), re-checked on a short period instead of one long sleep.

use std::time::Duration;

/// Waits until `check` returns true, re-checking every 25 ms, or panics after `within`
/// naming `what`.
pub async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
