//! `antidoted bench demo-memory`: a real `antidoted demo` process's resident memory over
//! many livelesson create/delete cycles.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use antidote_scheduler::bench::demo_memory as demo_memory_bench;

#[derive(Debug, clap::Args)]
pub(super) struct DemoMemoryArgs {
    /// PostgreSQL URL of the database the demo uses (created when missing).
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/antidote_bench"
    )]
    database_url: String,
    /// Cycles before the first measurement.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Cycles measured.
    #[arg(long, default_value_t = 200)]
    cycles: usize,
    /// Longest wait for one livelesson to be READY, or gone, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

pub(super) async fn run(args: DemoMemoryArgs) -> anyhow::Result<ExitCode> {
    let params = demo_memory_bench::Params {
        exe: std::env::current_exe().context("locating this binary")?,
        database_url: args.database_url,
        warmup: args.warmup,
        cycles: args.cycles,
        timeout: Duration::from_secs(args.timeout_secs),
    };
    let report = demo_memory_bench::run(&params)
        .await
        .context("running the demo memory benchmark")?;
    println!(
        "demo RSS: {} MB after its scenario, {} MB after {} warm-up cycles, {} MB after {} more \
         cycles ({:+} MB, {:+} kB per cycle) in {:.1} s",
        report.rss_start_mb,
        report.rss_warm_mb,
        args.warmup,
        report.rss_end_mb,
        report.cycles,
        report.growth_mb,
        report.growth_per_cycle_kb,
        report.seconds
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
