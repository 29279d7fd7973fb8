//! ResourceQuota admission: kube-apiserver's refusals, status and messages for pods over
//! a namespace's compute quota.

use super::{api_err, eventually, make_ns, start};
use k8s_openapi::api::core::v1::{LimitRange, Pod, ResourceQuota};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

fn quota(cpu: &str, memory: &str) -> ResourceQuota {
    serde_json::from_value(json!({
        "metadata": {"name": "budget"},
        "spec": {"hard": {
            "requests.cpu": cpu, "limits.cpu": cpu,
            "requests.memory": memory, "limits.memory": memory,
        }},
    }))
    .unwrap()
}

fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
    let size = json!({"cpu": cpu, "memory": memory});
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox",
                "resources": {"requests": size, "limits": size}}],
            "containers": [{"name": "main", "image": "busybox",
                "resources": {"requests": size, "limits": size}}],
        },
    }))
    .unwrap()
}

fn refusal(err: kube::Error) -> (u16, String, String) {
    match err {
        kube::Error::Api(status) => (status.code, status.reason.clone(), status.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_pod_past_the_quota_is_refused_in_kube_apiservers_words() {
    let (_sim, client) = start().await;
    make_ns(&client, "q1").await;
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "q1");
    quotas
        .create(&PostParams::default(), &quota("1", "1Gi"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "q1");
    pods.create(&PostParams::default(), &pod("a", "600m", "512Mi"))
        .await
        .unwrap();

    let err = pods
        .create(&PostParams::default(), &pod("b", "600m", "512Mi"))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(err),
        (
            403,
            "Forbidden".to_owned(),
            "pods \"b\" is forbidden: exceeded quota: budget, requested: \
             limits.cpu=600m,requests.cpu=600m, used: limits.cpu=600m,requests.cpu=600m, \
             limited: limits.cpu=1,requests.cpu=1"
                .to_owned()
        )
    );
    let err = pods.get("b").await.unwrap_err();
    assert_eq!(api_err(err).0, 404, "a refused pod is not stored");

    // The quota's status counts what was admitted (the init container runs alone, so it
    // adds nothing beyond the main container's share).
    let counted = quotas.get("budget").await.unwrap().status.unwrap();
    let used = counted.used.unwrap();
    assert_eq!(used["limits.cpu"].0, "600m");
    assert_eq!(used["requests.memory"].0, "512Mi");
    assert_eq!(counted.hard.unwrap()["limits.memory"].0, "1Gi");

    // Once the first pod is gone, the second fits.
    pods.delete("a", &DeleteParams::default()).await.unwrap();
    eventually("the first pod to go", || async {
        pods.get_opt("a").await.unwrap().is_none().then_some(())
    })
    .await;
    pods.create(&PostParams::default(), &pod("b", "600m", "512Mi"))
        .await
        .unwrap();
}

#[tokio::test]
async fn containers_that_name_no_limited_resource_are_refused() {
    let (_sim, client) = start().await;
    make_ns(&client, "q2").await;
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "q2");
    quotas
        .create(&PostParams::default(), &quota("1", "1Gi"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "q2");
    let bare: Pod = serde_json::from_value(json!({
        "metadata": {"name": "bare"},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }))
    .unwrap();
    let err = pods
        .create(&PostParams::default(), &bare)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(err),
        (
            403,
            "Forbidden".to_owned(),
            "pods \"bare\" is forbidden: failed quota: budget: must specify limits.cpu for: \
             main; limits.memory for: main; requests.cpu for: main; requests.memory for: main"
                .to_owned()
        )
    );
}

#[tokio::test]
async fn quotas_and_limit_ranges_are_stored_and_bad_quantities_refused() {
    let (_sim, client) = start().await;
    make_ns(&client, "q3").await;
    let ranges: Api<LimitRange> = Api::namespaced(client.clone(), "q3");
    let range: LimitRange = serde_json::from_value(json!({
        "metadata": {"name": "budget"},
        "spec": {"limits": [{"type": "Container",
            "default": {"cpu": "250m", "memory": "256Mi"},
            "defaultRequest": {"cpu": "250m", "memory": "256Mi"}}]},
    }))
    .unwrap();
    ranges.create(&PostParams::default(), &range).await.unwrap();
    let stored = ranges.get("budget").await.unwrap();
    assert_eq!(stored.spec, range.spec);

    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "q3");
    let err = quotas
        .create(&PostParams::default(), &quota("lots", "1Gi"))
        .await
        .unwrap_err();
    assert_eq!(api_err(err).0, 400);
}
