//! `kubesim` binary: `serve` runs a simulated cluster and writes a kubeconfig; `agent` runs a
//! node agent against an API server; `bench` measures scale (namespaces × pods × services
//! through the HTTP API) and descriptor hygiene. The command line is parsed with clap: a
//! usage error or a failure is one line on stderr and a non-zero exit status.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kubesim::agent::ServiceShare;
use kubesim::{Behaviour, Config, KubeSim};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A strict simulated Kubernetes control plane and kubelet for tests, served over real HTTP
/// on loopback.
#[derive(Debug, Parser)]
#[command(name = "kubesim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a simulated cluster on 127.0.0.1 and write its kubeconfig (Ctrl-C stops).
    Serve(ServeArgs),
    /// Run a node agent (kubelet and kube-proxy) against the API server of a kubeconfig
    /// (Ctrl-C stops).
    Agent(AgentArgs),
    /// Measure scale: namespaces × (3 pods + 3 services) all Running, then deleted, with
    /// descriptor counts (last line: JSON).
    Bench(BenchArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Where to write the kubeconfig.
    #[arg(long, value_name = "PATH", default_value = "kubesim.kubeconfig")]
    kubeconfig: PathBuf,
    /// Port of the API on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seed for every random choice (default: one from the OS, printed at start).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Extra seconds every pod's containers take to start (as image pulls and boots on a
    /// real cluster do).
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pod_start_latency_secs: f64,
}

#[derive(Debug, clap::Args)]
struct AgentArgs {
    /// Kubeconfig of the API server to register with.
    #[arg(long, value_name = "PATH")]
    kubeconfig: PathBuf,
    /// Name of the node the agent registers.
    #[arg(long, value_name = "NAME")]
    node: String,
    /// Also bind unscheduled pods to this node (the agent acts as the scheduler).
    #[arg(long)]
    bind_unscheduled: bool,
    /// Which Services this agent serves: all, none, or share I of N agents.
    #[arg(long, value_name = "all|none|I/N", default_value = "all", value_parser = parse_share)]
    services: ServiceShare,
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Namespaces to create, each with 3 pods and 3 services.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    namespaces: usize,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 32)]
    concurrency: usize,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(&args).await,
            Command::Agent(args) => {
                agent(
                    &args.kubeconfig,
                    &args.node,
                    args.services,
                    args.bind_unscheduled,
                )
                .await
            }
            Command::Bench(args) => bench(args.namespaces, args.concurrency).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--help` and `--version` print to stdout and exit 0, a bare `kubesim` prints the help to
/// stderr and exits 2, as clap does; any other parse error is one line on stderr (clap's
/// message and tips, without the usage block) and exit status 2.
fn usage_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        err.exit();
    }
    // Rendered without styles; paragraphs are separated by blank lines, and the usage block
    // or the pointer to `--help` comes last.
    let rendered = err.render().to_string();
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in rendered.lines().map(str::trim) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() {
            if !current.is_empty() {
                paragraphs.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        paragraphs.push(current.join(" "));
    }
    eprintln!("{}; try '--help'", paragraphs.join("; "));
    ExitCode::from(2)
}

async fn serve(args: &ServeArgs) -> Result<()> {
    raise_nofile();
    let latency = Duration::try_from_secs_f64(args.pod_start_latency_secs)
        .context("--pod-start-latency-secs: a number of seconds, 0 or more")?;
    let sim = KubeSim::start(Config {
        bind: ([127, 0, 0, 1], args.port).into(),
        seed: args.seed,
        ..Config::default()
    })
    .await?;
    if !latency.is_zero() {
        sim.knobs()
            .set_global_behaviour(Behaviour::SlowStart(latency));
    }
    let path = &args.kubeconfig;
    std::fs::write(path, sim.kubeconfig_yaml())
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "kubesim serving {} (seed {}), kubeconfig written to {}; Ctrl-C stops",
        sim.url(),
        sim.seed(),
        path.display()
    );
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}

/// Runs a node agent against the API server of a kubeconfig until Ctrl-C.
async fn agent(path: &Path, node: &str, services: ServiceShare, bind: bool) -> Result<()> {
    raise_nofile();
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    let client = kube::Client::try_from(config)?;
    let mut config = kubesim::agent::Config::new(node, kubesim::Knobs::new(rand::random()));
    config.services = services;
    config.bind_unscheduled = bind.then_some((0, 1));
    let agent = kubesim::agent::Agent::start(client, config).await?;
    println!(
        "kubesim agent: node {} at {} is Ready; Ctrl-C stops",
        agent.node_name(),
        agent.node_ip()
    );
    tokio::signal::ctrl_c().await?;
    agent.shutdown().await;
    Ok(())
}

/// `all`, `none` or `I/N`.
fn parse_share(text: &str) -> Result<ServiceShare, String> {
    Ok(match text {
        "all" => ServiceShare::All,
        "none" => ServiceShare::None,
        _ => {
            let (index, count) = text.split_once('/').ok_or("takes all, none or I/N")?;
            let index: u32 = index.parse().map_err(|e| format!("I: {e}"))?;
            let count: u32 = count.parse().map_err(|e| format!("N: {e}"))?;
            if index >= count {
                return Err("I/N needs I < N".into());
            }
            ServiceShare::Shard { index, count }
        }
    })
}

/// Lifts the soft descriptor limit to the hard one: every pod port and service port is a socket.
fn raise_nofile() {
    if let Err(e) = kubesim::limits::raise_nofile_limit() {
        eprintln!("kubesim: could not raise RLIMIT_NOFILE: {e}");
    }
}

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, std::iter::Iterator::count)
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn bench(n: usize, concurrency: usize) -> Result<()> {
    raise_nofile();
    let sim = KubeSim::start(Config {
        seed: Some(42),
        pod_start_delay: Duration::from_millis(20),
        ..Config::default()
    })
    .await?;
    let fds_baseline = count_fds();
    let client = sim.client()?;
    let t0 = Instant::now();
    let nss: Api<Namespace> = Api::all(client.clone());
    stream::iter(0..n)
        .map(|i| {
            let nss = nss.clone();
            async move {
                let ns =
                    serde_json::from_value(json!({"metadata": {"name": format!("bench-{i}")}}))?;
                nss.create(&PostParams::default(), &ns).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    stream::iter((0..n).flat_map(|i| (0..3).map(move |j| (i, j))))
        .map(|(i, j)| {
            let client = client.clone();
            async move {
                let ns = format!("bench-{i}");
                let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
                let svcs: Api<Service> = Api::namespaced(client, &ns);
                let pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("node-{j}"), "labels": {"app": format!("node-{j}")}},
                    "spec": {"containers": [{"name": "main", "image": "vqfx:bench", "ports": [{"containerPort": 22}]}]}
                }))?;
                pods.create(&PostParams::default(), &pod).await?;
                let svc = serde_json::from_value(json!({
                    "metadata": {"name": format!("node-{j}")},
                    "spec": {"selector": {"app": format!("node-{j}")}, "ports": [{"name": "ssh", "port": 22}]}
                }))?;
                svcs.create(&PostParams::default(), &svc).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    let created_s = t0.elapsed().as_secs_f64();
    let pods_all: Api<Pod> = Api::all(client.clone());
    let want = n * 3;
    let mut fds_peak = count_fds();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let running = pods_all
            .list(&ListParams::default().fields("status.phase=Running"))
            .await?
            .items
            .len();
        fds_peak = fds_peak.max(count_fds());
        if running == want {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {running}/{want} pods running after 600 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let wall_s = t0.elapsed().as_secs_f64();
    fds_peak = fds_peak.max(count_fds());
    println!(
        "created {n} namespaces, {want} pods, {want} services in {created_s:.2} s; all Running after {wall_s:.2} s; listeners {}; fds {fds_peak}",
        sim.listener_count()
    );

    let t1 = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let nss = nss.clone();
            async move {
                nss.delete(&format!("bench-{i}"), &DeleteParams::default())
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    loop {
        let left = nss.list(&ListParams::default()).await?.items.len();
        if left == 2 {
            break;
        }
        if t1.elapsed() > Duration::from_secs(600) {
            bail!("{left} namespaces still present after 600 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let delete_s = t1.elapsed().as_secs_f64();
    // Pooled client connections are descriptors too; release them before comparing.
    drop((nss, pods_all, client));
    let settle = Instant::now();
    let mut fds_after = count_fds();
    while fds_after > fds_baseline && settle.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        fds_after = count_fds();
    }
    println!(
        "deleted everything in {delete_s:.2} s; listeners {}; fds baseline {fds_baseline}, after {fds_after}",
        sim.listener_count()
    );
    sim.shutdown().await;
    println!(
        "{}",
        json!({
            "namespaces": n, "pods": want, "services": want, "wall_s": (wall_s * 1000.0).round() / 1000.0,
            "delete_s": (delete_s * 1000.0).round() / 1000.0,
            "peak_rss_mb": (peak_rss_mb() * 10.0).round() / 10.0,
            "fds_peak": fds_peak, "fds_after": fds_after, "fds_baseline": fds_baseline,
        })
    );
    Ok(())
}
