//! Why the gateway refuses a terminal before it opens: each reason is sent to the browser
//! as `ssherror` and counted by its label. No reason names a credential.

/// A terminal the gateway will not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The handshake lacks a parameter, or one is malformed.
    #[error("bad terminal request: {0}")]
    BadRequest(&'static str),
    /// No livelesson has an `ssh` presentation at this address.
    #[error("{host}:{port} is not a terminal of any lab")]
    NotATerminal {
        /// Requested host.
        host: String,
        /// Requested port.
        port: u16,
    },
    /// The address belongs to a lab that is not READY (or is ending).
    #[error("the lab of {host}:{port} is not ready ({status})")]
    NotReady {
        /// Requested host.
        host: String,
        /// Requested port.
        port: u16,
        /// Its status, or `ending`.
        status: String,
    },
    /// The livelesson has as many terminals open as it may.
    #[error("this lab already has {0} terminals open")]
    LivelessonFull(usize),
    /// The client address has as many terminals open as it may.
    #[error("too many terminals open from your address (at most {0})")]
    AddressFull(usize),
    /// The database could not be asked.
    #[error("terminals are unavailable right now; try again shortly")]
    Unavailable,
    /// The endpoint did not answer, or not as an SSH server.
    #[error("cannot reach {0}")]
    Unreachable(String),
    /// The endpoint refused the login.
    #[error("login refused by {0}")]
    LoginRefused(String),
    /// The process is stopping.
    #[error("the terminal gateway is stopping")]
    ShuttingDown,
}

impl Refusal {
    /// The metric label (`antidote_terminal_refusals_total{reason}`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::NotATerminal { .. } => "not_a_terminal",
            Self::NotReady { .. } => "not_ready",
            Self::LivelessonFull(_) => "livelesson_full",
            Self::AddressFull(_) => "address_full",
            Self::Unavailable => "unavailable",
            Self::Unreachable(_) => "unreachable",
            Self::LoginRefused(_) => "login_refused",
            Self::ShuttingDown => "shutting_down",
        }
    }
}
