//! Database faults as the application meets them: their classification is the engine's
//! ([`DbFault`]: unreachable, read-only, timeout; a new connection to a read-only server
//! refused by [`refuse_read_only`]); what is added here is the eviction of connections
//! to a read-only server from every pool of the process once any part of it met one.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use job_engine::fault::{DbFault, NotPrimary};
pub use job_engine::refuse_read_only;

/// The fault of the first database error in `err`'s chain of causes, if any. A read-only
/// fault also marks every connection opened so far stale ([`is_stale`]), so that the pools
/// open new ones (which [`refuse_read_only`] checks) instead of returning to the demoted
/// server.
pub fn observe(err: &(dyn std::error::Error + 'static)) -> Option<DbFault> {
    let fault = DbFault::in_chain(err)?;
    if fault == DbFault::ReadOnly {
        READ_ONLY_SEEN.store(since_start(), Ordering::Relaxed);
    }
    Some(fault)
}

/// Whether a pooled connection opened `age` ago was opened before the last read-only
/// fault this process observed (`before_acquire`): it may lead to the demoted server, so
/// it is closed and another opened. Costs no round trip.
pub fn is_stale(age: Duration) -> bool {
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
    use super::*;

    #[test]
    fn a_refused_standby_is_read_only_and_a_lost_connection_unreachable() {
        let eof = sqlx::Error::Io(std::io::ErrorKind::UnexpectedEof.into());
        assert_eq!(DbFault::of(&eof), Some(DbFault::Unreachable));
        let standby = sqlx::Error::Io(std::io::Error::other(NotPrimary));
        assert_eq!(DbFault::of(&standby), Some(DbFault::ReadOnly));
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
        assert_eq!(observe(&err), Some(DbFault::ReadOnly));
        assert!(is_stale(opened_at_start));
        assert!(!is_stale(Duration::ZERO));
    }
}
