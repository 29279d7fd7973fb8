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
    let engine_schema = args.database.engine_schema.as_ref();
    antidote_scheduler::db::migrate(&pool, engine_schema)
        .await
        .context("applying migrations")?;
    match engine_schema {
        Some(schema) => println!("migrations applied (the job engine's in schema {schema})"),
        None => println!("migrations applied"),
    }
    Ok(ExitCode::SUCCESS)
}
