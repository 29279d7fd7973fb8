//! The `kubesim` binary's command line: help and version print and exit 0 without starting
//! anything, usage errors and failed starts are one line on stderr and a non-zero exit.

// A test's helpers fail the test on a broken expectation (the workspace lints keep
// `expect` and `unwrap` out of runtime code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// An empty directory of its own for one run, removed afterwards.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kubesim-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn files(&self) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `kubesim args` in `dir`, with backtraces asked for so that one would show. A run
/// that is still going after 60 s (a server started by mistake) is killed and fails the test.
fn kubesim(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "kubesim {args:?} still running after 60 s; stdout: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit status `code`, nothing on stdout, and one line on stderr starting with `error: `
/// and containing `wanted`.
fn assert_one_line_error(out: &Output, code: i32, wanted: &str) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr:?}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr:?}");
    assert!(stderr.contains(wanted), "{wanted:?} not in {stderr:?}");
    assert!(!stderr.contains("For more information"), "{stderr:?}");
}

#[test]
fn help_prints_usage_exits_0_and_writes_nothing() {
    let cases: [(&[&str], &[&str]); 5] = [
        (&["--help"], &["serve", "agent", "bench"]),
        (&["serve", "--help"], &["--kubeconfig", "--port", "--seed"]),
        (
            &["agent", "--help"],
            &["--kubeconfig", "--node", "--bind-unscheduled", "--services"],
        ),
        (&["bench", "--help"], &["--namespaces", "--concurrency"]),
        (&["help", "serve"], &["--kubeconfig", "--port", "--seed"]),
    ];
    for (args, flags) in cases {
        let dir = WorkDir::new("help");
        let out = kubesim(&dir.0, args);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(stdout.contains("Usage: kubesim"), "{args:?}: {stdout}");
        for flag in flags {
            assert!(stdout.contains(flag), "{args:?}: no {flag} in {stdout}");
        }
        assert_eq!(dir.files(), Vec::<String>::new(), "{args:?} wrote files");
    }
}

#[test]
fn version_prints_the_crate_version() {
    let dir = WorkDir::new("version");
    let out = kubesim(&dir.0, &["--version"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        format!("kubesim {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(dir.files(), Vec::<String>::new());
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    let cases: [(&[&str], &str); 6] = [
        (&["--no-such-flag"], "--no-such-flag"),
        (&["serve", "--no-such-flag"], "--no-such-flag"),
        (&["serve", "--port", "eighty"], "--port"),
        (&["agent"], "--node"),
        (
            &[
                "agent",
                "--kubeconfig",
                "k",
                "--node",
                "n",
                "--services",
                "3/2",
            ],
            "I < N",
        ),
        (&["bench", "--namespaces", "lots"], "--namespaces"),
    ];
    for (args, wanted) in cases {
        let dir = WorkDir::new("usage");
        let out = kubesim(&dir.0, args);
        assert_one_line_error(&out, 2, wanted);
        assert_eq!(dir.files(), Vec::<String>::new(), "{args:?} wrote files");
    }
}

#[test]
fn a_failed_start_is_one_line_and_exits_1() {
    let dir = WorkDir::new("start");
    let out = kubesim(&dir.0, &["agent", "--kubeconfig", "missing", "--node", "n"]);
    assert_one_line_error(&out, 1, "reading missing");

    // The port is taken: the API cannot bind it, and no kubeconfig is written.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = kubesim(&dir.0, &["serve", "--port", &port]);
    assert_one_line_error(&out, 1, "binding the API listener");
    assert_eq!(dir.files(), Vec::<String>::new());
}
