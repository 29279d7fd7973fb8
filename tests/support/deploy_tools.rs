//! The pinned helm and kustomize (`scripts/deploy-tools.sh`) for the tests that render the
//! deployment (`tests/deploy`, and the real control plane's install tests): finding them,
//! running them, and reading what they render.
//!
//! Without the tools a test passes saying it skipped, unless `ANTIDOTE_DEPLOY_TOOLS=require`
//! or `ANTIDOTE_REAL_CONTROL_PLANE=require` (CI sets both): then their absence fails it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

/// The workspace.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Helm chart.
pub fn chart_dir() -> PathBuf {
    root().join("deploy/helm/antidote-scheduler")
}

/// The chart's values with every optional part on, as a `--values` argument.
pub fn optional_values() -> String {
    chart_dir()
        .join("ci/optional-values.yaml")
        .to_str()
        .expect("UTF-8 path")
        .to_owned()
}

/// The directory of the pinned helm and kustomize; `None`, after saying why, when they are
/// not built and not required.
pub fn tools(test: &str) -> Option<PathBuf> {
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

/// Runs a tool to its end: its stdout, or its stderr as the error.
pub fn run(program: &Path, args: &[&str]) -> Result<String, String> {
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
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("UTF-8"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The non-empty documents of a YAML stream, as JSON values.
pub fn yaml_documents(source: &str, text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| {
            Value::deserialize(doc).unwrap_or_else(|e| panic!("{source}: not YAML for JSON: {e}"))
        })
        .filter(|value| !value.is_null())
        .collect()
}

/// `helm template RELEASE chart --namespace NAMESPACE extra...`, or helm's error.
pub fn helm_template(
    tools: &Path,
    release: &str,
    namespace: &str,
    extra: &[&str],
) -> Result<Vec<Value>, String> {
    let chart = chart_dir();
    let chart = chart.to_str().expect("UTF-8 path");
    let mut args = vec!["template", release, chart, "--namespace", namespace];
    args.extend_from_slice(extra);
    run(&tools.join("helm"), &args).map(|text| yaml_documents("helm template", &text))
}

/// `kustomize build deploy/`.
pub fn kustomize_build(tools: &Path) -> Vec<Value> {
    let deploy = root().join("deploy");
    let text = run(
        &tools.join("kustomize"),
        &["build", deploy.to_str().expect("UTF-8 path")],
    )
    .unwrap_or_else(|e| panic!("kustomize build deploy/: {e}"));
    yaml_documents("kustomize build", &text)
}
