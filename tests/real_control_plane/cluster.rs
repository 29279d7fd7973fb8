//! What a cluster must offer before the scheduler provisions livelessons, as an operator
//! sets it up: the Multus NetworkAttachmentDefinition CRD, the RuntimeClass untrusted
//! images run under, and the secrets namespace with the TLS secret livelessons copy.

use std::time::Duration;

use antidote_scheduler::backend::Settings;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use serde_json::json;

/// Name of the NetworkAttachmentDefinition CRD.
const NAD_CRD: &str = "network-attachment-definitions.k8s.cni.cncf.io";

/// Installs the CRD and RuntimeClass and seeds the secrets `settings` names; returns the
/// secrets as stored.
pub async fn prepare(client: &Client, settings: &Settings) -> Vec<Secret> {
    install_nad_crd(client).await;
    let classes: Api<RuntimeClass> = Api::all(client.clone());
    let class: RuntimeClass = serde_json::from_value(json!({
        "metadata": { "name": settings.untrusted_runtime_class },
        "handler": settings.untrusted_runtime_class,
    }))
    .expect("runtime class");
    classes
        .create(&PostParams::default(), &class)
        .await
        .expect("runtime class created");
    crate::helpers::seed_cluster(client, settings).await
}

/// The Multus CRD: namespaced `k8s.cni.cncf.io/v1` NetworkAttachmentDefinition whose
/// `spec.config` is a CNI configuration in a string.
async fn install_nad_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": { "name": NAD_CRD },
        "spec": {
            "group": "k8s.cni.cncf.io",
            "scope": "Namespaced",
            "names": {
                "plural": "network-attachment-definitions",
                "singular": "network-attachment-definition",
                "kind": "NetworkAttachmentDefinition",
                "shortNames": ["net-attach-def"],
            },
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "apiVersion": { "type": "string" },
                        "kind": { "type": "string" },
                        "metadata": { "type": "object" },
                        "spec": {
                            "type": "object",
                            "properties": { "config": { "type": "string" } },
                        },
                    },
                }},
            }],
        },
    }))
    .expect("crd");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("NAD CRD created");
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(crds, NAD_CRD, conditions::is_crd_established()),
    )
    .await
    .expect("NAD CRD established in time")
    .expect("watching the CRD");
}
