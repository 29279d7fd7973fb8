//! The process's descriptor limit. Every pod port and service port a node agent serves is
//! a listening socket, and every forwarded connection two more, so a simulator process
//! lifts its `RLIMIT_NOFILE` before it serves: both limits to [`WANTED`] where the
//! process may raise its hard limit (root, as in CI), else the soft limit to the hard one.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors a simulator asks for when it may raise its hard limit: a class of a few
/// thousand labs serves tens of thousands of ports (the kernel's default `fs.nr_open`).
pub const WANTED: u64 = 1 << 20;

/// Raises the descriptor limit as far as this process may; returns the soft limit now in
/// force (`None` when unlimited).
///
/// # Errors
/// The `setrlimit` failure (the old limit stays).
pub fn raise_nofile_limit() -> std::io::Result<Option<u64>> {
    let limit = getrlimit(Resource::Nofile);
    if limit.maximum.is_some_and(|max| max < WANTED) {
        let raised = Rlimit {
            current: Some(WANTED),
            maximum: Some(WANTED),
        };
        // Refused without CAP_SYS_RESOURCE (or above fs.nr_open): the hard limit stays.
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Ok(Some(WANTED));
        }
    }
    if limit.current != limit.maximum {
        let lifted = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, lifted).map_err(std::io::Error::from)?;
    }
    Ok(limit.maximum)
}

/// The soft descriptor limit (`None` when unlimited).
pub fn nofile_limit() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}
