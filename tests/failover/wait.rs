//! Waiting on what only another process can tell (a server accepting connections, a
//! promotion finished, a row written by the scheduler): re-checked on a short period
//! until a deadline, and a timeout names what was waited for.

use std::time::{Duration, Instant};

/// Waits until `check` returns true, re-checking every 20 ms; returns how long it took,
/// or panics after `within` naming `what`.
pub async fn until<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < within,
            "failover harness: timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// Like [`until`], `false` instead of a panic after `within`.
pub async fn until_or<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        if started.elapsed() >= within {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}
