//! Building and installing the peers' harnesses outside the repository: the Rust
//! workspace's binaries with `cargo`, River's with `go build`, the Node one with `npm ci`.
//! Each returns the directory holding what it made, or why it could not.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::params::Params;

/// `cargo build --release --locked -p <package>` of one member of the Rust harnesses'
/// workspace into its own target directory; returns the directory of the binaries.
/// Building by package keeps one peer that does not build from taking the others down.
pub(super) async fn build_rust_peer(params: &Params, package: &str) -> Result<PathBuf, String> {
    let workspace = params.peers_dir.join("rust");
    if !workspace.join("Cargo.toml").is_file() {
        return Err(format!("no harness at {}", workspace.display()));
    }
    if !workspace.join(package).join("Cargo.toml").is_file() {
        return Err(format!(
            "no harness at {} (the workspace has no {package} member)",
            workspace.join(package).display()
        ));
    }
    let target = params.work_dir.join("rust-target");
    eprintln!(
        "== building {package} in {} (target {})",
        workspace.display(),
        target.display()
    );
    let status = tokio::process::Command::new("cargo")
        .args(["build", "--release", "--locked", "--quiet", "-p", package])
        .current_dir(&workspace)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .status()
        .await
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build of {package} in {} failed ({status})",
            workspace.display()
        ));
    }
    Ok(target.join("release"))
}

/// The name of River's harness binary in its build directory.
pub(super) const RIVER_BINARY: &str = "river-bench";

/// `go build -o <work dir>/go/river-bench .` of the Go harness (River); returns that
/// directory. Go keeps its own build and module caches, so a second build is quick.
pub(super) async fn build_river_peer(params: &Params) -> Result<PathBuf, String> {
    let source = params.peers_dir.join("go");
    if !source.join("go.mod").is_file() || !source.join("main.go").is_file() {
        return Err(format!("no harness at {}", source.display()));
    }
    let out = params.work_dir.join("go");
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    eprintln!(
        "== building the River peer in {} (into {})",
        source.display(),
        out.display()
    );
    let status = tokio::process::Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(out.join(RIVER_BINARY))
        .arg(".")
        .current_dir(&source)
        .stdin(Stdio::null())
        .status()
        .await
        .map_err(|e| format!("running go (is Go installed?): {e}"))?;
    if !status.success() {
        return Err(format!(
            "go build of {} failed ({status})",
            source.display()
        ));
    }
    Ok(out)
}

/// Copies the Node harness's manifest, lock file and script into a work directory and
/// runs `npm ci` there (the shared folder is read-only); returns that directory.
pub(super) async fn install_node_peer(params: &Params) -> Result<PathBuf, String> {
    let source = params.peers_dir.join("node");
    if !source.join("graphile.mjs").is_file() {
        return Err(format!("no harness at {}", source.display()));
    }
    let dir = params.work_dir.join("node");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for file in ["package.json", "package-lock.json", "graphile.mjs"] {
        std::fs::copy(source.join(file), dir.join(file))
            .map_err(|e| format!("copying {file}: {e}"))?;
    }
    if !dir.join("node_modules").is_dir() {
        eprintln!("== installing the Node peer in {}", dir.display());
        let status = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .status()
            .await
            .map_err(|e| format!("running npm: {e}"))?;
        if !status.success() {
            return Err(format!("npm ci failed ({status})"));
        }
    }
    Ok(dir)
}

/// `dir/name` when that file exists, or why the peer cannot run.
pub(super) fn built_binary(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} was not built", path.display()))
    }
}
