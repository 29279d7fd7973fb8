//! Database connection and the embedded migrations.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

/// The database URL used when `DATABASE_URL` is not set: the local PostgreSQL with trust auth.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/antidote";

/// Failures while connecting to or preparing the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL could not be parsed.
    #[error("invalid database URL")]
    InvalidUrl(#[source] sqlx::Error),
    /// The server could not be reached or refused the connection.
    #[error("connecting to database {database:?} on {host}")]
    Connect {
        /// Host from the URL (never the password).
        host: String,
        /// Database name from the URL.
        database: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// `CREATE DATABASE` failed.
    #[error("creating database {0:?}")]
    Create(String, #[source] sqlx::Error),
    /// A migration failed to apply.
    #[error("applying migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// The migrations in `migrations/`, embedded in the binary. The job engine's (versions 1,
/// 5 and 9) are links to `crates/job-engine/migrations/`, kept under the versions they had
/// when they were this application's, so one migrator applies everything in version order
/// and databases migrated before the engine was its own crate keep their history.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Applies every pending migration.
///
/// # Errors
/// [`DbError::Migrate`] when a migration fails or the applied history diverges.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await.map_err(DbError::Migrate)
}

/// Opens a pool of at most `max_connections` to `url`.
///
/// # Errors
/// [`DbError::InvalidUrl`] or [`DbError::Connect`].
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = url.parse().map_err(DbError::InvalidUrl)?;
    open(options, max_connections).await
}

async fn open(options: PgConnectOptions, max_connections: u32) -> Result<PgPool, DbError> {
    let (host, database) = describe(&options);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .connect_with(options)
        .await
        .map_err(|source| DbError::Connect {
            host,
            database,
            source,
        })
}

/// Opens a pool for job workers: like [`connect`], with `synchronous_commit` off and
/// generic plans for prepared statements.
///
/// A worker's own writes (claims, lease renewals, checkpoints, completions) may be lost in
/// a PostgreSQL crash without breaking any promise: a lost claim or renewal makes the job
/// runnable again, a lost checkpoint re-runs an idempotent step, a lost completion re-runs
/// the job, exactly as a worker crash would. Not waiting for the WAL flush on each of them
/// is what lets a worker keep up with many small jobs. Enqueues and state changes made
/// for users go through pools opened with [`connect`] and stay synchronous.
///
/// A worker runs the same few statements over and over. PostgreSQL plans a prepared
/// statement anew at each execution while it estimates its generic plan dearer than the
/// custom ones, as it does for the claim (its batch size is a parameter): planning took an
/// eighth of the database's time in the no-op benchmark. The generic plans use the same
/// indexes, and are made again when an ANALYZE changes the statistics.
///
/// # Errors
/// [`DbError::InvalidUrl`] or [`DbError::Connect`].
pub async fn connect_worker(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = url.parse().map_err(DbError::InvalidUrl)?;
    open(
        options.options([
            ("synchronous_commit", "off"),
            ("plan_cache_mode", "force_generic_plan"),
        ]),
        max_connections,
    )
    .await
}

/// Like [`connect`], but first creates the database when it does not exist yet.
///
/// # Errors
/// As [`connect`], plus [`DbError::Create`].
pub async fn connect_creating(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = url.parse().map_err(DbError::InvalidUrl)?;
    let (host, database) = describe(&options);
    let maintenance = options.clone().database("postgres");
    let mut conn = maintenance
        .connect()
        .await
        .map_err(|source| DbError::Connect {
            host: host.clone(),
            database: "postgres".into(),
            source,
        })?;
    let exists: bool =
        sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
            .bind(&database)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| DbError::Create(database.clone(), e))?;
    if !exists {
        let quoted = format!("\"{}\"", database.replace('"', "\"\""));
        let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {quoted}")))
            .execute(&mut conn)
            .await;
        // Another process may have created it between our check and our statement.
        if let Err(err) = created
            && !matches!(&err, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P04"))
        {
            return Err(DbError::Create(database, err));
        }
    }
    conn.close().await.ok();
    connect(url, max_connections).await
}

fn describe(options: &PgConnectOptions) -> (String, String) {
    let host = format!("{}:{}", options.get_host(), options.get_port());
    let database = options.get_database().unwrap_or("postgres").to_owned();
    (host, database)
}
