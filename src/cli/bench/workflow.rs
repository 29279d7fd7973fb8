//! `antidoted bench workflow`: three-step checkpointed no-op workflows per second.

use std::process::ExitCode;

use anyhow::Context;

use antidote_scheduler::bench::queue as queue_bench;

use super::database::BenchDatabase;
use super::workers::start_pool;

#[derive(Debug, clap::Args)]
pub(super) struct WorkflowArgs {
    #[command(flatten)]
    database: BenchDatabase,
    /// Workflows to run.
    #[arg(long, default_value_t = 20_000)]
    workflows: usize,
    /// Worker processes (0: in this process).
    #[arg(long, default_value_t = 2)]
    processes: usize,
    /// Tasks per worker process.
    #[arg(long, default_value_t = 200)]
    tasks: usize,
    /// Most jobs per claim.
    #[arg(long, default_value_t = 200)]
    batch: usize,
}

pub(super) async fn run(args: WorkflowArgs) -> anyhow::Result<ExitCode> {
    let pool = args.database.connect(16).await?;
    let report = queue_bench::run_workflows(
        &pool,
        args.workflows,
        args.processes,
        args.tasks,
        args.batch,
        async || {
            start_pool(
                &args.database.database_url,
                args.processes,
                args.tasks,
                args.batch,
            )
            .await
        },
    )
    .await
    .context("running the workflow benchmark")?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
