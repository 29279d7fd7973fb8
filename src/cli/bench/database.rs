//! The database a benchmark owns (`--database-url`), connected and migrated.

use anyhow::Context;

use antidote_scheduler::db;

/// The database a benchmark owns: each benchmark empties the tables it uses.
#[derive(Debug, clap::Args)]
pub(super) struct BenchDatabase {
    /// PostgreSQL URL of a database the benchmark may empty (created when missing).
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/antidote_bench"
    )]
    pub(super) database_url: String,
}

impl BenchDatabase {
    /// Connects (creating the database if needed) and applies the migrations.
    pub(super) async fn connect(&self, max_connections: u32) -> anyhow::Result<sqlx::PgPool> {
        let pool = db::connect_creating(&self.database_url, max_connections, None)
            .await
            .context("connecting to the benchmark database")?;
        db::migrate(&pool, None)
            .await
            .context("applying migrations")?;
        Ok(pool)
    }
}
