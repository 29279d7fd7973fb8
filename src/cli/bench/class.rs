//! `antidoted bench class`: a class of learners opening one lesson within seconds through
//! the real HTTP API.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use antidote_scheduler::bench::class as class_bench;

use super::database::BenchDatabase;

#[derive(Debug, clap::Args)]
pub(super) struct ClassArgs {
    #[command(flatten)]
    database: BenchDatabase,
    /// Learners in the class.
    #[arg(long, default_value_t = 1_000)]
    learners: usize,
    /// Seconds within which they all arrive (evenly).
    #[arg(long, default_value_t = 10.0)]
    arrival_s: f64,
    /// The lesson they all open (the learners change to its stage 1 when it has one).
    #[arg(long, default_value = "router-configuration")]
    lesson: String,
    /// kubesim's delay between a pod being scheduled and its containers starting.
    #[arg(long, default_value_t = 30.0)]
    pod_start_latency_secs: f64,
    /// Seconds a learner keeps the lab once READY at stage 1, then kills it.
    #[arg(long, default_value_t = 10.0)]
    hold_secs: f64,
    /// Without warm pools (by default the worker keeps spares for the class, sized from
    /// the learners and the arrival time).
    #[arg(long)]
    no_pools: bool,
    /// Curriculum holding the lesson.
    #[arg(long, default_value = "example-curriculum")]
    curriculum: std::path::PathBuf,
}

pub(super) async fn run(args: ClassArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.learners > 0, "--learners must be positive");
    anyhow::ensure!(args.arrival_s > 0.0, "--arrival-s must be positive");
    let db = args.database.connect(16).await?;
    let params = class_bench::Params {
        learners: args.learners,
        arrival: Duration::from_secs_f64(args.arrival_s),
        lesson: args.lesson.clone(),
        pod_start_latency: Duration::from_secs_f64(args.pod_start_latency_secs),
        hold: Duration::from_secs_f64(args.hold_secs),
        pools: !args.no_pools,
        poll: Duration::from_millis(500),
        curriculum: args.curriculum.clone(),
        exe: std::env::current_exe().context("locating this binary")?,
        database_url: args.database.database_url.clone(),
    };
    let r = class_bench::run(&db, &params)
        .await
        .context("running the class benchmark")?;
    println!(
        "{} learners arriving within {} s, {} spares: {} READY, time to READY p50 {} s, p99 {} \
         s; after the stage change {} READY, p50 {} s, p99 {} s; API p50 {} ms, p99 {} ms; {} \
         429s retried, {} calls resent after a closed connection; errors {:?}; API {} CPU s and worker {} CPU s per learner, peak RSS API \
         {} MB, worker {} MB; {} s from the first arrival to the last kill",
        r.learners,
        r.arrival_s,
        r.spares,
        r.ready,
        r.ready_p50_s,
        r.ready_p99_s,
        r.stage_ready,
        r.stage_ready_p50_s,
        r.stage_ready_p99_s,
        r.api_p50_ms,
        r.api_p99_ms,
        r.retried_429,
        r.resent,
        r.errors,
        r.api_cpu_s_per_learner,
        r.worker_cpu_s_per_learner,
        r.api_peak_rss_mb,
        r.worker_peak_rss_mb,
        r.wall_s,
    );
    for (route, figures) in &r.routes {
        println!(
            "  {route}: {} answers, p50 {} ms, p99 {} ms",
            figures.requests, figures.p50_ms, figures.p99_ms
        );
    }
    println!("{}", serde_json::to_string(&r)?);
    Ok(ExitCode::SUCCESS)
}
