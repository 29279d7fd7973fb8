//! What a failed database call says about the database itself: [`DbFault`], the three
//! faults production brings (the database is unreachable or the connection was lost, it
//! is read-only, a statement or transaction ran into a timeout), told apart from errors
//! of the statement (a constraint, bad input, a bug).
//!
//! The engine uses it to decide that a failure is the infrastructure's and not the job's
//! (see [`JobError::is_final`](crate::JobError::is_final)); applications use it to answer
//! "database unavailable" rather than "internal error", and to name the cause.

/// A fault of the database (or the way to it) rather than of the statement that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DbFault {
    /// No connection could be had or the connection was lost: I/O errors, a pool that
    /// timed out or is closed, SQLSTATE class 08 (connection exception), a server that is
    /// shutting down, crashed or not yet accepting connections (57P01, 57P02, 57P03), or
    /// out of connection slots (53300).
    Unreachable,
    /// The server accepts no writes: a standby, a primary in recovery or one set read-only
    /// (25006 read_only_sql_transaction, "recovery is in progress").
    ReadOnly,
    /// A timeout of the server's: statement_timeout or a cancel (57014), lock_timeout
    /// (55P03), idle_in_transaction_session_timeout (25P03), transaction_timeout (25P04),
    /// idle_session_timeout (57P05).
    Timeout,
}

impl DbFault {
    /// The fault `err` reports, or `None` when the error is the statement's own.
    pub fn of(err: &sqlx::Error) -> Option<Self> {
        match err {
            // A connection that returns what the protocol does not allow is a connection
            // that broke mid-message (a proxy cut it, a failover moved it).
            // A new connection refused because its server cannot write.
            sqlx::Error::Io(io)
                if io
                    .get_ref()
                    .is_some_and(<dyn std::error::Error + Send + Sync>::is::<NotPrimary>) =>
            {
                Some(Self::ReadOnly)
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Some(Self::Unreachable),
            sqlx::Error::Database(db) => {
                Self::of_sqlstate(db.code().as_deref().unwrap_or_default(), db.message())
            }
            _ => None,
        }
    }

    /// The fault of a server error of SQLSTATE `code` and `message`, or `None`.
    pub fn of_sqlstate(code: &str, message: &str) -> Option<Self> {
        match code {
            "57P01" | "57P02" | "57P03" | "53300" => Some(Self::Unreachable),
            "25006" => Some(Self::ReadOnly),
            "57014" | "55P03" | "25P03" | "25P04" | "57P05" => Some(Self::Timeout),
            _ if code.starts_with("08") => Some(Self::Unreachable),
            // What a primary still in recovery answers to functions that need a writable
            // server, whatever the SQLSTATE (55000 for most of them).
            _ if message.contains("recovery is in progress")
                || (message.contains("cannot execute") && message.contains("read-only")) =>
            {
                Some(Self::ReadOnly)
            }
            _ => None,
        }
    }

    /// The cause in a few words, for error messages: "database unreachable", "database
    /// is read-only", "database timeout".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unreachable => "database unreachable",
            Self::ReadOnly => "database is read-only",
            Self::Timeout => "database timeout",
        }
    }

    /// Whether the fault is the database's absence rather than anything a statement
    /// did: unreachable or read-only (a timeout may be the statement's own doing, a lock
    /// it waits for or work too large for the limit).
    pub fn is_unavailable(self) -> bool {
        matches!(self, Self::Unreachable | Self::ReadOnly)
    }
}

/// The error of a new connection that reached a server that cannot write (a standby, or
/// a primary demoted by a failover that an address still leads to): see
/// [`crate::refuse_read_only`]. [`DbFault::of`] reads it as [`DbFault::ReadOnly`].
#[derive(Debug, thiserror::Error)]
#[error("the server is read-only (in recovery or demoted): not the primary")]
pub struct NotPrimary;

impl std::fmt::Display for DbFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::io;

    use super::*;

    /// A server error as the driver reports it, with a SQLSTATE and a message.
    #[derive(Debug)]
    struct ServerError {
        code: &'static str,
        message: &'static str,
    }

    impl std::fmt::Display for ServerError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.message)
        }
    }

    impl std::error::Error for ServerError {}

    impl sqlx::error::DatabaseError for ServerError {
        fn message(&self) -> &str {
            self.message
        }

        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.code))
        }

        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }

        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn server(code: &'static str, message: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(ServerError { code, message }))
    }

    #[test]
    fn lost_connections_and_absent_servers_are_unreachable() {
        let eof = sqlx::Error::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "expected to read 5 bytes, got 0 bytes at EOF",
        ));
        let refused = sqlx::Error::Io(io::ErrorKind::ConnectionRefused.into());
        for err in [
            eof,
            refused,
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Protocol("unexpected message".to_owned()),
            server(
                "57P01",
                "terminating connection due to administrator command",
            ),
            server(
                "57P02",
                "terminating connection because of crash of another server process",
            ),
            server("57P03", "the database system is starting up"),
            server("08006", "connection failure"),
            server("08P01", "protocol violation"),
            server("53300", "sorry, too many clients already"),
        ] {
            assert_eq!(DbFault::of(&err), Some(DbFault::Unreachable), "{err}");
        }
    }

    #[test]
    fn read_only_servers_are_read_only() {
        for err in [
            server("25006", "cannot execute INSERT in a read-only transaction"),
            server("25006", "cannot execute LISTEN during recovery"),
            server("55000", "recovery is in progress"),
        ] {
            assert_eq!(DbFault::of(&err), Some(DbFault::ReadOnly), "{err}");
        }
    }

    #[test]
    fn the_servers_timeouts_are_timeouts() {
        for err in [
            server("57014", "canceling statement due to statement timeout"),
            server("55P03", "canceling statement due to lock timeout"),
            server(
                "25P03",
                "terminating connection due to idle-in-transaction timeout",
            ),
            server("25P04", "terminating connection due to transaction timeout"),
            server(
                "57P05",
                "terminating connection due to idle-session timeout",
            ),
        ] {
            assert_eq!(DbFault::of(&err), Some(DbFault::Timeout), "{err}");
        }
    }

    #[test]
    fn errors_of_the_statement_are_no_fault() {
        for err in [
            server("23505", "duplicate key value violates unique constraint"),
            server("42P01", "relation \"nope\" does not exist"),
            server("40001", "could not serialize access"),
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("x".to_owned()),
        ] {
            assert_eq!(DbFault::of(&err), None, "{err}");
        }
    }

    #[test]
    fn a_fault_is_found_under_the_errors_that_wrap_it() {
        let queue = crate::QueueError::Database {
            operation: "claim",
            source: std::sync::Arc::new(server("25006", "read-only")),
        };
        assert_eq!(queue.fault(), Some(DbFault::ReadOnly));
        assert_eq!(DbFault::in_chain(&queue), Some(DbFault::ReadOnly));
        let job = crate::JobError::Queue(queue);
        assert_eq!(DbFault::in_chain(&job), Some(DbFault::ReadOnly));
        let plain = io::Error::other("reset");
        assert_eq!(DbFault::in_chain(&plain), Some(DbFault::Unreachable));
        assert_eq!(DbFault::in_chain(&crate::QueueError::Stopped), None);
        assert_eq!(DbFault::ReadOnly.to_string(), "database is read-only");
        assert!(DbFault::Unreachable.is_unavailable());
        assert!(!DbFault::Timeout.is_unavailable());
    }
}
