//! One peer's run: each step a harness process on a fresh database, its last JSON line
//! read and merged into the run's figures.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::harness::Step;
use super::params::{CompareError, Params};
use super::peer::Peer;
use super::report::{Figures, Outcome};
use super::server::Server;

/// Runs the steps of one peer's run, each on a fresh database, and merges their figures.
pub(super) async fn run_steps(
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
        figures.latency_ms_p95 = figures.latency_ms_p95.or(get("latency_ms_p95"));
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn river_and_awa_lines_give_p95_and_only_the_phases_they_ran() {
        let mut river = Figures::default();
        merge(
            &mut river,
            Peer::River,
            serde_json::json!({"peer": "river v0.51.2 (Go)", "jobs": 2000, "enqueue_per_s": 40000.0,
                "jobs_per_s": 15000.5, "jobs_per_s_method": "min(attempted_at) -> max(finalized_at)",
                "jobs_per_s_wall": 9000.0, "latency_ms_p50": 3.4, "latency_ms_p95": 4.1,
                "latency_ms_p99": 5.2}),
        );
        assert_eq!(river.jobs_per_s, Some(15000.5));
        assert_eq!(
            (
                river.latency_ms_p50,
                river.latency_ms_p95,
                river.latency_ms_p99
            ),
            (Some(3.4), Some(4.1), Some(5.2))
        );
        assert_eq!((river.workflows_per_s, river.workflows), (None, 0));
        assert_eq!(river.jobs, 2000);

        let mut awa = Figures::default();
        merge(
            &mut awa,
            Peer::Awa,
            serde_json::json!({"jobs": 2000, "jobs_per_s": 9000.0, "latency_ms_p50": 6.0,
                "latency_ms_p95": 19.7, "latency_ms_p99": 25.5, "latency_from_call_ms_p50": 10.5,
                "workflows": 200, "workflows_per_s": 81.0}),
        );
        assert_eq!(awa.latency_from_call_ms_p50, Some(10.5));
        assert_eq!((awa.workflows_per_s, awa.workflows), (Some(81.0), 200));
    }
}
