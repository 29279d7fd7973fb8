//! The child processes of `bench lessons`, their side: `antidoted bench lessons-worker`
//! (the provisioning worker) and `antidoted bench lessons-agent` (a kubesim node agent).

use std::process::ExitCode;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use antidote_scheduler::bench::lessons as lessons_bench;
use antidote_scheduler::bench::statements::StatementCounter;
use antidote_scheduler::db;

#[derive(Debug, clap::Args)]
pub(super) struct LessonsAgentArgs {
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
pub(super) struct LessonsWorkerArgs {
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: String,
    /// Kubeconfig of the cluster (the benchmark's embedded kubesim).
    #[arg(long)]
    kubeconfig: std::path::PathBuf,
    /// Job tasks.
    #[arg(long)]
    concurrency: usize,
}

/// One node agent of `bench lessons`: pods kubesim schedules to its node, and its share
/// of the Services.
pub(super) async fn lessons_agent(args: LessonsAgentArgs) -> anyhow::Result<ExitCode> {
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

pub(super) async fn lessons_worker(args: LessonsWorkerArgs) -> anyhow::Result<ExitCode> {
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
    let worker = lessons_bench::worker(pool, kube, args.concurrency)?;
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
