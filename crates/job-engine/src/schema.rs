//! The engine's tables, views, types and functions: its migrations (`migrations/` of this
//! crate), embedded; where they live (the default schema, or a [`SchemaName`] of their
//! own); and how connections find them there ([`connect_options`]).
//!
//! Two layouts:
//!
//! - **Shared** ([`migrate`]): the engine's objects in the connection's default schema,
//!   its migrations recorded in sqlx's `_sqlx_migrations` table under versions 1, 5, 9, 11
//!   and 12, the numbers they had (or, for 12, keep) among an application's own. An
//!   application may apply them through its own migrator (linking these files under the
//!   same versions) or call [`migrate`] before its own migrations. Either way a version
//!   applied once is not applied again, and the application's own versions are left alone.
//! - **A schema of its own** ([`migrate_in`]): the schema is created if needed, the
//!   engine's objects go into it, and so does its migration history
//!   (`<schema>._sqlx_migrations`), apart from any application's. The engine's statements
//!   name their tables unqualified; they reach the schema through the connection's
//!   `search_path`, which [`connect_options`] sets.

use std::fmt;
use std::str::FromStr;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, PgPool};

/// The engine's migrations, in version order.
pub fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!();
    // Versions of the application sharing the history table are not ours to judge.
    migrator.set_ignore_missing(true);
    migrator
}

/// Applies the engine's pending migrations to `pool`'s database, in the schema where the
/// pool's connections create tables (the first of their `search_path`: `public` unless
/// set otherwise), recording them in the `_sqlx_migrations` table found there.
///
/// # Errors
/// [`MigrateError`] when a migration fails, or when a version applied before has changed.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    migrator().run(pool).await
}

/// Applies the engine's pending migrations into `schema`, created if it does not exist,
/// with the engine's migration history in `<schema>._sqlx_migrations`.
///
/// The migrations run on a connection of their own whose `search_path` is `schema`
/// alone, so that every object they create lands there whatever else the database holds.
/// Reach the engine afterwards through pools opened with [`connect_options`].
///
/// # Errors
/// As [`migrate`], plus [`MigrateError::Execute`] when the connection cannot be opened.
pub async fn migrate_in(pool: &PgPool, schema: &SchemaName) -> Result<(), MigrateError> {
    migrate_in_up_to(pool, schema, i64::MAX).await
}

/// Like [`migrate_in`], but applies no version above `last`: for an application whose own
/// migrations name the engine's tables, and that applies both in one version order (as a
/// shared history would) by alternating this with its own migrator.
///
/// # Errors
/// As [`migrate_in`].
pub async fn migrate_in_up_to(
    pool: &PgPool,
    schema: &SchemaName,
    last: i64,
) -> Result<(), MigrateError> {
    let options = (*pool.connect_options())
        .clone()
        .options([("search_path", schema.as_str())]);
    let mut conn = PgConnection::connect_with(&options).await?;
    let mut migrator = migrator();
    migrator.create_schema(schema.as_str().to_owned());
    migrator.dangerous_set_table_name(schema.history_table());
    let applied = migrator.run_to(last, &mut conn).await;
    // The connection is ours alone: closing it politely is all that is left to do.
    conn.close().await.ok();
    applied
}

/// `options` for connections that reach the engine's objects in `schema`: their
/// `search_path` is `schema` first, then `public`.
///
/// This is the one way to point a pool at an engine migrated with [`migrate_in`]:
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use job_engine::schema::{self, SchemaName};
/// use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
///
/// let jobs: SchemaName = "jobs".parse()?;
/// let options: PgConnectOptions = "postgres://127.0.0.1/app".parse()?;
/// let pool = PgPoolOptions::new()
///     .connect_with(schema::connect_options(options, &jobs))
///     .await?;
/// schema::migrate_in(&pool, &jobs).await?;
/// let client = job_engine::Client::new(pool);
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
///
/// An application's own statements on such a pool still find its tables in `public`,
/// and a transaction of the application can enqueue with the engine's
/// [`Client::enqueue_using`](crate::Client::enqueue_using). Names the engine uses (its
/// tables, views, `job_state`, `job_event_seq`, `job_events_insert`) resolve to the
/// engine's objects first; an application that has objects of the same names in `public`
/// keeps the engine on a pool of its own. A table created unqualified on such a pool goes
/// into `schema`: run the application's own migrations on a connection whose
/// `search_path` starts with the application's schema.
pub fn connect_options(options: PgConnectOptions, schema: &SchemaName) -> PgConnectOptions {
    options.options([("search_path", schema.search_path())])
}

/// The name of a schema for the engine's objects: a plain lower-case SQL identifier
/// (`[a-z_][a-z0-9_]*`, at most 63 bytes, not starting with `pg_`), so that it needs no
/// quoting wherever it appears. As a setting it reads and writes as a plain string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SchemaName(String);

/// Why a schema name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schema name {name:?}: {reason}")]
pub struct SchemaNameError {
    /// The name given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// PostgreSQL truncates longer identifiers (`NAMEDATALEN - 1`).
const MAX_IDENTIFIER_BYTES: usize = 63;

impl SchemaName {
    /// Validates `name`.
    ///
    /// # Errors
    /// [`SchemaNameError`] naming what is wrong.
    pub fn new(name: &str) -> Result<Self, SchemaNameError> {
        let refuse = |reason| SchemaNameError {
            name: name.to_owned(),
            reason,
        };
        let mut chars = name.chars();
        let Some(first) = chars.next() else {
            return Err(refuse("it is empty"));
        };
        if !(first.is_ascii_lowercase() || first == '_') {
            return Err(refuse("it must start with a lower-case letter or '_'"));
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(refuse(
                "it may hold only lower-case letters, digits and '_' (a plain SQL identifier)",
            ));
        }
        if name.len() > MAX_IDENTIFIER_BYTES {
            return Err(refuse("it is longer than 63 bytes"));
        }
        if name.starts_with("pg_") {
            return Err(refuse("names starting with pg_ are reserved by PostgreSQL"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `search_path` of connections that reach the engine here: this schema, then
    /// `public`.
    pub fn search_path(&self) -> String {
        format!("{},public", self.0)
    }

    /// Where the engine's migration history is kept in this layout.
    pub fn history_table(&self) -> String {
        format!("{}._sqlx_migrations", self.0)
    }
}

impl FromStr for SchemaName {
    type Err = SchemaNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::new(name)
    }
}

impl TryFrom<String> for SchemaName {
    type Error = SchemaNameError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::new(&name)
    }
}

impl From<SchemaName> for String {
    fn from(name: SchemaName) -> Self {
        name.0
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::SchemaName;

    #[test]
    fn plain_identifiers_are_schema_names() {
        for name in ["jobs", "_engine", "jobs_2", &"a".repeat(63)] {
            assert_eq!(
                SchemaName::new(name).map(|s| s.to_string()),
                Ok(name.to_owned())
            );
        }
    }

    #[test]
    fn names_needing_quotes_or_reserved_are_refused_with_the_reason() {
        for (name, reason) in [
            ("", "empty"),
            ("Jobs", "start with"),
            ("1jobs", "start with"),
            ("jobs;drop", "only lower-case"),
            ("jobs,public", "only lower-case"),
            ("jo bs", "only lower-case"),
            ("pg_jobs", "reserved"),
            (&"a".repeat(64), "63 bytes"),
        ] {
            let refused = SchemaName::new(name).err().map(|e| e.to_string());
            assert!(
                refused.as_deref().is_some_and(|m| m.contains(reason)),
                "{name:?}: {refused:?}"
            );
        }
    }
}
