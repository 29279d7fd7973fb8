//! `kubesim` binary: `serve` runs a simulated cluster and writes a kubeconfig; `bench` measures
//! scale (namespaces × pods × services through the HTTP API) and descriptor hygiene.

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kubesim::{Config, KubeSim};
use serde_json::json;
use std::time::{Duration, Instant};

const USAGE: &str = "usage:\n  kubesim serve [--kubeconfig PATH] [--port PORT] [--seed N]\n  kubesim agent --kubeconfig PATH --node NAME [--bind-unscheduled] [--services all|none|I/N]\n  kubesim bench [--namespaces N] [--concurrency N]";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("serve") => {
            let port: u16 = flag("--port").map(|p| p.parse()).transpose()?.unwrap_or(0);
            let seed = flag("--seed").map(|s| s.parse()).transpose()?;
            let path = flag("--kubeconfig").unwrap_or_else(|| "kubesim.kubeconfig".into());
            rt.block_on(serve(port, seed, &path))
        }
        Some("agent") => {
            let path = flag("--kubeconfig").context("--kubeconfig is required")?;
            let node = flag("--node").context("--node is required")?;
            let services = flag("--services").unwrap_or_else(|| "all".into());
            let bind = args.iter().any(|a| a == "--bind-unscheduled");
            rt.block_on(agent(&path, &node, &services, bind))
        }
        Some("bench") => {
            let n: usize = flag("--namespaces")
                .map(|p| p.parse())
                .transpose()?
                .unwrap_or(1000);
            let c: usize = flag("--concurrency")
                .map(|p| p.parse())
                .transpose()?
                .unwrap_or(32);
            rt.block_on(bench(n, c))
        }
        _ => bail!("{USAGE}"),
    }
}

async fn serve(port: u16, seed: Option<u64>, path: &str) -> Result<()> {
    raise_nofile();
    let sim = KubeSim::start(Config {
        bind: ([127, 0, 0, 1], port).into(),
        seed,
        ..Config::default()
    })
    .await?;
    std::fs::write(path, sim.kubeconfig_yaml()).with_context(|| format!("writing {path}"))?;
    println!(
        "kubesim serving {} (seed {}), kubeconfig written to {path}; Ctrl-C stops",
        sim.url(),
        sim.seed()
    );
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}

/// Runs a node agent against the API server of a kubeconfig until Ctrl-C.
async fn agent(path: &str, node: &str, services: &str, bind: bool) -> Result<()> {
    raise_nofile();
    let kubeconfig =
        kube::config::Kubeconfig::read_from(path).with_context(|| format!("reading {path}"))?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    let client = kube::Client::try_from(config)?;
    let mut config = kubesim::agent::Config::new(node, kubesim::Knobs::new(rand::random()));
    config.services = parse_share(services)?;
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
fn parse_share(text: &str) -> Result<kubesim::agent::ServiceShare> {
    use kubesim::agent::ServiceShare;
    Ok(match text {
        "all" => ServiceShare::All,
        "none" => ServiceShare::None,
        _ => {
            let (index, count) = text
                .split_once('/')
                .context("--services takes all, none or I/N")?;
            let (index, count): (u32, u32) = (index.parse()?, count.parse()?);
            if index >= count {
                bail!("--services I/N needs I < N");
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
