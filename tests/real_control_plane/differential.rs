//! The differential suite: the same requests, in the same order, to kubesim and to the real
//! kube-apiserver, and the answers compared on what code depends on: the status code, a
//! `Status`'s `reason` and its causes' fields and reasons, defaulted fields, list contents
//! and watch event sequences. Values the servers choose (uids, resourceVersions, times,
//! addresses) are compared on presence only.
//!
//! Each scenario says whether it is on the backend's surface (a request the backend makes,
//! or an answer it reads); a difference there fails the test. Every other difference must
//! be one kubesim's documentation lists as deliberate ([`DELIBERATE`]), so the list stays
//! true. The summary line starts with `differential:`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use antidote_scheduler::backend::kubernetes::resources::objects::{Object, livelesson_objects};
use antidote_scheduler::backend::{Livelesson, Settings};
use antidote_scheduler::curriculum::{self, Curriculum, Options};
use antidote_scheduler::ids::{LivelessonId, SessionId};
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::Client;
use kube::Resource;
use kube::api::Api;
use serde_json::{Value, json};

use crate::cluster;
use crate::harness::ControlPlane;

/// Differences kubesim keeps on purpose, by scenario and step (kubesim's documentation,
/// "Deliberate differences from kube-apiserver", says why).
const DELIBERATE: &[&str] = &[
    "a strategic merge patch merges lists by key",
    "a dry run is answered but not stored",
];

/// Whose behaviour a scenario pins down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    /// A request the backend (or the node agent) makes, or an answer it reads.
    Backend,
    /// Everything else kubesim serves.
    Kubesim,
}

/// What of an answer is compared.
#[derive(Debug, Clone)]
enum Compare {
    /// Nothing: a set-up step.
    Nothing,
    /// The code, and for a `Status` its reason and causes.
    Status,
    /// The code and these fields (JSON pointers; a trailing `?` compares presence only).
    Fields(Vec<String>),
    /// The code and the names of a list's items.
    Names,
    /// The code and the (type, name) of each watch event.
    Events,
}

#[derive(Debug, Clone)]
struct Step {
    method: Method,
    path: String,
    content_type: &'static str,
    body: Option<Value>,
    compare: Compare,
}

impl Step {
    fn new(method: Method, path: impl Into<String>, compare: Compare) -> Self {
        Self {
            method,
            path: path.into(),
            content_type: "application/json",
            body: None,
            compare,
        }
    }

    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn content_type(mut self, content_type: &'static str) -> Self {
        self.content_type = content_type;
        self
    }
}

struct Scenario {
    name: String,
    surface: Surface,
    steps: Vec<Step>,
}

fn scenario(name: impl Into<String>, surface: Surface, steps: Vec<Step>) -> Scenario {
    Scenario {
        name: name.into(),
        surface,
        steps,
    }
}

/// One answer, reduced to what is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen(BTreeMap<String, String>);

/// Sends one request and reads the whole answer (a watch ends with its `timeoutSeconds`).
async fn send(client: &Client, step: &Step) -> (u16, Vec<u8>) {
    let body = step
        .body
        .as_ref()
        .map(|b| serde_json::to_vec(b).expect("body serialises"))
        .unwrap_or_default();
    let request = Request::builder()
        .method(step.method.clone())
        .uri(&step.path)
        .header("content-type", step.content_type)
        .header("accept", "application/json")
        .body(kube::client::Body::from(body))
        .expect("request");
    let answer = tokio::time::timeout(Duration::from_secs(30), client.send(request))
        .await
        .expect("an answer in time")
        .expect("a transport-level answer");
    let code = answer.status().as_u16();
    let bytes = tokio::time::timeout(Duration::from_secs(30), answer.into_body().collect())
        .await
        .expect("the body in time")
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    (code, bytes)
}

fn at(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        None => "<absent>".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn reduce(compare: &Compare, code: u16, bytes: &[u8]) -> Seen {
    let mut seen = BTreeMap::from([("code".to_owned(), code.to_string())]);
    let value: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let status = |seen: &mut BTreeMap<String, String>, value: &Value| {
        if value["kind"] == "Status" {
            seen.insert("reason".into(), at(value, "/reason"));
            let causes: BTreeSet<String> = value
                .pointer("/details/causes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| format!("{} {}", at(c, "/field"), at(c, "/reason")))
                .collect();
            if !causes.is_empty() {
                seen.insert("causes".into(), format!("{causes:?}"));
            }
        }
    };
    match compare {
        Compare::Nothing => return Seen(BTreeMap::new()),
        Compare::Status => status(&mut seen, &value),
        Compare::Fields(pointers) => {
            status(&mut seen, &value);
            if value["kind"] != "Status" {
                for pointer in pointers {
                    let (pointer, presence) = match pointer.strip_suffix('?') {
                        Some(p) => (p, true),
                        None => (pointer.as_str(), false),
                    };
                    let found = at(&value, pointer);
                    let shown = if presence && found != "<absent>" {
                        "<present>".to_owned()
                    } else {
                        found
                    };
                    seen.insert(pointer.to_owned(), shown);
                }
            }
        }
        Compare::Names => {
            status(&mut seen, &value);
            let names: Vec<String> = value["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| at(i, "/metadata/name"))
                .collect();
            seen.insert("names".into(), names.join(","));
        }
        Compare::Events => {
            let text = String::from_utf8_lossy(bytes);
            let events: Vec<String> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|e| e["type"] != "BOOKMARK")
                .map(|e| {
                    if e["type"] == "ERROR" {
                        format!(
                            "ERROR {} {}",
                            at(&e, "/object/code"),
                            at(&e, "/object/reason")
                        )
                    } else {
                        format!("{} {}", at(&e, "/type"), at(&e, "/object/metadata/name"))
                    }
                })
                .collect();
            seen.insert("events".into(), events.join(", "));
        }
    }
    Seen(seen)
}

/// The backend's objects of a lesson in namespace `ns` (the namespace itself left out).
fn lesson_objects(
    curriculum: &Curriculum,
    slug: &str,
    settings: &Settings,
    id: &str,
) -> Vec<Object> {
    let lesson = curriculum.lesson(slug).expect("lesson");
    let images = curriculum.images_of(lesson);
    let (id, session_id) = (LivelessonId::from(id), SessionId::from("session01"));
    let ll = Livelesson {
        id: &id,
        session_id: &session_id,
        lesson,
        images: &images,
    };
    let tls: Secret = serde_json::from_value(json!({
        "metadata": {"name": settings.tls_cert_name},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"},
    }))
    .expect("secret");
    livelesson_objects(settings, &ll, &[tls]).expect("objects build")
}

fn collection_path(object: &Object, ns: &str) -> String {
    let resource = object.api_resource();
    let namespace = matches!(object, Object::Namespace(_))
        .then_some(())
        .map_or(Some(ns), |()| None);
    kube::core::DynamicObject::url_path(&resource, namespace)
}

/// Fields each kind is compared on after a create.
fn fields_of(object: &Object) -> Vec<String> {
    let list: &[&str] = match object {
        Object::Namespace(_) => &[
            "/kind",
            "/metadata/labels/kubernetes.io~1metadata.name",
            "/spec/finalizers",
            "/status/phase",
            "/metadata/uid?",
            "/metadata/resourceVersion?",
            "/metadata/creationTimestamp?",
        ],
        Object::Pod(_) => &[
            "/kind",
            "/spec/restartPolicy",
            "/spec/dnsPolicy",
            "/spec/schedulerName",
            "/spec/terminationGracePeriodSeconds",
            "/spec/enableServiceLinks",
            "/spec/serviceAccountName",
            "/spec/priority",
            "/spec/preemptionPolicy",
            "/spec/securityContext/sysctls",
            "/spec/containers/0/imagePullPolicy",
            "/spec/containers/0/terminationMessagePath",
            "/spec/containers/0/terminationMessagePolicy",
            "/spec/containers/0/ports",
            "/spec/nodeName",
            "/status/phase",
            "/status/qosClass",
        ],
        Object::Service(_) => &[
            "/kind",
            "/spec/clusterIP?",
            "/spec/clusterIPs?",
            "/spec/type",
            "/spec/sessionAffinity",
            "/spec/ports",
            "/spec/ipFamilies",
            "/spec/ipFamilyPolicy",
            "/spec/internalTrafficPolicy",
            "/status",
        ],
        Object::ResourceQuota(_) => &["/kind", "/spec/hard"],
        Object::LimitRange(_) => &["/kind", "/spec/limits"],
        Object::Secret(_) => &["/kind", "/data", "/stringData", "/type"],
        Object::ConfigMap(_) => &["/kind", "/data?", "/binaryData"],
        Object::NetworkPolicy(_) => &["/kind", "/spec/policyTypes", "/spec/podSelector"],
        Object::Ingress(_) => &[
            "/kind",
            "/spec/ingressClassName",
            "/spec/rules/0/http/paths/0/pathType",
            "/status",
        ],
        Object::NetworkAttachment(_) => &["/kind", "/spec/config?", "/metadata/generation"],
        Object::Job(_) => &[
            "/kind",
            "/spec/backoffLimit",
            "/spec/completions",
            "/spec/parallelism",
            "/spec/completionMode",
            "/spec/suspend",
            "/spec/podReplacementPolicy",
            "/spec/manualSelector",
            "/spec/selector?",
            "/spec/template/metadata/labels/job-name",
            "/spec/template/metadata/labels/batch.kubernetes.io~1job-name",
            "/spec/template/metadata/labels/controller-uid?",
            "/spec/template/spec/restartPolicy",
            "/spec/template/spec/dnsPolicy",
            "/spec/template/spec/terminationGracePeriodSeconds",
            "/spec/template/spec/containers/0/terminationMessagePath",
            "/status",
        ],
    };
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Every scenario, in order (later ones rely on objects earlier ones made).
fn scenarios(curriculum: &Curriculum) -> Vec<Scenario> {
    use Compare::*;
    use Surface::*;
    let settings = Settings {
        instance_id: "diff".into(),
        ..Settings::default()
    };
    let mut out = Vec::new();
    let mut namespaces = Vec::new();
    for (slug, id) in [
        ("router-configuration", "router0001"),
        ("web-automation", "webauto001"),
        ("notebook-automation", "notebook01"),
    ] {
        let ns = format!("diff-{id}");
        namespaces.push(ns.clone());
        for object in lesson_objects(curriculum, slug, &settings, id) {
            let body = object.to_json().expect("serialises");
            let path = collection_path(&object, &ns);
            let name = at(&body, "/metadata/name");
            let mut steps =
                vec![Step::new(Method::POST, &path, Fields(fields_of(&object))).body(body.clone())];
            // The backend's idempotent create: a second POST is AlreadyExists. Not for
            // pods: quota admission charges a pod sent again before the store refuses it,
            // so the backend never sends one twice (it reads the pod watch instead).
            if !matches!(object, Object::Pod(_)) {
                steps.push(
                    Step::new(
                        Method::POST,
                        &path,
                        Fields(vec!["/details/kind".into(), "/details/name".into()]),
                    )
                    .body(body.clone()),
                );
            }
            steps.push(Step::new(
                Method::GET,
                format!("{path}/{name}"),
                Fields(vec!["/kind".into(), "/metadata/labels".into()]),
            ));
            if matches!(object, Object::ResourceQuota(_)) {
                // Quota admission refuses every pod until the quota controller has counted
                // the quota (the backend waits for it too); kubesim counts at once.
                steps.push(Step::new(
                    Method::GET,
                    format!("{path}/{name}?wait-for-count"),
                    Nothing,
                ));
            }
            if matches!(object, Object::Namespace(_)) {
                // Pods need the namespace's `default` ServiceAccount (kube-controller-manager
                // makes it); the real server gets a moment, kubesim does not need one.
                steps.push(Step::new(
                    Method::GET,
                    format!("/api/v1/namespaces/{ns}/serviceaccounts/default?wait-for-default"),
                    Nothing,
                ));
            }
            out.push(scenario(
                format!("create {} in {slug}", object.describe()),
                Backend,
                steps,
            ));
        }
    }
    let ns = &namespaces[0];
    out.push(scenario(
        "get and delete what does not exist",
        Backend,
        vec![
            Step::new(
                Method::GET,
                format!("/api/v1/namespaces/{ns}/pods/nothing"),
                Fields(vec!["/details/kind".into(), "/details/name".into()]),
            ),
            Step::new(
                Method::GET,
                "/api/v1/namespaces/nothing",
                Fields(vec!["/details/kind".into(), "/details/name".into()]),
            ),
            Step::new(
                Method::DELETE,
                format!("/apis/batch/v1/namespaces/{ns}/jobs/nothing?propagationPolicy=Background"),
                Status,
            ),
            Step::new(
                Method::DELETE,
                "/api/v1/namespaces/nothing?propagationPolicy=Background",
                Status,
            ),
        ],
    ));
    out.push(scenario(
        "create in a namespace that does not exist",
        Backend,
        vec![
            Step::new(
                Method::POST,
                "/api/v1/namespaces/nothing/configmaps",
                Fields(vec!["/details/kind".into(), "/details/name".into()]),
            )
            .body(json!({"metadata": {"name": "c"}, "data": {"a": "b"}})),
        ],
    ));
    out.push(scenario(
        "list by label selector",
        Backend,
        vec![
            Step::new(Method::GET, format!("/api/v1/namespaces/{ns}/services?labelSelector=liveLesson%3Drouter0001"), Names),
            Step::new(Method::GET, format!("/api/v1/namespaces/{ns}/pods?labelSelector=liveLesson%3Drouter0001%2CpodName%3Dlinux1"), Names),
            Step::new(Method::GET, "/api/v1/namespaces?labelSelector=antidoteId%3Ddiff%2CantidoteManaged%3Dyes", Names),
            Step::new(Method::GET, format!("/apis/batch/v1/namespaces/{ns}/jobs?labelSelector=jobType%3Dconfig"), Names),
            Step::new(Method::GET, "/api/v1/namespaces?labelSelector=a+in+%28", Status),
        ],
    ));
    out.push(scenario(
        "delete a configuration job in the background",
        Backend,
        vec![
            Step::new(Method::DELETE, format!("/apis/batch/v1/namespaces/{ns}/jobs/config-vqfx-1-0?propagationPolicy=Background"), Fields(vec!["/kind".into(), "/status".into()])),
            Step::new(Method::GET, format!("/apis/batch/v1/namespaces/{ns}/jobs/config-vqfx-1-0"), Status),
        ],
    ));
    out.push(scenario(
        "watch a namespace's config maps from a list's resourceVersion",
        Backend,
        vec![
            Step::new(
                Method::POST,
                format!("/api/v1/namespaces/{ns}/configmaps"),
                Nothing,
            )
            .body(
                json!({"metadata": {"name": "watched", "labels": {"a": "1"}}, "data": {"k": "v"}}),
            ),
            Step::new(
                Method::PATCH,
                format!("/api/v1/namespaces/{ns}/configmaps/watched"),
                Nothing,
            )
            .content_type("application/merge-patch+json")
            .body(json!({"metadata": {"labels": {"b": "2"}}})),
            Step::new(
                Method::DELETE,
                format!("/api/v1/namespaces/{ns}/configmaps/watched"),
                Fields(vec!["/kind".into(), "/status".into()]),
            ),
        ],
    ));
    out.push(scenario(
        "pod status written with a stale uid is a conflict",
        Backend,
        vec![
            Step::new(Method::PATCH, format!("/api/v1/namespaces/{ns}/pods/linux1/status"), Status)
                .content_type("application/merge-patch+json")
                .body(json!({"metadata": {"uid": "00000000-0000-0000-0000-000000000000"}, "status": {"phase": "Running"}})),
            Step::new(Method::DELETE, format!("/api/v1/namespaces/{ns}/pods/linux1"), Status)
                .body(json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}})),
        ],
    ));
    let last = &namespaces[2];
    out.push(scenario(
        "a terminating namespace takes no new objects",
        Backend,
        vec![
            Step::new(
                Method::DELETE,
                format!("/api/v1/namespaces/{last}?propagationPolicy=Background"),
                Fields(vec![
                    "/kind".into(),
                    "/status/phase".into(),
                    "/metadata/deletionTimestamp?".into(),
                    "/spec/finalizers".into(),
                ]),
            ),
            Step::new(
                Method::POST,
                format!("/api/v1/namespaces/{last}/configmaps"),
                Status,
            )
            .body(json!({"metadata": {"name": "late"}, "data": {"a": "b"}})),
        ],
    ));
    out.push(scenario(
        "invalid objects are refused with field causes",
        Kubesim,
        vec![
            Step::new(
                Method::POST,
                format!("/api/v1/namespaces/{ns}/configmaps"),
                Status,
            )
            .body(json!({"metadata": {"name": "Not_A_Name"}, "data": {"a": "b"}})),
            Step::new(
                Method::POST,
                format!("/api/v1/namespaces/{ns}/services"),
                Status,
            )
            .body(json!({"metadata": {"name": "noports"}, "spec": {"selector": {"a": "b"}}})),
        ],
    ));
    out.push(scenario(
        "secret stringData is folded into data",
        Kubesim,
        vec![Step::new(Method::POST, format!("/api/v1/namespaces/{ns}/secrets"), Fields(vec!["/data".into(), "/stringData".into(), "/type".into()]))
            .body(json!({"metadata": {"name": "folded"}, "stringData": {"user": "admin"}, "data": {"pass": "c2VjcmV0"}}))],
    ));
    out.push(scenario(
        "unknown fields: strict validation refuses, the default drops them",
        Kubesim,
        vec![
            Step::new(
                Method::POST,
                format!("/api/v1/namespaces/{ns}/configmaps?fieldValidation=Strict"),
                Status,
            )
            .body(json!({"metadata": {"name": "strict"}, "data": {"a": "b"}, "bogus": 1})),
            Step::new(
                Method::POST,
                format!("/api/v1/namespaces/{ns}/configmaps"),
                Fields(vec!["/bogus".into(), "/data".into()]),
            )
            .body(json!({"metadata": {"name": "lenient"}, "data": {"a": "b"}, "bogus": 1})),
        ],
    ));
    out.push(scenario(
        "a job's pod template is immutable",
        Kubesim,
        vec![
            Step::new(
                Method::PATCH,
                format!("/apis/batch/v1/namespaces/{ns}/jobs/config-vqfx-2-0"),
                Status,
            )
            .content_type("application/merge-patch+json")
            .body(json!({"spec": {"template": {"spec": {"activeDeadlineSeconds": 5}}}})),
        ],
    ));
    out.push(scenario(
        "a pod's spec is immutable but for images",
        Kubesim,
        vec![
            Step::new(
                Method::PATCH,
                format!("/api/v1/namespaces/{ns}/pods/vqfx-1"),
                Status,
            )
            .content_type("application/merge-patch+json")
            .body(json!({"spec": {"terminationGracePeriodSeconds": 5}})),
        ],
    ));
    out.push(scenario(
        "a strategic merge patch merges lists by key",
        Kubesim,
        vec![
            Step::new(
                Method::PATCH,
                format!("/api/v1/namespaces/{ns}/services/linux1"),
                Fields(vec!["/spec/ports".into()]),
            )
            .content_type("application/strategic-merge-patch+json")
            .body(json!({"spec": {"ports": [{"name": "extra", "port": 8022, "targetPort": 22}]}})),
        ],
    ));
    out.push(scenario(
        "a dry run is answered but not stored",
        Kubesim,
        vec![
            Step::new(
                Method::POST,
                format!("/api/v1/namespaces/{ns}/configmaps?dryRun=All"),
                Fields(vec!["/kind".into()]),
            )
            .body(json!({"metadata": {"name": "dry"}, "data": {"a": "b"}})),
            Step::new(
                Method::GET,
                format!("/api/v1/namespaces/{ns}/configmaps/dry"),
                Status,
            ),
        ],
    ));
    out.push(scenario(
        "a watch from a future resourceVersion",
        Kubesim,
        vec![Step::new(Method::GET, format!("/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion=999999999&timeoutSeconds=2"), Events)],
    ));
    out
}

/// A watch over a scenario's steps: started from the list before the first step.
async fn watch_events(client: &Client, ns: &str, rv: &str) -> Seen {
    let step = Step::new(
        Method::GET,
        format!(
            "/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=2"
        ),
        Compare::Events,
    );
    let (code, bytes) = send(client, &step).await;
    reduce(&step.compare, code, &bytes)
}

async fn list_rv(client: &Client, ns: &str) -> String {
    let step = Step::new(
        Method::GET,
        format!("/api/v1/namespaces/{ns}/configmaps"),
        Compare::Nothing,
    );
    let (_, bytes) = send(client, &step).await;
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    at(&value, "/metadata/resourceVersion")
}

async fn default_account(client: &Client, ns: &str) {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    for _ in 0..100 {
        if accounts.get_opt("default").await.is_ok_and(|a| a.is_some()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no default ServiceAccount in {ns}");
}

/// Waits until the quota controller has written the status of the ResourceQuota at `path`.
async fn quota_counted(client: &Client, path: &str) {
    for _ in 0..100 {
        let request = Request::builder()
            .uri(path)
            .body(Vec::new())
            .expect("request");
        let quota: Result<k8s_openapi::api::core::v1::ResourceQuota, _> =
            client.request(request).await;
        if quota.is_ok_and(|q| q.status.and_then(|s| s.hard).is_some()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the quota at {path} was never counted");
}

#[tokio::test]
async fn real_control_plane_differential_kubesim_answers_as_kube_apiserver_does() {
    let Some(plane) = ControlPlane::start_or_skip("real_control_plane_differential").await else {
        return;
    };
    let real = plane.admin_client().await;
    let settings = Settings::default();
    cluster::prepare(&real, &settings).await;
    // No node agent on either side: pods stay unscheduled on both.
    let sim = kubesim::KubeSim::start(kubesim::Config {
        node_agent: false,
        ..kubesim::Config::default()
    })
    .await
    .expect("kubesim starts");
    let fake = sim.client().expect("kubesim client");
    let loaded = curriculum::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("example-curriculum"),
        &Options {
            instance_id: "diff".into(),
            ..Options::default()
        },
    );
    let curriculum = loaded.valid().expect("example curriculum").clone();

    let mut steps = 0;
    let mut differences: Vec<(Surface, String)> = Vec::new();
    let all = scenarios(&curriculum);
    for scenario in &all {
        let watched_ns = scenario
            .name
            .starts_with("watch a namespace")
            .then(|| "diff-router0001".to_owned());
        let rvs = match &watched_ns {
            Some(ns) => Some((list_rv(&fake, ns).await, list_rv(&real, ns).await)),
            None => None,
        };
        for (index, step) in scenario.steps.iter().enumerate() {
            if let Some(path) = step.path.strip_suffix("?wait-for-count") {
                quota_counted(&real, path).await;
                continue;
            }
            if step.path.ends_with("?wait-for-default") {
                let ns = step.path.split('/').nth(4).unwrap_or_default();
                default_account(&real, ns).await;
                continue;
            }
            let (fake_code, fake_bytes) = send(&fake, step).await;
            let (real_code, real_bytes) = send(&real, step).await;
            steps += 1;
            let ours = reduce(&step.compare, fake_code, &fake_bytes);
            let theirs = reduce(&step.compare, real_code, &real_bytes);
            for key in ours
                .0
                .keys()
                .chain(theirs.0.keys())
                .collect::<BTreeSet<_>>()
            {
                let (a, b) = (ours.0.get(key), theirs.0.get(key));
                if a != b {
                    differences.push((
                        scenario.surface,
                        format!(
                            "{} / step {index} ({} {}): {key}: kubesim {} vs kube-apiserver {}",
                            scenario.name,
                            step.method,
                            step.path,
                            a.map_or("<none>", String::as_str),
                            b.map_or("<none>", String::as_str)
                        ),
                    ));
                }
            }
        }
        if let (Some(ns), Some((fake_rv, real_rv))) = (&watched_ns, rvs) {
            let ours = watch_events(&fake, ns, &fake_rv).await;
            let theirs = watch_events(&real, ns, &real_rv).await;
            steps += 1;
            if ours != theirs {
                differences.push((
                    scenario.surface,
                    format!(
                        "{} / watch: kubesim {:?} vs kube-apiserver {:?}",
                        scenario.name, ours.0, theirs.0
                    ),
                ));
            }
        }
    }
    let backend: Vec<&String> = differences
        .iter()
        .filter(|(s, _)| *s == Surface::Backend)
        .map(|(_, d)| d)
        .collect();
    let undocumented: Vec<&String> = differences
        .iter()
        .filter(|(s, d)| *s == Surface::Kubesim && !DELIBERATE.iter().any(|k| d.starts_with(k)))
        .map(|(_, d)| d)
        .collect();
    for (_, difference) in &differences {
        eprintln!("difference: {difference}");
    }
    eprintln!(
        "differential: {} scenarios ({steps} requests) compared against kube-apiserver {}: {} differences ({} on the backend's surface, {} deliberate)",
        all.len(),
        crate::harness::kubernetes_version(),
        differences.len(),
        backend.len(),
        differences.len() - backend.len() - undocumented.len(),
    );
    assert!(
        backend.is_empty(),
        "differences on the backend's surface: {backend:#?}"
    );
    assert!(
        undocumented.is_empty(),
        "undocumented differences: {undocumented:#?}"
    );
    sim.shutdown().await;
}
