//! Namespace termination: deleting a namespace marks it Terminating and cascades to the
//! objects in it before it is gone.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

use crate::{eventually, make_ns, obj, start};

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
