//! What a client finds: a client built from the URL, a sane kubeconfig, the version and
//! the default namespaces, and the discovery endpoints.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};

use crate::{raw, start};

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
