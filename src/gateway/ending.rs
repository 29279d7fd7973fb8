//! Why an open terminal ended. Endings the learner did not choose are sent to the browser
//! as `ssherror` before the disconnect.

/// How an open terminal ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The browser disconnected.
    ClientLeft,
    /// The shell exited or the endpoint closed the connection.
    SessionClosed,
    /// The livelesson was killed, expired or is no longer READY.
    LabEnded,
    /// Nobody typed for the idle timeout.
    Idle(u64),
    /// The browser sent more than the gateway buffers.
    InputFlood,
    /// The SSH connection failed.
    Broken(String),
    /// The process is stopping.
    ShuttingDown,
}

impl Ending {
    /// What the browser is told (`ssherror`), when it did not end the terminal itself.
    pub fn message(&self) -> Option<String> {
        match self {
            Self::ClientLeft => None,
            Self::SessionClosed => Some("the session ended".into()),
            Self::LabEnded => Some(
                "the lab ended (it was stopped, expired or failed); reload to start it again"
                    .into(),
            ),
            Self::Idle(secs) if *secs < 120 => {
                Some(format!("closed after {secs} seconds without typing"))
            }
            Self::Idle(secs) => Some(format!("closed after {} minutes without typing", secs / 60)),
            Self::InputFlood => {
                Some("closed: input arrived faster than the terminal takes it".into())
            }
            Self::Broken(why) => Some(format!("connection to the lab lost: {why}")),
            Self::ShuttingDown => Some("the terminal gateway is restarting; reconnect".into()),
        }
    }

    /// The metric label (`antidote_terminal_closes_total{reason}`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::ClientLeft => "client_left",
            Self::SessionClosed => "session_closed",
            Self::LabEnded => "lab_ended",
            Self::Idle(_) => "idle",
            Self::InputFlood => "input_flood",
            Self::Broken(_) => "broken",
            Self::ShuttingDown => "shutting_down",
        }
    }
}
