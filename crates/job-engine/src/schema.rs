//! The engine's tables, views and functions: its migrations (`migrations/` of this crate),
//! embedded, and [`migrate`], which applies them.
//!
//! They are recorded in sqlx's `_sqlx_migrations` table under versions 1, 5 and 9, the
//! numbers they had when an application shipped them among its own: an application may
//! apply them through its own migrator (linking these files under the same versions) or
//! call [`migrate`] before its own migrations. Either way a version applied once is not
//! applied again, and the application's own versions are left alone.

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

/// The engine's migrations, in version order.
pub fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!();
    // Versions of the application sharing the history table are not ours to judge.
    migrator.set_ignore_missing(true);
    migrator
}

/// Applies the engine's pending migrations to `pool`'s database.
///
/// # Errors
/// [`MigrateError`] when a migration fails, or when a version applied before has changed.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    migrator().run(pool).await
}
