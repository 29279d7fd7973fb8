//! Failures that are the simulator's, not the lab's: the agent ran out of descriptors,
//! memory or local ports. They are reported under their own reason, in the pod's status
//! and logs, so that a benchmark or test that hits a limit of the machine says so instead
//! of looking like a lab whose target was unreachable.

use std::io;

use rustix::io::Errno;

/// `status.reason` of a pod the simulator failed, and the `reason` of its container's
/// terminated state.
pub const SIMULATOR_ERROR: &str = "SimulatorError";

/// Whether `error` comes from a limit of the simulator's process or machine (descriptors,
/// buffers, memory, local addresses) rather than from the peer or the network.
pub fn is_simulator_error(error: &io::Error) -> bool {
    Errno::from_io_error(error).is_some_and(|errno| {
        [
            Errno::MFILE,
            Errno::NFILE,
            Errno::NOBUFS,
            Errno::NOMEM,
            Errno::ADDRNOTAVAIL,
        ]
        .contains(&errno)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_exhaustion_is_the_simulators_and_a_refusal_is_not() {
        assert!(is_simulator_error(&io::Error::from_raw_os_error(
            Errno::MFILE.raw_os_error()
        )));
        assert!(!is_simulator_error(&io::Error::from_raw_os_error(
            Errno::CONNREFUSED.raw_os_error()
        )));
        assert!(!is_simulator_error(&io::Error::other("timed out")));
    }
}
