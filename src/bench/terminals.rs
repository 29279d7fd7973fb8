//! `bench terminals`: many learners typing at once through one terminal gateway.
//!
//! Labs of one lesson are provisioned on an embedded kubesim (whose node agents serve real,
//! sandboxed SSH) by a worker in this process; then a real `antidoted api` process, with
//! its terminal gateway, is started beside it, and a Node process of socket.io-client 2.x
//! terminals (the front end's own client library; `bench-terminals.mjs` of the driver
//! directory) opens every terminal as the front end does and types one character per
//! period in each, timing each keystroke to its echo. The gateway process's CPU and memory
//! are read from `/proc` around the typing.
//!
//! Figures: terminals opened, keystroke-to-echo p50/p99/max, keystrokes unanswered, gateway
//! CPU (share of one core) and resident memory per terminal.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::backend::Settings;
use crate::backend::kubernetes::KubernetesBackend;
use crate::curriculum::PresentationType;
use crate::queue::{Client, Worker, WorkerConfig};
use crate::startup::JobSettings;
use crate::store;
use crate::workflow::request;

use super::lessons::Usage;
use super::pool::{BenchError, find_lesson, free_port, reset, start_cluster};

/// Size and shape of a run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Terminals opened at once.
    pub terminals: usize,
    /// Terminals per lab (the labs are `terminals / per_lab`, rounded up).
    pub per_lab: usize,
    /// The lesson whose ssh presentations are opened.
    pub lesson: String,
    /// One keystroke per terminal this often.
    pub period: Duration,
    /// How long every terminal types.
    pub typing: Duration,
    /// The curriculum holding the lesson.
    pub curriculum: PathBuf,
    /// This binary (the gateway runs as its `api` subcommand).
    pub exe: PathBuf,
    /// The directory of `bench-terminals.mjs` and its installed `socket.io-client`.
    pub driver: PathBuf,
    /// Node driver processes the terminals are spread over (a class's browsers are
    /// separate machines; one event loop for all of them would delay every echo).
    pub drivers: usize,
    /// The benchmark database, for the gateway process.
    pub database_url: String,
}

/// What the Node driver reports.
#[derive(Debug, Clone, Deserialize)]
struct Typed {
    opened: usize,
    open_s: f64,
    keystrokes: u64,
    unanswered: u64,
    echo_p50_ms: Option<f64>,
    echo_p99_ms: Option<f64>,
    echo_max_ms: Option<f64>,
    driver_loop_delay_p50_ms: Option<f64>,
    driver_loop_delay_p99_ms: Option<f64>,
    driver_cores: Option<f64>,
    #[serde(default)]
    errors: serde_json::Map<String, serde_json::Value>,
    /// Every measured echo, ms.
    #[serde(default)]
    samples_ms: Vec<f64>,
}

impl Typed {
    /// The figures of several drivers as one: counts added, echo quantiles over every
    /// sample, the latest opening and the latest-running event loop.
    fn merge(parts: Vec<Self>) -> Self {
        let worst = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let mut merged = Self {
            opened: 0,
            open_s: 0.0,
            keystrokes: 0,
            unanswered: 0,
            echo_p50_ms: None,
            echo_p99_ms: None,
            echo_max_ms: None,
            driver_loop_delay_p50_ms: None,
            driver_loop_delay_p99_ms: None,
            driver_cores: None,
            errors: serde_json::Map::new(),
            samples_ms: Vec::new(),
        };
        for part in parts {
            merged.opened += part.opened;
            merged.open_s = merged.open_s.max(part.open_s);
            merged.keystrokes += part.keystrokes;
            merged.unanswered += part.unanswered;
            merged.driver_loop_delay_p50_ms = worst(
                merged.driver_loop_delay_p50_ms,
                part.driver_loop_delay_p50_ms,
            );
            merged.driver_loop_delay_p99_ms = worst(
                merged.driver_loop_delay_p99_ms,
                part.driver_loop_delay_p99_ms,
            );
            merged.driver_cores = match (merged.driver_cores, part.driver_cores) {
                (Some(a), Some(b)) => Some(super::round2(a + b)),
                (a, b) => a.or(b),
            };
            for (why, n) in part.errors {
                let before = merged.errors.get(&why).and_then(serde_json::Value::as_u64);
                let n = n.as_u64().unwrap_or(1) + before.unwrap_or(0);
                merged.errors.insert(why, n.into());
            }
            merged.samples_ms.extend(part.samples_ms);
        }
        merged.samples_ms.sort_by(f64::total_cmp);
        let samples = &merged.samples_ms;
        if !samples.is_empty() {
            merged.echo_p50_ms = Some(super::quantile(samples, 0.5));
            merged.echo_p99_ms = Some(super::quantile(samples, 0.99));
            merged.echo_max_ms = samples.last().copied();
        }
        merged
    }
}

/// Figures of a run; the JSON keys are a stable interface.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Terminals asked for.
    pub terminals: usize,
    /// Terminals that showed a prompt.
    pub opened: usize,
    /// Labs they were spread over.
    pub labs: usize,
    /// Seconds to open them all.
    pub open_s: f64,
    /// Milliseconds between keystrokes of one terminal.
    pub period_ms: u64,
    /// Keystrokes whose echo came back.
    pub keystrokes: u64,
    /// Keystrokes with no echo before the next one.
    pub unanswered: u64,
    /// Keystroke to echo, median, ms.
    pub echo_p50_ms: f64,
    /// 99th percentile, ms.
    pub echo_p99_ms: f64,
    /// Slowest, ms.
    pub echo_max_ms: f64,
    /// The gateway process's CPU while typing, in cores (1.0: one core busy).
    pub gateway_cores: f64,
    /// Its CPU per terminal, in thousandths of a core.
    pub gateway_millicores_per_terminal: f64,
    /// Its resident memory with every terminal open, MB.
    pub gateway_rss_mb: f64,
    /// Resident memory the terminals added, per terminal, kB.
    pub gateway_kb_per_terminal: f64,
    /// The benchmark process's CPU while typing (kubesim's SSH servers, the worker), cores.
    pub kubesim_cores: f64,
    /// Node driver processes the terminals were spread over.
    pub drivers: usize,
    /// The Node drivers' CPU while typing, cores, together.
    pub driver_cores: f64,
    /// How late the drivers' event loops ran while typing, median and 99th percentile (of
    /// the latest driver), ms: a lower bound on what the client adds to the measured echo.
    pub driver_loop_delay_p50_ms: f64,
    /// 99th percentile.
    pub driver_loop_delay_p99_ms: f64,
    /// Refusals and failures by reason, as the driver saw them.
    pub errors: serde_json::Map<String, serde_json::Value>,
}

/// One run.
///
/// # Errors
/// [`BenchError`], or `Kubesim` naming a process that did not start or answer.
pub async fn run(pool: &PgPool, params: &Params) -> Result<Report, BenchError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| BenchError::Kubesim(format!("{what}: {e}"));
    let curriculum = reset(pool, &params.curriculum).await?;
    let lesson = find_lesson(&curriculum, &params.lesson)?;

    let settings = Settings {
        instance_id: "benchterm".into(),
        ..Settings::default()
    };
    let pod_start_delay = kubesim::Config::default().pod_start_delay;
    let (sim, kube) = start_cluster(pod_start_delay, &settings).await?;
    for image in &curriculum.images {
        sim.knobs().logins().set_image(
            &format!("{}/{}:*", settings.image_org, image.slug),
            kubesim::agent::login::Login::new(image.ssh_user.clone(), image.ssh_password.expose()),
        );
    }

    // The labs, provisioned by a worker of this process.
    let labs = params.terminals.div_ceil(params.per_lab.max(1));
    let client = Client::new(pool.clone());
    let backend = Arc::new(KubernetesBackend::new(kube.clone(), settings.clone()));
    let registry = JobSettings::new(settings.clone()).registry(backend)?;
    let worker = Worker::with_notifier(
        pool.clone(),
        registry,
        WorkerConfig {
            concurrency: 64,
            ..WorkerConfig::default()
        },
        client.notifier().clone(),
    );
    let (stop_worker, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker_task = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let provisioning = Instant::now();
    let mut ids = Vec::with_capacity(labs);
    for _ in 0..labs {
        let session = request::create_session(pool, None, request::Limits::default()).await?;
        let requested = request::request_livelesson(
            pool,
            &client,
            &settings,
            request::Limits::default(),
            &session.id,
            &params.lesson,
            0,
        )
        .await?;
        ids.push(requested.livelesson().id.clone());
    }
    // Fails at the first lab in ERROR (a lab over its budget, say), naming why.
    super::lessons::wait_ready(pool, labs).await?;
    println!(
        "{labs} labs of {} READY in {:.1} s",
        params.lesson,
        provisioning.elapsed().as_secs_f64()
    );

    // Every ssh presentation of every lab, with the login the API would hand out.
    let mut by_lab: Vec<Vec<serde_json::Value>> = Vec::with_capacity(labs);
    let mut conn = pool.acquire().await?;
    for id in &ids {
        let ll = store::livelesson::get(&mut conn, id)
            .await?
            .ok_or_else(|| fail("a READY lab", &format!("{id} is gone")))?;
        let mut presented = Vec::new();
        for endpoint in &ll.endpoints {
            let (Some(host), Some(def)) = (
                &endpoint.host,
                lesson.endpoints.iter().find(|e| e.name == endpoint.name),
            ) else {
                continue;
            };
            let Some(image) = curriculum.images.iter().find(|i| i.slug == def.image) else {
                continue;
            };
            for p in endpoint
                .presentations
                .iter()
                .filter(|p| p.kind == PresentationType::Ssh)
            {
                presented.push(serde_json::json!({
                    "host": host, "port": p.port,
                    "username": image.ssh_user, "userpassword": image.ssh_password.expose(),
                }));
            }
        }
        if presented.is_empty() {
            return Err(BenchError::Curriculum(format!(
                "lesson {} has no ssh presentation",
                params.lesson
            )));
        }
        by_lab.push(presented);
    }
    drop(conn);
    // `per_lab` terminals on each lab, round the lab's ssh presentations.
    let per_lab = params.per_lab.max(1);
    let terminals: Vec<serde_json::Value> = (0..params.terminals)
        .map(|i| {
            let lab = &by_lab[i / per_lab];
            lab[i % per_lab % lab.len()].clone()
        })
        .collect();

    let gateway = Gateway::start(params).await?;
    let before = Usage::of(&gateway.pid().to_string());
    let typed = drive(params, &gateway.origin, &terminals, gateway.pid()).await;
    let report = typed.map(|(typed, (open_usage, own_open), (end_usage, own_end))| {
        let own_cpu_s = match (own_open, own_end) {
            (Some(a), Some(b)) => b.cpu_s - a.cpu_s,
            _ => 0.0,
        };
        let rss_before_kb = before.map_or(0.0, |u| u.rss_kb as f64);
        let rss_open_kb = open_usage.map_or(0.0, |u| u.rss_kb as f64);
        let cpu_s = match (open_usage, end_usage) {
            (Some(a), Some(b)) => b.cpu_s - a.cpu_s,
            _ => 0.0,
        };
        let cores = cpu_s / params.typing.as_secs_f64();
        let opened = typed.opened.max(1) as f64;
        Report {
            terminals: params.terminals,
            opened: typed.opened,
            labs,
            open_s: typed.open_s,
            period_ms: u64::try_from(params.period.as_millis()).unwrap_or(u64::MAX),
            keystrokes: typed.keystrokes,
            unanswered: typed.unanswered,
            echo_p50_ms: typed.echo_p50_ms.unwrap_or(0.0),
            echo_p99_ms: typed.echo_p99_ms.unwrap_or(0.0),
            echo_max_ms: typed.echo_max_ms.unwrap_or(0.0),
            gateway_cores: super::round2(cores),
            gateway_millicores_per_terminal: super::round2(cores * 1000.0 / opened),
            gateway_rss_mb: super::round2(rss_open_kb / 1024.0),
            gateway_kb_per_terminal: super::round2((rss_open_kb - rss_before_kb) / opened),
            kubesim_cores: super::round2(own_cpu_s / params.typing.as_secs_f64()),
            drivers: params.drivers,
            driver_cores: typed.driver_cores.unwrap_or(0.0),
            driver_loop_delay_p50_ms: typed.driver_loop_delay_p50_ms.unwrap_or(0.0),
            driver_loop_delay_p99_ms: typed.driver_loop_delay_p99_ms.unwrap_or(0.0),
            errors: typed.errors,
        }
    });
    gateway.stop().await;
    let _ = stop_worker.send(());
    let _ = worker_task.await;
    sim.shutdown().await;
    report
}

/// A started driver process: the Node process and the lines of its stderr.
struct Driver {
    node: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stderr: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
}

/// Runs `params.drivers` Node drivers, each over its share of `terminals`, and starts
/// their typing together once every terminal of every driver is open; returns their
/// figures merged and the usage of the gateway and of this process when the typing began
/// and when it ended.
async fn drive(
    params: &Params,
    origin: &str,
    terminals: &[serde_json::Value],
    gateway_pid: u32,
) -> Result<(Typed, UsagePair, UsagePair), BenchError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| BenchError::Kubesim(format!("{what}: {e}"));
    let share = terminals.len().div_ceil(params.drivers.max(1)).max(1);
    let mut drivers = Vec::new();
    for part in terminals.chunks(share) {
        let mut node = tokio::process::Command::new("node")
            .arg("bench-terminals.mjs")
            .current_dir(&params.driver)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(&format!("starting node in {}", params.driver.display()), &e))?;
        let input = serde_json::json!({
            "gateway": origin,
            "terminals": part,
            "periodMs": params.period.as_millis(),
            "typingSecs": params.typing.as_secs_f64(),
        });
        let mut stdin = node.stdin.take().ok_or_else(|| fail("node", &"no stdin"))?;
        stdin
            .write_all(format!("{input}\n").as_bytes())
            .await
            .map_err(|e| fail("writing to node", &e))?;
        let stderr = node
            .stderr
            .take()
            .ok_or_else(|| fail("node", &"no stderr"))?;
        drivers.push(Driver {
            node,
            stdin,
            stderr: BufReader::new(stderr).lines(),
        });
    }
    // Each driver says `opened` once each of its terminals showed its prompt (or failed to).
    for driver in &mut drivers {
        while let Ok(Some(line)) = driver.stderr.next_line().await {
            println!("  {line}");
            if line.starts_with("opened") {
                break;
            }
        }
    }
    let open_usage = (Usage::of(&gateway_pid.to_string()), Usage::of("self"));
    let mut answers = Vec::new();
    for driver in &mut drivers {
        // A driver that already ended has its answer (or its failure) on stdout.
        let _ = driver.stdin.write_all(b"go\n").await;
    }
    for Driver {
        node,
        stdin,
        mut stderr,
    } in drivers
    {
        let rest = tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                if line != "typing" {
                    println!("  {line}");
                }
            }
        });
        drop(stdin);
        answers.push((node.wait_with_output(), rest));
    }
    let mut typed = Vec::new();
    for (output, rest) in answers {
        let output = output.await.map_err(|e| fail("waiting for node", &e))?;
        let _ = rest.await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        typed.push(serde_json::from_str::<Typed>(last).map_err(|e| {
            let start: String = last.chars().take(200).collect();
            fail(&format!("the driver's answer (starting {start:?})"), &e)
        })?);
    }
    let end_usage = (Usage::of(&gateway_pid.to_string()), Usage::of("self"));
    Ok((Typed::merge(typed), open_usage, end_usage))
}

/// The gateway's usage and this process's, at one moment.
type UsagePair = (Option<Usage>, Option<Usage>);

/// The gateway: an `antidoted api` process with its terminal gateway on a free port.
struct Gateway {
    child: tokio::process::Child,
    origin: String,
    _config: tempfile::NamedTempFile,
}

impl Gateway {
    async fn start(params: &Params) -> Result<Self, BenchError> {
        let fail =
            |what: &str, e: &dyn std::fmt::Display| BenchError::Kubesim(format!("{what}: {e}"));
        let (http_port, gateway_port) = (free_port()?, free_port()?);
        let terminals = params.terminals;
        let config = format!(
            "httpAddress: 127.0.0.1\nhttpPort: {http_port}\n\
             gateway:\n  enabled: true\n  address: 127.0.0.1\n  port: {gateway_port}\n  \
             maxPerLivelesson: {}\n  maxPerAddress: {terminals}\n",
            params.per_lab
        );
        let mut file = tempfile::NamedTempFile::new().map_err(|e| fail("a config file", &e))?;
        std::io::Write::write_all(&mut file, config.as_bytes())
            .map_err(|e| fail("writing the config file", &e))?;
        let child = tokio::process::Command::new(&params.exe)
            .arg("api")
            .arg("--config")
            .arg(file.path())
            .env("ANTIDOTE_DATABASE_URL", &params.database_url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail("starting the gateway process", &e))?;
        let origin = format!("http://127.0.0.1:{gateway_port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        // Up when the API answers /readyz and the gateway's socket.io handshake.
        let probe = format!("{origin}/socket.io/?EIO=3&transport=polling");
        loop {
            let api = http
                .get(format!("http://127.0.0.1:{http_port}/readyz"))
                .send()
                .await;
            let gw = http.get(&probe).send().await;
            if matches!(api, Ok(r) if r.status().is_success()) && gw.is_ok() {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(fail("the gateway process", &"not up within 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            child,
            origin,
            _config: file,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
