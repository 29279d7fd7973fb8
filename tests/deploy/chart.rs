//! The Helm chart (`deploy/helm/antidote-scheduler`) against the kustomize base (`deploy/`):
//! both rendered by the pinned tools (`scripts/deploy-tools.sh`), the chart with its
//! defaults and with every optional part on (`ci/optional-values.yaml`). Where they
//! overlap they render the same objects: kinds, names, RBAC rules, container images,
//! commands, arguments, environment, ports, probes, security contexts and the
//! configuration file; every object the chart renders passes the strict typed check of
//! `deploy/`'s manifests. Without the tools (`bash scripts/deploy-tools.sh` builds them)
//! these tests pass saying they skipped, as the real control plane's tier does, unless
//! `ANTIDOTE_DEPLOY_TOOLS=require` (CI sets it): then they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, PodTemplateSpec, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::Deserialize;
use serde_json::Value;

use super::deploy_tools::{self, chart_dir, kustomize_build, optional_values, root, tools};
use super::{check_object, strict};

/// The release name and namespace the chart is rendered with: those of `deploy/`.
const RELEASE: &str = "antidote-scheduler";
const NAMESPACE: &str = "antidote-system";

/// `helm template` of the chart as `deploy/` would be installed, with `extra` arguments.
fn helm_template(tools: &Path, extra: &[&str]) -> Result<Vec<Value>, String> {
    deploy_tools::helm_template(tools, RELEASE, NAMESPACE, extra)
}

fn chart(tools: &Path, extra: &[&str]) -> Objects {
    Objects::new(
        "chart",
        helm_template(tools, extra).unwrap_or_else(|e| panic!("helm template: {e}")),
    )
}

fn kustomize(tools: &Path) -> Objects {
    Objects::new("kustomize", kustomize_build(tools))
}

/// One render: its objects by (kind, name).
struct Objects {
    source: &'static str,
    by_key: BTreeMap<(String, String), Value>,
}

impl Objects {
    fn new(source: &'static str, docs: Vec<Value>) -> Self {
        let mut by_key = BTreeMap::new();
        for doc in docs {
            let key = (
                doc["kind"].as_str().expect("kind").to_owned(),
                doc["metadata"]["name"].as_str().expect("name").to_owned(),
            );
            assert!(
                by_key.insert(key.clone(), doc).is_none(),
                "{source}: {key:?} twice"
            );
        }
        Self { source, by_key }
    }

    fn keys(&self) -> BTreeSet<(String, String)> {
        self.by_key.keys().cloned().collect()
    }

    fn get<T: serde::de::DeserializeOwned + serde::Serialize>(&self, kind: &str, name: &str) -> T {
        let doc = self
            .by_key
            .get(&(kind.to_owned(), name.to_owned()))
            .unwrap_or_else(|| panic!("{}: no {kind} {name}", self.source));
        strict(self.source, doc)
    }

    /// Every object through `deploy/`'s strict check; the kinds seen.
    fn check_all(&self) -> BTreeSet<String> {
        self.by_key
            .iter()
            .map(|((kind, name), doc)| {
                check_object(&format!("{}: {kind} {name}", self.source), doc)
            })
            .collect()
    }
}

/// A kustomize object's name in the chart: the same, but for the migrate Job, which the
/// chart names after the release as it does everything else.
fn chart_name(kind: &str, name: &str) -> String {
    match (kind, name) {
        ("Job", "antidote-migrate") => format!("{RELEASE}-migrate"),
        _ => name.to_owned(),
    }
}

fn pod(template: &PodTemplateSpec) -> &PodSpec {
    template.spec.as_ref().expect("pod spec")
}

fn labels(template: &PodTemplateSpec) -> BTreeMap<String, String> {
    template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn match_labels(selector: Option<&LabelSelector>) -> BTreeMap<String, String> {
    selector
        .and_then(|s| s.match_labels.clone())
        .unwrap_or_default()
}

/// What two containers must share: image, command, arguments, environment, ports,
/// probes, security context, mounts.
fn assert_same_container(what: &str, chart: &Container, kustomize: &Container) {
    assert_eq!(chart.name, kustomize.name, "{what}: container name");
    assert_eq!(chart.image, kustomize.image, "{what}: image");
    assert_eq!(chart.command, kustomize.command, "{what}: command");
    assert_eq!(chart.args, kustomize.args, "{what}: args");
    assert_eq!(chart.env, kustomize.env, "{what}: env");
    assert_same_serving(what, chart, kustomize);
    assert_eq!(
        chart.security_context, kustomize.security_context,
        "{what}: securityContext"
    );
    assert_eq!(
        chart.volume_mounts, kustomize.volume_mounts,
        "{what}: volumeMounts"
    );
    assert_eq!(chart.resources, kustomize.resources, "{what}: resources");
}

fn assert_same_serving(what: &str, chart: &Container, kustomize: &Container) {
    assert_eq!(chart.ports, kustomize.ports, "{what}: ports");
    assert_eq!(
        chart.liveness_probe, kustomize.liveness_probe,
        "{what}: livenessProbe"
    );
    assert_eq!(
        chart.readiness_probe, kustomize.readiness_probe,
        "{what}: readinessProbe"
    );
}

fn assert_same_pod(what: &str, chart: &PodSpec, kustomize: &PodSpec) {
    assert_eq!(
        chart.security_context, kustomize.security_context,
        "{what}: pod securityContext"
    );
    assert_eq!(
        chart.service_account_name, kustomize.service_account_name,
        "{what}: serviceAccountName"
    );
    assert_eq!(
        chart.termination_grace_period_seconds, kustomize.termination_grace_period_seconds,
        "{what}: terminationGracePeriodSeconds"
    );
    assert_eq!(
        chart.restart_policy, kustomize.restart_policy,
        "{what}: restartPolicy"
    );
    assert_eq!(
        chart.automount_service_account_token, kustomize.automount_service_account_token,
        "{what}: automountServiceAccountToken"
    );
    assert_eq!(
        chart.containers.len(),
        kustomize.containers.len(),
        "{what}: containers"
    );
    for (c, k) in chart.containers.iter().zip(&kustomize.containers) {
        assert_same_container(what, c, k);
    }
}

#[test]
fn chart_renders_what_kustomize_renders_where_they_overlap() {
    let Some(tools) = tools("deploy") else { return };
    let chart = chart(&tools, &[]);
    let kustomize = kustomize(&tools);
    kustomize.check_all();
    chart.check_all();

    // The same kinds and names, but the Namespace and the database Secret, which a
    // release does not own (`helm install --create-namespace`; the Secret made first).
    let expected: BTreeSet<(String, String)> = kustomize
        .keys()
        .into_iter()
        .filter(|(kind, _)| kind != "Namespace" && kind != "Secret")
        .map(|(kind, name)| {
            let name = chart_name(&kind, &name);
            (kind, name)
        })
        .collect();
    assert_eq!(chart.keys(), expected, "chart objects against kustomize's");
    for ((kind, name), doc) in &chart.by_key {
        let namespace = doc["metadata"]["namespace"].as_str();
        let cluster_scoped = kind.starts_with("Cluster");
        let expected = (!cluster_scoped).then_some(NAMESPACE);
        assert_eq!(namespace, expected, "{kind} {name}: namespace");
    }

    // RBAC: the very same rules, bound to the same ServiceAccount.
    let role = |o: &Objects| o.get::<ClusterRole>("ClusterRole", RELEASE).rules;
    assert_eq!(role(&chart), role(&kustomize), "ClusterRole rules");
    let binding = |o: &Objects| {
        let b = o.get::<ClusterRoleBinding>("ClusterRoleBinding", RELEASE);
        (b.role_ref, b.subjects)
    };
    assert_eq!(binding(&chart), binding(&kustomize), "ClusterRoleBinding");

    // The configuration file: the same settings (key order aside).
    let config = |o: &Objects| {
        let map = o.get::<ConfigMap>("ConfigMap", RELEASE);
        let text = map.data.unwrap_or_default()["antidote.yaml"].clone();
        serde_norway::from_str::<Value>(&text).expect("antidote.yaml parses")
    };
    assert_eq!(config(&chart), config(&kustomize), "antidote.yaml");

    // The serving Deployment.
    let deployment = |o: &Objects| o.get::<Deployment>("Deployment", RELEASE);
    let (c, k) = (deployment(&chart), deployment(&kustomize));
    let (cs, ks) = (
        c.spec.as_ref().expect("spec"),
        k.spec.as_ref().expect("spec"),
    );
    assert_eq!(cs.replicas, ks.replicas, "replicas");
    assert_eq!(cs.strategy, ks.strategy, "strategy");
    assert_same_pod("Deployment", pod(&cs.template), pod(&ks.template));
    let volumes = |s: &PodSpec| {
        s.volumes
            .iter()
            .flatten()
            .map(|v| {
                (
                    v.name.clone(),
                    v.config_map.as_ref().map(|c| c.name.clone()),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        volumes(pod(&cs.template)),
        volumes(pod(&ks.template)),
        "volumes"
    );

    // The migrate Job.
    let job = |o: &Objects, name: &str| o.get::<Job>("Job", name);
    let (cj, kj) = (
        job(&chart, &format!("{RELEASE}-migrate")),
        job(&kustomize, "antidote-migrate"),
    );
    let (cjs, kjs) = (
        cj.spec.as_ref().expect("spec"),
        kj.spec.as_ref().expect("spec"),
    );
    assert_eq!(cjs.backoff_limit, kjs.backoff_limit, "Job backoffLimit");
    assert_same_pod("Job", pod(&cjs.template), pod(&kjs.template));

    // The Service: same ports and type, selecting the serving pods and not the Job's.
    let service = |o: &Objects| o.get::<Service>("Service", RELEASE);
    let (csv, ksv) = (service(&chart), service(&kustomize));
    let spec = |s: &Service| {
        let spec = s.spec.clone().expect("spec");
        (spec.type_, spec.ports)
    };
    assert_eq!(spec(&csv), spec(&ksv), "Service type and ports");
    for (o, service, deployment, job) in [(&chart, &csv, &c, &cj), (&kustomize, &ksv, &k, &kj)] {
        let selector = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        let deployment = deployment.spec.as_ref().expect("spec");
        let job = job.spec.as_ref().expect("spec");
        assert!(
            selects(&selector, &labels(&deployment.template)),
            "{}: the Service selects the serving pods",
            o.source
        );
        assert!(
            !selects(&selector, &labels(&job.template)),
            "{}: the Service does not select the migrate Job's pod",
            o.source
        );
        let pdb = o.get::<PodDisruptionBudget>("PodDisruptionBudget", RELEASE);
        let pdb = pdb.spec.expect("spec");
        assert!(
            selects(
                &match_labels(pdb.selector.as_ref()),
                &labels(&deployment.template)
            ),
            "{}: the PDB covers the serving pods",
            o.source
        );
        assert!(
            !selects(&match_labels(pdb.selector.as_ref()), &labels(&job.template)),
            "{}: the PDB leaves the migrate Job's pod alone",
            o.source
        );
    }
    let min_available = |o: &Objects| {
        o.get::<PodDisruptionBudget>("PodDisruptionBudget", RELEASE)
            .spec
            .and_then(|s| s.min_available)
    };
    assert_eq!(
        min_available(&chart),
        min_available(&kustomize),
        "minAvailable"
    );
}

#[test]
fn chart_with_every_optional_part_renders_checked_objects() {
    let Some(tools) = tools("deploy") else { return };
    let values = optional_values();
    let chart = chart(&tools, &["--values", &values]);
    let kinds = chart.check_all();
    for wanted in [
        "NetworkPolicy",
        "ServiceMonitor",
        "Job",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.contains(wanted), "the optional render has a {wanted}");
    }
    let kustomize = kustomize(&tools);
    let reference = kustomize.get::<Deployment>("Deployment", RELEASE);
    let reference = &pod(&reference.spec.as_ref().expect("spec").template).containers[0];

    let deployment = |name: &str| chart.get::<Deployment>("Deployment", name);
    let serve = deployment(RELEASE);
    let api = deployment(&format!("{RELEASE}-api"));
    let worker = deployment(&format!("{RELEASE}-worker"));
    let service = chart.get::<Service>("Service", RELEASE);
    let selector = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    for (role, deployment, replicas) in [
        ("serve", &serve, 2),
        ("api", &api, 3),
        ("worker", &worker, 4),
    ] {
        let spec = deployment.spec.as_ref().expect("spec");
        assert_eq!(
            spec.replicas,
            Some(replicas),
            "{role}: replicas from values"
        );
        let pod = pod(&spec.template);
        let container = &pod.containers[0];
        assert_eq!(
            container.args.as_deref(),
            Some(
                &[
                    role.to_owned(),
                    "--config".into(),
                    "/etc/antidote/antidote.yaml".into()
                ][..]
            ),
            "{role}: args"
        );
        assert_eq!(
            container.image.as_deref(),
            Some(
                "ghcr.io/antidote-scheduler/antidote-scheduler@sha256:\
                 0000000000000000000000000000000000000000000000000000000000000000"
            ),
            "{role}: the image by digest"
        );
        let names: Vec<&str> = container
            .env
            .iter()
            .flatten()
            .map(|e| e.name.as_str())
            .collect();
        assert!(
            names.contains(&"OTEL_EXPORTER_OTLP_ENDPOINT"),
            "{role}: extraEnv"
        );
        assert_eq!(
            names.contains(&"ANTIDOTE_ADMIN_TOKEN"),
            role != "worker",
            "{role}: the admin token where the API runs"
        );
        let serving = selects(&selector, &labels(&spec.template));
        assert_eq!(serving, role != "worker", "{role}: selected by the Service");
        // Only the API alone goes without the ServiceAccount's token.
        assert_eq!(
            pod.automount_service_account_token,
            (role == "api").then_some(false),
            "{role}: automountServiceAccountToken"
        );
        // The kustomize base's ports and probes, the API on the configured port: the
        // worker's port answers the same probes (and /metrics), though no Service selects
        // it, and the worker runs no terminal gateway.
        let mut expected = reference.clone();
        if let Some(ports) = expected.ports.as_mut() {
            ports.retain(|p| role != "worker" || p.name.as_deref() != Some("terminals"));
            for port in ports.iter_mut() {
                if port.name.as_deref() == Some("http") {
                    port.container_port = 9000;
                }
            }
        }
        assert_same_serving(role, container, &expected);
        let pdb = chart.get::<PodDisruptionBudget>(
            "PodDisruptionBudget",
            &deployment.metadata.name.clone().expect("name"),
        );
        let pdb_selector = match_labels(pdb.spec.expect("spec").selector.as_ref());
        assert!(
            selects(&pdb_selector, &labels(&spec.template)),
            "{role}: its PDB"
        );
        for other in [&serve, &api, &worker] {
            if other.metadata.name != deployment.metadata.name {
                let other = &other.spec.as_ref().expect("spec").template;
                assert!(
                    !selects(&pdb_selector, &labels(other)),
                    "{role}: its PDB selects no other role's pods"
                );
            }
        }
    }
    let job = chart.get::<Job>("Job", &format!("{RELEASE}-migrate"));
    let job = job.spec.expect("spec");
    let env = pod(&job.template).containers[0]
        .env
        .clone()
        .unwrap_or_default();
    assert!(
        env.iter()
            .any(|e| e.name == "ANTIDOTE_ENGINE_SCHEMA" && e.value.as_deref() == Some("jobs")),
        "the migrate Job migrates the configured engineSchema"
    );
    assert!(!selects(&selector, &labels(&job.template)));
}

#[test]
fn chart_refuses_secrets_in_values_and_a_release_without_workers() {
    let Some(tools) = tools("deploy") else { return };
    for (why, args) in [
        (
            "a database URL in the configuration",
            &["--set", "config.databaseUrl=postgres://u:p@db/antidote"][..],
        ),
        (
            "an admin token in the configuration",
            &["--set", "config.adminToken=secret"][..],
        ),
        ("a misspelt key", &["--set", "serve.replica=3"][..]),
        (
            "a configuration key the scheduler does not know",
            &["--set", "config.htpPort=80"][..],
        ),
        (
            "no workers",
            &["--set", "serve.enabled=false", "--set", "api.enabled=true"][..],
        ),
    ] {
        assert!(
            helm_template(&tools, args).is_err(),
            "the chart renders with {why}"
        );
    }
}

/// Chart.yaml's appVersion is the crate's version, the kustomize base's image tag too,
/// and the values schema knows exactly the configuration file's top-level keys. Needs no
/// tools.
#[test]
fn chart_versions_and_schema_follow_the_application() {
    let version = env!("CARGO_PKG_VERSION");
    let chart_yaml: Value = serde_norway::from_str(
        &std::fs::read_to_string(chart_dir().join("Chart.yaml")).expect("Chart.yaml"),
    )
    .expect("Chart.yaml parses");
    assert_eq!(chart_yaml["appVersion"], version, "Chart.yaml appVersion");
    let kustomization: Value = serde_norway::from_str(
        &std::fs::read_to_string(root().join("deploy/kustomization.yaml")).expect("read"),
    )
    .expect("kustomization parses");
    assert_eq!(
        kustomization["images"][0]["newTag"], version,
        "deploy/kustomization.yaml image tag"
    );

    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(chart_dir().join("values.schema.json")).expect("schema"),
    )
    .expect("values.schema.json parses");
    let config = &schema["properties"]["config"];
    assert_eq!(config["additionalProperties"], false);
    let in_schema: BTreeSet<String> = config["properties"]
        .as_object()
        .expect("config properties")
        .keys()
        .cloned()
        .collect();
    let defaults = serde_json::to_value(antidote_scheduler::config::Config::default())
        .expect("the configuration serializes");
    let in_config: BTreeSet<String> = defaults
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        in_schema, in_config,
        "values.schema.json's config keys against src/config"
    );
    // Secrets never go through values: the schema refuses them in the configuration.
    for secret in ["databaseUrl", "adminToken"] {
        assert_eq!(config["properties"][secret]["not"], serde_json::json!({}));
    }

    // The defaults of values.yaml pass the same schema's shape: the configuration they
    // carry loads as the scheduler loads it.
    let values: Value = serde_norway::from_str(
        &std::fs::read_to_string(chart_dir().join("values.yaml")).expect("values.yaml"),
    )
    .expect("values.yaml parses");
    let map: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "values"},
        "data": {"antidote.yaml": serde_norway::to_string(&values["config"]).expect("yaml")},
    }))
    .expect("a ConfigMap");
    super::check_config_map("values.yaml", &map);
}

/// Prometheus Operator's ServiceMonitor, the fields the chart uses; anything else is
/// refused (k8s-openapi has no type for it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitor {
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: Value,
    spec: ServiceMonitorSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitorSpec {
    selector: Value,
    namespace_selector: Option<NamespaceSelector>,
    endpoints: Vec<ServiceMonitorEndpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NamespaceSelector {
    match_names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitorEndpoint {
    port: String,
    path: String,
    interval: Option<String>,
    scrape_timeout: Option<String>,
}

/// A ServiceMonitor scraping `/metrics` on the `http` port, with a valid metadata and
/// label selector.
pub fn check_service_monitor(file: &str, doc: &Value) {
    let monitor: ServiceMonitor = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{file}: not a ServiceMonitor as the chart writes it: {e}"));
    assert_eq!(monitor.api_version, "monitoring.coreos.com/v1", "{file}");
    let _: ObjectMeta = strict(file, &monitor.metadata);
    let _: LabelSelector = strict(file, &monitor.spec.selector);
    assert!(
        monitor
            .spec
            .namespace_selector
            .is_some_and(|n| !n.match_names.is_empty())
    );
    for endpoint in &monitor.spec.endpoints {
        assert_eq!(
            (endpoint.port.as_str(), endpoint.path.as_str()),
            ("http", "/metrics")
        );
        assert!(endpoint.interval.is_some() && endpoint.scrape_timeout.is_some());
    }
}
