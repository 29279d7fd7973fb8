//! The processes ([`Step`]s) of one run of each peer, antidoted's own benchmarks
//! included, from the harnesses [`builds`](super::builds) made.

use std::path::{Path, PathBuf};

use super::builds::{
    RIVER_BINARY, build_river_peer, build_rust_peer, built_binary, install_node_peer,
};
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

/// The package (and binary) of a peer in the Rust harnesses' workspace.
fn rust_package(peer: Peer) -> Option<&'static str> {
    match peer {
        Peer::GraphileRs => Some("graphile-worker-bench"),
        Peer::Apalis => Some("apalis-bench"),
        Peer::Underway => Some("underway-bench"),
        Peer::Awa => Some("awa-bench"),
        Peer::Antidoted | Peer::GraphileNode | Peer::River => None,
    }
}

impl Harnesses {
    /// Builds the peer's Rust package or its Go harness, or installs the Node peer.
    pub(super) async fn prepare(&mut self, peer: Peer, params: &Params) -> Result<PathBuf, String> {
        if let Some(package) = rust_package(peer) {
            return build_rust_peer(params, package).await;
        }
        match peer {
            Peer::River => build_river_peer(params).await,
            Peer::GraphileNode => install_node_peer(params).await,
            // antidoted is this binary; the Rust peers returned above.
            Peer::Antidoted | Peer::GraphileRs | Peer::Apalis | Peer::Underway | Peer::Awa => {
                Ok(PathBuf::new())
            }
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
        let rust_binary = |peer: Peer| {
            rust_package(peer)
                .ok_or_else(|| "not a Rust peer".to_owned())
                .and_then(|package| built_binary(&base, package))
        };
        let step = match peer {
            Peer::Antidoted => return Err("unreachable".to_owned()),
            Peer::GraphileRs => Step {
                program: rust_binary(peer)?,
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
            Peer::Apalis | Peer::Awa => Step {
                program: rust_binary(peer)?,
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
                program: rust_binary(peer)?,
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
            // River's harness takes Go flags; it has no workflow phase.
            Peer::River => Step {
                program: built_binary(&base, RIVER_BINARY)?,
                args: vec![
                    "-jobs".into(),
                    params.jobs.to_string(),
                    "-latency-samples".into(),
                    samples,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn params() -> Params {
        Params {
            database_url: "postgres://postgres@127.0.0.1:5432/antidote_compare".into(),
            peers_dir: PathBuf::from("/nonexistent/peers"),
            work_dir: PathBuf::from("/nonexistent/work"),
            peers: vec![Peer::River, Peer::Awa],
            rounds: 1,
            jobs: 2_000,
            single_jobs: 100,
            tasks: 10,
            batch: 10,
            workflows: 200,
            latency_samples: 20,
            underway_jobs: 100,
            underway_workflows: 10,
            timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn river_runs_with_go_flags_and_awa_with_workflows_once_their_binaries_exist() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut harnesses = Harnesses::default();
        for peer in [Peer::River, Peer::Awa] {
            harnesses.prepared.insert(peer, Ok(dir.path().to_owned()));
        }
        let exe = Path::new("antidoted");
        let missing = harnesses
            .command(Peer::River, exe, &params())
            .expect_err("no binary yet");
        assert!(missing.contains("river-bench was not built"), "{missing}");

        for name in ["river-bench", "awa-bench"] {
            std::fs::write(dir.path().join(name), "").expect("a stand-in binary");
        }
        let river = harnesses
            .command(Peer::River, exe, &params())
            .expect("river's step");
        assert_eq!(river.len(), 1);
        assert_eq!(river[0].program, dir.path().join("river-bench"));
        assert_eq!(river[0].args, ["-jobs", "2000", "-latency-samples", "20"]);
        let awa = harnesses
            .command(Peer::Awa, exe, &params())
            .expect("awa's step");
        assert_eq!(
            awa[0].args,
            ["2000", "--latency-samples", "20", "--workflows", "200"]
        );
    }

    #[test]
    fn a_peer_whose_harness_is_absent_is_not_prepared_and_says_where_it_looked() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let mut harnesses = Harnesses::default();
        let river = runtime
            .block_on(harnesses.prepare(Peer::River, &params()))
            .expect_err("no harness");
        assert!(
            river.contains("no harness at /nonexistent/peers/go"),
            "{river}"
        );
        let awa = runtime
            .block_on(harnesses.prepare(Peer::Awa, &params()))
            .expect_err("no harness");
        assert!(
            awa.contains("no harness at /nonexistent/peers/rust"),
            "{awa}"
        );
    }
}
