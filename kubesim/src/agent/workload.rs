//! What run-to-completion pods "do": a configuration pod (one with
//! `ANTIDOTE_TARGET_HOST`) dials its target and succeeds when the connection is accepted;
//! any other completes at once. The `JobFails` knob fails a job's first attempts.

use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;
use serde_json::Value;
use tokio::net::TcpStream;

use super::State;
use super::failure::is_simulator_error;
use crate::knobs::Behaviour;

/// How long a dial may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);
/// Dials retried when the simulator is short of a resource.
const DIAL_ATTEMPTS: u32 = 5;

/// How a run-to-completion pod ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The workload exited with this code.
    Exited(i32),
    /// The simulator could not run it (its own limits); the message says why.
    SimulatorError(String),
}

fn env_of(c: &Value, key: &str) -> Option<String> {
    c.get("env")
        .and_then(Value::as_array)?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(key))
        .and_then(|e| e.get("value").and_then(Value::as_str))
        .map(str::to_string)
}

/// Runs the workload of a run-to-completion pod.
pub(super) async fn run_workload(
    s: &State,
    pod: &Value,
    specs: &[Value],
    behaviours: &[Behaviour],
    uid: &str,
    main: &str,
) -> Outcome {
    let log = |line: String| s.logs.push(uid, main, line);
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let fail_n = behaviours.iter().find_map(|b| match b {
        Behaviour::JobFails(n) => Some(*n),
        _ => None,
    });
    if let Some(n) = fail_n {
        let job = pod
            .pointer("/metadata/labels/job-name")
            .or_else(|| pod.pointer("/metadata/name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let attempt = s.next_job_attempt(ns, job);
        if attempt <= n {
            log(format!(
                "kubesim: simulated failure of attempt {attempt} (JobFails({n}) knob)"
            ));
            return Outcome::Exited(1);
        }
    }
    let target = specs.iter().find_map(|c| {
        env_of(c, "ANTIDOTE_TARGET_HOST").map(|h| (h, env_of(c, "ANTIDOTE_TARGET_PORT")))
    });
    let Some((host, port)) = target else {
        log("kubesim: workload completed".into());
        return Outcome::Exited(0);
    };
    let port: u16 = if let Ok(p) = port.as_deref().map_or(Ok(22), str::parse) {
        p
    } else {
        log(format!("kubesim: invalid ANTIDOTE_TARGET_PORT {port:?}"));
        return Outcome::Exited(1);
    };
    log(format!("kubesim: connecting to target {host}:{port}"));
    let Some(ip) = resolve(s, ns, &host).await else {
        log(format!("kubesim: could not resolve target host {host:?}"));
        return Outcome::Exited(1);
    };
    if !ip.is_loopback() {
        log(format!(
            "kubesim: refusing to connect to non-loopback address {ip}"
        ));
        return Outcome::Exited(1);
    }
    let mut attempt = 1;
    loop {
        match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect((ip, port))).await {
            Ok(Ok(_)) => {
                log(format!(
                    "kubesim: connected to {host} ({ip}:{port}); configuration applied"
                ));
                return Outcome::Exited(0);
            }
            Ok(Err(e)) if is_simulator_error(&e) && attempt < DIAL_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100) * attempt).await;
            }
            Ok(Err(e)) if is_simulator_error(&e) => {
                let message = format!(
                    "kubesim agent on node {}: dialing {host} ({ip}:{port}): {e}",
                    s.config.node_name
                );
                log(format!("kubesim: simulator error: {message}"));
                return Outcome::SimulatorError(message);
            }
            Ok(Err(e)) => {
                if let Some(why) = s.service_failure(ip) {
                    let message = format!(
                        "kubesim agent on node {}: the listener of service address {ip} could not be bound: {why}",
                        s.config.node_name
                    );
                    log(format!("kubesim: simulator error: {message}"));
                    return Outcome::SimulatorError(message);
                }
                log(format!(
                    "kubesim: error: target {host} ({ip}:{port}) unreachable: {e}"
                ));
                return Outcome::Exited(1);
            }
            Err(_) => {
                log(format!(
                    "kubesim: error: connecting to {host} ({ip}:{port}) timed out"
                ));
                return Outcome::Exited(1);
            }
        }
    }
}

/// Resolves an IP, `svc`, `svc.ns`, `svc.ns.svc[.cluster.local]` or a pod name in `ns`
/// through the API server, as cluster DNS would.
async fn resolve(s: &State, ns: &str, host: &str) -> Option<Ipv4Addr> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Some(ip);
    }
    if host == "localhost" {
        return Some(Ipv4Addr::LOCALHOST);
    }
    let short = host
        .trim_end_matches(".cluster.local")
        .trim_end_matches(".svc");
    let (name, ns) = short.split_once('.').unwrap_or((short, ns));
    let services: Api<Service> = Api::namespaced(s.client.clone(), ns);
    if let Ok(Some(service)) = services.get_opt(name).await
        && let Some(ip) = service
            .spec
            .and_then(|spec| spec.cluster_ip)
            .and_then(|ip| ip.parse().ok())
    {
        return Some(ip);
    }
    let pods: Api<Pod> = Api::namespaced(s.client.clone(), ns);
    pods.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|p| p.status?.pod_ip?.parse().ok())
}
