//! The manifests as an operator renders them: the pinned helm and kustomize, and readers of
//! the rendered documents.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde::Deserialize;
use serde_json::Value;


pub(super) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---- Rendering ---------------------------------------------------------------------

/// The pinned helm and kustomize (`scripts/deploy-tools.sh`), found as
/// `tests/deploy/chart.rs` finds them; `None` after saying why when they are not built,
/// unless `ANTIDOTE_DEPLOY_TOOLS=require` or `ANTIDOTE_REAL_CONTROL_PLANE=require` (a
/// missing tool then fails the test).
pub(super) fn tools(test: &str) -> Option<PathBuf> {
    let out = Command::new("bash")
        .arg(root().join("scripts/deploy-tools.sh"))
        .arg("bin-dir")
        .output()
        .expect("runs scripts/deploy-tools.sh");
    assert!(out.status.success(), "deploy-tools.sh bin-dir: {out:?}");
    let dir = PathBuf::from(String::from_utf8(out.stdout).expect("UTF-8").trim());
    // The stamp is written last, after both binaries were built at the pinned versions.
    if dir.join(".complete").is_file() {
        return Some(dir);
    }
    let message = format!(
        "{test}: skipped: no helm and kustomize in {} (build them with `bash \
         scripts/deploy-tools.sh`)",
        dir.display()
    );
    for var in ["ANTIDOTE_DEPLOY_TOOLS", "ANTIDOTE_REAL_CONTROL_PLANE"] {
        assert!(
            std::env::var(var).as_deref() != Ok("require"),
            "{message}, and {var}=require"
        );
    }
    eprintln!("{message}");
    None
}

/// Runs a tool to its end; its stdout.
pub(super) fn run_tool(program: &Path, args: &[&str]) -> String {
    // helm keeps no state for `template`, but give it a home of its own anyway.
    let home = tempfile::tempdir().expect("tempdir");
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The non-empty documents of a YAML stream.
pub(super) fn yaml_documents(source: &str, text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| {
            Value::deserialize(doc).unwrap_or_else(|e| panic!("{source}: not YAML for JSON: {e}"))
        })
        .filter(|value| !value.is_null())
        .collect()
}

/// `helm template RELEASE chart --namespace NAMESPACE extra...`.
pub(super) fn helm_template(
    tools: &Path,
    release: &str,
    namespace: &str,
    extra: &[&str],
) -> Vec<Value> {
    let chart = root().join("deploy/helm/antidote-scheduler");
    let chart = chart.to_str().expect("UTF-8 path");
    let mut args = vec!["template", release, chart, "--namespace", namespace];
    args.extend_from_slice(extra);
    yaml_documents("helm template", &run_tool(&tools.join("helm"), &args))
}

/// `kustomize build deploy/`.
pub(super) fn kustomize_build(tools: &Path) -> Vec<Value> {
    let deploy = root().join("deploy");
    let text = run_tool(
        &tools.join("kustomize"),
        &["build", deploy.to_str().expect("UTF-8 path")],
    );
    yaml_documents("kustomize build", &text)
}

pub(super) fn optional_values() -> String {
    root()
        .join("deploy/helm/antidote-scheduler/ci/optional-values.yaml")
        .to_str()
        .expect("UTF-8 path")
        .to_owned()
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
