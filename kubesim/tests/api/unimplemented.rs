//! Unimplemented requests are refused with the real codes (unknown resources, exec, wrong
//! methods, server-side apply and JSON patch), and a strategic merge patch is applied as a
//! merge patch.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::{api_err, obj, raw, start};

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
