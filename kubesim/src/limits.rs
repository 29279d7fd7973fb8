//! The process's descriptor limit. Every pod port and service port a node agent serves is
//! a listening socket, and every forwarded connection two more, so a simulator process
//! lifts its soft `RLIMIT_NOFILE` to the hard limit before it serves.

use rustix::process::{Resource, getrlimit, setrlimit};

/// Raises the soft descriptor limit to the hard one; returns the limit now in force
/// (`None` when unlimited).
///
/// # Errors
/// The `setrlimit` failure (the old limit stays).
pub fn raise_nofile_limit() -> std::io::Result<Option<u64>> {
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit).map_err(std::io::Error::from)?;
    }
    Ok(limit.current)
}

/// The soft descriptor limit (`None` when unlimited).
pub fn nofile_limit() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}
