//! Lists: label and field selectors, their syntax errors, and pagination.

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::{api_err, eventually, make_ns, obj, start};

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
