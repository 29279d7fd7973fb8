//! The health of a long-lived connection (the wake-up listener's, a worker's liveness
//! connection): whether its server still takes writes, and asking the server to notice a
//! vanished client within seconds.

use sqlx::{PgConnection, PgExecutor};

use crate::error::{QueueError, Result};
use crate::fault::NotPrimary;

/// Whether the server behind `executor` takes writes: not a standby or a primary still
/// in recovery, and not set read-only. A long-lived connection (the wake-up listener, a
/// liveness lock) that stays on a server which stopped being the primary is useless.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn writable(executor: impl PgExecutor<'_>) -> Result<bool> {
    takes_writes(executor)
        .await
        .map_err(QueueError::db("health check"))
}

/// [`writable`] with the driver's own error, for a pool's `after_connect` check
/// ([`refuse_read_only`]), which must return it.
///
/// # Errors
/// The driver's.
pub async fn takes_writes(executor: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select not pg_is_in_recovery()
                  and current_setting('transaction_read_only') = 'off' as "writable!""#
    )
    .fetch_one(executor)
    .await
}

/// A pool's `after_connect` check: a connection that reached a read-only server is
/// refused before any statement runs on it, so a pool never hands one out.
///
/// # Errors
/// An I/O error carrying [`NotPrimary`], or the check's own failure.
pub async fn refuse_read_only(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    if !takes_writes(&mut *conn).await? {
        return Err(sqlx::Error::Io(std::io::Error::other(NotPrimary)));
    }
    Ok(())
}

/// Asks the server to notice a vanished client within seconds (its TCP keepalives: 2 s
/// idle, then 3 probes 1 s apart) instead of the system's default of two hours, so that
/// the liveness lock of a worker whose host vanished is released. Ignored on a Unix
/// socket, where there is no TCP.
///
/// # Errors
/// [`QueueError::Database`].
pub async fn keep_alive(conn: &mut PgConnection) -> Result<()> {
    sqlx::query!(
        r#"
        select set_config('tcp_keepalives_idle', '2', false) as idle,
               set_config('tcp_keepalives_interval', '1', false) as interval,
               set_config('tcp_keepalives_count', '3', false) as count
        "#
    )
    .fetch_one(conn)
    .await
    .map_err(QueueError::db("keepalives"))?;
    Ok(())
}
