//! `antidoted bench queue`: enqueue rates, no-op throughput across worker processes, idle
//! latency.

use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::bench::queue::{self as queue_bench, Params};

use super::database::BenchDatabase;
use super::workers::start_pool;

#[derive(Debug, clap::Args)]
pub(super) struct QueueArgs {
    #[command(flatten)]
    database: BenchDatabase,
    /// Jobs in the throughput phase.
    #[arg(long, default_value_t = 200_000)]
    jobs: usize,
    /// Worker processes (0: in this process).
    #[arg(long, default_value_t = 2)]
    processes: usize,
    /// Tasks per worker process.
    #[arg(long, default_value_t = 500)]
    tasks: usize,
    /// Jobs per batch enqueue and most jobs per claim.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Jobs enqueued one at a time for the single-enqueue rate.
    #[arg(long, default_value_t = 20_000)]
    single_jobs: usize,
    /// Concurrent single enqueuers.
    #[arg(long, default_value_t = 8)]
    enqueuers: usize,
    /// Idle-queue latency samples.
    #[arg(long, default_value_t = 500)]
    latency_samples: usize,
}

pub(super) async fn run(args: QueueArgs) -> anyhow::Result<ExitCode> {
    let pool = args.database.connect(16).await?;
    let params = Params {
        jobs: args.jobs,
        processes: args.processes,
        tasks: args.tasks,
        batch: args.batch,
        single_jobs: args.single_jobs,
        enqueuers: args.enqueuers,
        latency_samples: args.latency_samples,
    };
    let report = queue_bench::run(&pool, &params, async || {
        start_pool(
            &args.database.database_url,
            params.processes,
            params.tasks,
            params.batch,
        )
        .await
    })
    .await
    .context("running the queue benchmark")?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
