//! The deployment manifests applied to the real control plane, and the scheduler run from
//! them as its pods run:
//!
//! - the Helm chart (its defaults, and `ci/optional-values.yaml`) and the kustomize base
//!   (`deploy/`), rendered by the pinned helm and kustomize, are accepted by a server-side
//!   dry run with strict field validation and then applied for real, and the pods of
//!   their Deployments and Jobs pass admission (Pod Security `restricted` included);
//! - `antidoted serve`, started as the chart's Deployment runs it (its arguments, its
//!   environment from the applied Secret, the applied ConfigMap at its mount path) with
//!   in-cluster configuration only ([`crate::incluster`]: the chart's ServiceAccount
//!   token in a mount namespace of the process's own), takes every example lesson to
//!   READY and deletes it over its HTTP API, and the audit log shows no Forbidden;
//! - a rolling restart of two `antidoted worker` pods (the chart's `api` + `worker`
//!   split), each SIGTERMed while it holds every CREATE mid-provisioning, loses nothing:
//!   every job is handed back, resumed by the next worker at the step it stopped in, and
//!   completes; every livelesson reaches READY with exactly the objects it should have.
//!
//! helm and kustomize are found as `tests/deploy/chart.rs` finds them; without them these
//! tests pass saying they skipped, unless `ANTIDOTE_DEPLOY_TOOLS=require` or
//! `ANTIDOTE_REAL_CONTROL_PLANE=require`: then their absence is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use antidote_scheduler::backend::kubernetes::resources::nad_api_resource;
use antidote_scheduler::backend::kubernetes::resources::objects::{Object, livelesson_objects};
use antidote_scheduler::backend::{Livelesson, Settings};
use antidote_scheduler::curriculum::{self, Curriculum, Options, names};
use antidote_scheduler::queue::JobId;
use antidote_scheduler::workflow::{CREATE, DELETE};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, Pod as KubePod, PodTemplateSpec, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::Scope;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::database_url;
use crate::incluster::{Container, Pod};
use crate::lab::{self, Lab, SCHEDULER_ACCOUNT, SCHEDULER_NAMESPACE};

/// deploy/'s release name and namespace: the chart installed where deploy/ installs, so
/// that its ServiceAccount is the scheduler identity the lab expects.
const RELEASE: &str = SCHEDULER_ACCOUNT;
const NAMESPACE: &str = SCHEDULER_NAMESPACE;
/// The field manager of every server-side apply here.
const FIELD_MANAGER: &str = "antidote-install-test";
/// The example curriculum's lessons.
const LESSONS: [&str; 4] = [
    "linux-first-steps",
    "router-configuration",
    "web-automation",
    "notebook-automation",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---- Rendering ---------------------------------------------------------------------

/// The pinned helm and kustomize (`scripts/deploy-tools.sh`), found as
/// `tests/deploy/chart.rs` finds them; `None` after saying why when they are not built,
/// unless `ANTIDOTE_DEPLOY_TOOLS=require` or `ANTIDOTE_REAL_CONTROL_PLANE=require` (a
/// missing tool then fails the test).
fn tools(test: &str) -> Option<PathBuf> {
    let out = Command::new("bash")
        .arg(root().join("scripts/deploy-tools.sh"))
        .arg("bin-dir")
        .output()
        .expect("runs scripts/deploy-tools.sh");
    assert!(out.status.success(), "deploy-tools.sh bin-dir: {out:?}");
    let dir = PathBuf::from(String::from_utf8(out.stdout).expect("UTF-8").trim());
    // The stamp is written last, after both binaries were built at the pinned versions.
    if dir.join(".complete").is_file() {
        return Some(dir);
    }
    let message = format!(
        "{test}: skipped: no helm and kustomize in {} (build them with `bash \
         scripts/deploy-tools.sh`)",
        dir.display()
    );
    for var in ["ANTIDOTE_DEPLOY_TOOLS", "ANTIDOTE_REAL_CONTROL_PLANE"] {
        assert!(
            std::env::var(var).as_deref() != Ok("require"),
            "{message}, and {var}=require"
        );
    }
    eprintln!("{message}");
    None
}

/// Runs a tool to its end; its stdout.
fn run_tool(program: &Path, args: &[&str]) -> String {
    // helm keeps no state for `template`, but give it a home of its own anyway.
    let home = tempfile::tempdir().expect("tempdir");
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The non-empty documents of a YAML stream.
fn yaml_documents(source: &str, text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| {
            Value::deserialize(doc).unwrap_or_else(|e| panic!("{source}: not YAML for JSON: {e}"))
        })
        .filter(|value| !value.is_null())
        .collect()
}

/// `helm template RELEASE chart --namespace NAMESPACE extra...`.
fn helm_template(tools: &Path, release: &str, namespace: &str, extra: &[&str]) -> Vec<Value> {
    let chart = root().join("deploy/helm/antidote-scheduler");
    let chart = chart.to_str().expect("UTF-8 path");
    let mut args = vec!["template", release, chart, "--namespace", namespace];
    args.extend_from_slice(extra);
    yaml_documents("helm template", &run_tool(&tools.join("helm"), &args))
}

/// `kustomize build deploy/`.
fn kustomize_build(tools: &Path) -> Vec<Value> {
    let deploy = root().join("deploy");
    let text = run_tool(
        &tools.join("kustomize"),
        &["build", deploy.to_str().expect("UTF-8 path")],
    );
    yaml_documents("kustomize build", &text)
}

fn optional_values() -> String {
    root()
        .join("deploy/helm/antidote-scheduler/ci/optional-values.yaml")
        .to_str()
        .expect("UTF-8 path")
        .to_owned()
}

fn text<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `Kind namespace/name`, for messages.
fn describe(doc: &Value) -> String {
    let namespace = text(doc, "/metadata/namespace");
    let name = text(doc, "/metadata/name");
    if namespace.is_empty() {
        format!("{} {name}", text(doc, "/kind"))
    } else {
        format!("{} {namespace}/{name}", text(doc, "/kind"))
    }
}

/// The pod template of the Deployment or Job `name` of a render.
fn template(render: &[Value], kind: &str, name: &str) -> PodTemplateSpec {
    let doc = render
        .iter()
        .find(|d| text(d, "/kind") == kind && text(d, "/metadata/name") == name)
        .unwrap_or_else(|| panic!("the render has no {kind} {name}"))
        .clone();
    match kind {
        "Deployment" => {
            let deployment: Deployment = serde_json::from_value(doc).expect("a Deployment");
            deployment.spec.expect("spec").template
        }
        "Job" => {
            let job: Job = serde_json::from_value(doc).expect("a Job");
            job.spec.expect("spec").template
        }
        other => panic!("{other} has no pod template"),
    }
}

// ---- Applying ----------------------------------------------------------------------

/// Server-side apply of rendered objects, each kind resolved through discovery, as
/// `kubectl apply --server-side --validate=strict` does it.
struct Applier {
    client: Client,
    /// (apiVersion, kind) → the resource and whether it is namespaced.
    kinds: BTreeMap<(String, String), (ApiResource, bool)>,
}

impl Applier {
    fn new(client: Client) -> Self {
        Self {
            client,
            kinds: BTreeMap::new(),
        }
    }

    /// The resource serving `doc`'s kind; `None` when the server has no such kind.
    async fn resource(&mut self, doc: &Value) -> Option<(ApiResource, bool)> {
        let (api_version, kind) = (text(doc, "/apiVersion"), text(doc, "/kind"));
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(known) = self.kinds.get(&key) {
            return Some(known.clone());
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok((resource, capabilities)) => {
                let found = (resource, capabilities.scope == Scope::Namespaced);
                self.kinds.insert(key, found.clone());
                Some(found)
            }
            Err(kube::Error::Discovery(_)) => None,
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(other) => panic!("discovery of {api_version} {kind}: {other}"),
        }
    }

    /// Applies `doc` (a dry run with `dry_run`), with strict field validation; the
    /// server's refusal as text.
    async fn apply(&mut self, doc: &Value, dry_run: bool) -> Result<(), String> {
        let (resource, namespaced) = self
            .resource(doc)
            .await
            .ok_or_else(|| "the server does not serve this kind".to_owned())?;
        let namespace = text(doc, "/metadata/namespace");
        let api: Api<DynamicObject> = if namespaced {
            if namespace.is_empty() {
                return Err("a namespaced object without a namespace".into());
            }
            Api::namespaced_with(self.client.clone(), namespace, &resource)
        } else {
            Api::all_with(self.client.clone(), &resource)
        };
        let mut params = PatchParams::apply(FIELD_MANAGER).validation_strict();
        if dry_run {
            params = params.dry_run();
        }
        match api
            .patch(text(doc, "/metadata/name"), &params, &Patch::Apply(doc))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) => Err(format!(
                "{} {}: {}",
                status.code, status.reason, status.message
            )),
            Err(other) => Err(other.to_string()),
        }
    }

    /// Applies every object of a render: first a server-side dry run of each, then for
    /// real, in helm's install order; every refusal, `Kind namespace/name: answer`.
    ///
    /// A dry run in a namespace that does not exist yet is refused (NotFound), as
    /// `kubectl apply --dry-run=server` is: the render's own Namespaces are dry-run first
    /// and then created for real, before the namespaced objects' dry run.
    async fn install(&mut self, render: &[Value]) -> Vec<String> {
        let mut refused = Vec::new();
        let mut namespaced = Vec::new();
        for doc in render {
            let Some((_, scoped)) = self.resource(doc).await else {
                refused.push(format!("{}: the server does not serve it", describe(doc)));
                continue;
            };
            if scoped {
                namespaced.push(doc);
            } else if let Err(answer) = self.apply(doc, true).await {
                refused.push(format!("{} (dry run): {answer}", describe(doc)));
            }
        }
        for doc in render.iter().filter(|d| text(d, "/kind") == "Namespace") {
            if let Err(answer) = self.apply(doc, false).await {
                refused.push(format!("{}: {answer}", describe(doc)));
            }
        }
        for doc in &namespaced {
            if let Err(answer) = self.apply(doc, true).await {
                refused.push(format!("{} (dry run): {answer}", describe(doc)));
            }
        }
        if !refused.is_empty() {
            return refused;
        }
        // Every pod needs its namespace's `default` ServiceAccount, which the service
        // account controller makes once the namespace exists.
        let namespaces: BTreeSet<&str> = namespaced
            .iter()
            .map(|d| text(d, "/metadata/namespace"))
            .collect();
        for namespace in namespaces {
            wait_for_default_account(&self.client, namespace).await;
        }
        let mut ordered: Vec<&Value> = render.iter().collect();
        ordered.sort_by_key(|d| install_order(text(d, "/kind")));
        for doc in ordered {
            if let Err(answer) = self.apply(doc, false).await {
                refused.push(format!("{}: {answer}", describe(doc)));
            }
        }
        refused
    }
}

/// helm's install order of the kinds the manifests hold (unknown kinds last, as helm
/// puts them).
fn install_order(kind: &str) -> usize {
    [
        "Namespace",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "ConfigMap",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "Deployment",
        "Job",
    ]
    .iter()
    .position(|k| *k == kind)
    .unwrap_or(usize::MAX)
}

async fn wait_for_default_account(client: &Client, namespace: &str) {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(accounts, "default", |a: Option<&ServiceAccount>| {
            a.is_some()
        }),
    )
    .await
    .unwrap_or_else(|_| panic!("no default ServiceAccount in {namespace} within 30 s"))
    .expect("watching ServiceAccounts");
}

/// A namespace for a release, made as the chart's README has the operator make it (step
/// 2 of its install), with the Pod Security label `deploy/namespace.yaml` gives its own:
/// the scheduler's pods run `restricted`.
async fn create_release_namespace(admin: &Client, name: &str) {
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {
        "name": name,
        "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
    }}))
    .expect("namespace");
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("namespace {name}: {e}"));
}

/// Prometheus Operator's ServiceMonitor CRD, reduced to the fields the chart writes
/// (typed, and with the duration pattern, as `monitoring.coreos.com_servicemonitors.yaml`
/// of prometheus-operator types them). Without `x-kubernetes-preserve-unknown-fields`, so
/// that strict field validation refuses any other field: a field the real CRD has and
/// this one lacks would be refused too, never silently accepted.
async fn install_service_monitor_crd(admin: &Client) {
    const NAME: &str = "servicemonitors.monitoring.coreos.com";
    let duration = json!({
        "type": "string",
        "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
    });
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": NAME},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {
                "kind": "ServiceMonitor",
                "listKind": "ServiceMonitorList",
                "plural": "servicemonitors",
                "singular": "servicemonitor",
            },
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": {
                            "type": "object",
                            "required": ["selector"],
                            "properties": {
                                "selector": {
                                    "type": "object",
                                    "x-kubernetes-map-type": "atomic",
                                    "properties": {
                                        "matchLabels": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                        "matchExpressions": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "required": ["key", "operator"],
                                                "properties": {
                                                    "key": {"type": "string"},
                                                    "operator": {"type": "string"},
                                                    "values": strings,
                                                },
                                            },
                                        },
                                    },
                                },
                                "namespaceSelector": {
                                    "type": "object",
                                    "properties": {
                                        "any": {"type": "boolean"},
                                        "matchNames": strings,
                                    },
                                },
                                "endpoints": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "port": {"type": "string"},
                                            "path": {"type": "string"},
                                            "interval": duration,
                                            "scrapeTimeout": duration,
                                        },
                                    },
                                },
                            },
                        },
                    },
                }},
            }],
        },
    }))
    .expect("CRD");
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("ServiceMonitor CRD created");
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(crds, NAME, conditions::is_crd_established()),
    )
    .await
    .expect("ServiceMonitor CRD established in time")
    .expect("watching the CRD");
}

/// Dry-run creates the pod a ReplicaSet of the Deployment would create from `template`
/// (no deployment controller runs here): admission must take it: Pod Security
/// `restricted`, its ServiceAccount, its PriorityClass.
async fn dry_run_pod(
    admin: &Client,
    namespace: &str,
    name: &str,
    template: &PodTemplateSpec,
) -> Result<(), String> {
    let mut metadata = template.metadata.clone().unwrap_or_default();
    metadata.name = Some(format!("{name}-dry-run"));
    metadata.namespace = Some(namespace.to_owned());
    let pod = KubePod {
        metadata,
        spec: template.spec.clone(),
        status: None,
    };
    let params = PostParams {
        dry_run: true,
        field_manager: None,
    };
    Api::<KubePod>::namespaced(admin.clone(), namespace)
        .create(&params, &pod)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Waits until the real job controller has created the pod of Job `name` (admission,
/// Pod Security `restricted` included, took it); panics with the Job's events if not.
async fn wait_for_job_pod(admin: &Client, namespace: &str, name: &str) {
    let pods: Api<KubePod> = Api::namespaced(admin.clone(), namespace);
    let selector = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={name}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if pods
            .list(&selector)
            .await
            .is_ok_and(|list| !list.items.is_empty())
        {
            return;
        }
        if Instant::now() > deadline {
            let events = Api::<Event>::namespaced(admin.clone(), namespace)
                .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
                .await
                .map(|list| {
                    list.items
                        .into_iter()
                        .map(|e| {
                            format!(
                                "{}: {}",
                                e.reason.unwrap_or_default(),
                                e.message.unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            panic!("Job {namespace}/{name}: no pod within 60 s; events: {events:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn real_control_plane_install_chart_and_kustomize_are_accepted_and_applied() {
    let test = "real_control_plane_install_chart_and_kustomize_are_accepted_and_applied";
    let Some(tools) = tools(test) else { return };
    let Some(plane) = lab::start_plane(test).await else {
        return;
    };
    let admin = plane.admin_client().await;
    // Three installs in one cluster, so that nothing of one hides a fault of another:
    // the kustomize base as it is (its own Namespace, `antidote-system`); the chart's
    // defaults and its optional render as two more releases, each in a namespace of its
    // own. The chart names its cluster-scoped objects (ClusterRole, ClusterRoleBinding)
    // after the release, and `antidote-scheduler` is the base's name for them: the
    // releases are `antidote-scheduler-defaults` and `antidote-scheduler-optional`.
    let renders = [
        ("kustomize build deploy/", None, kustomize_build(&tools)),
        (
            "helm template (defaults)",
            Some("antidote-chart-defaults"),
            helm_template(
                &tools,
                "antidote-scheduler-defaults",
                "antidote-chart-defaults",
                &[],
            ),
        ),
        (
            "helm template (ci/optional-values.yaml)",
            Some("antidote-chart-optional"),
            helm_template(
                &tools,
                "antidote-scheduler-optional",
                "antidote-chart-optional",
                &["--values", &optional_values()],
            ),
        ),
    ];
    let mut seen = BTreeMap::new();
    for (source, _, render) in &renders {
        for doc in render {
            if let Some(other) = seen.insert(describe(doc), *source) {
                panic!("{source} and {other} both hold {}", describe(doc));
            }
        }
    }

    // The kinds this cluster does not serve: exactly the ServiceMonitor, whose CRD comes
    // with Prometheus Operator. It gets a CRD holding the fields the chart writes.
    let mut applier = Applier::new(admin.clone());
    let mut unserved = BTreeSet::new();
    for (_, _, render) in &renders {
        for doc in render {
            if applier.resource(doc).await.is_none() {
                unserved.insert(format!(
                    "{} {}",
                    text(doc, "/apiVersion"),
                    text(doc, "/kind")
                ));
            }
        }
    }
    assert_eq!(
        unserved,
        BTreeSet::from(["monitoring.coreos.com/v1 ServiceMonitor".to_owned()]),
        "kinds without a CRD in a bare cluster"
    );
    install_service_monitor_crd(&admin).await;

    // What an operator makes first: the releases' namespaces, and the PriorityClass the
    // optional values name.
    for (_, namespace, _) in &renders {
        if let Some(namespace) = namespace {
            create_release_namespace(&admin, namespace).await;
        }
    }
    let class: PriorityClass =
        serde_json::from_value(json!({"metadata": {"name": "antidote"}, "value": 1000}))
            .expect("priority class");
    Api::<PriorityClass>::all(admin.clone())
        .create(&PostParams::default(), &class)
        .await
        .expect("priority class created");

    let mut report = Vec::new();
    for (source, _, render) in &renders {
        let refused = applier.install(render).await;
        assert!(
            refused.is_empty(),
            "{source}: refused by kube-apiserver {}:\n{}",
            crate::harness::kubernetes_version(),
            refused.join("\n")
        );
        // The scheduler's pods pass admission: each Deployment's as a ReplicaSet would
        // make it, each Job's as the real job controller makes it.
        let mut pods = 0;
        for doc in render {
            let (kind, name) = (text(doc, "/kind"), text(doc, "/metadata/name"));
            let namespace = text(doc, "/metadata/namespace");
            match kind {
                "Deployment" => {
                    dry_run_pod(&admin, namespace, name, &template(render, kind, name))
                        .await
                        .unwrap_or_else(|e| panic!("{source}: the pod of {kind} {name}: {e}"));
                    pods += 1;
                }
                "Job" => {
                    wait_for_job_pod(&admin, namespace, name).await;
                    pods += 1;
                }
                _ => {}
            }
        }
        let kinds: BTreeSet<&str> = render.iter().map(|d| text(d, "/kind")).collect();
        report.push(format!(
            "{source}: {} objects ({}) applied after a strict dry run, {pods} pods admitted",
            render.len(),
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    // The check can fail: strict field validation refuses a field the API does not know,
    // in a built-in kind and in the ServiceMonitor's CRD alike.
    let (_, _, optional) = &renders[2];
    for (kind, pointer) in [
        ("Deployment", "/spec/template/spec/containers/0"),
        ("ServiceMonitor", "/spec/endpoints/0"),
    ] {
        let mut doc = optional
            .iter()
            .find(|d| text(d, "/kind") == kind)
            .cloned()
            .expect("the optional render has it");
        doc.pointer_mut(pointer)
            .and_then(Value::as_object_mut)
            .expect("an object")
            .insert("unknownField".into(), json!(true));
        let refused = applier
            .apply(&doc, true)
            .await
            .expect_err("an unknown field is refused");
        // A built-in kind's typed apply refuses it as "field not declared in schema", a
        // CRD's strict validation as "unknown field": either names it.
        assert!(refused.contains("unknownField"), "{kind}: {refused}");
    }
    // The Namespace of deploy/ runs its pods `restricted`, as the releases' do.
    let system = Api::<Namespace>::all(admin.clone())
        .get(NAMESPACE)
        .await
        .expect("deploy/'s namespace");
    assert_eq!(
        system
            .metadata
            .labels
            .unwrap_or_default()
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );
    eprintln!(
        "kube-apiserver {}:\n{}",
        crate::harness::kubernetes_version(),
        report.join("\n")
    );
}

// ---- The scheduler as its pods run it ----------------------------------------------

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The chart rendered with `values` as release `antidote-scheduler` in `antidote-system`
/// (deploy/'s names: the lab's scheduler identity is then the chart's ServiceAccount) and
/// installed after a strict dry run, as the chart's README installs it: the namespace
/// and the database Secret (holding this test's database) made first; then the lab on
/// that cluster.
async fn install_chart(
    pool: PgPool,
    test: &str,
    tools: &Path,
    values: &[&str],
) -> Option<(Lab, Vec<Value>)> {
    let plane = lab::start_plane(test).await?;
    let admin = plane.admin_client().await;
    let render = helm_template(tools, RELEASE, NAMESPACE, values);
    create_release_namespace(&admin, NAMESPACE).await;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "antidote-database"},
        "stringData": {"url": database_url(&pool).await},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(admin.clone(), NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .expect("database secret created");
    let refused = Applier::new(admin).install(&render).await;
    assert!(refused.is_empty(), "chart refused:\n{}", refused.join("\n"));
    Some((Lab::on(pool, plane).await, render))
}

/// The test's changes to the chart's configuration file, and nothing else: a loopback
/// address and a port of the pod's own (every pod here shares the host's network
/// namespace), the lab's backend settings (instance `test`, failures within seconds, as
/// the in-process tests of this tier have them), and a 2 s shutdown grace.
fn test_sized(config: &mut Value, port: u16, settings: &Settings) {
    assert_eq!(
        config["kubernetes"],
        json!({"inCluster": true}),
        "the chart configures in-cluster access, and no kubeconfig"
    );
    config["httpAddress"] = json!("127.0.0.1");
    config["httpPort"] = json!(port);
    config["backend"] = serde_json::to_value(settings).expect("settings");
    config["worker"]["shutdownGraceSecs"] = json!(2);
}

/// The first container of `kind` `name` of the render, resolved against the cluster,
/// with the test's configuration.
async fn container(lab: &Lab, render: &[Value], kind: &str, name: &str) -> (Container, u16) {
    let mut container =
        Container::resolve(&lab.admin, NAMESPACE, &template(render, kind, name)).await;
    let port = free_port();
    if container.config.is_some() {
        container.edit_config("antidote.yaml", |c| test_sized(c, port, &lab.settings));
    }
    (container, port)
}

/// Polls `check` until it holds, failing when `within` passes or a pod ends.
async fn wait_until(
    what: &str,
    within: Duration,
    pods: &mut [&mut Pod],
    mut check: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        for pod in pods.iter_mut() {
            pod.assert_running();
        }
        if Instant::now() > deadline {
            let mut logs = String::new();
            for pod in pods.iter() {
                let _ = write!(logs, "\n--- pod {}:\n{}", pod.name, pod.log_tail(20));
            }
            panic!("{what}: not within {within:?}{logs}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `/exp` API of a serving pod, as the front end calls it.
struct Exp {
    http: reqwest::Client,
    base: String,
}

impl Exp {
    fn new(port: u16) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits for `/readyz` 200 (the database answers, every migration applied).
    async fn wait_ready(&self, pod: &mut Pod) {
        let url = format!("{}/readyz", self.base);
        wait_until(
            "/readyz 200",
            Duration::from_secs(60),
            &mut [pod],
            async || {
                self.http
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|a| a.status() == 200)
            },
        )
        .await;
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let answer = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "POST {path}: {body}");
        body
    }

    async fn session(&self) -> String {
        let body = self.post("/exp/livesession", json!({})).await;
        body["ID"].as_str().expect("a session ID").to_owned()
    }

    async fn request(&self, session: &str, lesson: &str) -> String {
        let body = self
            .post(
                "/exp/livelesson",
                json!({"lessonSlug": lesson, "sessionId": session, "lessonStage": 0}),
            )
            .await;
        body["id"].as_str().expect("a livelesson id").to_owned()
    }

    /// `GET /exp/livelesson/{id}`: the status code and body.
    async fn show(&self, id: &str) -> (u16, Value) {
        let answer = self
            .http
            .get(format!("{}/exp/livelesson/{id}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET /exp/livelesson/{id}: {e}"));
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn kill(&self, id: &str) {
        let answer = self
            .http
            .delete(format!("{}/exp/livelesson/{id}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE /exp/livelesson/{id}: {e}"));
        assert_eq!(answer.status(), 202, "DELETE /exp/livelesson/{id}");
    }
}

/// Polls every livelesson of `ids` over HTTP until it is READY; an ERROR fails at once
/// with its reason and its CREATE's audit trail.
async fn wait_all_ready(
    exp: &Exp,
    lab: &Lab,
    ids: &[(&str, String)],
    pods: &mut [&mut Pod],
    within: Duration,
) {
    let mut pending: BTreeSet<String> = ids.iter().map(|(_, id)| id.clone()).collect();
    wait_until("every livelesson READY", within, pods, async || {
        for id in pending.clone() {
            match exp.show(&id).await {
                (200, body) if body["Status"] == "READY" => {
                    pending.remove(&id);
                }
                (200, _) => {}
                (status, body) => {
                    let ll = lab.livelesson(&id).await;
                    let job = lab.job(CREATE, &id).await;
                    panic!(
                        "livelesson {id}: {status} {body}; stored error {:?}; CREATE: {}",
                        ll.and_then(|ll| ll.error),
                        crate::helpers::trail(&lab.pool, job).await
                    );
                }
            }
        }
        pending.is_empty()
    })
    .await;
}

/// The state of every job of `kind` for `ids`.
async fn job_states(pool: &PgPool, kind: &str, ids: &[(&str, String)]) -> Vec<String> {
    let keys: Vec<String> = ids.iter().map(|(_, id)| format!("{kind}:{id}")).collect();
    sqlx::query_scalar("select state::text from jobs_all where unique_key = any($1) order by id")
        .bind(&keys)
        .fetch_all(pool)
        .await
        .expect("job states")
}

/// Once every pod has stopped: every livelesson job completed, and no job of any kind
/// (the periodic GC and refill passes included) failed, was cancelled or is left
/// claimed.
async fn assert_jobs_finished(pool: &PgPool) {
    let unfinished: Vec<(i64, String, String)> = sqlx::query_as(
        "select id, kind, state::text from jobs_all
         where state in ('running', 'failed', 'cancelled')
            or (kind like 'livelesson.%' and state <> 'completed')",
    )
    .fetch_all(pool)
    .await
    .expect("jobs");
    assert!(
        unfinished.is_empty(),
        "jobs failed, cancelled, unfinished or left claimed: {unfinished:?}"
    );
}

/// No Forbidden anywhere: the API server's audit log holds requests of the scheduler's
/// ServiceAccount (it is the identity the pods used) and not one was refused; no job's
/// error or event and no pod's log mentions it. Returns how many requests were audited.
async fn assert_no_forbidden(lab: &Lab, pods: &[&Pod]) -> usize {
    let user = format!("system:serviceaccount:{NAMESPACE}:{SCHEDULER_ACCOUNT}");
    let audited: Vec<_> = lab.plane.audit();
    let ours: Vec<_> = audited.iter().filter(|a| a.user == user).collect();
    assert!(
        !ours.is_empty(),
        "no request of {user} in the audit log: the pods did not use the chart's identity"
    );
    let others: BTreeSet<&str> = audited
        .iter()
        .map(|a| a.user.as_str())
        .filter(|u| *u != user)
        .collect();
    assert!(
        others.is_empty(),
        "ServiceAccounts other than the chart's called the API: {others:?}"
    );
    let refused: Vec<_> = ours.iter().filter(|a| a.code == 403).collect();
    assert!(refused.is_empty(), "Forbidden: {refused:#?}");
    let errors: Vec<String> = sqlx::query_scalar(
        "select kind || ': ' || last_error from jobs_all where last_error ilike '%forbidden%'
         union all
         select kind || ': ' || detail from job_events where detail ilike '%forbidden%'",
    )
    .fetch_all(&lab.pool)
    .await
    .expect("job errors");
    assert!(errors.is_empty(), "jobs met Forbidden: {errors:#?}");
    for pod in pods {
        let log = pod.log().to_lowercase();
        assert!(
            !log.contains("forbidden"),
            "pod {} logged a Forbidden:\n{}",
            pod.name,
            pod.log_tail(40)
        );
    }
    ours.len()
}

#[sqlx::test]
async fn real_control_plane_install_serve_pod_in_cluster_creates_and_deletes_every_example_lesson(
    pool: PgPool,
) {
    let test = "real_control_plane_install_serve_pod_in_cluster";
    let started = Instant::now();
    let Some(tools) = tools(test) else { return };
    if !crate::incluster::can_run_pods(test) {
        return;
    }
    let Some((mut lab, render)) = install_chart(pool, test, &tools, &[]).await else {
        return;
    };
    lab.start_agent().await;

    // The chart's pre-install hook first: `antidoted migrate` as its Job runs it, with no
    // token (its pod mounts none). `#[sqlx::test]` migrated the database already: the
    // run finds nothing to do, and shows the Job's arguments and environment suffice.
    let (job, _) = container(&lab, &render, "Job", &format!("{RELEASE}-migrate")).await;
    assert_eq!(job.args, ["migrate"]);
    assert!(
        job.service_account.is_none(),
        "the migrate Job has no token"
    );
    let mut migrate = Pod::start(
        &format!("{RELEASE}-migrate-0"),
        &job,
        &lab.plane,
        &lab.admin,
    )
    .await;
    let status = migrate.wait(Duration::from_secs(60)).await;
    assert!(
        status.success(),
        "migrate: {status}:\n{}",
        migrate.log_tail(40)
    );

    let (serve_container, port) = container(&lab, &render, "Deployment", RELEASE).await;
    assert_eq!(
        serve_container.args,
        ["serve", "--config", "/etc/antidote/antidote.yaml"]
    );
    assert_eq!(
        serve_container.service_account.as_deref(),
        Some(SCHEDULER_ACCOUNT)
    );
    let mut serve = Pod::start(
        &format!("{RELEASE}-0"),
        &serve_container,
        &lab.plane,
        &lab.admin,
    )
    .await;
    let exp = Exp::new(port);
    exp.wait_ready(&mut serve).await;
    serve.assert_arranged(&serve_container);

    let session = exp.session().await;
    let mut ids = Vec::new();
    for lesson in LESSONS {
        ids.push((lesson, exp.request(&session, lesson).await));
    }
    wait_all_ready(
        &exp,
        &lab,
        &ids,
        &mut [&mut serve],
        Duration::from_secs(240),
    )
    .await;
    let ready_at = started.elapsed();
    for (lesson, id) in &ids {
        let (_, body) = exp.show(id).await;
        assert_eq!(body["HealthyTests"], body["TotalTests"], "{lesson}: {body}");
    }
    assert!(
        job_states(&lab.pool, CREATE, &ids)
            .await
            .iter()
            .all(|s| s == "completed"),
        "every CREATE completed"
    );

    for (_, id) in &ids {
        exp.kill(id).await;
    }
    let mut pending: BTreeSet<String> = ids.iter().map(|(_, id)| id.clone()).collect();
    wait_until(
        "every livelesson deleted",
        Duration::from_secs(240),
        &mut [&mut serve],
        async || {
            for id in pending.clone() {
                if exp.show(&id).await.0 == 404 {
                    pending.remove(&id);
                }
            }
            pending.is_empty()
        },
    )
    .await;
    let deletes = job_states(&lab.pool, DELETE, &ids).await;
    assert_eq!(deletes.len(), LESSONS.len(), "one DELETE each");
    assert!(
        deletes.iter().all(|s| s == "completed"),
        "DELETEs: {deletes:?}"
    );
    let left = Api::<Namespace>::all(lab.admin.clone())
        .list(&ListParams::default().labels("antidoteId=test"))
        .await
        .expect("namespaces listed");
    assert!(left.items.is_empty(), "every livelesson namespace is gone");

    let took = serve.stop().await;
    assert_jobs_finished(&lab.pool).await;
    let requests = assert_no_forbidden(&lab, &[&serve, &migrate]).await;
    eprintln!(
        "serve in-cluster: {} lessons READY at {ready_at:?}, deleted; {requests} requests \
         of the chart's ServiceAccount audited, none Forbidden; SIGTERM to exit {took:?}",
        LESSONS.len()
    );
}

/// Whether a worker of pod `name` has registered (holds its liveness lock).
async fn registered(pool: &PgPool, name: &str) -> bool {
    sqlx::query_scalar::<_, bool>("select exists (select 1 from job_workers where worker like $1)")
        .bind(format!("{name}-%"))
        .fetch_one(pool)
        .await
        .expect("job_workers")
}

/// Whether every job of `jobs` is running, claimed by a worker of pod `name`, past step
/// `step` (its checkpoint stored).
async fn all_held(pool: &PgPool, jobs: &[JobId], name: &str, step: &str) -> bool {
    let ids: Vec<i64> = jobs.iter().map(|j| j.0).collect();
    let held: i64 = sqlx::query_scalar(
        "select count(*) from jobs j
         where j.id = any($1) and j.state = 'running' and j.lease_owner like $2
           and exists (select 1 from job_steps s where s.job_id = j.id and s.name = $3)",
    )
    .bind(&ids)
    .bind(format!("{name}-%"))
    .bind(step)
    .fetch_one(pool)
    .await
    .expect("held jobs");
    usize::try_from(held).expect("a count") == jobs.len()
}

/// Starts worker pod `name` and waits until it has registered.
async fn start_worker(lab: &Lab, container: &Container, name: &str) -> Pod {
    let mut pod = Pod::start(name, container, &lab.plane, &lab.admin).await;
    wait_until(
        &format!("worker {name} registered"),
        Duration::from_secs(60),
        &mut [&mut pod],
        async || registered(&lab.pool, name).await,
    )
    .await;
    pod.assert_arranged(container);
    pod
}

/// The objects of livelesson `id` of `lesson` on the API server against those the
/// backend builds for it at stage 0: every kind it creates, the same names, none missing
/// and none extra; each configuration Job ran exactly one pod, which succeeded. Returns
/// how many objects were compared.
async fn assert_objects(
    lab: &Lab,
    curriculum: &Curriculum,
    lesson: &str,
    id: &str,
    session: &str,
) -> usize {
    let lesson = curriculum
        .lessons
        .iter()
        .find(|l| l.slug == lesson)
        .expect("the lesson");
    let images = curriculum.images_of(lesson);
    let view = Livelesson {
        id,
        session_id: session,
        lesson,
        images: &images,
    };
    let stage0_jobs: BTreeSet<String> = lesson
        .endpoints
        .iter()
        .filter(|e| e.configuration_type.is_some())
        .map(|e| names::config_job_name(&e.name, 0))
        .collect();
    let namespace = lab.settings.namespace(id);
    let kinds = [
        ApiResource::erase::<NetworkPolicy>(&()),
        ApiResource::erase::<Secret>(&()),
        ApiResource::erase::<ConfigMap>(&()),
        nad_api_resource(),
        ApiResource::erase::<KubePod>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<Ingress>(&()),
        ApiResource::erase::<Job>(&()),
    ];
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for object in livelesson_objects(&lab.settings, &view, &lab.secrets).expect("objects") {
        let json = object.to_json().expect("JSON");
        let name = text(&json, "/metadata/name").to_owned();
        match object {
            Object::Namespace(_) => continue,
            Object::Job(_) if !stage0_jobs.contains(&name) => continue,
            _ => {}
        }
        expected
            .entry(object.api_resource().kind)
            .or_default()
            .insert(name);
    }
    let mut compared = 0;
    for resource in kinds {
        let api: Api<DynamicObject> =
            Api::namespaced_with(lab.admin.clone(), &namespace, &resource);
        let found: BTreeSet<String> = api
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("{} in {namespace}: {e}", resource.plural))
            .items
            .into_iter()
            // The configuration Jobs' pods are the job controller's, counted below.
            .filter(|o| {
                !o.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.kind == "Job")
            })
            .filter_map(|o| o.metadata.name)
            .collect();
        let want = expected.remove(&resource.kind).unwrap_or_default();
        assert_eq!(
            found,
            want,
            "{lesson} {id}: {}s in {namespace}",
            resource.kind,
            lesson = lesson.slug
        );
        compared += found.len();
    }
    assert!(expected.is_empty(), "kinds not compared: {expected:?}");
    assert!(compared > 0, "{} {id}: no object", lesson.slug);
    let pods: Api<KubePod> = Api::namespaced(lab.admin.clone(), &namespace);
    let jobs: Api<Job> = Api::namespaced(lab.admin.clone(), &namespace);
    for job in &stage0_jobs {
        let ran = pods
            .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
            .await
            .expect("pods listed")
            .items
            .len();
        let succeeded = jobs
            .get(job)
            .await
            .expect("job")
            .status
            .and_then(|s| s.succeeded);
        assert_eq!(
            (ran, succeeded),
            (1, Some(1)),
            "{} {id}: Job {job} ran one pod, once",
            lesson.slug
        );
    }
    compared
}

#[sqlx::test]
async fn real_control_plane_install_rolling_restart_of_worker_pods_loses_nothing(pool: PgPool) {
    let test = "real_control_plane_install_rolling_restart_of_worker_pods";
    let started = Instant::now();
    let Some(tools) = tools(test) else { return };
    if !crate::incluster::can_run_pods(test) {
        return;
    }
    // The chart's split roles: `antidoted api` (no token) and `antidoted worker`.
    let values = [
        "--set",
        "serve.enabled=false",
        "--set",
        "api.enabled=true",
        "--set",
        "worker.enabled=true",
    ];
    let Some((mut lab, render)) = install_chart(pool, test, &tools, &values).await else {
        return;
    };
    let (api_container, port) =
        container(&lab, &render, "Deployment", &format!("{RELEASE}-api")).await;
    assert_eq!(api_container.args[0], "api");
    assert!(
        api_container.service_account.is_none(),
        "the API's pods mount no token"
    );
    let mut api = Pod::start(
        &format!("{RELEASE}-api-0"),
        &api_container,
        &lab.plane,
        &lab.admin,
    )
    .await;
    let exp = Exp::new(port);
    exp.wait_ready(&mut api).await;
    api.assert_arranged(&api_container);
    let (worker, _) = container(&lab, &render, "Deployment", &format!("{RELEASE}-worker")).await;
    assert_eq!(
        worker.args,
        ["worker", "--config", "/etc/antidote/antidote.yaml"]
    );
    assert_eq!(worker.service_account.as_deref(), Some(SCHEDULER_ACCOUNT));
    let pod_name = |n: &str| format!("{RELEASE}-worker-{n}");

    // Until the node agent comes, no pod is scheduled: every CREATE waits at
    // `pods-ready`, its namespace, secrets, files, networks, pods and services made and
    // checkpointed. That hold is what makes "mid-provisioning" certain at each SIGTERM.
    let mut a = start_worker(&lab, &worker, &pod_name("a1")).await;
    let sessions = [exp.session().await, exp.session().await];
    let mut ids = Vec::new();
    for (session, lessons) in sessions.iter().zip([
        &LESSONS[..],
        &["router-configuration", "linux-first-steps"][..],
    ]) {
        for lesson in lessons {
            ids.push((*lesson, exp.request(session, lesson).await));
        }
    }
    let mut creates = Vec::new();
    for (_, id) in &ids {
        creates.push(lab.job(CREATE, id).await);
    }
    wait_until(
        "worker a1 holds every CREATE at pods-ready",
        Duration::from_secs(60),
        &mut [&mut api, &mut a],
        async || all_held(&lab.pool, &creates, &pod_name("a1"), "status:BOOTING").await,
    )
    .await;
    // The Deployment's two replicas.
    let mut b = start_worker(&lab, &worker, &pod_name("b1")).await;

    // The rollout, one pod at a time: SIGTERM, exit 0 within the grace period, then the
    // replacement. Each stopped worker holds every CREATE and hands them all back; the
    // other replica, alone to claim them, takes them before the replacement starts.
    let took_a = a.stop().await;
    wait_until(
        "worker b1 took every CREATE over",
        Duration::from_secs(60),
        &mut [&mut api, &mut b],
        async || all_held(&lab.pool, &creates, &pod_name("b1"), "status:BOOTING").await,
    )
    .await;
    let mut a2 = start_worker(&lab, &worker, &pod_name("a2")).await;
    let took_b = b.stop().await;
    wait_until(
        "worker a2 took every CREATE over",
        Duration::from_secs(60),
        &mut [&mut api, &mut a2],
        async || all_held(&lab.pool, &creates, &pod_name("a2"), "status:BOOTING").await,
    )
    .await;
    let mut b2 = start_worker(&lab, &worker, &pod_name("b2")).await;

    // The node: pods run, and provisioning goes on where it stopped.
    lab.start_agent().await;
    wait_all_ready(
        &exp,
        &lab,
        &ids,
        &mut [&mut api, &mut a2, &mut b2],
        Duration::from_secs(180),
    )
    .await;
    let ready_at = started.elapsed();

    // Every CREATE: claimed by a1, b1, then a2; handed back twice; every step before
    // `pods-ready` done once, `pods-ready` three times, the rest once; completed by a2;
    // never failed, retried or rescued.
    for ((lesson, id), job) in ids.iter().zip(&creates) {
        let events: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "select kind, worker, step from job_events where job_id = $1 order by at, id",
        )
        .bind(job.0)
        .fetch_all(&lab.pool)
        .await
        .expect("events");
        let trail = crate::helpers::trail(&lab.pool, *job).await;
        let claims: Vec<String> = events
            .iter()
            .filter(|(kind, _, _)| kind == "claimed")
            .map(|(_, worker, _)| {
                let worker = worker.clone().unwrap_or_default();
                ["a1", "b1", "a2", "b2"]
                    .into_iter()
                    .find(|n| worker.starts_with(&format!("{}-", pod_name(n))))
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect();
        assert_eq!(claims, ["a1", "b1", "a2"], "{lesson} {id}: claims; {trail}");
        let count = |kind: &str| events.iter().filter(|(k, _, _)| k == kind).count();
        assert_eq!(count("handed_back"), 2, "{lesson} {id}: {trail}");
        assert_eq!(count("completed"), 1, "{lesson} {id}: {trail}");
        for bad in ["failed", "retry_scheduled", "rescued", "cancelled"] {
            assert_eq!(count(bad), 0, "{lesson} {id}: {bad}; {trail}");
        }
        let mut starts: BTreeMap<&str, usize> = BTreeMap::new();
        for (kind, _, step) in &events {
            if kind == "step_started"
                && let Some(step) = step
            {
                *starts.entry(step).or_default() += 1;
            }
        }
        assert_eq!(starts.get("pods-ready"), Some(&3), "{lesson} {id}: {trail}");
        for step in [
            "namespace",
            "status:BOOTING",
            "reachability",
            "status:READY",
        ] {
            assert!(
                starts.contains_key(step),
                "{lesson} {id}: {step} ran; {trail}"
            );
        }
        for (step, n) in &starts {
            let want = if *step == "pods-ready" { 3 } else { 1 };
            assert_eq!(
                *n, want,
                "{lesson} {id}: step {step} started {n} times; {trail}"
            );
        }
    }

    // The cluster holds exactly what the livelessons should have: one namespace each,
    // every object of each, none twice, nothing else.
    let namespaces: BTreeSet<String> = Api::<Namespace>::all(lab.admin.clone())
        .list(&ListParams::default().labels("antidoteId=test"))
        .await
        .expect("namespaces")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    let want: BTreeSet<String> = ids
        .iter()
        .map(|(_, id)| lab.settings.namespace(id))
        .collect();
    assert_eq!(namespaces, want, "one namespace per livelesson");
    let loaded = curriculum::load(&root().join("example-curriculum"), &Options::default());
    let curriculum = loaded.valid().expect("the example curriculum");
    let mut objects = 0;
    for (i, (lesson, id)) in ids.iter().enumerate() {
        let session = &sessions[usize::from(i >= LESSONS.len())];
        objects += assert_objects(&lab, curriculum, lesson, id, session).await;
    }

    let took = [a2.stop().await, b2.stop().await, api.stop().await];
    assert_jobs_finished(&lab.pool).await;
    let requests = assert_no_forbidden(&lab, &[&a, &b, &a2, &b2, &api]).await;
    eprintln!(
        "rolling restart: {} livelessons, each CREATE handed back by a1 (SIGTERM to exit \
         {took_a:?}) and b1 ({took_b:?}), READY at {ready_at:?} under a2 with {objects} \
         objects as built; {requests} requests of the chart's ServiceAccount audited, none \
         Forbidden; a2, b2, api stopped in {took:?}",
        ids.len()
    );
}
