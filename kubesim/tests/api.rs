//! API-level tests: CRUD of every resource, selectors, watches, Status errors, validation,
//! namespace termination, discovery, and refusal of unimplemented requests.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use kubesim::{Config, KubeSim};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use std::fmt::Debug;
use std::time::{Duration, Instant};

async fn start() -> (KubeSim, Client) {
    let sim = KubeSim::start(Config {
        seed: Some(7),
        ..Config::default()
    })
    .await
    .unwrap();
    let config = kube::Config::new(sim.url().parse().unwrap());
    let client = Client::try_from(config).unwrap();
    (sim, client)
}

async fn make_ns(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .unwrap();
}

/// Polls `f` until it returns Some or the deadline passes.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn api_err(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn raw(
    client: &Client,
    method: &str,
    path: &str,
    body: Option<Value>,
    ct: &str,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", ct)
        .body(
            body.map(|b| serde_json::to_vec(&b).unwrap())
                .unwrap_or_default(),
        )
        .unwrap();
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        code,
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())),
    )
}

fn obj<K: DeserializeOwned>(v: Value) -> K {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn client_builds_from_url_and_kubeconfig_is_sane() {
    let (sim, client) = start().await;
    assert!(sim.url().starts_with("http://127.0.0.1:"));
    assert!(sim.kubeconfig_yaml().contains("current-context: kubesim"));
    let v = client.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
    let nss: Api<Namespace> = Api::all(client);
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(kube::ResourceExt::name_any)
        .collect();
    assert_eq!(names, vec!["default", "kube-system"]);
    sim.shutdown().await;
}

/// create, get, list, update (PUT), merge patch, delete, then 404.
async fn crud<K>(api: Api<K>, o: K)
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let created = api.create(&PostParams::default(), &o).await.unwrap();
    let name = created.name_any();
    let meta = created.meta();
    assert!(
        meta.uid.is_some() && meta.creation_timestamp.is_some() && meta.resource_version.is_some()
    );
    let rv1: u64 = meta.resource_version.clone().unwrap().parse().unwrap();
    let got = api.get(&name).await.unwrap();
    assert_eq!(got.meta().uid, meta.uid);
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert!(listed.items.iter().any(|i| i.name_any() == name));
    // Optimistic concurrency, as every client must handle it: a controller (a pod's
    // kubelet, say) may write the object between a read and a replace (409 Conflict).
    let mut updated = None;
    for _ in 0..10 {
        let mut changed = api.get(&name).await.unwrap();
        changed
            .meta_mut()
            .labels
            .get_or_insert_default()
            .insert("updated".into(), "yes".into());
        match api.replace(&name, &PostParams::default(), &changed).await {
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            other => {
                updated = Some(other.unwrap());
                break;
            }
        }
    }
    let updated = updated.expect("a replace won within 10 tries");
    let rv2: u64 = updated
        .meta()
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1, "resourceVersion grows");
    let patched = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"patched": "1"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.annotations().get("patched").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        patched.labels().get("updated").map(String::as_str),
        Some("yes")
    );
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    // Namespaces linger while Terminating; everything else is gone at once.
    eventually("object gone", || async {
        match api.get(&name).await {
            Err(e) => {
                assert_eq!(api_err(e), (404, "NotFound".into()));
                Some(())
            }
            Ok(_) => None,
        }
    })
    .await;
}

#[tokio::test]
async fn crud_of_every_resource() {
    let (sim, client) = start().await;
    let c = client.clone();
    let ns = "crud";
    make_ns(&client, ns).await;
    crud::<ConfigMap>(
        Api::namespaced(c.clone(), ns),
        obj(json!({"metadata": {"name": "cm"}, "data": {"k": "v"}})),
    )
    .await;
    crud::<Secret>(
        Api::namespaced(c.clone(), ns),
        obj(json!({"metadata": {"name": "sec"}, "stringData": {"k": "v"}})),
    )
    .await;
    crud::<Service>(
        Api::namespaced(c.clone(), ns),
        obj(json!({"metadata": {"name": "svc"}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}})),
    )
    .await;
    crud::<Event>(
        Api::namespaced(c.clone(), ns),
        obj(json!({"metadata": {"name": "ev"}, "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Test"})),
    )
    .await;
    crud::<NetworkPolicy>(
        Api::namespaced(c.clone(), ns),
        obj(json!({"metadata": {"name": "np"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})),
    )
    .await;
    crud::<Ingress>(
        Api::namespaced(c.clone(), ns),
        obj(json!({"metadata": {"name": "ing"}, "spec": {"rules": [{"host": "a.example.com"}]}})),
    )
    .await;
    // Boxed: the typed objects make these futures large.
    Box::pin(crud::<Pod>(
        Api::namespaced(c.clone(), ns),
        obj(json!({"metadata": {"name": "pod"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})),
    ))
    .await;
    Box::pin(crud::<Job>(
        Api::namespaced(c.clone(), ns),
        obj(json!({"metadata": {"name": "job"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})),
    ))
    .await;
    crud::<Namespace>(
        Api::all(c.clone()),
        obj(json!({"metadata": {"name": "crud2"}})),
    )
    .await;
    let gvk = GroupVersionKind::gvk("k8s.cni.cncf.io", "v1", "NetworkAttachmentDefinition");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "network-attachment-definitions");
    let nad: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &ar);
    let mut d = DynamicObject::new("net1", &ar);
    d.data = json!({"spec": {"config": "{\"cniVersion\":\"0.3.1\",\"type\":\"bridge\"}"}});
    crud(nad, d).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn generate_name_and_server_metadata() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let a = cms
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"generateName": "gen-"}})),
        )
        .await
        .unwrap();
    let b = cms
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"generateName": "gen-"}})),
        )
        .await
        .unwrap();
    assert!(a.name_any().starts_with("gen-") && a.name_any().len() == 9);
    assert_ne!(a.name_any(), b.name_any());
    assert_ne!(a.uid(), b.uid());
    assert_eq!(a.metadata.generation, Some(1));
    let rv_a: u64 = a.resource_version().unwrap().parse().unwrap();
    let rv_b: u64 = b.resource_version().unwrap().parse().unwrap();
    assert!(rv_b > rv_a);
    sim.shutdown().await;
}

#[tokio::test]
async fn label_and_field_selectors() {
    let (sim, client) = start().await;
    make_ns(&client, "sel").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "sel");
    for (name, labels) in [
        ("a", json!({"app": "web", "tier": "fe"})),
        ("b", json!({"app": "db"})),
        ("c", json!({})),
    ] {
        cms.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": name, "labels": labels}})),
        )
        .await
        .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .iter()
            .map(kube::ResourceExt::name_any)
            .collect::<Vec<_>>()
    };
    let q = |s: &str| ListParams::default().labels(s);
    assert_eq!(names(cms.list(&q("app=web")).await.unwrap()), ["a"]);
    assert_eq!(names(cms.list(&q("app==db")).await.unwrap()), ["b"]);
    assert_eq!(names(cms.list(&q("app!=web")).await.unwrap()), ["b", "c"]);
    assert_eq!(
        names(cms.list(&q("app in (web,db)")).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        names(cms.list(&q("app notin (web)")).await.unwrap()),
        ["b", "c"]
    );
    assert_eq!(names(cms.list(&q("tier")).await.unwrap()), ["a"]);
    assert_eq!(names(cms.list(&q("!app")).await.unwrap()), ["c"]);
    assert_eq!(names(cms.list(&q("app,!tier")).await.unwrap()), ["b"]);
    assert_eq!(
        api_err(cms.list(&q("app in (web")).await.unwrap_err()).0,
        400
    );
    let f = |s: &str| ListParams::default().fields(s);
    assert_eq!(names(cms.list(&f("metadata.name=b")).await.unwrap()), ["b"]);
    assert_eq!(
        names(cms.list(&f("metadata.name!=b")).await.unwrap()),
        ["a", "c"]
    );
    let all: Api<ConfigMap> = Api::all(client.clone());
    assert_eq!(
        all.list(&f("metadata.namespace=sel"))
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    assert_eq!(
        api_err(cms.list(&f("data.k=v")).await.unwrap_err()),
        (400, "BadRequest".into())
    );
    // Pagination: limit + continue.
    let page = cms.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let token = page.metadata.continue_.clone().unwrap();
    let rest = cms
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(rest), ["c"]);
    // status.phase on pods.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "sel");
    pods.create(&PostParams::default(), &obj(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})))
        .await
        .unwrap();
    eventually("pod running", || async {
        let l = pods.list(&f("status.phase=Running")).await.unwrap();
        (l.items.len() == 1).then_some(())
    })
    .await;
    assert!(
        pods.list(&f("status.phase=Pending"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        pods.list(&f("spec.nodeName=kubesim-node"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_is_ordered_resumable_and_bookmarks() {
    let sim = KubeSim::start(Config {
        seed: Some(1),
        bookmark_interval: Duration::from_millis(50),
        ..Config::default()
    })
    .await
    .unwrap();
    let client = sim.client().unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let a = cms
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "a"}})),
        )
        .await
        .unwrap();
    let rv = a.resource_version().unwrap();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    cms.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "b"}})),
    )
    .await
    .unwrap();
    cms.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    let mut bookmark = false;
    let mut modified_rv = String::new();
    while seen.len() < 3 || !bookmark {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.name_any())),
            WatchEvent::Modified(o) => {
                modified_rv = o.resource_version().unwrap();
                seen.push(format!("MODIFIED {}", o.name_any()));
            }
            WatchEvent::Deleted(o) => seen.push(format!("DELETED {}", o.name_any())),
            WatchEvent::Bookmark(_) => bookmark = true,
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(seen, ["ADDED b", "MODIFIED b", "DELETED a"]);
    // Resume after the MODIFIED event: only the delete remains.
    let mut resumed = cms
        .watch(&WatchParams::default().disable_bookmarks(), &modified_rv)
        .await
        .unwrap()
        .boxed();
    match resumed.try_next().await.unwrap().unwrap() {
        WatchEvent::Deleted(o) => assert_eq!(o.name_any(), "a"),
        other => panic!("unexpected {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_from_compacted_history_is_gone() {
    let sim = KubeSim::start(Config {
        seed: Some(2),
        event_history: 16,
        ..Config::default()
    })
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    for i in 0..40 {
        cms.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": format!("c{i}")}})),
        )
        .await
        .unwrap();
    }
    let mut s = cms
        .watch(&WatchParams::default(), "2")
        .await
        .unwrap()
        .boxed();
    match s.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected 410, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn kube_runtime_watcher_works_with_list_watch_and_streaming_lists() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "pre"}})),
    )
    .await
    .unwrap();
    for cfg in [
        watcher::Config::default().page_size(1),
        watcher::Config::default().streaming_lists(),
    ] {
        let mut stream = watcher(cms.clone(), cfg).applied_objects().boxed();
        while stream.try_next().await.unwrap().unwrap().name_any() != "pre" {}
        let name = format!("post-{}", sim.store().current_rv());
        cms.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": name}})),
        )
        .await
        .unwrap();
        loop {
            let o = stream.try_next().await.unwrap().unwrap();
            if o.name_any() == name {
                break;
            }
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn status_errors_have_real_codes_and_reasons() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    assert_eq!(
        api_err(cms.get("nope").await.unwrap_err()),
        (404, "NotFound".into())
    );
    let missing: Api<ConfigMap> = Api::namespaced(client.clone(), "missing");
    let e = missing
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "x"}})),
        )
        .await
        .unwrap_err();
    match &e {
        kube::Error::Api(s) => assert!(
            s.message.contains("namespaces \"missing\" not found"),
            "{}",
            s.message
        ),
        _ => panic!(),
    }
    assert_eq!(api_err(e), (404, "NotFound".into()));
    let c = cms
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        api_err(
            cms.create(
                &PostParams::default(),
                &obj(json!({"metadata": {"name": "x"}}))
            )
            .await
            .unwrap_err()
        ),
        (409, "AlreadyExists".into())
    );
    cms.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "b"}})),
    )
    .await
    .unwrap();
    // `c` carries the old resourceVersion now.
    assert_eq!(
        api_err(
            cms.replace("x", &PostParams::default(), &c)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );
    let stale = Patch::Merge(
        json!({"metadata": {"resourceVersion": c.resource_version().unwrap()}, "data": {"a": "c"}}),
    );
    assert_eq!(
        api_err(
            cms.patch("x", &PatchParams::default(), &stale)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );
    // 403 in a terminating namespace.
    let sim2 = KubeSim::start(Config {
        namespace_termination_delay: Duration::from_secs(30),
        ..Config::default()
    })
    .await
    .unwrap();
    let c2 = sim2.client().unwrap();
    make_ns(&c2, "term").await;
    let nss: Api<Namespace> = Api::all(c2.clone());
    nss.delete("term", &DeleteParams::default()).await.unwrap();
    let in_term: Api<ConfigMap> = Api::namespaced(c2.clone(), "term");
    assert_eq!(
        api_err(
            in_term
                .create(
                    &PostParams::default(),
                    &obj(json!({"metadata": {"name": "x"}}))
                )
                .await
                .unwrap_err()
        ),
        (403, "Forbidden".into())
    );
    assert_eq!(
        api_err(
            nss.delete("default", &DeleteParams::default())
                .await
                .unwrap_err()
        )
        .0,
        403
    );
    // 422 with causes.
    match cms
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "Bad_Name"}})),
        )
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
        }
        other => panic!("{other:?}"),
    }
    let (code, body) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some(json!({"metadata": {"name": "Bad_Name"}})),
        "application/json",
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(body["details"]["causes"][0]["field"], "metadata.name");
    assert_eq!(body["details"]["causes"][0]["reason"], "FieldValueInvalid");
    sim2.shutdown().await;
    sim.shutdown().await;
}

/// Every ported rule: (resource path, body, expect valid, field of the cause).
#[tokio::test]
async fn ported_name_and_label_rules() {
    let (sim, client) = start().await;
    let long63 = "a".repeat(63);
    let long64 = "a".repeat(64);
    let ns_path = "/api/v1/namespaces";
    let cm_path = "/api/v1/namespaces/default/configmaps";
    let svc_path = "/api/v1/namespaces/default/services";
    let svc = |n: &str| json!({"metadata": {"name": n}, "spec": {"ports": [{"port": 80}]}});
    let cm = |n: &str| json!({"metadata": {"name": n}});
    let cml = |k: &str, v: &str| json!({"metadata": {"generateName": "l-", "labels": {k: v}}});
    let cases: Vec<(&str, Value, bool, &str)> = vec![
        // IsDNS1123Label for namespaces
        (ns_path, cm("ok-ns1"), true, ""),
        (ns_path, cm(&long63), true, ""),
        (ns_path, cm(&long64), false, "metadata.name"),
        (ns_path, cm("Upper"), false, "metadata.name"),
        (ns_path, cm("dot.ted"), false, "metadata.name"),
        (ns_path, cm("-lead"), false, "metadata.name"),
        (ns_path, cm("trail-"), false, "metadata.name"),
        // IsDNS1035Label for services
        (svc_path, svc("svc-1"), true, ""),
        (svc_path, svc("1svc"), false, "metadata.name"),
        (svc_path, svc("a.b"), false, "metadata.name"),
        (svc_path, svc(&long64), false, "metadata.name"),
        // IsDNS1123Subdomain for most objects
        (cm_path, cm("a.b-c.d"), true, ""),
        (cm_path, cm("1abc"), true, ""),
        (cm_path, cm("a..b"), false, "metadata.name"),
        (cm_path, cm("under_score"), false, "metadata.name"),
        (cm_path, cm(&"a".repeat(254)), false, "metadata.name"),
        // IsQualifiedName for label keys
        (cm_path, cml("example.com/My_key.x", "v"), true, ""),
        (cm_path, cml("bad/key/x", "v"), false, "metadata.labels"),
        (cm_path, cml("-bad", "v"), false, "metadata.labels"),
        (cm_path, cml(&long64, "v"), false, "metadata.labels"),
        (cm_path, cml("Bad_Prefix/k", "v"), false, "metadata.labels"),
        (cm_path, cml("/k", "v"), false, "metadata.labels"),
        // IsValidLabelValue
        (cm_path, cml("k", ""), true, ""),
        (cm_path, cml("k", "Ok_v.1"), true, ""),
        (cm_path, cml("k", "-v"), false, "metadata.labels"),
        (cm_path, cml("k", "v-"), false, "metadata.labels"),
        (cm_path, cml("k", &long64), false, "metadata.labels"),
        (cm_path, cml("k", "sp ace"), false, "metadata.labels"),
        // IsConfigMapKey
        (
            cm_path,
            json!({"metadata": {"generateName": "k-"}, "data": {"bad key": "v"}}),
            false,
            "data[bad key]",
        ),
    ];
    for (path, body, valid, field) in cases {
        let (code, resp) = raw(
            &client,
            "POST",
            path,
            Some(body.clone()),
            "application/json",
        )
        .await;
        if valid {
            assert_eq!(code, 201, "{body} should be valid: {resp}");
        } else {
            assert_eq!(code, 422, "{body} should be invalid: {resp}");
            assert_eq!(resp["reason"], "Invalid");
            let causes = resp["details"]["causes"].as_array().unwrap();
            assert!(causes.iter().any(|c| c["field"] == field), "{body}: {resp}");
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn namespace_termination_cascades() {
    let (sim, client) = start().await;
    make_ns(&client, "doomed").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "doomed");
    cms.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "cm"}})),
    )
    .await
    .unwrap();
    pods.create(&PostParams::default(), &obj(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})))
        .await
        .unwrap();
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = cms
        .watch(&WatchParams::default().disable_bookmarks(), &rv)
        .await
        .unwrap()
        .boxed();
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns = nss
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(ns.metadata.deletion_timestamp.is_some());
    match events.try_next().await.unwrap().unwrap() {
        WatchEvent::Deleted(o) => assert_eq!(o.name_any(), "cm"),
        other => panic!("{other:?}"),
    }
    eventually("namespace gone", || async {
        nss.get_opt("doomed").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(pods.get_opt("p").await.unwrap().is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn discovery_endpoints() {
    let (sim, client) = start().await;
    let (c, v) = raw(&client, "GET", "/api", None, "").await;
    assert_eq!((c, v["versions"][0].as_str()), (200, Some("v1")));
    let (_, v) = raw(&client, "GET", "/apis", None, "").await;
    let groups: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for g in ["batch", "networking.k8s.io", "k8s.cni.cncf.io"] {
        assert!(groups.contains(&g));
    }
    let (_, v) = raw(&client, "GET", "/apis/batch/v1", None, "").await;
    assert_eq!(v["resources"][0]["name"], "jobs");
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.has_group("networking.k8s.io"));
    sim.shutdown().await;
}

#[tokio::test]
async fn unimplemented_requests_are_refused() {
    let (sim, client) = start().await;
    let (c, v) = raw(
        &client,
        "GET",
        "/apis/apps/v1/namespaces/default/deployments",
        None,
        "",
    )
    .await;
    assert_eq!((c, v["reason"].as_str()), (404, Some("NotFound")));
    let (c, _) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/pods/x/exec",
        None,
        "",
    )
    .await;
    assert_eq!(c, 404);
    let (c, v) = raw(
        &client,
        "PUT",
        "/api/v1/namespaces/default/configmaps",
        Some(json!({})),
        "application/json",
    )
    .await;
    assert_eq!((c, v["reason"].as_str()), (405, Some("MethodNotAllowed")));
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "x"}})),
    )
    .await
    .unwrap();
    let apply = cms
        .patch(
            "x",
            &PatchParams::apply("test"),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
            ),
        )
        .await;
    assert_eq!(
        api_err(apply.unwrap_err()),
        (415, "UnsupportedMediaType".into())
    );
    let (c, _) = raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/x",
        Some(json!([{"op": "add", "path": "/data", "value": {}}])),
        "application/json-patch+json",
    )
    .await;
    assert_eq!(c, 415);
    // Strategic merge patch is applied like a merge patch.
    let p = cms
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"k": "v"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data.unwrap()["k"], "v");
    sim.shutdown().await;
}

#[tokio::test]
async fn status_subresource_generation_and_deletecollection() {
    let (sim, client) = start().await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    // A job whose pods never get an IP-bound listener; suspend-free, just check status rules.
    let j = jobs
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}})),
        )
        .await
        .unwrap();
    assert_eq!(j.spec.as_ref().unwrap().backoff_limit, Some(6));
    // Writing status through the main resource is ignored; through /status it sticks.
    let ps = PatchParams::default();
    let p = jobs
        .patch("j", &ps, &Patch::Merge(json!({"status": {"failed": 42}})))
        .await
        .unwrap();
    assert_ne!(p.status.unwrap().failed, Some(42));
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let c = cms
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "g"}, "data": {"a": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(c.metadata.generation, Some(1));
    let c2 = cms
        .patch("g", &ps, &Patch::Merge(json!({"data": {"a": "2"}})))
        .await
        .unwrap();
    assert_eq!(c2.metadata.generation, Some(2));
    let c3 = cms
        .patch(
            "g",
            &ps,
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        c3.metadata.generation,
        Some(2),
        "metadata changes do not bump generation"
    );
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(&PostParams::default(), &obj(json!({"metadata": {"name": "s"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})))
        .await
        .unwrap();
    let st = pods
        .patch_status(
            "s",
            &ps,
            &Patch::Merge(json!({"status": {"message": "hello"}})),
        )
        .await
        .unwrap();
    assert_eq!(st.status.unwrap().message.as_deref(), Some("hello"));
    // deletecollection with a selector.
    for n in ["d1", "d2"] {
        cms.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": n, "labels": {"del": "yes"}}})),
        )
        .await
        .unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("del=yes"),
    )
    .await
    .unwrap();
    let left: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(kube::ResourceExt::name_any)
        .collect();
    assert_eq!(left, ["g"]);
    sim.shutdown().await;
}
