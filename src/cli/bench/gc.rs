//! `antidoted bench gc`: one expiry pass over many livelessons, some expired.

use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::bench::gc as gc_bench;

use super::database::BenchDatabase;

#[derive(Debug, clap::Args)]
pub(super) struct GcArgs {
    #[command(flatten)]
    database: BenchDatabase,
    /// Livelessons in the store.
    #[arg(long, default_value_t = 10_000)]
    livelessons: usize,
    /// How many of them expired.
    #[arg(long, default_value_t = 1_000)]
    expired: usize,
}

pub(super) async fn run(args: GcArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.expired <= args.livelessons,
        "--expired must not exceed --livelessons"
    );
    let pool = args.database.connect(4).await?;
    let params = gc_bench::Params {
        livelessons: args.livelessons,
        expired: args.expired,
    };
    let report = gc_bench::run(&pool, &params)
        .await
        .context("running the GC benchmark")?;
    println!(
        "{} livelessons, {} expired: one pass enqueued {} DELETE jobs ({} in the queue) in {:.3} s",
        report.livelessons, report.expired, report.enqueued, report.delete_jobs, report.db_seconds
    );
    println!("{}", serde_json::to_string(&report)?);
    let ok = u64::try_from(args.expired) == Ok(report.enqueued)
        && i64::try_from(args.expired) == Ok(report.delete_jobs);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
