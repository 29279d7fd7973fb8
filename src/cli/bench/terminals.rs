//! `antidoted bench terminals`: learners typing at once through one terminal gateway.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use antidote_scheduler::bench::terminals as terminals_bench;

use super::database::BenchDatabase;

#[derive(Debug, clap::Args)]
pub(super) struct TerminalsArgs {
    #[command(flatten)]
    database: BenchDatabase,
    /// Terminals open at once.
    #[arg(long, default_value_t = 500)]
    terminals: usize,
    /// Terminals per lab (the gateway's per-livelesson cap is set to it).
    #[arg(long, default_value_t = 10)]
    per_lab: usize,
    /// The lesson whose ssh presentations are opened.
    #[arg(long, default_value = "linux-first-steps")]
    lesson: String,
    /// Milliseconds between two keystrokes of one terminal.
    #[arg(long, default_value_t = 100)]
    period_ms: u64,
    /// Seconds every terminal types.
    #[arg(long, default_value_t = 30.0)]
    typing_secs: f64,
    /// Curriculum holding the lesson.
    #[arg(long, default_value = "example-curriculum")]
    curriculum: std::path::PathBuf,
    /// Directory of the socket.io-client driver (`bench-terminals.mjs`, with its npm
    /// packages installed: `npm ci` there).
    #[arg(long, default_value = "tests/terminal")]
    driver: std::path::PathBuf,
    /// Node driver processes the terminals are spread over (a class's browsers are
    /// separate machines: one event loop for all would queue each echo behind the others).
    #[arg(long, default_value_t = 1)]
    drivers: usize,
}

pub(super) async fn run(args: TerminalsArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.terminals > 0, "--terminals must be positive");
    anyhow::ensure!(args.per_lab > 0, "--per-lab must be positive");
    anyhow::ensure!(args.drivers > 0, "--drivers must be positive");
    anyhow::ensure!(
        args.driver.join("node_modules/socket.io-client").is_dir(),
        "{} has no node_modules/socket.io-client: run `npm ci` there first",
        args.driver.display()
    );
    let db = args.database.connect(32).await?;
    let params = terminals_bench::Params {
        terminals: args.terminals,
        per_lab: args.per_lab,
        lesson: args.lesson.clone(),
        period: Duration::from_millis(args.period_ms),
        typing: Duration::from_secs_f64(args.typing_secs),
        curriculum: args.curriculum.clone(),
        exe: std::env::current_exe().context("locating this binary")?,
        driver: std::fs::canonicalize(&args.driver)
            .with_context(|| format!("--driver {}", args.driver.display()))?,
        database_url: args.database.database_url.clone(),
        drivers: args.drivers,
    };
    let r = terminals_bench::run(&db, &params)
        .await
        .context("running the terminals benchmark")?;
    println!(
        "{} of {} terminals on {} labs open in {} s; {} keystrokes every {} ms: echo p50 {} ms, \
         p99 {} ms, max {} ms, {} unanswered; gateway {} cores ({} millicores per terminal), \
         {} MB resident ({} kB per terminal); kubesim {} cores, {} drivers {} cores (event loop \
         late p50 {} ms, p99 {} ms); errors {:?}",
        r.opened,
        r.terminals,
        r.labs,
        r.open_s,
        r.keystrokes,
        r.period_ms,
        r.echo_p50_ms,
        r.echo_p99_ms,
        r.echo_max_ms,
        r.unanswered,
        r.gateway_cores,
        r.gateway_millicores_per_terminal,
        r.gateway_rss_mb,
        r.gateway_kb_per_terminal,
        r.kubesim_cores,
        r.drivers,
        r.driver_cores,
        r.driver_loop_delay_p50_ms,
        r.driver_loop_delay_p99_ms,
        r.errors
    );
    println!("{}", serde_json::to_string(&r)?);
    Ok(if r.opened == r.terminals {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
