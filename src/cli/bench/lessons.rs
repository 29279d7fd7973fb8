//! `antidoted bench lessons`: livelessons provisioned to READY on an embedded kubesim, the
//! worker and node agents as child processes of this binary.

use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use antidote_scheduler::bench::lessons as lessons_bench;
use antidote_scheduler::bench::statements::StatementCounter;

use super::database::BenchDatabase;

#[derive(Debug, clap::Args)]
pub(super) struct LessonsArgs {
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

pub(super) async fn run(args: LessonsArgs) -> anyhow::Result<ExitCode> {
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
