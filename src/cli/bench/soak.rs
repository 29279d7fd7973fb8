//! `antidoted bench soak`: a burn-down at a steady arrival rate with a transaction held
//! open in the middle.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use antidote_scheduler::bench::soak as soak_bench;

use super::database::BenchDatabase;
use super::workers::start_pool;

#[derive(Debug, clap::Args)]
pub(super) struct SoakArgs {
    #[command(flatten)]
    database: BenchDatabase,
    /// Jobs to run in all.
    #[arg(long, default_value_t = 1_000_000)]
    jobs: usize,
    /// Arrival rate, jobs per second.
    #[arg(long, default_value_t = 8_000)]
    rate: usize,
    /// Seconds from the first arrival to the start of the held transaction.
    #[arg(long, default_value_t = 30)]
    hold_start_s: u64,
    /// Seconds the transaction stays open.
    #[arg(long, default_value_t = 60)]
    hold_s: u64,
    /// Throughput window, seconds.
    #[arg(long, default_value_t = 10)]
    window_s: u64,
    /// Worker processes (0: in this process).
    #[arg(long, default_value_t = 2)]
    processes: usize,
    /// Tasks per worker process.
    #[arg(long, default_value_t = 500)]
    tasks: usize,
    /// Most jobs per claim.
    #[arg(long, default_value_t = 500)]
    batch: usize,
}

pub(super) async fn run(args: SoakArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.rate > 0 && args.window_s > 0,
        "--rate and --window-s must be positive"
    );
    let pool = args.database.connect(16).await?;
    let params = soak_bench::Params {
        jobs: args.jobs,
        rate: args.rate,
        hold_start: Duration::from_secs(args.hold_start_s),
        hold: Duration::from_secs(args.hold_s),
        window: Duration::from_secs(args.window_s),
    };
    let report = soak_bench::run(&pool, &params, async || {
        start_pool(
            &args.database.database_url,
            args.processes,
            args.tasks,
            args.batch,
        )
        .await
    })
    .await
    .context("running the soak benchmark")?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
