//! `bench compare`: antidoted beside the PostgreSQL job queues a Rust user might pick
//! instead, run back to back on this machine and server, each on a fresh database.
//!
//! The peers are benchmark harnesses kept outside this repository (by default in
//! `../shared/peers`): `rust/` is a Cargo workspace with graphile_worker, apalis and underway
//! harnesses, built here with their own target directory; `node/` holds graphile-worker
//! for Node, installed with `npm ci` into a work directory. Each prints one JSON line with
//! the keys of `bench queue`. Peers whose harness is missing or does not build are skipped
//! with the reason; nothing of theirs is needed by the tests.
//!
//! Every round runs every peer once, in an order rotated by one each round so that a
//! drift of the machine's load does not always favour the same peer, and notes the load
//! average before each run: on a shared machine only ratios measured close together mean
//! something.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::PgConnectOptions;
use tokio::io::AsyncReadExt;

/// A queue measured by the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// This project's engine (`bench queue` and `bench workflow` of this binary).
    Antidoted,
    /// graphile_worker, the Rust port of Graphile Worker (`rust/graphile-worker-bench`).
    GraphileRs,
    /// apalis with apalis-postgres (`rust/apalis-bench`).
    Apalis,
    /// underway (`rust/underway-bench`), at its own smaller sizes: its claim scans the
    /// whole queue.
    Underway,
    /// graphile-worker for Node (`node/graphile.mjs`).
    GraphileNode,
}

impl Peer {
    /// Every peer, in the default order of a round.
    pub const ALL: [Peer; 5] = [
        Peer::Antidoted,
        Peer::GraphileRs,
        Peer::Apalis,
        Peer::GraphileNode,
        Peer::Underway,
    ];

    /// The name used on the command line, in the table and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Antidoted => "antidoted",
            Peer::GraphileRs => "graphile_rs",
            Peer::Apalis => "apalis",
            Peer::Underway => "underway",
            Peer::GraphileNode => "graphile_node",
        }
    }
}

impl FromStr for Peer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Peer::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Peer::ALL.iter().map(|p| p.name()).collect();
                format!("unknown peer {s:?}; known: {}", names.join(", "))
            })
    }
}

/// Parameters of a comparison.
#[derive(Debug, Clone)]
pub struct Params {
    /// Server and name prefix: each peer gets the database `<name>_<peer>`, dropped and
    /// created again before each of its runs.
    pub database_url: String,
    /// Where the peer harnesses are (`rust/`, `node/`).
    pub peers_dir: PathBuf,
    /// Build and install directory for the peers (outside the repository).
    pub work_dir: PathBuf,
    /// Peers to run, antidoted included or not.
    pub peers: Vec<Peer>,
    /// Rounds.
    pub rounds: usize,
    /// No-op jobs of the throughput phase.
    pub jobs: usize,
    /// antidoted's jobs enqueued one by one for its single-enqueue rate (the peers
    /// enqueue in batches only).
    pub single_jobs: usize,
    /// antidoted's tasks per worker process in the no-op phase.
    pub tasks: usize,
    /// antidoted's most jobs per claim (and per batch enqueue) in the no-op phase.
    pub batch: usize,
    /// Three-step workflows.
    pub workflows: usize,
    /// Idle-queue latency samples.
    pub latency_samples: usize,
    /// underway's no-op jobs.
    pub underway_jobs: usize,
    /// underway's workflows.
    pub underway_workflows: usize,
    /// Longest a single run may take.
    pub timeout: Duration,
}

/// Failures that stop the comparison (a peer that fails only marks its run).
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The database URL does not parse or names no usable database.
    #[error("invalid --database-url: {0}")]
    DatabaseUrl(String),
    /// Dropping or creating a run's database failed.
    #[error("preparing database {name:?}")]
    Database {
        /// The database.
        name: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// This binary could not be located to run antidoted's own benchmarks.
    #[error("locating this binary")]
    Exe(#[source] std::io::Error),
}

/// What one run of one peer measured. Missing figures are phases the peer lacks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// No-op jobs per second.
    pub jobs_per_s: Option<f64>,
    /// Idle enqueue (committed) to handler start, median, ms.
    pub latency_ms_p50: Option<f64>,
    /// 99th percentile.
    pub latency_ms_p99: Option<f64>,
    /// From the start of the enqueue call, median, ms.
    pub latency_from_call_ms_p50: Option<f64>,
    /// From the start of the enqueue call, 99th percentile (graphile-worker for Node
    /// measures only this way).
    pub latency_from_call_ms_p99: Option<f64>,
    /// Three-step workflows per second.
    pub workflows_per_s: Option<f64>,
    /// No-op jobs of the run.
    pub jobs: usize,
    /// Workflows of the run.
    pub workflows: usize,
    /// The JSON lines the harness printed, as they were.
    pub raw: Vec<serde_json::Value>,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Measured.
    Ran(Figures),
    /// Not run: the harness is not available here.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Started and failed.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One peer's run in a round.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// The peer.
    pub peer: Peer,
    /// The 1-, 5- and 15-minute load averages just before the run.
    pub load_before: [f64; 3],
    /// Wall-clock seconds of the run, setup and teardown included.
    pub seconds: f64,
    /// What it measured.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// antidoted's figures divided by a peer's, from the same round.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ratios {
    /// The peer.
    pub peer: Option<Peer>,
    /// Jobs per second, ours ÷ theirs.
    pub jobs_per_s: Option<f64>,
    /// Idle latency median, ours ÷ theirs (below 1 is better for us).
    pub latency_ms_p50: Option<f64>,
    /// Idle latency 99th percentile, ours ÷ theirs.
    pub latency_ms_p99: Option<f64>,
    /// Workflows per second, ours ÷ theirs.
    pub workflows_per_s: Option<f64>,
}

/// One round: every peer once.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// From 1.
    pub round: usize,
    /// In the order they ran.
    pub runs: Vec<Run>,
    /// Ours against each other peer that ran.
    pub ratios: Vec<Ratios>,
}

/// The whole comparison; the JSON keys are a stable interface.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every round.
    pub rounds: Vec<Round>,
    /// Per peer, the median over rounds of each ratio.
    pub median_ratios: Vec<Ratios>,
    /// No-op jobs per run (underway: `underway_jobs`).
    pub jobs: usize,
    /// Workflows per run.
    pub workflows: usize,
    /// Latency samples per run.
    pub latency_samples: usize,
    /// underway's sizes.
    pub underway_jobs: usize,
    /// underway's workflows.
    pub underway_workflows: usize,
}

/// Builds what is available, runs the rounds and returns the figures. Progress and the
/// harnesses' own output go to stderr.
///
/// # Errors
/// [`CompareError`] when the databases cannot be prepared or this binary not found; a
/// peer that fails is recorded as failed instead.
pub async fn run(params: &Params) -> Result<Report, CompareError> {
    let server = Server::parse(&params.database_url)?;
    let exe = std::env::current_exe().map_err(CompareError::Exe)?;
    let mut harnesses = Harnesses::default();
    for peer in &params.peers {
        if *peer != Peer::Antidoted && !harnesses.prepared.contains_key(peer) {
            let ready = harnesses.prepare(*peer, params).await;
            harnesses.prepared.insert(*peer, ready);
        }
    }

    let mut rounds = Vec::with_capacity(params.rounds);
    for round in 0..params.rounds.max(1) {
        let mut order = params.peers.clone();
        let len = order.len().max(1);
        order.rotate_left(round % len);
        let mut runs = Vec::with_capacity(order.len());
        for peer in order {
            eprintln!(
                "== round {} of {}: {}",
                round + 1,
                params.rounds.max(1),
                peer.name()
            );
            let load_before = load_average();
            let started = std::time::Instant::now();
            let outcome = match harnesses.command(peer, &exe, params) {
                Err(reason) => Outcome::Skipped { reason },
                Ok(steps) => run_steps(&server, peer, steps, params).await?,
            };
            runs.push(Run {
                peer,
                load_before,
                seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
                outcome,
            });
        }
        let ratios = ratios(&runs);
        rounds.push(Round {
            round: round + 1,
            runs,
            ratios,
        });
    }
    let median_ratios = median_ratios(&rounds);
    Ok(Report {
        rounds,
        median_ratios,
        jobs: params.jobs,
        workflows: params.workflows,
        latency_samples: params.latency_samples,
        underway_jobs: params.underway_jobs,
        underway_workflows: params.underway_workflows,
    })
}

/// The server of `--database-url` and the name prefix of the runs' databases.
struct Server {
    options: PgConnectOptions,
    prefix: String,
}

impl Server {
    fn parse(url: &str) -> Result<Self, CompareError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| CompareError::DatabaseUrl(e.to_string()))?;
        let prefix = options
            .get_database()
            .unwrap_or("antidote_compare")
            .to_owned();
        // Database names are spliced into DROP/CREATE DATABASE, which take no parameters.
        if prefix.is_empty()
            || prefix.len() > 40
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(CompareError::DatabaseUrl(format!(
                "the database name {prefix:?} must be 1-40 characters of A-Z, a-z, 0-9 and _ (it prefixes each peer's database)"
            )));
        }
        Ok(Self { options, prefix })
    }

    fn database(&self, peer: Peer, step: usize) -> String {
        format!(
            "{}_{}{}",
            self.prefix,
            peer.name(),
            if step == 0 {
                String::new()
            } else {
                format!("_{step}")
            }
        )
    }

    fn url(&self, database: &str) -> String {
        let o = self.options.clone().database(database);
        let user = o.get_username();
        let host = o.get_host();
        let port = o.get_port();
        // The harnesses read a URL; this server is trusted on loopback (no password).
        format!("postgres://{user}@{host}:{port}/{database}")
    }

    /// Drops `database` if it exists and creates it empty.
    async fn fresh(&self, database: &str) -> Result<(), CompareError> {
        let err = |source| CompareError::Database {
            name: database.to_owned(),
            source,
        };
        let mut conn = sqlx::PgConnection::connect_with(&self.options.clone().database("postgres"))
            .await
            .map_err(err)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists \"{database}\" with (force)"
        )))
        .execute(&mut conn)
        .await
        .map_err(err)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "create database \"{database}\""
        )))
        .execute(&mut conn)
        .await
        .map_err(err)?;
        let _ = conn.close().await;
        Ok(())
    }

    async fn drop(&self, database: &str) {
        if let Ok(mut conn) =
            sqlx::PgConnection::connect_with(&self.options.clone().database("postgres")).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop database if exists \"{database}\" with (force)"
            )))
            .execute(&mut conn)
            .await;
            let _ = conn.close().await;
        }
    }
}

/// One process of a run: a program, its arguments and working directory.
#[derive(Debug, Clone)]
struct Step {
    program: PathBuf,
    args: Vec<String>,
    dir: Option<PathBuf>,
    /// How the program learns its database: an argument or `DATABASE_URL`.
    url_as_arg: bool,
}

/// The peers' build state: what was built or installed, or why not.
#[derive(Default)]
struct Harnesses {
    prepared: std::collections::HashMap<Peer, Result<PathBuf, String>>,
}

impl Harnesses {
    /// Builds the Rust workspace (once for its three peers) or installs the Node peer.
    async fn prepare(&mut self, peer: Peer, params: &Params) -> Result<PathBuf, String> {
        match peer {
            Peer::Antidoted => Ok(PathBuf::new()),
            Peer::GraphileRs | Peer::Apalis | Peer::Underway => {
                let built = [Peer::GraphileRs, Peer::Apalis, Peer::Underway]
                    .iter()
                    .find_map(|p| self.prepared.get(p).cloned());
                match built {
                    Some(result) => result,
                    None => build_rust_peers(params).await,
                }
            }
            Peer::GraphileNode => install_node_peer(params).await,
        }
    }

    /// The processes of one run of `peer`, or why it cannot run.
    fn command(&self, peer: Peer, exe: &Path, params: &Params) -> Result<Vec<Step>, String> {
        let samples = params.latency_samples.to_string();
        if peer == Peer::Antidoted {
            let queue = Step {
                program: exe.to_owned(),
                args: vec![
                    "bench".into(),
                    "queue".into(),
                    "--jobs".into(),
                    params.jobs.to_string(),
                    "--single-jobs".into(),
                    params.single_jobs.to_string(),
                    "--tasks".into(),
                    params.tasks.to_string(),
                    "--batch".into(),
                    params.batch.to_string(),
                    "--latency-samples".into(),
                    samples,
                ],
                dir: None,
                url_as_arg: true,
            };
            let mut steps = vec![queue];
            if params.workflows > 0 {
                steps.push(Step {
                    program: exe.to_owned(),
                    args: vec![
                        "bench".into(),
                        "workflow".into(),
                        "--workflows".into(),
                        params.workflows.to_string(),
                    ],
                    dir: None,
                    url_as_arg: true,
                });
            }
            return Ok(steps);
        }
        let base = self
            .prepared
            .get(&peer)
            .cloned()
            .unwrap_or_else(|| Err("not prepared".to_owned()))?;
        let step = match peer {
            Peer::Antidoted => return Err("unreachable".to_owned()),
            Peer::GraphileRs => Step {
                program: base.join("graphile-worker-bench"),
                args: vec![
                    params.jobs.to_string(),
                    "--latency-samples".into(),
                    samples,
                    "--phases".into(),
                    "queue,latency".into(),
                ],
                dir: None,
                url_as_arg: false,
            },
            Peer::Apalis => Step {
                program: base.join("apalis-bench"),
                args: vec![
                    params.jobs.to_string(),
                    "--latency-samples".into(),
                    samples,
                    "--workflows".into(),
                    params.workflows.to_string(),
                ],
                dir: None,
                url_as_arg: false,
            },
            Peer::Underway => Step {
                program: base.join("underway-bench"),
                args: vec![
                    params.underway_jobs.to_string(),
                    "--latency-samples".into(),
                    samples,
                    "--workflows".into(),
                    params.underway_workflows.to_string(),
                ],
                dir: None,
                url_as_arg: false,
            },
            Peer::GraphileNode => Step {
                program: PathBuf::from("node"),
                args: vec!["graphile.mjs".into(), params.jobs.to_string(), "1".into()],
                dir: Some(base),
                url_as_arg: false,
            },
        };
        Ok(vec![step])
    }
}

/// `cargo build --release --locked` of the Rust harnesses into their own target
/// directory; returns the directory of the binaries.
async fn build_rust_peers(params: &Params) -> Result<PathBuf, String> {
    let workspace = params.peers_dir.join("rust");
    if !workspace.join("Cargo.toml").is_file() {
        return Err(format!("no harness at {}", workspace.display()));
    }
    let target = params.work_dir.join("rust-target");
    eprintln!(
        "== building the Rust peers in {} (target {})",
        workspace.display(),
        target.display()
    );
    let status = tokio::process::Command::new("cargo")
        .args(["build", "--release", "--locked", "--quiet"])
        .current_dir(&workspace)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .status()
        .await
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build of {} failed ({status})",
            workspace.display()
        ));
    }
    Ok(target.join("release"))
}

/// Copies the Node harness's manifest, lock file and script into a work directory and
/// runs `npm ci` there (the shared folder is read-only); returns that directory.
async fn install_node_peer(params: &Params) -> Result<PathBuf, String> {
    let source = params.peers_dir.join("node");
    if !source.join("graphile.mjs").is_file() {
        return Err(format!("no harness at {}", source.display()));
    }
    let dir = params.work_dir.join("node");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for file in ["package.json", "package-lock.json", "graphile.mjs"] {
        std::fs::copy(source.join(file), dir.join(file))
            .map_err(|e| format!("copying {file}: {e}"))?;
    }
    if !dir.join("node_modules").is_dir() {
        eprintln!("== installing the Node peer in {}", dir.display());
        let status = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .status()
            .await
            .map_err(|e| format!("running npm: {e}"))?;
        if !status.success() {
            return Err(format!("npm ci failed ({status})"));
        }
    }
    Ok(dir)
}

/// Runs the steps of one peer's run, each on a fresh database, and merges their figures.
async fn run_steps(
    server: &Server,
    peer: Peer,
    steps: Vec<Step>,
    params: &Params,
) -> Result<Outcome, CompareError> {
    let mut figures = Figures::default();
    for (i, step) in steps.into_iter().enumerate() {
        let database = server.database(peer, i);
        server.fresh(&database).await?;
        let url = server.url(&database);
        let result = run_step(&step, &url, params.timeout).await;
        server.drop(&database).await;
        match result {
            Ok(line) => merge(&mut figures, peer, line),
            Err(reason) => return Ok(Outcome::Failed { reason }),
        }
    }
    Ok(Outcome::Ran(figures))
}

/// Runs one harness process and returns the JSON object of its last stdout line.
async fn run_step(step: &Step, url: &str, timeout: Duration) -> Result<serde_json::Value, String> {
    let mut command = tokio::process::Command::new(&step.program);
    command.args(&step.args);
    if step.url_as_arg {
        command.args(["--database-url", url]);
    }
    command
        .env("DATABASE_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(dir) = &step.dir {
        command.current_dir(dir);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting {}: {e}", step.program.display()))?;
    let mut stdout = child.stdout.take();
    let finished = tokio::time::timeout(timeout, async {
        let mut out = String::new();
        if let Some(stdout) = stdout.as_mut() {
            let _ = stdout.read_to_string(&mut out).await;
        }
        let status = child.wait().await;
        (out, status)
    })
    .await;
    let (out, status) =
        finished.map_err(|_| format!("no result within {} s", timeout.as_secs()))?;
    let status = status.map_err(|e| format!("waiting for {}: {e}", step.program.display()))?;
    if !status.success() {
        return Err(format!("{} exited with {status}", step.program.display()));
    }
    let last = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("{} printed no JSON line", step.program.display()))?;
    serde_json::from_str(last).map_err(|e| format!("its JSON line does not parse: {e}"))
}

/// Adds one harness JSON line's figures to `figures`.
fn merge(figures: &mut Figures, peer: Peer, line: serde_json::Value) {
    let get = |key: &str| line.get(key).and_then(serde_json::Value::as_f64);
    let count = |key: &str| {
        line.get(key)
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
    };
    if peer == Peer::GraphileNode {
        // graphile.mjs times its samples from the start of the enqueue call.
        figures.latency_from_call_ms_p50 =
            figures.latency_from_call_ms_p50.or(get("latency_ms_p50"));
        figures.latency_from_call_ms_p99 =
            figures.latency_from_call_ms_p99.or(get("latency_ms_p99"));
    } else {
        figures.latency_ms_p50 = figures.latency_ms_p50.or(get("latency_ms_p50"));
        figures.latency_ms_p99 = figures.latency_ms_p99.or(get("latency_ms_p99"));
        figures.latency_from_call_ms_p50 = figures
            .latency_from_call_ms_p50
            .or(get("latency_from_call_ms_p50"));
    }
    figures.jobs_per_s = figures.jobs_per_s.or(get("jobs_per_s"));
    figures.workflows_per_s = figures
        .workflows_per_s
        .or(get("workflows_per_s").filter(|w| *w > 0.0));
    figures.jobs = figures.jobs.max(count("jobs").unwrap_or(0));
    figures.workflows = figures.workflows.max(count("workflows").unwrap_or(0));
    figures.raw.push(line);
}

/// The 1-, 5- and 15-minute load averages (zeros where `/proc/loadavg` is unreadable).
fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut fields = text.split_whitespace().map(|f| f.parse().unwrap_or(0.0));
    [
        fields.next().unwrap_or(0.0),
        fields.next().unwrap_or(0.0),
        fields.next().unwrap_or(0.0),
    ]
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => Some((a / b * 100.0).round() / 100.0),
        _ => None,
    }
}

/// antidoted against each other peer of a round.
fn ratios(runs: &[Run]) -> Vec<Ratios> {
    let figures = |peer: Peer| {
        runs.iter().find_map(|r| match &r.outcome {
            Outcome::Ran(f) if r.peer == peer => Some(f),
            _ => None,
        })
    };
    let Some(ours) = figures(Peer::Antidoted) else {
        return Vec::new();
    };
    runs.iter()
        .filter(|r| r.peer != Peer::Antidoted)
        .filter_map(|r| {
            let theirs = figures(r.peer)?;
            Some(Ratios {
                peer: Some(r.peer),
                jobs_per_s: ratio(ours.jobs_per_s, theirs.jobs_per_s),
                latency_ms_p50: ratio(ours.latency_ms_p50, theirs.latency_ms_p50),
                latency_ms_p99: ratio(ours.latency_ms_p99, theirs.latency_ms_p99),
                workflows_per_s: ratio(ours.workflows_per_s, theirs.workflows_per_s),
            })
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (f64::midpoint(values[mid - 1], values[mid]) * 100.0).round() / 100.0
    })
}

/// Per peer, the median of each ratio over the rounds.
fn median_ratios(rounds: &[Round]) -> Vec<Ratios> {
    let mut peers: Vec<Peer> = rounds
        .iter()
        .flat_map(|r| r.ratios.iter().filter_map(|x| x.peer))
        .collect();
    peers.sort_unstable();
    peers.dedup();
    peers
        .into_iter()
        .map(|peer| {
            let of = |pick: fn(&Ratios) -> Option<f64>| {
                median(
                    rounds
                        .iter()
                        .flat_map(|r| r.ratios.iter().filter(|x| x.peer == Some(peer)))
                        .filter_map(pick)
                        .collect(),
                )
            };
            Ratios {
                peer: Some(peer),
                jobs_per_s: of(|r| r.jobs_per_s),
                latency_ms_p50: of(|r| r.latency_ms_p50),
                latency_ms_p99: of(|r| r.latency_ms_p99),
                workflows_per_s: of(|r| r.workflows_per_s),
            }
        })
        .collect()
}

/// The report as a table: one line per run, then the ratios of each round and their
/// medians.
pub fn table(report: &Report) -> String {
    use std::fmt::Write as _;
    let cell = |v: Option<f64>, decimals: usize| match v {
        Some(v) => format!("{v:.decimals$}"),
        None => "-".to_owned(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<5} {:<14} {:>9} {:>8} {:>8} {:>10} {:>12} {:>16}",
        "round", "peer", "jobs/s", "p50 ms", "p99 ms", "call p50", "workflows/s", "load 1/5/15 min"
    );
    for round in &report.rounds {
        for run in &round.runs {
            let load = format!(
                "{:.1}/{:.1}/{:.1}",
                run.load_before[0], run.load_before[1], run.load_before[2]
            );
            match &run.outcome {
                Outcome::Ran(f) => {
                    let _ = writeln!(
                        out,
                        "{:<5} {:<14} {:>9} {:>8} {:>8} {:>10} {:>12} {:>16}",
                        round.round,
                        run.peer.name(),
                        cell(f.jobs_per_s, 0),
                        cell(f.latency_ms_p50, 2),
                        cell(f.latency_ms_p99, 2),
                        cell(f.latency_from_call_ms_p50, 2),
                        cell(f.workflows_per_s, 0),
                        load
                    );
                }
                Outcome::Skipped { reason } => {
                    let _ = writeln!(
                        out,
                        "{:<5} {:<14} skipped: {reason}",
                        round.round,
                        run.peer.name()
                    );
                }
                Outcome::Failed { reason } => {
                    let _ = writeln!(
                        out,
                        "{:<5} {:<14} failed: {reason}",
                        round.round,
                        run.peer.name()
                    );
                }
            }
        }
    }
    let mut ratio_lines = |label: String, ratios: &[Ratios]| {
        for r in ratios {
            let Some(peer) = r.peer else { continue };
            let _ = writeln!(
                out,
                "{label:<8} antidoted ÷ {:<14} jobs/s {:>6}  p50 {:>5}  p99 {:>5}  workflows/s {:>6}",
                peer.name(),
                cell(r.jobs_per_s, 2),
                cell(r.latency_ms_p50, 2),
                cell(r.latency_ms_p99, 2),
                cell(r.workflows_per_s, 2)
            );
        }
    };
    for round in &report.rounds {
        ratio_lines(format!("round {}", round.round), &round.ratios);
    }
    ratio_lines("median".to_owned(), &report.median_ratios);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(peer: Peer, jobs: f64, p50: f64, workflows: Option<f64>) -> Run {
        Run {
            peer,
            load_before: [1.0, 1.0, 1.0],
            seconds: 1.0,
            outcome: Outcome::Ran(Figures {
                jobs_per_s: Some(jobs),
                latency_ms_p50: Some(p50),
                latency_ms_p99: Some(p50 * 2.0),
                workflows_per_s: workflows,
                ..Figures::default()
            }),
        }
    }

    #[test]
    fn ratios_divide_ours_by_each_peer_of_the_same_round_and_skip_missing_figures() {
        let runs = vec![
            ran(Peer::GraphileRs, 40_000.0, 1.0, None),
            ran(Peer::Antidoted, 60_000.0, 0.8, Some(8_000.0)),
            ran(Peer::Apalis, 8_000.0, 2.0, Some(1_000.0)),
            Run {
                peer: Peer::Underway,
                load_before: [0.0; 3],
                seconds: 0.0,
                outcome: Outcome::Skipped {
                    reason: "absent".into(),
                },
            },
        ];
        let r = ratios(&runs);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].peer, Some(Peer::GraphileRs));
        assert_eq!(r[0].jobs_per_s, Some(1.5));
        assert_eq!(r[0].latency_ms_p50, Some(0.8));
        assert_eq!(r[0].workflows_per_s, None);
        assert_eq!(r[1].jobs_per_s, Some(7.5));
        assert_eq!(r[1].workflows_per_s, Some(8.0));
    }

    #[test]
    fn median_ratios_take_the_middle_round_per_peer() {
        let round = |n: usize, jobs: f64| Round {
            round: n,
            runs: Vec::new(),
            ratios: vec![Ratios {
                peer: Some(Peer::GraphileRs),
                jobs_per_s: Some(jobs),
                ..Ratios::default()
            }],
        };
        let rounds = vec![round(1, 1.4), round(2, 1.2), round(3, 1.3)];
        let m = median_ratios(&rounds);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].jobs_per_s, Some(1.3));
        assert_eq!(m[0].latency_ms_p50, None);
    }

    #[test]
    fn peers_parse_by_name_and_unknown_names_are_refused_with_the_known_ones() {
        assert_eq!("apalis".parse::<Peer>(), Ok(Peer::Apalis));
        let err = "sidekiq".parse::<Peer>().unwrap_err();
        assert!(err.contains("graphile_rs"), "{err}");
    }

    #[test]
    fn database_names_outside_a_safe_alphabet_are_refused() {
        assert!(Server::parse("postgres://postgres@127.0.0.1:5432/bench_1").is_ok());
        assert!(Server::parse("postgres://postgres@127.0.0.1:5432/Bench\"x").is_err());
    }

    #[test]
    fn node_latencies_are_kept_as_measured_from_the_call() {
        let mut f = Figures::default();
        merge(
            &mut f,
            Peer::GraphileNode,
            serde_json::json!({"jobs": 10, "jobs_per_s": 5.0, "latency_ms_p50": 9.0, "latency_ms_p99": 12.0}),
        );
        assert_eq!(f.latency_ms_p50, None);
        assert_eq!(f.latency_from_call_ms_p50, Some(9.0));
        assert_eq!(f.jobs, 10);
    }
}
