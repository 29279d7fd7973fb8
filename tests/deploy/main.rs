//! Deployment manifests: every document under `deploy/` is a valid Kubernetes object with
//! no field the typed API would drop, and the ClusterRole grants exactly what the backend
//! used while CREATE, MODIFY and DELETE ran against kubesim. The Helm chart renders the
//! same objects where the two overlap, each as strictly checked ([`chart`]).

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod chart;
#[path = "../support/deploy_tools.rs"]
mod deploy_tools;
#[allow(dead_code)]
#[path = "../lifecycle/helpers.rs"]
mod helpers;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use antidote_scheduler::queue::{NewJob, WorkerEvent};
use antidote_scheduler::workflow::{self, CREATE, DELETE, MODIFY, request};
use deploy_tools::yaml_documents;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PodSpec, Probe, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kubesim::Behaviour;
use serde_json::Value;
use sqlx::PgPool;

use helpers::{Lab, finished, start, worker_config};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Every YAML document of every manifest (kustomization.yaml aside), with its file.
fn documents() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .expect("deploy/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let name = file
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        for value in yaml_documents(&name, &text) {
            docs.push((name.clone(), value));
        }
    }
    docs
}

/// Deserializes `value` as `T` and checks that re-serializing keeps every field: the
/// k8s-openapi types ignore unknown fields, so a misspelt key would vanish silently.
fn strict<T>(file: &str, value: &Value) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let typed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{file}: {} does not parse: {e}", value["kind"]));
    let back = serde_json::to_value(&typed).expect("serializes");
    let mut dropped = Vec::new();
    missing_fields(value, &back, "", &mut dropped);
    assert!(
        dropped.is_empty(),
        "{file}: {} has fields the API does not know (or wrong types): {dropped:?}",
        value["kind"]
    );
    typed
}

fn missing_fields(original: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (original, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => missing_fields(value, other, &here, out),
                    None => out.push(here),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                missing_fields(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {a} became {b}")),
    }
}

#[test]
fn every_manifest_is_a_known_kubernetes_object_without_unknown_fields() {
    let docs = documents();
    let mut kinds = BTreeSet::new();
    for (file, doc) in &docs {
        kinds.insert(check_object(file, doc));
    }
    for wanted in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Job",
        "Service",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.contains(wanted), "deploy/ has a {wanted}");
    }

    // The kustomization lists every manifest, and only existing ones.
    let kustomization: Value = serde_norway::from_str(
        &std::fs::read_to_string(deploy_dir().join("kustomization.yaml")).expect("read"),
    )
    .expect("kustomization parses");
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("path").to_owned())
        .collect();
    let files: BTreeSet<String> = docs.iter().map(|(f, _)| f.clone()).collect();
    assert_eq!(listed, files, "kustomization resources and deploy/ files");
}

/// Checks one object strictly as its kind's type ([`strict`]) and what each kind must hold;
/// returns its kind. Shared by `deploy/` and the chart's renders.
fn check_object(file: &str, doc: &Value) -> String {
    let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
    match kind.as_str() {
        "Namespace" => drop(strict::<Namespace>(file, doc)),
        "ServiceAccount" => drop(strict::<ServiceAccount>(file, doc)),
        "ClusterRole" => drop(strict::<ClusterRole>(file, doc)),
        "ClusterRoleBinding" => drop(strict::<ClusterRoleBinding>(file, doc)),
        "ConfigMap" => check_config_map(file, &strict::<ConfigMap>(file, doc)),
        "Secret" => drop(strict::<Secret>(file, doc)),
        "Deployment" => check_deployment(&strict::<Deployment>(file, doc)),
        "Job" => {
            let job = strict::<Job>(file, doc);
            let spec = job.spec.as_ref().and_then(|s| s.template.spec.as_ref());
            check_pod(spec.expect("the Job's pod spec"));
        }
        "Service" => drop(strict::<Service>(file, doc)),
        "PodDisruptionBudget" => drop(strict::<PodDisruptionBudget>(file, doc)),
        "NetworkPolicy" => drop(strict::<NetworkPolicy>(file, doc)),
        "ServiceMonitor" => chart::check_service_monitor(file, doc),
        other => panic!("{file}: unexpected kind {other:?}"),
    }
    kind
}

/// The embedded configuration file must load as the app loads it.
fn check_config_map(file: &str, map: &ConfigMap) {
    let data = map.data.clone().unwrap_or_default();
    let config = data.get("antidote.yaml").expect("antidote.yaml key");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("antidote.yaml");
    std::fs::write(&path, config).expect("write");
    antidote_scheduler::config::Config::load(Some(&path), |_| None)
        .unwrap_or_else(|e| panic!("{file}: the configuration is invalid: {e}"));
}

/// A Deployment of `antidoted serve`, `api` or `worker`: replicas, probes where it serves
/// HTTP (a worker serves none), and what every pod must hold ([`check_pod`]).
fn check_deployment(deployment: &Deployment) {
    let spec = deployment.spec.as_ref().expect("spec");
    assert!(spec.replicas.unwrap_or(1) >= 2, "at least two replicas");
    let pod = spec.template.spec.as_ref().expect("pod spec");
    check_pod(pod);
    let container = &pod.containers[0];
    let role = container.args.as_deref().map(|a| a[0].as_str());
    let probe_path = |probe: &Option<Probe>| {
        probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    // Every role listens: the API's roles for requests and probes, `antidoted worker` for
    // its probes and /metrics only.
    assert!(
        matches!(role, Some("serve" | "api" | "worker")),
        "a Deployment runs serve, api or worker, not {role:?}"
    );
    assert_eq!(
        probe_path(&container.liveness_probe).as_deref(),
        Some("/healthz")
    );
    assert_eq!(
        probe_path(&container.readiness_probe).as_deref(),
        Some("/readyz")
    );
}

/// Every pod: non-root with the runtime's seccomp profile, each container read-only,
/// without privilege escalation or capabilities, with requests and limits, and the
/// database URL from a Secret.
fn check_pod(pod: &PodSpec) {
    let pod_security = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(
        pod_security
            .seccomp_profile
            .as_ref()
            .map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );
    for container in &pod.containers {
        let security = container
            .security_context
            .as_ref()
            .expect("securityContext");
        assert_eq!(security.read_only_root_filesystem, Some(true));
        assert_eq!(security.allow_privilege_escalation, Some(false));
        assert_eq!(security.run_as_non_root, Some(true));
        assert_eq!(
            security.capabilities.as_ref().and_then(|c| c.drop.clone()),
            Some(vec!["ALL".to_owned()])
        );
        let resources = container.resources.as_ref().expect("resources");
        assert!(resources.requests.is_some() && resources.limits.is_some());
        let database = container
            .env
            .as_ref()
            .and_then(|env| env.iter().find(|e| e.name == "DATABASE_URL"))
            .expect("DATABASE_URL");
        assert!(
            database
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .is_some(),
            "DATABASE_URL comes from a Secret"
        );
    }
}

/// (verb, apiGroup, resource) granted by the ClusterRole.
fn granted() -> BTreeSet<(String, String, String)> {
    let role = documents()
        .into_iter()
        .find(|(_, d)| d["kind"] == "ClusterRole")
        .map(|(file, d)| strict::<ClusterRole>(&file, &d))
        .expect("a ClusterRole");
    let mut grants = BTreeSet::new();
    for rule in role.rules.unwrap_or_default() {
        assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());
        for group in rule.api_groups.unwrap_or_default() {
            for resource in rule.resources.clone().unwrap_or_default() {
                for verb in &rule.verbs {
                    for part in [&group, &resource, verb] {
                        assert!(!part.contains('*'), "no wildcards: {part}");
                    }
                    grants.insert((verb.clone(), group.clone(), resource.clone()));
                }
            }
        }
    }
    grants
}

/// CREATE of every example lesson, a stage change, a DELETE: every path of the backend.
async fn run_workflows(lab: &Lab) {
    let worker = lab.worker(worker_config());
    let mut events = worker.subscribe();
    let (stop, handle) = start(worker);
    let session = lab.session().await;
    let mut ids = Vec::new();
    for lesson in [
        "linux-first-steps",
        "router-configuration",
        "web-automation",
        "notebook-automation",
    ] {
        ids.push((lesson, lab.request(&session, lesson, 0).await.id));
    }
    let mut creates = Vec::new();
    for (_, id) in &ids {
        creates.push(lab.job(CREATE, id).await);
    }
    // Collected together: waiting for one job at a time would drop the others' events.
    let outcomes = helpers::all_finished(&mut events, &creates, Duration::from_secs(90)).await;
    for ((lesson, _), job) in ids.iter().zip(&creates) {
        assert_eq!(
            outcomes.get(job),
            Some(&WorkerEvent::Completed(*job)),
            "{lesson}: {}",
            helpers::trail(&lab.pool, *job).await
        );
    }
    // Each CREATE again from scratch (a new job, no checkpoints), as after a crash between
    // a side effect and its checkpoint: every create meets AlreadyExists and reads the
    // object back to check its labels.
    let mut replays = Vec::new();
    for (_, id) in &ids {
        let job = NewJob::new(CREATE, serde_json::json!({ "livelesson": id, "stage": 0 }))
            .with_serial_key(workflow::serial_key(id));
        replays.push(lab.queue.enqueue(&job).await.expect("enqueue").id);
    }
    let outcomes = helpers::all_finished(&mut events, &replays, Duration::from_secs(90)).await;
    for job in &replays {
        assert_eq!(outcomes.get(job), Some(&WorkerEvent::Completed(*job)));
    }

    // A configuration job started twice (a crash between creating it and the checkpoint):
    // the second create meets AlreadyExists and reads the job back.
    let row = lab
        .livelesson(&ids[1].1)
        .await
        .expect("router-configuration");
    helpers::start_config_jobs_again(&lab.pool, &lab.backend, &row)
        .await
        .expect("an existing job of ours counts as started");

    // A crashing pod: its failure is recorded with its logs.
    lab.sim
        .knobs()
        .set_image_behaviour("*utility*", Behaviour::CrashLoop);
    let crashing = lab
        .request(&lab.session().await, "linux-first-steps", 0)
        .await
        .id;
    let job = lab.job(CREATE, &crashing).await;
    assert_eq!(
        finished(&mut events, job, Duration::from_secs(40)).await,
        WorkerEvent::Failed(job)
    );
    lab.sim.knobs().clear_behaviours();
    ids.push(("linux-first-steps (crashed)", crashing));

    let (_, router) = &ids[1];
    lab.request(&session, "router-configuration", 1).await;
    let modify = lab.job(MODIFY, router).await;
    assert_eq!(
        finished(&mut events, modify, Duration::from_secs(60)).await,
        WorkerEvent::Completed(modify)
    );
    let mut deletes = Vec::new();
    for (_, id) in &ids {
        request::kill(&lab.pool, &lab.queue, id)
            .await
            .expect("kill");
        deletes.push(lab.job(DELETE, id).await);
    }
    let outcomes = helpers::all_finished(&mut events, &deletes, Duration::from_secs(60)).await;
    for job in &deletes {
        assert_eq!(outcomes.get(job), Some(&WorkerEvent::Completed(*job)));
    }
    let _ = stop.send(());
    handle.await.expect("worker");
}

#[sqlx::test]
async fn cluster_role_grants_exactly_what_the_backend_uses(pool: PgPool) {
    let lab = Lab::start(pool).await;
    run_workflows(&lab).await;
    let seen = lab.sim.requests().seen;
    let granted = granted();
    let missing: Vec<_> = seen.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "the ClusterRole lacks {missing:?} (seen: {seen:?})"
    );
    let unused: Vec<_> = granted.difference(&seen).collect();
    assert!(
        unused.is_empty(),
        "the ClusterRole grants more than the backend uses: {unused:?} (seen: {seen:?})"
    );
}
