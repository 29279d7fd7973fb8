//! `antidoted bench pool`: learners arriving at a steady rate on slow-starting pods,
//! without and with warm pools.

use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::bench::pool as pool_bench;

use super::database::BenchDatabase;

#[derive(Debug, clap::Args)]
pub(super) struct PoolArgs {
    #[command(flatten)]
    database: BenchDatabase,
    /// Learner requests per run.
    #[arg(long, default_value_t = 1_000)]
    requests: usize,
    /// Arrivals per second.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// kubesim's delay between a pod being scheduled and its containers starting.
    #[arg(long, default_value_t = 30.0)]
    pod_start_latency_secs: f64,
    /// Seconds a learner keeps the lab once READY, then kills it.
    #[arg(long, default_value_t = 10.0)]
    hold_secs: f64,
    /// Spares per lesson in the run with pools (default: sized to the arrival rate).
    #[arg(long)]
    spares: Option<u32>,
    /// Which runs: both (without pools, then with), or one of them.
    #[arg(long, value_enum, default_value_t = PoolRuns::Both)]
    runs: PoolRuns,
    /// Job tasks of the worker.
    #[arg(long, default_value_t = 1_000)]
    concurrency: usize,
    /// Curriculum whose lessons learners ask for.
    #[arg(long, default_value = "example-curriculum")]
    curriculum: std::path::PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PoolRuns {
    Both,
    WithPools,
    WithoutPools,
}

pub(super) async fn run(args: PoolArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    // The learners' pool and the worker's, apart as in `antidoted serve`.
    let db = args.database.connect(32).await?;
    let worker_db = args.database.connect(48).await?;
    let params = |spares| pool_bench::Params {
        requests: args.requests,
        rate: args.rate,
        pod_start_latency: std::time::Duration::from_secs_f64(args.pod_start_latency_secs),
        hold: std::time::Duration::from_secs_f64(args.hold_secs),
        spares_per_lesson: spares,
        concurrency: args.concurrency,
        curriculum: args.curriculum.clone(),
    };
    let show = |name: &str, r: &pool_bench::Report| {
        println!(
            "{name}: {} requests at {}/s, pods start in {} s, {} spares per lesson: hit rate {:.2}, \
             READY hits p50 {} s p99 {} s, misses p50 {} s p99 {} s, spares created {}, \
             peak live {}, failed {}, {} s",
            r.requests,
            r.rate_per_s,
            r.pod_start_latency_s,
            r.spares_per_lesson,
            r.hit_rate,
            r.ready_hit_p50_s,
            r.ready_hit_p99_s,
            r.ready_miss_p50_s,
            r.ready_miss_p99_s,
            r.spares_created,
            r.peak_live,
            r.failed,
            r.total_s
        );
    };
    let mut without = None;
    if args.runs != PoolRuns::WithPools {
        let report = pool_bench::run(&db, &worker_db, &params(Some(0)))
            .await
            .context("running without pools")?;
        show("without pools", &report);
        without = Some(report);
    }
    let mut with = None;
    if args.runs != PoolRuns::WithoutPools {
        let report = pool_bench::run(&db, &worker_db, &params(args.spares))
            .await
            .context("running with pools")?;
        show("with pools", &report);
        with = Some(report);
    }
    let failed = without.iter().chain(&with).map(|r| r.failed).sum::<usize>();
    // The run with pools at the top level (the run without when it is the only one).
    let mut json = serde_json::to_value(with.as_ref().or(without.as_ref()))?;
    if let (Some(without), Some(object)) = (&without, json.as_object_mut())
        && with.is_some()
    {
        object.insert("without_pools".into(), serde_json::to_value(without)?);
    }
    println!("{json}");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
