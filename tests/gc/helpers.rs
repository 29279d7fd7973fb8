//! What the GC tests add to the shared lab (`tests/support/lab.rs`): production GC
//! settings, periodic schedules checked often, namespaces made and inspected directly in
//! the cluster.

use std::time::Duration;

use antidote_scheduler::gc;
use antidote_scheduler::queue::WorkerConfig;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;

#[path = "../support/lab.rs"]
mod common;
pub use common::{Lab, finished, start};

/// GC settings with the production TTLs; tests move timestamps instead of shortening them.
pub fn gc_config() -> gc::Config {
    gc::Config::default()
}

/// Worker settings sized for tests, with stored schedules checked every 50 ms.
pub fn worker_config() -> WorkerConfig {
    WorkerConfig {
        periodic_interval: Duration::from_millis(50),
        ..common::worker_config()
    }
}

/// Creates a namespace labelled as a livelesson's, directly in the cluster.
pub async fn make_namespace(kube: &kube::Client, instance: &str, livelesson: &str) -> String {
    let name = format!("{instance}-{livelesson}");
    let namespaces: Api<Namespace> = Api::all(kube.clone());
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": name,
            "labels": {
                "antidoteManaged": "yes",
                "antidoteId": instance,
                "liveLesson": livelesson,
            }
        }
    }))
    .expect("namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("create namespace");
    name
}

/// Whether a namespace exists and is not terminating.
pub async fn namespace_alive(kube: &kube::Client, name: &str) -> bool {
    let namespaces: Api<Namespace> = Api::all(kube.clone());
    match namespaces.get_opt(name).await.expect("get namespace") {
        None => false,
        Some(ns) => {
            ns.metadata.deletion_timestamp.is_none()
                && ns.status.and_then(|s| s.phase).as_deref() != Some("Terminating")
        }
    }
}
