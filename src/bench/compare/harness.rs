//! The peers' harnesses: building the Rust ones, installing the Node one, and the
//! processes ([`Step`]s) of one run of each peer, antidoted's own benchmarks included.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::params::Params;
use super::peer::Peer;

/// One process of a run: a program, its arguments and working directory.
#[derive(Debug, Clone)]
pub(super) struct Step {
    pub(super) program: PathBuf,
    pub(super) args: Vec<String>,
    pub(super) dir: Option<PathBuf>,
    /// How the program learns its database: an argument or `DATABASE_URL`.
    pub(super) url_as_arg: bool,
}

/// The peers' build state: what was built or installed, or why not.
#[derive(Default)]
pub(super) struct Harnesses {
    pub(super) prepared: std::collections::HashMap<Peer, Result<PathBuf, String>>,
}

impl Harnesses {
    /// Builds the Rust workspace (once for its three peers) or installs the Node peer.
    pub(super) async fn prepare(&mut self, peer: Peer, params: &Params) -> Result<PathBuf, String> {
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
    pub(super) fn command(
        &self,
        peer: Peer,
        exe: &Path,
        params: &Params,
    ) -> Result<Vec<Step>, String> {
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
