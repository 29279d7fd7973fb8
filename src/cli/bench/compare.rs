//! `antidoted bench compare`: antidoted beside the peer queues, round after round.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use antidote_scheduler::bench::compare as compare_bench;

#[derive(Debug, clap::Args)]
pub(super) struct CompareArgs {
    /// PostgreSQL server and name prefix: each peer runs in the database
    /// `<name>_<peer>`, dropped and created again for each run.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/antidote_compare"
    )]
    database_url: String,
    /// Where the peer harnesses are (`rust/`, `go/`, `node/`).
    #[arg(long, default_value = "../shared/peers")]
    peers_dir: std::path::PathBuf,
    /// Where the peers are built and installed (outside the repository).
    #[arg(
        long,
        env = "PEERS_WORK_DIR",
        default_value = "/var/tmp/antidote-peers"
    )]
    work_dir: std::path::PathBuf,
    /// Peers to run, comma-separated (antidoted, graphile_rs, apalis, graphile_node,
    /// river, awa, underway). underway is left out by default: its claim scans the whole
    /// queue, so a run takes minutes even at its smaller sizes.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "antidoted,graphile_rs,apalis,graphile_node,river,awa"
    )]
    peers: Vec<String>,
    /// Rounds; each runs every peer once, the order rotated by one each round.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// No-op jobs per run.
    #[arg(long, default_value_t = 200_000)]
    jobs: usize,
    /// Three-step workflows per run (0 skips them).
    #[arg(long, default_value_t = 20_000)]
    workflows: usize,
    /// antidoted's jobs enqueued one by one for its single-enqueue rate.
    #[arg(long, default_value_t = 20_000)]
    single_jobs: usize,
    /// antidoted's tasks per worker process in the no-op phase (`bench queue --tasks`).
    /// Each peer runs at its own perf-test settings (graphile_worker: concurrency 500
    /// and a local queue of 500 per process); no-op jobs are done as soon as they are
    /// claimed, so more in-flight slots let each claim and completion statement carry
    /// more jobs.
    #[arg(long, default_value_t = 2_000)]
    tasks: usize,
    /// antidoted's most jobs per claim and per batch enqueue (`bench queue --batch`).
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Idle-queue latency samples per run.
    #[arg(long, default_value_t = 500)]
    latency_samples: usize,
    /// underway's no-op jobs.
    #[arg(long, default_value_t = 20_000)]
    underway_jobs: usize,
    /// underway's workflows.
    #[arg(long, default_value_t = 2_000)]
    underway_workflows: usize,
    /// Longest a single run may take, seconds.
    #[arg(long, default_value_t = 1_800)]
    timeout_s: u64,
}

pub(super) async fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let peers = args
        .peers
        .iter()
        .map(|name| name.parse::<compare_bench::Peer>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--peers: {e}"))?;
    anyhow::ensure!(!peers.is_empty(), "--peers names no peer");
    let params = compare_bench::Params {
        database_url: args.database_url,
        peers_dir: args.peers_dir,
        work_dir: args.work_dir,
        peers,
        rounds: args.rounds,
        jobs: args.jobs,
        single_jobs: args.single_jobs,
        tasks: args.tasks,
        batch: args.batch,
        workflows: args.workflows,
        latency_samples: args.latency_samples,
        underway_jobs: args.underway_jobs,
        underway_workflows: args.underway_workflows,
        timeout: Duration::from_secs(args.timeout_s),
    };
    let report = compare_bench::run(&params)
        .await
        .context("running the comparison")?;
    print!("{}", compare_bench::table(&report));
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
