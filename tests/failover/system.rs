//! The system under test as production runs it: `antidoted` processes (`migrate`,
//! `curriculum import`, then `serve`: the API and the workers in one process) configured
//! by a YAML file, whose database is the proxy's address; and the Kubernetes they drive,
//! kubesim, served from this process on a runtime of its own (its node agent answers the
//! workers' reachability probes, which must not wait behind the test's own work).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::PostParams;

use super::pg;

/// The scheduler's instance id: namespaces are `failover-<livelesson id>`.
pub const INSTANCE_ID: &str = "failover";
/// Bearer token of the admin API.
pub const ADMIN_TOKEN: &str = "failover-operator";

/// kubesim on a runtime of its own, and the kubeconfig `antidoted` reads.
pub struct Kubernetes {
    sim: Option<kubesim::KubeSim>,
    runtime: Option<tokio::runtime::Runtime>,
    /// The kubeconfig file.
    pub kubeconfig: PathBuf,
}

impl std::fmt::Debug for Kubernetes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubernetes")
            .field("kubeconfig", &self.kubeconfig)
            .finish_non_exhaustive()
    }
}

impl Kubernetes {
    /// Starts kubesim with `pod_start_delay` between a pod's scheduling and its
    /// containers running, writes its kubeconfig under `dir`, and creates the secrets
    /// every livelesson copies.
    pub async fn start(dir: &Path, pod_start_delay: Duration) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("failover-kubesim")
            .enable_all()
            .build()
            .expect("kubesim runtime");
        let sim = runtime
            .spawn(kubesim::KubeSim::start(kubesim::Config {
                pod_start_delay,
                event_history: 20_000,
                ..kubesim::Config::default()
            }))
            .await
            .expect("kubesim task")
            .expect("kubesim starts");
        let kubeconfig = dir.join("kubeconfig.yaml");
        std::fs::write(&kubeconfig, sim.kubeconfig_yaml()).expect("kubeconfig");
        let kube = sim.client().expect("kube client");
        let settings = antidote_scheduler::backend::Settings::default();
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": settings.secrets_namespace }
        }))
        .expect("namespace");
        Api::<Namespace>::all(kube.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("secrets namespace");
        let tls: Secret = serde_json::from_value(serde_json::json!({
            "metadata": { "name": settings.tls_cert_name },
            "type": "kubernetes.io/tls",
            "stringData": { "tls.crt": "certificate", "tls.key": "key" }
        }))
        .expect("secret");
        Api::<Secret>::namespaced(kube, &settings.secrets_namespace)
            .create(&PostParams::default(), &tls)
            .await
            .expect("TLS secret");
        Self {
            sim: Some(sim),
            runtime: Some(runtime),
            kubeconfig,
        }
    }
}

impl Drop for Kubernetes {
    /// Without blocking: this runs inside the test's runtime.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            let sim = self.sim.take();
            runtime.spawn(async move { drop(sim) });
            runtime.shutdown_background();
        }
    }
}

/// The `antidoted` binary of this build.
fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_antidoted")
}

/// Runs `antidoted args...` to its end; panics with its output when it fails.
pub async fn run(args: &[&str], database_url: &str) -> String {
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(exe())
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("antidoted {args:?} did not finish within 120 s"))
    .expect("antidoted runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "antidoted {args:?} failed ({}): {text}",
        output.status
    );
    text
}

/// `antidoted serve`: the API and the workers in one process.
#[derive(Debug)]
pub struct Antidoted {
    child: Child,
    /// Its process id, for the "no restart" check.
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// stdout and stderr.
    pub log: PathBuf,
}

/// The configuration file of `serve`: the production defaults except where a test must
/// be quick (backend timeouts, GC periods, a 10 s lease) or many learners share one
/// address (limits lifted).
fn config(port: u16, database_url: &str, kubeconfig: &Path) -> String {
    format!(
        "tier: prod
httpAddress: 127.0.0.1
httpPort: {port}
gateway: {{ address: 127.0.0.1, port: 0 }}
liveSessionLimit: 0
liveLessonLimit: 0
databaseUrl: {database_url}
adminToken: {ADMIN_TOKEN}
rateLimit:
  perAddressPerMinute: 0
  globalPerSecond: 0
http:
  maxConnectionsPerAddress: 1024
backend:
  instanceId: {INSTANCE_ID}
  podReadyTimeout: 60
  reachabilityTimeout: 60
  probeTimeout: 0.5
  jobCleanupTimeout: 30
  configTimeout: 60
  namespaceDeleteTimeout: 30
kubernetes:
  kubeconfig: {}
worker:
  concurrency: 48
  leaseSecs: 10
  shutdownGraceSecs: 2
gc:
  intervalSecs: 2
  orphanIntervalSecs: 5
  reconcileIntervalSecs: 5
  retentionIntervalSecs: 10
",
        kubeconfig.display()
    )
}

impl Antidoted {
    /// Starts `antidoted serve` with its configuration in `dir`, and waits until its
    /// `/readyz` answers 200.
    pub async fn serve(dir: &Path, database_url: &str, kubeconfig: &Path) -> Self {
        let log = dir.join("antidoted.log");
        for attempt in 0..3 {
            let port = pg::free_port();
            let config_path = dir.join("antidoted.yaml");
            std::fs::write(&config_path, config(port, database_url, kubeconfig))
                .expect("config file");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .expect("log file");
            let child = std::process::Command::new(exe())
                .arg("serve")
                .arg("--config")
                .arg(&config_path)
                .env_remove("DATABASE_URL")
                .env("NO_COLOR", "1")
                .env(
                    "RUST_LOG",
                    std::env::var("ANTIDOTE_FAILOVER_LOG").unwrap_or_else(|_| {
                        "info,sqlx=warn,tower_http=warn,kube=warn,hyper=warn".into()
                    }),
                )
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("log file"))
                .stderr(file)
                .spawn()
                .expect("antidoted serve starts");
            let mut serve = Self {
                pid: child.id(),
                child,
                base: format!("http://127.0.0.1:{port}"),
                log: log.clone(),
            };
            match serve.ready(Duration::from_secs(60)).await {
                Ok(()) => return serve,
                Err(why) if attempt < 2 && why.contains("binding") => {
                    eprintln!("failover harness: antidoted lost port {port}; retrying");
                }
                Err(why) => panic!("antidoted serve did not become ready: {why}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// Waits for `/readyz` 200; `Err` with the log's tail when the process exits.
    async fn ready(&mut self, within: Duration) -> Result<(), String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("it exited ({status}): {}", self.log_tail(30)));
            }
            if let Ok(answer) = http.get(format!("{}/readyz", self.base)).send().await
                && answer.status() == 200
            {
                return Ok(());
            }
            if started.elapsed() > within {
                return Err(format!(
                    "no 200 from /readyz within {within:?}: {}",
                    self.log_tail(30)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The exit status, once the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        pg::tail(
            &std::fs::read_to_string(&self.log).unwrap_or_default(),
            lines,
        )
    }

    /// Its log's warnings and errors, parsed.
    pub fn log_lines(&self) -> Vec<LogLine> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| LogLine::parse(&strip_ansi(line)))
            .collect()
    }

    /// Its warnings and errors, errors first, each message once (numbers aside) with
    /// how often it came; at most `limit` lines.
    pub fn complaints(&self, limit: usize) -> Vec<String> {
        let mut seen: Vec<(String, usize, String)> = Vec::new();
        for line in self.log_lines() {
            if line.target.starts_with("tower_http") {
                continue;
            }
            let key = format!("{} {}", line.level, normalize(&line.text()));
            match seen.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, count, _)) => *count += 1,
                None => seen.push((key, 1, line.raw.clone())),
            }
        }
        seen.sort_by_key(|(key, _, _)| !key.starts_with("ERROR"));
        seen.into_iter()
            .take(limit)
            .map(|(_, count, raw)| {
                if count > 1 {
                    format!("{raw}  [{count} times]")
                } else {
                    raw
                }
            })
            .collect()
    }
}

/// A warning or error of `antidoted`'s log.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    /// `WARN` or `ERROR`.
    pub level: String,
    /// The HTTP route it was logged under (`POST /exp/livesession`), if any.
    pub route: Option<String>,
    /// The module that logged it.
    pub target: String,
    /// The message and its fields.
    pub message: String,
    pub raw: String,
}

impl LogLine {
    /// Parses a text log line (`<time> <LEVEL> <spans>: <target>: <message>`); `None`
    /// for levels below WARN and for what is not a log line.
    fn parse(line: &str) -> Option<Self> {
        let mut words = line.split_whitespace();
        let at = DateTime::parse_from_rfc3339(words.next()?).ok()?.to_utc();
        let level = words.next()?;
        if level != "WARN" && level != "ERROR" {
            return None;
        }
        let rest = line.split_once(level)?.1.trim_start();
        let route = rest
            .split_once("otel.name=\"")
            .and_then(|(_, r)| r.split_once('"'))
            .map(|(route, _)| route.to_owned());
        // Spans end with `}: `; a line without spans starts with its target.
        let body = match rest.find("}: ") {
            Some(end) if rest[..end].contains('{') => &rest[end + 3..],
            _ => rest,
        };
        let (target, message) = body.split_once(": ").unwrap_or(("", body));
        Some(Self {
            at,
            level: level.to_owned(),
            route,
            target: target.to_owned(),
            message: message.to_owned(),
            raw: line.to_owned(),
        })
    }

    /// `target: message`.
    pub fn text(&self) -> String {
        format!("{}: {}", self.target, self.message)
    }
}

/// `text` with every run of digits replaced by `#`, so that messages differing only by
/// times, counts or ids compare equal.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

impl Drop for Antidoted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `line` without terminal colour sequences.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
