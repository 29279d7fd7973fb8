//! A process of two halves, its HTTP side (the API, or a worker's probes) and its job
//! worker, stopped together on SIGINT or SIGTERM (the worker hands unfinished jobs back).
//! Either half ending on its own is a failure: the other is stopped too, so the pod
//! restarts instead of serving probes for a worker that no longer runs.

use std::future::Future;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use antidote_scheduler::queue::{RunStats, Worker};

/// Runs `http` (given the future that resolves when it must stop) and `worker` until a
/// signal or either half ends; the worker's figures.
///
/// # Errors
/// Either half's failure.
pub async fn run<H>(
    http: impl FnOnce(CancellationToken) -> H,
    worker: Worker,
) -> anyhow::Result<RunStats>
where
    H: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let stop = CancellationToken::new();
    let signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            super::api::shutdown_signal().await;
            stop.cancel();
        })
    };
    let http = tokio::spawn(http(stop.clone()));
    let worker_stop = stop.clone();
    let worker = tokio::spawn(worker.run(async move { worker_stop.cancelled().await }));
    let (http_result, worker_result) = tokio::join!(
        async {
            let result = http.await;
            stop.cancel();
            result
        },
        async {
            let result = worker.await;
            stop.cancel();
            result
        }
    );
    signal.abort();
    http_result.context("HTTP task")?.context("serving HTTP")?;
    worker_result
        .context("worker task")?
        .context("running the worker")
}
