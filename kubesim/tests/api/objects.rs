//! Objects: CRUD of every resource, generated names and server-set metadata, the status
//! subresource, generations, and deletecollection.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;
use std::fmt::Debug;

use crate::{api_err, eventually, make_ns, obj, start};

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
