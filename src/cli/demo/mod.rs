//! `antidoted demo`: the whole scheduler on one machine. PostgreSQL (created if missing),
//! an embedded simulated Kubernetes (kubesim), the example curriculum, the real API and
//! workers, and a presentation proxy standing in for the ingress; then a front end drives
//! it over HTTP: a session, every lesson, a terminal (an SSH login to an endpoint), a web
//! page (an http presentation through the proxy), a stage change and a kill, with live
//! progress and a summary. The operator dashboard is served with the
//! API; the demo prints its address and a one-time sign-in link, so the run can be watched
//! in a browser.

mod frontend;
mod progress;
mod terminal;
mod web_page;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use include_dir::{Dir, include_dir};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::PostParams;
use tokio_util::sync::CancellationToken;

use antidote_scheduler::api::settings::CorsOrigins;
use antidote_scheduler::api::{self, AppState};
use antidote_scheduler::config::Config;
use antidote_scheduler::curriculum::{self, Options, Tier};
use antidote_scheduler::{queue, startup, store};

use super::db::DatabaseArgs;

/// The example curriculum, built into the binary so the demo runs anywhere.
static EXAMPLE_CURRICULUM: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/example-curriculum");

/// Watch events the embedded kubesim keeps for resuming watches. Its default (200,000)
/// keeps every version of every object a long demo ever made, deleted ones included: each
/// livelesson create/delete cycle grew the demo by about 1.1 MB, all of it this history
/// (`bench demo-memory`: 1,148 kB per cycle with the default, 14 kB with 200 events). The
/// worker's watches follow live and get a bookmark every second, so they resume far inside
/// this bound; one that fell behind would get `410 Gone` and list again, as it would from
/// a real API server after compaction. About 8 cycles' worth: some 10 MB.
const EVENT_HISTORY: usize = 500;

/// Log filter of the demo when `RUST_LOG` is unset: errors only, below the progress.
const DEMO_LOG_FILTER: &str = "error";

/// Arguments of `antidoted demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Run over this curriculum directory instead of the embedded example, requesting
    /// every lesson in it (lessons failing validation are listed and skipped).
    #[arg(long, value_name = "DIR")]
    curriculum: Option<PathBuf>,
    /// Lowest tier of lessons to run: prod, ptr or local.
    #[arg(long, default_value = "prod", value_parser = parse_tier)]
    tier: Tier,
    /// Leave the API (and kubesim) running at the end and print their addresses.
    #[arg(long)]
    keep_running: bool,
    /// Serve this built front end (antidote-web's build output) at `/`, with the API also
    /// under `/acore/`; with --keep-running, a lab page URL is printed for each lesson.
    #[arg(long, value_name = "DIR")]
    web_root: Option<PathBuf>,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    plain: bool,
    /// Give up on lessons not READY after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Make the pods of images matching this glob (`*` and `?`, against the full image
    /// reference) crash-loop in the embedded kubesim, to see how a failed livelesson
    /// looks in the dashboard. Repeatable.
    #[arg(long, value_name = "GLOB")]
    fail_image: Vec<String>,
}

fn parse_tier(text: &str) -> Result<Tier, String> {
    Tier::parse(text).ok_or_else(|| format!("unknown tier {text:?} (prod, ptr or local)"))
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let mut config = Config::from_env(None).context("loading configuration")?;
    // Logs stay quiet (the terminal shows progress); spans are exported when the
    // OTEL_EXPORTER_OTLP_* variables are set, and every job gets a traceparent either way.
    let telemetry = super::logging::init_quiet(config.log_format, DEMO_LOG_FILTER)?;
    if antidote_scheduler::telemetry::otlp_configured() {
        say("traces", "exported over OTLP (OTEL_EXPORTER_OTLP_*)");
    }
    config.backend.instance_id = "demo".into();
    // The database's layout is the command line's (`--engine-schema` or its variable).
    config.engine_schema = args.database.engine_schema.clone();
    config.database_url =
        antidote_scheduler::config::Secret::new(args.database.database_url.clone());
    config.worker.concurrency = config.worker.concurrency.max(32);
    // A front end on another origin (a developer's own server) may call the demo's API,
    // as the original allowed any origin.
    config.api.cors_origins = CorsOrigins::Any;
    if let Some(dir) = &args.web_root {
        api::web_root::check(dir).map_err(|problem| anyhow::anyhow!("--web-root: {problem}"))?;
        config.api.web_root = Some(dir.clone());
    }
    // The dashboard needs an admin token. Without a configured one the demo makes a random
    // one that nobody is shown: its browser signs in with one-time links instead.
    if config.admin_token.is_empty() {
        config.admin_token =
            antidote_scheduler::config::Secret::new(antidote_scheduler::ids::random_text(40));
    }

    say(
        "database",
        &antidote_scheduler::config::redact_url(&args.database.database_url),
    );
    let pool = args.database.connect_migrated().await?;

    let extracted;
    let dir = if let Some(dir) = &args.curriculum {
        dir.clone()
    } else {
        extracted = tempfile::tempdir().context("creating a temporary directory")?;
        EXAMPLE_CURRICULUM
            .extract(extracted.path())
            .context("extracting the embedded example curriculum")?;
        extracted.path().to_path_buf()
    };
    let options = Options {
        tier: args.tier,
        instance_id: config.backend.instance_id.clone(),
        budget_sizes: config.backend.budgets.size_names(),
        ..Options::default()
    };
    let loaded = curriculum::load(&dir, &options);
    for problem in loaded
        .report
        .problems
        .iter()
        .filter(|p| p.severity == curriculum::Severity::Error)
    {
        eprintln!("  skipped: {problem}");
    }
    let Some(curriculum) = loaded.curriculum else {
        bail!("{} has no usable curriculum.meta.yaml", dir.display());
    };
    if curriculum.lessons.is_empty() {
        bail!(
            "no valid lesson at tier {} or above in {}",
            args.tier.as_str(),
            dir.display()
        );
    }
    // The front end requests every lesson in one session, from one address: limits that
    // suit the internet must not stop it over a larger curriculum.
    let lessons = u32::try_from(curriculum.lessons.len()).unwrap_or(u32::MAX);
    if config.live_lesson_limit > 0 {
        config.live_lesson_limit = config.live_lesson_limit.max(lessons);
    }
    if config.rate_limit.per_address_per_minute > 0 {
        config.rate_limit.per_address_burst = config
            .rate_limit
            .per_address_burst
            .max(lessons.saturating_mul(3).saturating_add(10));
    }
    let summary = store::curriculum::import(&pool, &curriculum)
        .await
        .context("importing the curriculum")?;
    say(
        "curriculum",
        &format!(
            "{} ({} lessons; {summary})",
            dir.display(),
            curriculum.lessons.len()
        ),
    );

    let sim = kubesim::KubeSim::start(kubesim::Config {
        event_history: EVENT_HISTORY,
        ..kubesim::Config::default()
    })
    .await
    .context("starting kubesim")?;
    let kube = sim.client().context("kube client for kubesim")?;
    seed_cluster(&kube, &config.backend).await?;
    // The simulated images accept the logins the curriculum declares for them, as the
    // real images have them built in (nothing carries them in the pods).
    for image in &curriculum.images {
        sim.knobs().logins().set_image(
            &format!("{}/{}:*", config.backend.image_org, image.slug),
            kubesim::agent::login::Login::new(image.ssh_user.clone(), image.ssh_password.expose()),
        );
    }
    for glob in &args.fail_image {
        sim.knobs()
            .set_image_behaviour(glob, kubesim::Behaviour::CrashLoop);
    }
    say("kubernetes", &format!("kubesim at {}", sim.url()));

    // The http presentations and jupyter guides, at the addresses the API reports: the
    // proxy's port is carried in them (`hepsPort`), so that no privileged port 80 is needed.
    let presentations = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the presentation proxy on 127.0.0.1")?;
    let presentations_port = presentations.local_addr()?.port();
    config.backend.heps_port = Some(presentations_port);
    say(
        "web pages",
        &format!(
            "http://<lab>.{}:{presentations_port}/ (http presentations and guides, by host name)",
            config.backend.heps_domain
        ),
    );

    let client = queue::Client::new(pool.clone());
    let worker_pool = startup::worker_pool(&config).await?;
    let worker = startup::worker(&config, worker_pool, kube, Some(client.notifier().clone()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the API on 127.0.0.1")?;
    let base = format!("http://{}", listener.local_addr()?);
    say("api", &base);
    // The terminal gateway on loopback, beside the API.
    config.gateway.address = std::net::Ipv4Addr::LOCALHOST.into();
    config.gateway.port = 0;
    let terminals = super::api::bind_gateway(&mut config, &pool).await?;
    if let Some(origin) = &config.api.terminals_origin {
        say("terminals", origin);
    }

    let stop = CancellationToken::new();
    let api_task = tokio::spawn(super::api::serve_with_terminals(
        listener,
        AppState::new(pool.clone(), client, &config),
        terminals,
        stop.clone(),
    ));
    let proxy_stop = stop.clone();
    let proxy_task = tokio::spawn(antidote_scheduler::presentation_proxy::serve(
        presentations,
        pool.clone(),
        async move { proxy_stop.cancelled().await },
    ));
    let worker_stop = stop.clone();
    let worker_task = tokio::spawn(worker.run(async move { worker_stop.cancelled().await }));
    if config.api.ui {
        print_dashboard(&pool, &base).await?;
    }

    let lessons: Vec<(String, usize)> = curriculum
        .lessons
        .iter()
        .map(|l| (l.slug.clone(), l.stages.len()))
        .collect();
    let display = progress::Display::new(args.plain);
    let scenario = frontend::Scenario {
        base: &base,
        pool: &pool,
        lessons: &lessons,
        timeout: Duration::from_secs(args.timeout_secs),
        display: Arc::new(display),
    };
    let outcome = scenario.run().await;

    if args.keep_running {
        if args.web_root.is_some() {
            println!("\nLab pages (the API is also under {base}/acore/):");
            for (slug, _) in &lessons {
                println!("  {base}/labs/?lessonSlug={slug}&lessonStage=0");
            }
        }
        println!("\nAPI: {base}  (kubesim: {}). Ctrl-C stops.", sim.url());
        if config.api.ui {
            print_dashboard(&pool, &base).await?;
        }
        super::api::shutdown_signal().await;
    }
    if let Ok(report) = &outcome {
        let deleted = scenario.clean_up(report).await?;
        say("clean-up", &format!("{deleted} livelessons deleted"));
    }
    stop.cancel();
    let _ = api_task.await;
    let _ = proxy_task.await;
    let _ = worker_task.await;
    sim.shutdown().await;
    telemetry.shutdown();

    let report = outcome?;
    println!("\n{}", report.table());
    println!("finished in {:.1} s", started.elapsed().as_secs_f64());
    Ok(if report.all_good() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints the dashboard's address and a fresh one-time sign-in link to it.
async fn print_dashboard(pool: &sqlx::PgPool, base: &str) -> anyhow::Result<()> {
    let token = api::ui::create_sign_in_link(pool)
        .await
        .context("creating a dashboard sign-in link")?;
    say("dashboard", &format!("{base}/ui"));
    say(
        "sign in",
        &format!("{base}/ui/sign-in/{token}  (one-time link, valid 15 minutes)"),
    );
    Ok(())
}

/// The secrets namespace and TLS secret that livelessons copy.
async fn seed_cluster(
    kube: &kube::Client,
    settings: &antidote_scheduler::backend::Settings,
) -> anyhow::Result<()> {
    let namespace: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": { "name": settings.secrets_namespace }
    }))?;
    Api::<Namespace>::all(kube.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .context("creating the secrets namespace in kubesim")?;
    let tls: Secret = serde_json::from_value(serde_json::json!({
        "metadata": { "name": settings.tls_cert_name },
        "type": "kubernetes.io/tls",
        "stringData": { "tls.crt": "demo certificate", "tls.key": "demo key" }
    }))?;
    Api::<Secret>::namespaced(kube.clone(), &settings.secrets_namespace)
        .create(&PostParams::default(), &tls)
        .await
        .context("creating the TLS secret in kubesim")?;
    Ok(())
}

fn say(what: &str, detail: &str) {
    println!("{what:>11}  {detail}");
}
