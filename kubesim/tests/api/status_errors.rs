//! Status errors: real codes and reasons for missing objects and namespaces, conflicts,
//! writes into a terminating namespace, and invalid objects with their causes.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kubesim::{Config, KubeSim};
use serde_json::json;
use std::time::Duration;

use crate::{api_err, make_ns, obj, raw, start};

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
