//! `antidoted migrate`: applies the embedded migrations.

use std::process::ExitCode;

use anyhow::Context;

use super::db::DatabaseArgs;

/// Arguments of `antidoted migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    database: DatabaseArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pool = args.database.connect_creating().await?;
    antidote_scheduler::db::migrate(&pool)
        .await
        .context("applying migrations")?;
    println!("migrations applied");
    Ok(ExitCode::SUCCESS)
}
