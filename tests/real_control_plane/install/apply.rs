//! Chart and kustomize output through a strict server-side dry run, then applied for real,
//! and the pods of their Deployments and Jobs through admission.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    Event, Namespace, Pod as KubePod, PodTemplateSpec, ServiceAccount,
};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::Scope;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::lab;

use super::render::*;
use super::*;

/// Server-side apply of rendered objects, each kind resolved through discovery, as
/// `kubectl apply --server-side --validate=strict` does it.
pub(super) struct Applier {
    client: Client,
    /// (apiVersion, kind) → the resource and whether it is namespaced.
    kinds: BTreeMap<(String, String), (ApiResource, bool)>,
}

impl Applier {
    pub(super) fn new(client: Client) -> Self {
        Self {
            client,
            kinds: BTreeMap::new(),
        }
    }

    /// The resource serving `doc`'s kind; `None` when the server has no such kind.
    pub(super) async fn resource(&mut self, doc: &Value) -> Option<(ApiResource, bool)> {
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
    pub(super) async fn apply(&mut self, doc: &Value, dry_run: bool) -> Result<(), String> {
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
    pub(super) async fn install(&mut self, render: &[Value]) -> Vec<String> {
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
pub(super) fn install_order(kind: &str) -> usize {
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

pub(super) async fn wait_for_default_account(client: &Client, namespace: &str) {
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
pub(super) async fn create_release_namespace(admin: &Client, name: &str) {
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
pub(super) async fn install_service_monitor_crd(admin: &Client) {
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
pub(super) async fn dry_run_pod(
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
pub(super) async fn wait_for_job_pod(admin: &Client, namespace: &str, name: &str) {
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
pub(super) async fn real_control_plane_install_chart_and_kustomize_are_accepted_and_applied() {
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
