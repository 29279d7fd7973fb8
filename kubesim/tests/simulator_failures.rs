//! Failures of the simulator itself are reported as such: with this process out of file
//! descriptors, a pod whose ports cannot be bound and a configuration pod that cannot dial
//! its target both fail with reason `SimulatorError`, the OS error in their status message
//! and logs, instead of looking like a lab that does not work. A test binary of its own:
//! it exhausts the descriptors of its process.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fs::File;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, LogParams, PostParams};
use kubesim::{Config, KubeSim};
use serde_json::json;

/// Opens `/dev/null` until the process has no descriptor left; dropping the files gives
/// them back.
fn exhaust_descriptors() -> Vec<File> {
    let mut held = Vec::new();
    while let Ok(file) = File::open("/dev/null") {
        held.push(file);
    }
    held
}

async fn wait_failed(pods: &Api<Pod>, name: &str) -> Pod {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(pod) = pods.get(name).await
            && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
        {
            return pod;
        }
        assert!(Instant::now() < deadline, "{name} did not fail in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn reason_and_message(pod: &Pod) -> (String, String) {
    let status = pod.status.clone().unwrap_or_default();
    (
        status.reason.unwrap_or_default(),
        status.message.unwrap_or_default(),
    )
}

#[tokio::test]
async fn bind_and_dial_failures_of_the_simulator_are_reported_with_their_own_reason() {
    let sim = KubeSim::start(Config {
        // Time to take the descriptors away between a pod's creation and its start.
        pod_start_delay: Duration::from_millis(300),
        ..Config::default()
    })
    .await
    .expect("kubesim starts");
    let client =
        Client::try_from(kube::Config::new(sim.url().parse().expect("url"))).expect("client");
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let target: Pod = serde_json::from_value(json!({
        "metadata": {"name": "target"},
        "spec": {"containers": [{"name": "main", "image": "host", "ports": [{"containerPort": 22}]}]},
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &target)
        .await
        .expect("target created");
    let deadline = Instant::now() + Duration::from_secs(20);
    let target_ip = loop {
        let pod = pods.get("target").await.expect("target");
        if let Some(ip) = pod.status.and_then(|s| s.pod_ip) {
            break ip;
        }
        assert!(Instant::now() < deadline, "target did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // A pod with a port, started while the process has no descriptor to bind it with.
    let server: Pod = serde_json::from_value(json!({
        "metadata": {"name": "server"},
        "spec": {"containers": [{"name": "main", "image": "host", "ports": [{"containerPort": 80}]}]},
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &server)
        .await
        .expect("server created");
    // A configuration pod that dials the target, started while the process has none.
    let dialer: Pod = serde_json::from_value(json!({
        "metadata": {"name": "dialer"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "cfg", "image": "configurator",
            "env": [{"name": "ANTIDOTE_TARGET_HOST", "value": target_ip}, {"name": "ANTIDOTE_TARGET_PORT", "value": "22"}]}]},
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &dialer)
        .await
        .expect("dialer created");
    let held = exhaust_descriptors();
    assert!(!held.is_empty());
    // Both fail once their retries are spent; connections already open carry the status.
    let server = wait_failed(&pods, "server").await;
    let dialer = wait_failed(&pods, "dialer").await;
    drop(held);

    for pod in [&server, &dialer] {
        let (reason, message) = reason_and_message(pod);
        let name = pod.metadata.name.clone().unwrap_or_default();
        assert_eq!(reason, "SimulatorError", "{name}: {message}");
        assert!(
            message.contains("Too many open files"),
            "{name}: the OS error is named: {message}"
        );
        let terminated = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c[0].state.as_ref())
            .and_then(|s| s.terminated.clone())
            .expect("terminated by the simulator");
        assert_eq!(
            terminated.reason.as_deref(),
            Some("SimulatorError"),
            "{name}"
        );
    }
    let (_, server_message) = reason_and_message(&server);
    assert!(
        server_message.contains("binding ports [80]"),
        "{server_message}"
    );
    let (_, dialer_message) = reason_and_message(&dialer);
    assert!(
        dialer_message.contains(&format!("dialing {target_ip}")),
        "{dialer_message}"
    );
    let logs = pods
        .logs("dialer", &LogParams::default())
        .await
        .expect("logs");
    assert!(
        logs.contains("kubesim: simulator error:"),
        "the failure is in the logs: {logs}"
    );
    assert!(
        !logs.contains("unreachable"),
        "not an ordinary dial failure: {logs}"
    );
    sim.shutdown().await;
}
