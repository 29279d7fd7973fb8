//! Database connection and the embedded migrations, in either layout of the job engine's
//! objects: beside the application's in the default schema (the shared layout, the
//! default), or in a schema of their own (`engineSchema`), which every pool opened here
//! reaches through its `search_path`. Every pool bounds its statements on the server
//! ([`settings`]) and refuses and evicts connections to a read-only server ([`fault`]).
//!
//! - [`settings`]: `database:` of the configuration (timeouts per pool, the API's wait
//!   for a writable primary).
//! - [`fault`]: what a failure means (unreachable, read-only, timeout), and the eviction
//!   of connections to a demoted primary.

pub mod fault;
pub mod settings;

use std::collections::BTreeSet;

use job_engine::schema::{self, SchemaName};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

pub use fault::{DbFault, NotPrimary};
pub use settings::{DatabaseSettings, PoolLimits};

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
    /// No connection could be had from the pool.
    #[error("database unreachable")]
    Unreachable(#[source] sqlx::Error),
    /// The database's job engine is in the other layout than the configured one: applying
    /// migrations would build a second, empty engine beside it.
    #[error("{0}")]
    Layout(String),
}

/// The migrations in `migrations/`, embedded in the binary. The job engine's (versions 1,
/// 5, 9 and 11) are links to `crates/job-engine/migrations/`, kept under the versions they
/// had when they were this application's, so that in the shared layout one migrator
/// applies everything in version order and databases migrated before the engine was its
/// own crate keep their history.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Where the application's own migration history is kept when the engine has a schema of
/// its own (the engine's is in `<schema>._sqlx_migrations`).
const APPLICATION_HISTORY: &str = "public._sqlx_migrations";

/// Applies every pending migration: the application's and the job engine's.
///
/// Without `engine_schema` (the shared layout): one migrator and one history table, the
/// engine's versions among the application's. With it: the engine's migrations go into
/// that schema with their own history, the application's into `public` with theirs
/// ([`APPLICATION_HISTORY`]); they are applied alternately in one version order, the
/// order of the shared layout, because the application's own migrations name the
/// engine's tables (`0008_dashboard.sql` indexes `finished_jobs`).
///
/// # Errors
/// [`DbError::Migrate`] when a migration fails or the applied history diverges;
/// [`DbError::Layout`] when the database's engine is in the other layout.
pub async fn migrate(pool: &PgPool, engine_schema: Option<&SchemaName>) -> Result<(), DbError> {
    // A migration may build an index over a large table: it runs on connections of its own
    // without the pool's statement and lock timeouts.
    let unbounded = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(unbounded(&pool.connect_options()))
        .await
        .map_err(|e| DbError::Migrate(e.into()))?;
    let migrated = migrate_on(&unbounded, engine_schema).await;
    unbounded.close().await;
    migrated
}

/// `options` without statement and lock timeouts.
fn unbounded(options: &PgConnectOptions) -> PgConnectOptions {
    options
        .clone()
        .options([("statement_timeout", "0"), ("lock_timeout", "0")])
}

async fn migrate_on(pool: &PgPool, engine_schema: Option<&SchemaName>) -> Result<(), DbError> {
    check_layout(pool, engine_schema).await?;
    let Some(engine_schema) = engine_schema else {
        return MIGRATOR.run(pool).await.map_err(DbError::Migrate);
    };
    let engine_versions = engine_versions();
    let mut application = Migrator::with_migrations(
        MIGRATOR
            .iter()
            .filter(|m| !engine_versions.contains(&m.version))
            .cloned()
            .collect(),
    );
    application.dangerous_set_table_name(APPLICATION_HISTORY);
    // The application's objects are created in `public`; its migrations find the
    // engine's tables after it on the path.
    let options = (*pool.connect_options())
        .clone()
        .options([("search_path", format!("public,{engine_schema}"))]);
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(|e| DbError::Migrate(e.into()))?;
    let applied = migrate_alternately(pool, engine_schema, &application, &mut conn).await;
    conn.close().await.ok();
    applied
}

/// Runs the engine's and the application's migrations in one version order: each run of
/// consecutive versions of one owner by its own migrator.
async fn migrate_alternately(
    pool: &PgPool,
    engine_schema: &SchemaName,
    application: &Migrator,
    conn: &mut PgConnection,
) -> Result<(), DbError> {
    let engine_versions = engine_versions();
    let versions: BTreeSet<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    let mut versions = versions.into_iter().peekable();
    while let Some(version) = versions.next() {
        let engines = engine_versions.contains(&version);
        // The last version of this run of one owner's versions.
        let mut last = version;
        while let Some(&next) = versions.peek() {
            if engine_versions.contains(&next) != engines {
                break;
            }
            last = next;
            versions.next();
        }
        if engines {
            schema::migrate_in_up_to(pool, engine_schema, last).await
        } else {
            application.run_to(last, &mut *conn).await
        }
        .map_err(DbError::Migrate)?;
    }
    // Versions of a newer engine than this application links, if any.
    schema::migrate_in(pool, engine_schema)
        .await
        .map_err(DbError::Migrate)
}

/// The job engine's migration versions.
fn engine_versions() -> BTreeSet<i64> {
    schema::migrator().iter().map(|m| m.version).collect()
}

/// Refuses to migrate a database whose engine is in the other layout: in the shared
/// layout the default history table records the engine's versions, in a schema of its
/// own it records only the application's.
async fn check_layout(pool: &PgPool, engine_schema: Option<&SchemaName>) -> Result<(), DbError> {
    let shared_history = match engine_schema {
        None => "_sqlx_migrations",
        Some(_) => APPLICATION_HISTORY,
    };
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| DbError::Migrate(e.into()))?;
    let exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
        .bind(shared_history)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| DbError::Migrate(e.into()))?;
    if !exists {
        return Ok(());
    }
    let applied: BTreeSet<i64> = conn
        .list_applied_migrations(shared_history)
        .await
        .map_err(DbError::Migrate)?
        .into_iter()
        .map(|m| m.version)
        .collect();
    let engine_versions = engine_versions();
    let engine_applied: Vec<i64> = applied.intersection(&engine_versions).copied().collect();
    let application_applied = applied.iter().any(|v| !engine_versions.contains(v));
    match engine_schema {
        Some(engine_schema) if !engine_applied.is_empty() => Err(DbError::Layout(format!(
            "the job engine of this database is in its default schema ({shared_history} \
             records its versions {engine_applied:?}), not in schema {engine_schema}: \
             unset engineSchema (ANTIDOTE_ENGINE_SCHEMA) to keep that layout"
        ))),
        None if application_applied && engine_applied.is_empty() => Err(DbError::Layout(format!(
            "the job engine of this database is in a schema of its own ({shared_history} \
                 records none of its versions): set engineSchema (ANTIDOTE_ENGINE_SCHEMA) to \
                 that schema"
        ))),
        _ => Ok(()),
    }
}

/// The embedded migrations (the application's and the engine's) not applied to `pool`'s
/// database, each looked up in the history table of its layout.
///
/// # Errors
/// [`DbError::Unreachable`], or [`DbError::Migrate`] when a history table cannot be read
/// (not migrated yet).
pub async fn pending_migrations(
    pool: &PgPool,
    engine_schema: Option<&SchemaName>,
) -> Result<Vec<i64>, DbError> {
    let mut conn = pool.acquire().await.map_err(DbError::Unreachable)?;
    let mut applied = BTreeSet::new();
    let histories = match engine_schema {
        None => vec![MIGRATOR.table_name.to_string()],
        Some(engine_schema) => vec![
            APPLICATION_HISTORY.to_owned(),
            engine_schema.history_table(),
        ],
    };
    for history in histories {
        let versions = conn
            .list_applied_migrations(&history)
            .await
            .map_err(DbError::Migrate)?;
        applied.extend(versions.into_iter().map(|m| m.version));
    }
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect())
}

/// Connect options for `url`, reaching the engine's objects in `engine_schema` when one
/// is set (see [`job_engine::schema::connect_options`]).
fn connect_options(
    url: &str,
    engine_schema: Option<&SchemaName>,
) -> Result<PgConnectOptions, DbError> {
    let options: PgConnectOptions = url.parse().map_err(DbError::InvalidUrl)?;
    Ok(match engine_schema {
        Some(engine_schema) => schema::connect_options(options, engine_schema),
        None => options,
    })
}

/// Opens a pool of at most `max_connections` to `url`, whose connections find the job
/// engine's objects in `engine_schema` when one is set, bounded by the API's default
/// [`PoolLimits::API`].
///
/// # Errors
/// [`DbError::InvalidUrl`] or [`DbError::Connect`].
pub async fn connect(
    url: &str,
    max_connections: u32,
    engine_schema: Option<&SchemaName>,
) -> Result<PgPool, DbError> {
    connect_with(url, max_connections, engine_schema, &PoolLimits::API).await
}

/// Like [`connect`], bounded by `limits`.
///
/// # Errors
/// [`DbError::InvalidUrl`] or [`DbError::Connect`].
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    engine_schema: Option<&SchemaName>,
    limits: &PoolLimits,
) -> Result<PgPool, DbError> {
    open(
        connect_options(url, engine_schema)?,
        max_connections,
        limits,
    )
    .await
}

/// Opens the pool. Each connection carries `limits` as startup parameters, is refused
/// when it reaches a read-only server, and is closed instead of handed out once this
/// process has seen a read-only fault after it was opened (a failover demoted its server).
async fn open(
    options: PgConnectOptions,
    max_connections: u32,
    limits: &PoolLimits,
) -> Result<PgPool, DbError> {
    let (host, database) = describe(&options);
    pool_options(max_connections, limits)
        .connect_with(bounded(options, limits))
        .await
        .map_err(|source| DbError::Connect {
            host,
            database,
            source,
        })
}

/// `options` with `limits`' timeouts as startup parameters.
pub fn bounded(options: PgConnectOptions, limits: &PoolLimits) -> PgConnectOptions {
    let parameters = limits.startup_parameters();
    options.options(parameters.iter().map(|(k, v)| (*k, v.as_str())))
}

/// The options of every pool: at most `max_connections`, `limits`' wait for a connection,
/// connections to a read-only server refused when opened ([`fault::refuse_read_only`])
/// and closed instead of handed out once stale ([`fault::is_stale`]).
pub fn pool_options(max_connections: u32, limits: &PoolLimits) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(limits.acquire_timeout())
        .after_connect(|conn, _meta| Box::pin(fault::refuse_read_only(conn)))
        .before_acquire(|_conn, meta| Box::pin(async move { Ok(!fault::is_stale(meta.age)) }))
}

/// Opens a pool for job workers: like [`connect`] (`engine_schema` included), with
/// [`PoolLimits::WORKER`], `synchronous_commit` off and generic plans for prepared
/// statements.
///
/// A worker's own bookkeeping (claims, lease renewals, checkpoints, completions) may be
/// lost in an unclean PostgreSQL crash, or a failover, without breaking any promise: a
/// lost claim or renewal makes the job runnable again, a lost checkpoint re-runs an
/// idempotent step, a lost completion re-runs the job, exactly as a worker crash would.
/// Not waiting for the WAL flush (and the synchronous standby) on each of them is what
/// lets a worker keep up with many small jobs. What a learner or operator sees of a
/// livelesson (its status, hosts, ERROR, deletion) is written in transactions that set
/// `synchronous_commit` back on (the workflows' `durable` transactions), and enqueues and
/// state changes made for users go through pools opened with [`connect`], which keep the
/// server's default.
///
/// A worker runs the same few statements over and over. PostgreSQL plans a prepared
/// statement anew at each execution while it estimates its generic plan dearer than the
/// custom ones, as it does for the claim (its batch size is a parameter): planning took an
/// eighth of the database's time in the no-op benchmark. The generic plans use the same
/// indexes, and are made again when an ANALYZE changes the statistics.
///
/// # Errors
/// [`DbError::InvalidUrl`] or [`DbError::Connect`].
pub async fn connect_worker(
    url: &str,
    max_connections: u32,
    engine_schema: Option<&SchemaName>,
) -> Result<PgPool, DbError> {
    connect_worker_with(url, max_connections, engine_schema, &PoolLimits::WORKER).await
}

/// Like [`connect_worker`], bounded by `limits`.
///
/// # Errors
/// [`DbError::InvalidUrl`] or [`DbError::Connect`].
pub async fn connect_worker_with(
    url: &str,
    max_connections: u32,
    engine_schema: Option<&SchemaName>,
    limits: &PoolLimits,
) -> Result<PgPool, DbError> {
    let options = connect_options(url, engine_schema)?;
    open(
        options.options([
            ("synchronous_commit", "off"),
            ("plan_cache_mode", "force_generic_plan"),
        ]),
        max_connections,
        limits,
    )
    .await
}

/// Like [`connect`], but first creates the database when it does not exist yet.
///
/// # Errors
/// As [`connect`], plus [`DbError::Create`].
pub async fn connect_creating(
    url: &str,
    max_connections: u32,
    engine_schema: Option<&SchemaName>,
) -> Result<PgPool, DbError> {
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
    connect(url, max_connections, engine_schema).await
}

fn describe(options: &PgConnectOptions) -> (String, String) {
    let host = format!("{}:{}", options.get_host(), options.get_port());
    let database = options.get_database().unwrap_or("postgres").to_owned();
    (host, database)
}
