//! What a database failure means to its caller: the database is unreachable (a connection
//! lost, the server shutting down, starting or recovering), read-only (a standby, or a
//! primary demoted by a failover), or a statement hit a server-side timeout. Each is
//! transient: the same request succeeds once a writable primary answers. Also the
//! eviction of connections to a read-only server from every pool of the process.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A transient database fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFault {
    /// No connection, a connection lost, or a server that refuses work for now
    /// (shutting down, starting, crash recovery, too many connections).
    Unreachable,
    /// The server answered but cannot write: a hot standby, or a demoted primary.
    ReadOnly,
    /// A statement was cancelled by `statement_timeout`, or gave up on a lock
    /// (`lock_timeout`), or its transaction was idle too long.
    Timeout,
}

impl DbFault {
    /// The fault `err` is, if it is one (a constraint violation, a syntax error or a row
    /// not found is not: retrying cannot help).
    pub fn of(err: &sqlx::Error) -> Option<Self> {
        match err {
            sqlx::Error::Io(io) => Some(
                if io
                    .get_ref()
                    .is_some_and(|inner| inner.downcast_ref::<NotPrimary>().is_some())
                {
                    Self::ReadOnly
                } else {
                    Self::Unreachable
                },
            ),
            sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => Some(Self::Unreachable),
            sqlx::Error::Database(db) => db.code().as_deref().and_then(Self::of_sqlstate),
            _ => None,
        }
    }

    /// The fault an SQLSTATE names, if any.
    pub fn of_sqlstate(code: &str) -> Option<Self> {
        match code {
            // read_only_sql_transaction: a write on a standby or a read-only primary.
            "25006" => Some(Self::ReadOnly),
            // admin_shutdown, crash_shutdown, cannot_connect_now (starting, recovering),
            // too_many_connections, and every connection exception (class 08).
            "57P01" | "57P02" | "57P03" | "53300" => Some(Self::Unreachable),
            code if code.starts_with("08") => Some(Self::Unreachable),
            // query_canceled (statement_timeout), lock_not_available (lock_timeout),
            // idle_in_transaction_session_timeout.
            "57014" | "55P03" | "25P03" => Some(Self::Timeout),
            _ => None,
        }
    }

    /// The fault of the first database error in `err`'s chain of causes, if any; a
    /// read-only fault also marks every connection opened so far stale
    /// ([`is_stale`]), so that the pools open new ones (which
    /// [`refuse_read_only`] checks) instead of returning to the demoted server.
    pub fn observe(err: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let fault = std::iter::successors(Some(err), |e| e.source())
            .find_map(|e| e.downcast_ref::<sqlx::Error>())
            .and_then(Self::of)?;
        if fault == Self::ReadOnly {
            READ_ONLY_SEEN.store(since_start(), Ordering::Relaxed);
        }
        Some(fault)
    }

    /// What the fault is, for a learner or operator (no detail of the server).
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unreachable => "the database is unreachable",
            Self::ReadOnly => "the database is read-only (a failover is in progress)",
            Self::Timeout => "a database statement timed out",
        }
    }
}

/// The error of a new connection that reached a server in recovery or read-only: the
/// pool discards it, and the caller sees a [`DbFault::ReadOnly`].
#[derive(Debug, thiserror::Error)]
#[error("the server is read-only (in recovery or demoted): not the primary")]
pub struct NotPrimary;

/// Checks a new connection (`after_connect`): one that reached a read-only server (a
/// standby, or a primary demoted by a failover that an address still leads to) is refused
/// before any statement runs on it.
///
/// # Errors
/// An I/O error carrying [`NotPrimary`], or the check's own failure.
pub async fn refuse_read_only(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    // `transaction_read_only` is on in a hot standby and where
    // `default_transaction_read_only` is set, the two ways a demoted primary refuses writes.
    let read_only: bool =
        sqlx::query_scalar("select current_setting('transaction_read_only') = 'on'")
            .fetch_one(&mut *conn)
            .await?;
    if read_only {
        return Err(sqlx::Error::Io(std::io::Error::other(NotPrimary)));
    }
    Ok(())
}

/// Whether a pooled connection opened `age` ago was opened before the last read-only
/// fault this process observed (`before_acquire`): it may lead to the demoted server, so
/// it is closed and another opened. Costs no round trip.
pub fn is_stale(age: std::time::Duration) -> bool {
    let seen = READ_ONLY_SEEN.load(Ordering::Relaxed);
    if seen == 0 {
        return false;
    }
    let age = u64::try_from(age.as_nanos()).unwrap_or(u64::MAX);
    since_start().saturating_sub(age) < seen
}

/// When this process last observed a read-only fault, in nanoseconds since [`START`]
/// (0: never).
static READ_ONLY_SEEN: AtomicU64 = AtomicU64::new(0);
static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Nanoseconds since [`START`], at least 1.
fn since_start() -> u64 {
    u64::try_from(START.elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn sqlstates_are_classified() {
        assert_eq!(DbFault::of_sqlstate("25006"), Some(DbFault::ReadOnly));
        assert_eq!(DbFault::of_sqlstate("57P01"), Some(DbFault::Unreachable));
        assert_eq!(DbFault::of_sqlstate("08006"), Some(DbFault::Unreachable));
        assert_eq!(DbFault::of_sqlstate("57014"), Some(DbFault::Timeout));
        assert_eq!(DbFault::of_sqlstate("55P03"), Some(DbFault::Timeout));
        assert_eq!(DbFault::of_sqlstate("23505"), None);
    }

    #[test]
    fn lost_connections_and_refused_standbys_are_told_apart() {
        let eof = sqlx::Error::Io(std::io::ErrorKind::UnexpectedEof.into());
        assert_eq!(DbFault::of(&eof), Some(DbFault::Unreachable));
        let standby = sqlx::Error::Io(std::io::Error::other(NotPrimary));
        assert_eq!(DbFault::of(&standby), Some(DbFault::ReadOnly));
        assert_eq!(DbFault::of(&sqlx::Error::RowNotFound), None);
        assert_eq!(
            DbFault::of(&sqlx::Error::PoolTimedOut),
            Some(DbFault::Unreachable)
        );
    }

    #[test]
    fn a_read_only_fault_in_the_causes_makes_older_connections_stale() {
        #[derive(Debug, thiserror::Error)]
        #[error("committing a request")]
        struct Wrapper(#[source] sqlx::Error);

        let _ = since_start();
        std::thread::sleep(Duration::from_millis(2));
        let opened_at_start = START.elapsed();
        let err = Wrapper(sqlx::Error::Io(std::io::Error::other(NotPrimary)));
        assert_eq!(DbFault::observe(&err), Some(DbFault::ReadOnly));
        assert!(is_stale(opened_at_start));
        assert!(!is_stale(Duration::ZERO));
    }
}
