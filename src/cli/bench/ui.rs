//! `antidoted bench ui`: the dashboard's page latencies over a long job history, and the
//! plans of the job list's filters.

use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::bench::ui as ui_bench;

use super::database::BenchDatabase;

#[derive(Debug, clap::Args)]
pub(super) struct UiArgs {
    #[command(flatten)]
    database: BenchDatabase,
    /// Finished jobs in the history.
    #[arg(long, default_value_t = 100_000)]
    finished: usize,
    /// Hours back over which the history is spread.
    #[arg(long, default_value_t = 24)]
    hours: u32,
    /// Livelessons in the store.
    #[arg(long, default_value_t = 500)]
    livelessons: usize,
    /// Requests per page.
    #[arg(long, default_value_t = 50)]
    samples: usize,
    /// Print the plan of every job list filter.
    #[arg(long)]
    plans: bool,
}

pub(super) async fn run(args: UiArgs) -> anyhow::Result<ExitCode> {
    let pool = args.database.connect(12).await?;
    let params = ui_bench::Params {
        finished: args.finished,
        livelessons: args.livelessons,
        samples: args.samples.max(1),
        hours: args.hours,
    };
    let report = ui_bench::run(&pool, &params)
        .await
        .context("running the dashboard benchmark")?;
    if args.plans {
        for (name, plan) in &report.plans {
            println!("-- {name}\n{}", plan.join("\n"));
        }
        println!();
    }
    println!(
        "{} finished jobs ({} events) over {} h, {} livelessons; {} requests per page:",
        report.finished_jobs, report.events, params.hours, report.livelessons, report.samples
    );
    for (name, page) in &report.pages {
        println!(
            "  {name:<18} p50 {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms  first {:>7.2} ms  {:>7} bytes",
            page.p50_ms, page.p95_ms, page.max_ms, page.first_ms, page.bytes
        );
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
