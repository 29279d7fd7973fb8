//! SQL for the scheduler's state: one small function per statement.

pub mod curriculum;
pub mod dashboard;
pub mod gc;
pub mod lifetime;
pub mod livelesson;
pub mod livesession;
pub mod pool;
pub mod presentation;
pub mod progress;
pub mod terminal;
pub mod ui_session;

use serde::Serialize;

/// Failures of the scheduler's state storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A statement failed (or a stored definition no longer decodes).
    #[error("{operation}")]
    Database {
        /// What was being done.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A definition could not be turned into JSON.
    #[error("serializing {what}")]
    Serialize {
        /// Which definition.
        what: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Result alias of this module.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { operation, source }
}

pub(crate) fn to_json<T: Serialize>(what: &str, value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|source| StoreError::Serialize {
        what: what.to_owned(),
        source,
    })
}
