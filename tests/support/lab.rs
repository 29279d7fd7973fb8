//! What the labs of the lifecycle, observability, deploy, real-control-plane and GC tests
//! share: test-sized backend and worker settings, the cluster's seeded secrets, starting
//! a worker, and waiting for a job's end.

use std::time::Duration;

use antidote_scheduler::backend::Settings;
use antidote_scheduler::queue::{JobId, RetryPolicy, Worker, WorkerConfig, WorkerEvent};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::{broadcast, oneshot};

/// Backend settings sized for tests: failures surface in seconds.
pub fn settings() -> Settings {
    Settings {
        instance_id: "test".into(),
        pod_ready_timeout: Duration::from_secs(20),
        reachability_timeout: Duration::from_secs(4),
        probe_timeout: Duration::from_millis(500),
        job_cleanup_timeout: Duration::from_secs(20),
        config_timeout: Duration::from_secs(20),
        namespace_delete_timeout: Duration::from_secs(20),
        ..Settings::default()
    }
}

/// Worker settings sized for tests.
pub fn worker_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 8,
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_millis(1500),
        heartbeat: Duration::from_millis(300),
        rescue_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_millis(500),
        retry: RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.0,
        },
        observer: antidote_scheduler::telemetry::job_observer(),
        ..WorkerConfig::default()
    }
}

/// Creates the secrets namespace and the TLS secret every livelesson copies.
pub async fn seed_cluster(client: &kube::Client, settings: &Settings) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": { "name": settings.secrets_namespace }
    }))
    .expect("namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("secrets namespace");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.secrets_namespace);
    let tls: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": settings.tls_cert_name },
        "type": "kubernetes.io/tls",
        "stringData": { "tls.crt": "certificate", "tls.key": "key" }
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &tls)
        .await
        .expect("tls secret");
}

/// Starts `worker` on a task; the sender stops it.
pub fn start(worker: Worker) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, run) = job_engine::testing::start(worker);
    let handle = tokio::spawn(async move {
        run.await.expect("worker task").expect("worker run");
    });
    (stop, handle)
}

/// Waits until `job` completes or fails; returns which. On a timeout, panics with the
/// job's audit trail.
pub async fn finished(
    events: &mut broadcast::Receiver<WorkerEvent>,
    job: JobId,
    within: Duration,
) -> WorkerEvent {
    match wait_finished(events, job, within).await {
        Some(event) => event,
        None => panic!("job {job} did not finish within {within:?}"),
    }
}

/// Like [`finished`], `None` on a timeout.
pub async fn wait_finished(
    events: &mut broadcast::Receiver<WorkerEvent>,
    job: JobId,
    within: Duration,
) -> Option<WorkerEvent> {
    job_engine::testing::wait_for(
        events,
        within,
        |event| matches!(event, WorkerEvent::Completed(j) | WorkerEvent::Failed(j) if *j == job),
    )
    .await
}
