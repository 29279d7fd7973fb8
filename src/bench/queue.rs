//! `bench queue`: enqueue rates, end-to-end no-op throughput across worker processes, and
//! enqueue-to-start latency on an idle queue.
//!
//! It owns its database (default `antidote_bench`) and empties the job tables first, so it
//! never runs against a scheduler's real data by accident.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;

use crate::queue::bench::{figures, tables};
use crate::queue::{Client, JobContext, NewJob, Registry, Worker, WorkerConfig};

use super::{engine_error as protocol, quantile, round2};

/// The job kind of the throughput phase: does nothing.
pub const NOOP: &str = "bench.noop";
/// The job kind of `bench workflow`: three checkpointed no-op steps.
pub const WORKFLOW: &str = "bench.workflow";
/// The job kind of the latency phase: notes when its handler started.
pub const SAMPLE: &str = "bench.sample";

/// (job id, handler start in microseconds since the epoch) of every sample run here.
static STARTS: std::sync::Mutex<Vec<(i64, i64)>> = std::sync::Mutex::new(Vec::new());

/// Takes the handler start times noted so far in this process.
pub fn take_starts() -> Vec<(i64, i64)> {
    std::mem::take(
        &mut *STARTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Parameters of a run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Jobs for the throughput phase.
    pub jobs: usize,
    /// Worker processes (0 runs the workers in this process).
    pub processes: usize,
    /// Tasks per worker.
    pub tasks: usize,
    /// Jobs per batch enqueue and per claim.
    pub batch: usize,
    /// Jobs enqueued one by one for the single-enqueue rate.
    pub single_jobs: usize,
    /// Concurrent single enqueuers.
    pub enqueuers: usize,
    /// Idle-queue latency samples.
    pub latency_samples: usize,
}

/// Figures of a run; the JSON keys are a stable interface.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Completed no-op jobs per second, end to end.
    pub jobs_per_s: f64,
    /// Single-job enqueues per second.
    pub enqueue_per_s: f64,
    /// Jobs per second enqueued in batches.
    pub enqueue_batched_per_s: f64,
    /// Idle-queue latency from the enqueue's commit (the job became visible) to its
    /// handler's start, median.
    pub latency_ms_p50: f64,
    /// 95th percentile.
    pub latency_ms_p95: f64,
    /// 99th percentile.
    pub latency_ms_p99: f64,
    /// Idle-queue latency from the start of the enqueue call (so including its commit's
    /// WAL flush) to the handler's start, median.
    pub latency_from_call_ms_p50: f64,
    /// Jobs in the throughput phase.
    pub jobs: usize,
    /// Worker processes.
    pub processes: usize,
    /// Tasks per worker.
    pub tasks: usize,
    /// Batch size.
    pub batch: usize,
}

/// The registry of benchmark workers.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(NOOP, |_ctx: JobContext| async { Ok(()) });
    registry.register(WORKFLOW, |ctx: JobContext| async move {
        for step in ["one", "two", "three"] {
            ctx.step(step, || async { Ok(step.len()) }).await?;
        }
        Ok(())
    });
    registry.register(SAMPLE, |ctx: JobContext| async move {
        let started = now_micros();
        STARTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((ctx.id().0, started));
        Ok(())
    });
    registry
}

/// Worker settings of a benchmark worker with `tasks` tasks.
pub fn worker_config(tasks: usize, batch: usize) -> WorkerConfig {
    WorkerConfig {
        concurrency: tasks,
        claim_batch: batch,
        completion_batch: batch.max(100) * 2,
        poll_interval: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(2),
        observer: crate::telemetry::job_observer(),
        ..WorkerConfig::default()
    }
}

/// Empties the job tables of the benchmark database.
///
/// # Errors
/// Database errors.
pub async fn reset(pool: &PgPool) -> Result<(), sqlx::Error> {
    tables::truncate_all(pool).await.map_err(protocol)?;
    tables::vacuum_analyze_claim_table(pool)
        .await
        .map_err(protocol)?;
    Ok(())
}

/// Something that runs benchmark workers until told to stop.
pub trait Workers {
    /// Jobs they completed so far, as they report it (it may lag a little).
    fn completed(&self) -> u64;
    /// Stops them, waits, and returns the handler start times of latency samples.
    fn stop(self) -> impl std::future::Future<Output = Vec<(i64, i64)>>;
}

/// Runs the phases. `start_workers` starts the worker pool; it is called twice (throughput
/// then latency) so that each phase starts from idle workers.
///
/// # Errors
/// Database errors.
pub async fn run<W: Workers>(
    pool: &PgPool,
    params: &Params,
    mut start_workers: impl AsyncFnMut() -> W,
) -> Result<Report, sqlx::Error> {
    let client = Client::new(pool.clone());
    reset(pool).await?;

    // Single enqueues: each its own statement and transaction, from concurrent enqueuers.
    let started = Instant::now();
    let per = params.single_jobs.div_ceil(params.enqueuers.max(1));
    let mut tasks = Vec::new();
    for _ in 0..params.enqueuers.max(1) {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                client
                    .enqueue(&NewJob::new(NOOP, serde_json::json!({ "i": i })))
                    .await?;
            }
            Ok::<_, crate::queue::QueueError>(())
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    }
    let single = per * params.enqueuers.max(1);
    let enqueue_per_s = single as f64 / started.elapsed().as_secs_f64();
    println!(
        "enqueue, single:  {single} jobs by {} enqueuers: {:.0} jobs/s",
        params.enqueuers, enqueue_per_s
    );
    reset(pool).await?;

    // Batched enqueues fill the queue for the throughput phase.
    let started = Instant::now();
    let batch: Vec<NewJob> = (0..params.batch.max(1))
        .map(|i| NewJob::new(NOOP, serde_json::json!({ "i": i })))
        .collect();
    let mut enqueued = 0;
    while enqueued < params.jobs {
        let n = (params.jobs - enqueued).min(batch.len());
        client.enqueue_many(&batch[..n]).await.map_err(protocol)?;
        enqueued += n;
    }
    let enqueue_batched_per_s = enqueued as f64 / started.elapsed().as_secs_f64();
    println!(
        "enqueue, batched: {enqueued} jobs in batches of {}: {:.0} jobs/s",
        params.batch, enqueue_batched_per_s
    );
    tables::analyze_claim_table(pool).await.map_err(protocol)?;

    // Throughput: the whole backlog, measured by the server's own timestamps.
    let workers = start_workers().await;
    wait_done(pool, &workers, enqueued, Duration::from_secs(600)).await?;
    workers.stop().await;
    let figures::CompletedSpan { completed, seconds } =
        figures::completed_span(pool).await.map_err(protocol)?;
    let jobs_per_s = completed as f64 / seconds.max(1e-9);
    println!(
        "throughput:       {completed} no-op jobs, {} processes x {} tasks, claim batch {}: {jobs_per_s:.0} jobs/s ({seconds:.2} s)",
        params.processes.max(1),
        params.tasks,
        params.batch
    );

    // Latency on an idle queue: one job at a time, with the workers idle in between.
    reset(pool).await?;
    let workers = start_workers().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut enqueues = std::collections::HashMap::new();
    for i in 0..params.latency_samples {
        let called = now_micros();
        let id = client
            .enqueue(&NewJob::new(SAMPLE, serde_json::json!({ "sample": i })))
            .await
            .map_err(protocol)?
            .id;
        enqueues.insert(id.0, (called, now_micros()));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_done(
        pool,
        &workers,
        params.latency_samples,
        Duration::from_secs(60),
    )
    .await?;
    let starts = workers.stop().await;
    let (mut latencies, mut from_call): (Vec<f64>, Vec<f64>) = starts
        .iter()
        .filter_map(|(id, started)| {
            let (called, returned) = enqueues.get(id)?;
            Some((
                (started - returned) as f64 / 1000.0,
                (started - called) as f64 / 1000.0,
            ))
        })
        .unzip();
    latencies.sort_by(f64::total_cmp);
    from_call.sort_by(f64::total_cmp);
    let report = Report {
        jobs_per_s: jobs_per_s.round(),
        enqueue_per_s: enqueue_per_s.round(),
        enqueue_batched_per_s: enqueue_batched_per_s.round(),
        latency_ms_p50: round2(quantile(&latencies, 0.50)),
        latency_ms_p95: round2(quantile(&latencies, 0.95)),
        latency_ms_p99: round2(quantile(&latencies, 0.99)),
        latency_from_call_ms_p50: round2(quantile(&from_call, 0.50)),
        jobs: params.jobs,
        processes: params.processes,
        tasks: params.tasks,
        batch: params.batch,
    };
    println!(
        "latency (idle):   {} samples, enqueued (committed) to handler start: p50 {} ms, p95 {} ms, p99 {} ms",
        latencies.len(),
        report.latency_ms_p50,
        report.latency_ms_p95,
        report.latency_ms_p99
    );
    println!(
        "                  from the start of the enqueue call (incl. its commit): p50 {} ms",
        report.latency_from_call_ms_p50
    );
    Ok(report)
}

/// An in-process worker pool for `processes = 0`.
pub struct InProcess {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
    completed: crate::queue::CompletedCount,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess").finish_non_exhaustive()
    }
}

impl InProcess {
    /// Starts one worker with `tasks` tasks on this runtime (`pool` should come from
    /// [`crate::db::connect_worker`]).
    pub fn start(pool: PgPool, tasks: usize, batch: usize) -> Self {
        let worker = Worker::new(pool, registry(), worker_config(tasks, batch));
        let completed = worker.completed();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _ = worker
                .run(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            stop,
            handle,
            completed,
        }
    }
}

impl Workers for InProcess {
    fn completed(&self) -> u64 {
        self.completed.get()
    }

    async fn stop(self) -> Vec<(i64, i64)> {
        let _ = self.stop.send(());
        let _ = self.handle.await;
        take_starts()
    }
}

/// Waits until no job is left unfinished, for at most `within`.
///
/// The workers' own count of completions says when to look: a `count(*)` of the claim
/// table every 20 ms, as this did first, scans the whole backlog each time and took a
/// fifth of the database's time during the throughput phase. The table is still checked
/// every two seconds, in case the count falls short (a job completed by another worker).
pub(crate) async fn wait_done(
    pool: &PgPool,
    workers: &impl Workers,
    expected: usize,
    within: Duration,
) -> Result<(), sqlx::Error> {
    let started = Instant::now();
    let mut last_check = started;
    loop {
        let reported = workers.completed() >= expected as u64;
        if reported || last_check.elapsed() >= Duration::from_secs(2) {
            last_check = Instant::now();
            let left = figures::unfinished(pool).await.map_err(protocol)?;
            if left == 0 {
                return Ok(());
            }
            if started.elapsed() > within {
                return Err(sqlx::Error::Protocol(format!(
                    "{left} jobs still unfinished after {within:?}"
                )));
            }
        }
        let pause = if reported { 20 } else { 2 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Figures of `bench workflow`; the JSON keys are a stable interface.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowReport {
    /// Completed three-step checkpointed workflows per second.
    pub workflows_per_s: f64,
    /// Checkpoints (steps) stored per second.
    pub steps_per_s: f64,
    /// Workflows run.
    pub workflows: usize,
    /// Worker processes.
    pub processes: usize,
    /// Tasks per worker.
    pub tasks: usize,
}

/// Runs `workflows` three-step workflows from a full queue and measures their completion
/// rate by the server's timestamps.
///
/// # Errors
/// Database errors.
pub async fn run_workflows<W: Workers>(
    pool: &PgPool,
    workflows: usize,
    processes: usize,
    tasks: usize,
    batch: usize,
    mut start_workers: impl AsyncFnMut() -> W,
) -> Result<WorkflowReport, sqlx::Error> {
    let client = Client::new(pool.clone());
    reset(pool).await?;
    let jobs: Vec<NewJob> = (0..batch.max(1))
        .map(|i| NewJob::new(WORKFLOW, serde_json::json!({ "i": i })))
        .collect();
    let mut enqueued = 0;
    while enqueued < workflows {
        let n = (workflows - enqueued).min(jobs.len());
        client.enqueue_many(&jobs[..n]).await.map_err(protocol)?;
        enqueued += n;
    }
    tables::analyze_claim_table(pool).await.map_err(protocol)?;
    let workers = start_workers().await;
    wait_done(pool, &workers, enqueued, Duration::from_secs(900)).await?;
    workers.stop().await;
    let figures::CompletedSpan { completed, seconds } =
        figures::completed_span(pool).await.map_err(protocol)?;
    let steps = figures::steps(pool).await.map_err(protocol)?;
    let seconds = seconds.max(1e-9);
    let report = WorkflowReport {
        workflows_per_s: (completed as f64 / seconds).round(),
        steps_per_s: (steps as f64 / seconds).round(),
        workflows: enqueued,
        processes,
        tasks,
    };
    println!(
        "workflows: {completed} three-step workflows ({steps} checkpoints), {} processes x {tasks} tasks: {} workflows/s, {} checkpoints/s ({seconds:.2} s)",
        processes.max(1),
        report.workflows_per_s,
        report.steps_per_s
    );
    Ok(report)
}
