//! `antidoted bench`: benchmarks that print numbers and end with one JSON line.

use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use antidote_scheduler::bench::compare as compare_bench;
use antidote_scheduler::bench::demo_memory as demo_memory_bench;
use antidote_scheduler::bench::gc as gc_bench;
use antidote_scheduler::bench::lessons as lessons_bench;
use antidote_scheduler::bench::queue::{self as queue_bench, InProcess, Params, Workers};
use antidote_scheduler::bench::soak as soak_bench;
use antidote_scheduler::bench::statements::StatementCounter;
use antidote_scheduler::bench::ui as ui_bench;
use antidote_scheduler::db;
use antidote_scheduler::queue::Worker;

/// Arguments of `antidoted bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, clap::Subcommand)]
enum Bench {
    /// Job engine: enqueue rates, no-op throughput across worker processes, idle latency.
    Queue(QueueArgs),
    /// Job engine: three-step checkpointed no-op workflows per second.
    Workflow(WorkflowArgs),
    /// Job engine: a burn-down at a steady arrival rate with a REPEATABLE READ transaction
    /// held open in the middle (vacuum pinned); throughput per window, table sizes.
    Soak(SoakArgs),
    /// Provisioning: N livelessons to READY on an embedded kubesim; cost per livelesson.
    Lessons(LessonsArgs),
    /// Garbage collection: one expiry pass over many livelessons, some expired.
    Gc(GcArgs),
    /// Warm pools: learners arriving at a steady rate on a kubesim whose pods take 30 s
    /// to start, without and with pools; time to READY of hits and misses.
    Pool(PoolArgs),
    /// antidoted beside the peer queues of `../shared/peers` (graphile_worker, apalis,
    /// underway, graphile-worker for Node), back to back on fresh databases; peers whose
    /// harness is absent are skipped.
    Compare(CompareArgs),
    /// Memory: a real `antidoted demo` process's resident memory over many livelesson
    /// create/delete cycles driven over its API.
    DemoMemory(DemoMemoryArgs),
    /// Dashboard: latency of every page over a long history of finished jobs, and the
    /// plans of the job list's filters.
    Ui(UiArgs),
    /// One benchmark worker process (started by `bench queue`; stops when stdin closes).
    #[command(hide = true)]
    QueueWorker(WorkerArgs),
    /// The worker process of `bench lessons` (started by it; answers on stdout, stops
    /// when stdin closes).
    #[command(hide = true)]
    LessonsWorker(LessonsWorkerArgs),
    /// A node agent process of `bench lessons` (started by it; says `ready` on stdout,
    /// stops when stdin closes).
    #[command(hide = true)]
    LessonsAgent(LessonsAgentArgs),
}

/// The database a benchmark owns: each benchmark empties the tables it uses.
#[derive(Debug, clap::Args)]
struct BenchDatabase {
    /// PostgreSQL URL of a database the benchmark may empty (created when missing).
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/antidote_bench"
    )]
    database_url: String,
}

impl BenchDatabase {
    /// Connects (creating the database if needed) and applies the migrations.
    async fn connect(&self, max_connections: u32) -> anyhow::Result<sqlx::PgPool> {
        let pool = db::connect_creating(&self.database_url, max_connections, None)
            .await
            .context("connecting to the benchmark database")?;
        db::migrate(&pool, None)
            .await
            .context("applying migrations")?;
        Ok(pool)
    }
}

#[derive(Debug, clap::Args)]
struct QueueArgs {
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

#[derive(Debug, clap::Args)]
struct WorkflowArgs {
    #[command(flatten)]
    database: BenchDatabase,
    /// Workflows to run.
    #[arg(long, default_value_t = 20_000)]
    workflows: usize,
    /// Worker processes (0: in this process).
    #[arg(long, default_value_t = 2)]
    processes: usize,
    /// Tasks per worker process.
    #[arg(long, default_value_t = 200)]
    tasks: usize,
    /// Most jobs per claim.
    #[arg(long, default_value_t = 200)]
    batch: usize,
}

#[derive(Debug, clap::Args)]
struct SoakArgs {
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

#[derive(Debug, clap::Args)]
struct LessonsArgs {
    #[command(flatten)]
    database: BenchDatabase,
    /// Livelessons to provision.
    #[arg(long, default_value_t = 1_000)]
    livelessons: usize,
    /// Concurrent requesters (API handlers under load).
    #[arg(long, default_value_t = 16)]
    requesters: usize,
    /// Job tasks of the worker process.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Node agent processes running the pods (default: as many as the descriptor limit
    /// needs, four listeners per livelesson).
    #[arg(long)]
    agents: Option<usize>,
}

#[derive(Debug, clap::Args)]
struct LessonsAgentArgs {
    /// kubesim's simulator URL.
    #[arg(long)]
    server: String,
    /// This agent's index.
    #[arg(long)]
    index: u32,
    /// Agents in all (Services are shared by index).
    #[arg(long)]
    count: u32,
}

#[derive(Debug, clap::Args)]
struct LessonsWorkerArgs {
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: String,
    /// Kubeconfig of the cluster (the benchmark's embedded kubesim).
    #[arg(long)]
    kubeconfig: std::path::PathBuf,
    /// Job tasks.
    #[arg(long)]
    concurrency: usize,
}

#[derive(Debug, clap::Args)]
struct PoolArgs {
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

#[derive(Debug, clap::Args)]
struct GcArgs {
    #[command(flatten)]
    database: BenchDatabase,
    /// Livelessons in the store.
    #[arg(long, default_value_t = 10_000)]
    livelessons: usize,
    /// How many of them expired.
    #[arg(long, default_value_t = 1_000)]
    expired: usize,
}

#[derive(Debug, clap::Args)]
struct CompareArgs {
    /// PostgreSQL server and name prefix: each peer runs in the database
    /// `<name>_<peer>`, dropped and created again for each run.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/antidote_compare"
    )]
    database_url: String,
    /// Where the peer harnesses are (`rust/`, `node/`).
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
    /// underway). underway is left out by default: its claim scans the whole queue, so
    /// a run takes minutes even at its smaller sizes.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "antidoted,graphile_rs,apalis,graphile_node"
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

#[derive(Debug, clap::Args)]
struct DemoMemoryArgs {
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

#[derive(Debug, clap::Args)]
struct UiArgs {
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

#[derive(Debug, clap::Args)]
struct WorkerArgs {
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: String,
    #[arg(long)]
    tasks: usize,
    #[arg(long)]
    batch: usize,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.bench {
        Bench::Queue(args) => queue(args).await,
        Bench::Workflow(args) => workflow(args).await,
        Bench::Soak(args) => soak(args).await,
        Bench::Gc(args) => gc(args).await,
        Bench::Pool(args) => pool(args).await,
        Bench::Compare(args) => compare(args).await,
        Bench::DemoMemory(args) => demo_memory(args).await,
        Bench::Ui(args) => ui(args).await,
        Bench::Lessons(args) => lessons(args).await,
        Bench::QueueWorker(args) => queue_worker(args).await,
        Bench::LessonsWorker(args) => lessons_worker(args).await,
        Bench::LessonsAgent(args) => lessons_agent(args).await,
    }
}

async fn queue(args: QueueArgs) -> anyhow::Result<ExitCode> {
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

async fn workflow(args: WorkflowArgs) -> anyhow::Result<ExitCode> {
    let pool = args.database.connect(16).await?;
    let report = queue_bench::run_workflows(
        &pool,
        args.workflows,
        args.processes,
        args.tasks,
        args.batch,
        async || {
            start_pool(
                &args.database.database_url,
                args.processes,
                args.tasks,
                args.batch,
            )
            .await
        },
    )
    .await
    .context("running the workflow benchmark")?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}

async fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
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

async fn soak(args: SoakArgs) -> anyhow::Result<ExitCode> {
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

/// Benchmark workers: in this process (`processes = 0`) or as child processes.
async fn start_pool(database_url: &str, processes: usize, tasks: usize, batch: usize) -> Pool {
    if processes == 0 {
        return match db::connect_worker(database_url, 16, None).await {
            Ok(worker_pool) => Pool::InProcess(InProcess::start(worker_pool, tasks, batch)),
            Err(err) => {
                eprintln!("error: connecting the workers: {err}");
                Pool::Processes(Vec::new())
            }
        };
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("error: locating this binary: {err}");
            return Pool::Processes(Vec::new());
        }
    };
    let children = (0..processes)
        .map(|_| {
            tokio::process::Command::new(&exe)
                .args(["bench", "queue-worker"])
                .args(["--tasks", &tasks.to_string()])
                .args(["--batch", &batch.to_string()])
                .env("BENCH_DATABASE_URL", database_url)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>();
    match children {
        Ok(children) => Pool::Processes(children.into_iter().map(ChildWorker::start).collect()),
        Err(err) => {
            eprintln!("error: starting worker processes: {err}");
            Pool::Processes(Vec::new())
        }
    }
}

async fn lessons(args: LessonsArgs) -> anyhow::Result<ExitCode> {
    // Counts the requesters' statements: every statement of this process outside the
    // benchmark's own progress queries.
    let requests = StatementCounter::excluding(lessons_bench::OBSERVE_SPAN);
    tracing_subscriber::registry()
        .with(
            requests
                .clone()
                .with_filter(StatementCounter::filter(&[lessons_bench::OBSERVE_TARGET])),
        )
        .try_init()
        .context("installing the statement counter")?;
    let connections = u32::try_from(args.requesters)
        .unwrap_or(u32::MAX)
        .saturating_add(4);
    let pool = args.database.connect(connections).await?;
    // The benchmark process (kubesim) and the agents it starts may open as many
    // descriptors as the hard limit allows.
    if let Err(e) = kubesim::limits::raise_nofile_limit() {
        eprintln!("could not raise RLIMIT_NOFILE: {e}");
    }
    let agents = args.agents.unwrap_or_else(|| {
        lessons_bench::agents_for(args.livelessons, kubesim::limits::nofile_limit())
    });
    let params = lessons_bench::Params {
        livelessons: args.livelessons,
        requesters: args.requesters,
        concurrency: args.concurrency,
        agents,
    };
    let report = lessons_bench::run(
        &pool,
        &args.database.database_url,
        params,
        &requests,
        LessonsChild::start,
        AgentChildren::start,
    )
    .await
    .context("running the lessons benchmark")?;
    println!(
        "{} livelessons READY in {} s (requests sent in {} s by {} requesters; time to READY p50 {} s, p99 {} s)",
        report.livelessons,
        report.total_s,
        report.requests_s,
        report.requesters,
        report.ready_p50_s,
        report.ready_p99_s,
    );
    println!(
        "per livelesson: {} Kubernetes requests {:?} for {} objects; {} SQL statements {:?}, {} transactions",
        report.k8s_requests_per_livelesson,
        report.k8s_requests_by_verb,
        report.objects_per_livelesson,
        report.db_statements_per_livelesson,
        report.db_statements_by_sender,
        report.db_transactions_per_livelesson,
    );
    println!(
        "worker process ({} tasks): peak RSS {} MB, CPU {} s; benchmark process (kubesim, requesters): peak RSS {} MB, CPU {} s; {} node agent processes: peak RSS {} MB, CPU {} s; request latency p50 {} ms, p99 {} ms",
        report.concurrency,
        report.peak_rss_mb,
        report.worker_cpu_s,
        report.bench_rss_mb,
        report.bench_cpu_s,
        report.agents,
        report.agents_rss_mb,
        report.agents_cpu_s,
        report.request_p50_ms,
        report.request_p99_ms,
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// The `bench lessons` worker as a child process of this binary (`bench lessons-worker`):
/// it answers `statements` on stdin with its count on stdout, and stops when stdin closes.
struct LessonsChild {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl LessonsChild {
    /// How long the child gets to start, and to stop.
    const PATIENCE: Duration = Duration::from_secs(30);

    async fn start(target: lessons_bench::WorkerTarget) -> lessons_bench::Result<Self> {
        let failed = |what: &str, err: &dyn std::fmt::Display| {
            lessons_bench::LessonsError::Worker(format!("{what}: {err}"))
        };
        let exe = std::env::current_exe().map_err(|e| failed("locating this binary", &e))?;
        let mut child = tokio::process::Command::new(exe)
            .args(["bench", "lessons-worker", "--kubeconfig"])
            .arg(&target.kubeconfig)
            .args(["--concurrency", &target.concurrency.to_string()])
            .env("BENCH_DATABASE_URL", &target.database_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed("starting the worker process", &e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(failed("worker process", &"no stdin or stdout"));
        };
        let mut worker = Self {
            child,
            stdin,
            stdout: tokio::io::BufReader::new(stdout).lines(),
        };
        // The child says `ready` once its worker runs.
        match tokio::time::timeout(Self::PATIENCE, worker.stdout.next_line()).await {
            Ok(Ok(Some(line))) if line == "ready" => Ok(worker),
            other => Err(failed(
                "the worker process did not start",
                &format!("{other:?}"),
            )),
        }
    }
}

impl lessons_bench::ProvisioningWorker for LessonsChild {
    async fn statements(&mut self) -> lessons_bench::Result<Option<u64>> {
        let failed = |err: &dyn std::fmt::Display| {
            lessons_bench::LessonsError::Worker(format!("asking for statements: {err}"))
        };
        self.stdin
            .write_all(b"statements\n")
            .await
            .map_err(|e| failed(&e))?;
        self.stdin.flush().await.map_err(|e| failed(&e))?;
        let line = tokio::time::timeout(Self::PATIENCE, self.stdout.next_line())
            .await
            .map_err(|e| failed(&e))?
            .map_err(|e| failed(&e))?
            .ok_or_else(|| failed(&"the worker process exited"))?;
        line.parse().map(Some).map_err(|e| failed(&e))
    }

    fn usage(&self) -> Option<lessons_bench::Usage> {
        lessons_bench::Usage::of(&self.child.id()?.to_string())
    }

    async fn stop(mut self) -> lessons_bench::Result<()> {
        // Closing stdin is the child's SIGTERM: it stops claiming and lets jobs finish.
        drop(self.stdin);
        match tokio::time::timeout(Self::PATIENCE, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            other => Err(lessons_bench::LessonsError::Worker(format!(
                "the worker process did not stop cleanly: {other:?}"
            ))),
        }
    }
}

/// The node agents of `bench lessons`, each a child process of this binary
/// (`bench lessons-agent`) with its own descriptor limit; each says `ready` once its node
/// is registered and stops when its stdin closes.
struct AgentChildren(Vec<(tokio::process::Child, tokio::process::ChildStdin)>);

impl AgentChildren {
    async fn start(targets: lessons_bench::AgentTargets) -> lessons_bench::Result<Self> {
        let failed = |what: &str, err: &dyn std::fmt::Display| {
            lessons_bench::LessonsError::Agents(format!("{what}: {err}"))
        };
        let exe = std::env::current_exe().map_err(|e| failed("locating this binary", &e))?;
        let mut children = Vec::new();
        for index in 0..targets.count {
            let mut child = tokio::process::Command::new(&exe)
                .args(["bench", "lessons-agent", "--server", &targets.server])
                .args(["--index", &index.to_string()])
                .args(["--count", &targets.count.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| failed("starting a node agent process", &e))?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                return Err(failed("node agent process", &"no stdin or stdout"));
            };
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            match tokio::time::timeout(LessonsChild::PATIENCE, lines.next_line()).await {
                Ok(Ok(Some(line))) if line == "ready" => {}
                other => {
                    return Err(failed(
                        "a node agent process did not start",
                        &format!("{other:?}"),
                    ));
                }
            }
            children.push((child, stdin));
        }
        Ok(Self(children))
    }
}

impl lessons_bench::NodeAgents for AgentChildren {
    fn usage(&self) -> Option<lessons_bench::Usage> {
        lessons_bench::Usage::sum(
            self.0
                .iter()
                .filter_map(|(child, _)| lessons_bench::Usage::of(&child.id()?.to_string())),
        )
    }

    async fn stop(self) -> lessons_bench::Result<()> {
        for (mut child, stdin) in self.0 {
            drop(stdin);
            match tokio::time::timeout(LessonsChild::PATIENCE, child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                other => {
                    return Err(lessons_bench::LessonsError::Agents(format!(
                        "a node agent process did not stop cleanly: {other:?}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// One node agent of `bench lessons`: pods kubesim schedules to its node, and its share
/// of the Services.
async fn lessons_agent(args: LessonsAgentArgs) -> anyhow::Result<ExitCode> {
    if let Err(e) = kubesim::limits::raise_nofile_limit() {
        eprintln!(
            "node agent {}: could not raise RLIMIT_NOFILE: {e}",
            args.index
        );
    }
    let url = args.server.parse().context("the kubesim URL")?;
    let client =
        kube::Client::try_from(kube::Config::new(url)).context("building the Kubernetes client")?;
    let mut config = kubesim::agent::Config::new(
        lessons_bench::agent_node(args.index as usize),
        kubesim::Knobs::new(u64::from(args.index)),
    );
    config.services = kubesim::agent::ServiceShare::Shard {
        index: args.index,
        count: args.count,
    };
    let agent = kubesim::agent::Agent::start(client, config)
        .await
        .context("starting the node agent")?;
    let mut out = tokio::io::stdout();
    out.write_all(b"ready\n").await?;
    out.flush().await?;
    let mut stdin = tokio::io::stdin();
    let mut sink = Vec::new();
    stdin.read_to_end(&mut sink).await?;
    agent.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn lessons_worker(args: LessonsWorkerArgs) -> anyhow::Result<ExitCode> {
    let statements = StatementCounter::new();
    tracing_subscriber::registry()
        .with(
            statements
                .clone()
                .with_filter(StatementCounter::filter(&[])),
        )
        .try_init()
        .context("installing the statement counter")?;
    // One connection per task would exceed PostgreSQL's default 100 connections; the
    // tasks spend most of their time waiting on Kubernetes, not holding connections.
    let connections = u32::try_from(args.concurrency.clamp(4, 32)).unwrap_or(32);
    let pool = db::connect_worker(&args.database_url, connections, None)
        .await
        .context("connecting to the benchmark database")?;
    // The kube client is built from a kubeconfig, as `antidoted worker` builds it.
    let kubeconfig = kube::config::Kubeconfig::read_from(&args.kubeconfig)
        .with_context(|| format!("reading {}", args.kubeconfig.display()))?;
    let kube_config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .context("loading the kubeconfig")?;
    let kube = kube::Client::try_from(kube_config).context("building the Kubernetes client")?;
    let worker = lessons_bench::worker(pool, kube, args.concurrency);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let mut out = tokio::io::stdout();
    out.write_all(b"ready\n").await?;
    out.flush().await?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "statements" {
            out.write_all(format!("{}\n", statements.get()).as_bytes())
                .await?;
            out.flush().await?;
        }
    }
    let _ = stop.send(());
    running
        .await
        .context("the worker task")?
        .context("running the worker")?;
    Ok(ExitCode::SUCCESS)
}

async fn ui(args: UiArgs) -> anyhow::Result<ExitCode> {
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

async fn pool(args: PoolArgs) -> anyhow::Result<ExitCode> {
    use antidote_scheduler::bench::pool as pool_bench;
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

async fn gc(args: GcArgs) -> anyhow::Result<ExitCode> {
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

async fn demo_memory(args: DemoMemoryArgs) -> anyhow::Result<ExitCode> {
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

enum Pool {
    InProcess(InProcess),
    Processes(Vec<ChildWorker>),
}

/// A benchmark worker process (`bench queue-worker`). It reports its completions on stdout
/// as `completed N` lines while it runs, and its latency samples as `id start_micros`
/// lines when it stops.
struct ChildWorker {
    child: tokio::process::Child,
    completed: Arc<AtomicU64>,
    reader: tokio::task::JoinHandle<Vec<(i64, i64)>>,
}

impl ChildWorker {
    fn start(mut child: tokio::process::Child) -> Self {
        let completed = Arc::new(AtomicU64::new(0));
        let stdout = child.stdout.take();
        let count = completed.clone();
        let reader = tokio::spawn(async move {
            let mut starts = Vec::new();
            let Some(stdout) = stdout else {
                return starts;
            };
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(n) = line.strip_prefix("completed ") {
                    if let Ok(n) = n.parse() {
                        count.store(n, Ordering::Relaxed);
                    }
                } else if let Some((id, at)) = line.split_once(' ')
                    && let (Ok(id), Ok(at)) = (id.parse(), at.parse())
                {
                    starts.push((id, at));
                }
            }
            starts
        });
        Self {
            child,
            completed,
            reader,
        }
    }
}

impl Workers for Pool {
    fn completed(&self) -> u64 {
        match self {
            Pool::InProcess(workers) => workers.completed(),
            Pool::Processes(children) => children
                .iter()
                .map(|c| c.completed.load(Ordering::Relaxed))
                .sum(),
        }
    }

    async fn stop(self) -> Vec<(i64, i64)> {
        match self {
            Pool::InProcess(workers) => workers.stop().await,
            Pool::Processes(children) => {
                let mut starts = Vec::new();
                for mut worker in children {
                    // Closing stdin asks the worker to shut down gracefully; it then prints
                    // its latency samples.
                    drop(worker.child.stdin.take());
                    let _ = worker.child.wait().await;
                    starts.extend(worker.reader.await.unwrap_or_default());
                }
                starts
            }
        }
    }
}

async fn queue_worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let connections = u32::try_from(args.tasks.clamp(4, 16)).unwrap_or(16);
    let pool = db::connect_worker(&args.database_url, connections, None).await?;
    let worker = Worker::new(
        pool,
        queue_bench::registry(),
        queue_bench::worker_config(args.tasks, args.batch),
    );
    let completed = worker.completed();
    let report = tokio::spawn(async move {
        let mut reported = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = completed.get();
            if now != reported {
                reported = now;
                println!("completed {now}");
            }
        }
    });
    worker
        .run(async {
            let mut stdin = tokio::io::stdin();
            let mut sink = [0u8; 64];
            while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await?;
    report.abort();
    for (id, started) in queue_bench::take_starts() {
        println!("{id} {started}");
    }
    Ok(ExitCode::SUCCESS)
}
