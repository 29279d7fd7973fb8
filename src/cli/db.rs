//! Database arguments shared by every subcommand that needs PostgreSQL.

use anyhow::Context;
use sqlx::PgPool;

use antidote_scheduler::db;
use antidote_scheduler::queue::schema::SchemaName;

/// Where PostgreSQL is.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", default_value = db::DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// Connections in this process's pool.
    #[arg(long, default_value_t = 10)]
    pub max_connections: u32,
    /// The schema of the job engine's tables (`engineSchema` of the configuration file);
    /// unset: beside the application's, in public.
    #[arg(long, env = "ANTIDOTE_ENGINE_SCHEMA", value_name = "SCHEMA")]
    pub engine_schema: Option<SchemaName>,
}

impl DatabaseArgs {
    /// Connects, creating the database if needed.
    pub async fn connect_creating(&self) -> anyhow::Result<PgPool> {
        db::connect_creating(
            &self.database_url,
            self.max_connections,
            self.engine_schema.as_ref(),
        )
        .await
        .context("connecting to PostgreSQL (set DATABASE_URL)")
    }

    /// Connects, creating the database if needed, then applies pending migrations.
    #[allow(dead_code)]
    pub async fn connect_migrated(&self) -> anyhow::Result<PgPool> {
        let pool = self.connect_creating().await?;
        db::migrate(&pool, self.engine_schema.as_ref())
            .await
            .context("applying migrations")?;
        Ok(pool)
    }
}
