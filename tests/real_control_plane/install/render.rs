//! The manifests as an operator renders them: the pinned helm and kustomize, and readers of
//! the rendered documents.

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

pub(super) use crate::deploy_tools::{
    helm_template as try_helm_template, kustomize_build, optional_values, root, tools,
};

/// `helm template RELEASE chart --namespace NAMESPACE extra...`.
pub(super) fn helm_template(
    tools: &Path,
    release: &str,
    namespace: &str,
    extra: &[&str],
) -> Vec<Value> {
    try_helm_template(tools, release, namespace, extra)
        .unwrap_or_else(|e| panic!("helm template: {e}"))
}

pub(super) fn text<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `Kind namespace/name`, for messages.
pub(super) fn describe(doc: &Value) -> String {
    let namespace = text(doc, "/metadata/namespace");
    let name = text(doc, "/metadata/name");
    if namespace.is_empty() {
        format!("{} {name}", text(doc, "/kind"))
    } else {
        format!("{} {namespace}/{name}", text(doc, "/kind"))
    }
}

/// The pod template of the Deployment or Job `name` of a render.
pub(super) fn template(render: &[Value], kind: &str, name: &str) -> PodTemplateSpec {
    let doc = render
        .iter()
        .find(|d| text(d, "/kind") == kind && text(d, "/metadata/name") == name)
        .unwrap_or_else(|| panic!("the render has no {kind} {name}"))
        .clone();
    match kind {
        "Deployment" => {
            let deployment: Deployment = serde_json::from_value(doc).expect("a Deployment");
            deployment.spec.expect("spec").template
        }
        "Job" => {
            let job: Job = serde_json::from_value(doc).expect("a Job");
            job.spec.expect("spec").template
        }
        other => panic!("{other} has no pod template"),
    }
}

// ---- Applying ----------------------------------------------------------------------
