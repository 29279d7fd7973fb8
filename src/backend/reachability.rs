//! Is an endpoint reachable? Real sockets, one probe per presentation: `ssh` waits for the
//! server's SSH identification string, `http` for any HTTP response, and an endpoint
//! without presentations must accept TCP on every one of its ports (the original tried
//! only the first, and only ever connected, even for http).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What to check on one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The server sends `SSH-...` first.
    Ssh,
    /// The server answers a request with `HTTP/...`.
    Http,
    /// The port accepts a connection.
    Tcp,
}

/// Why a probe failed (for logs and the livelesson's error reason).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Connecting failed.
    #[error("connecting to {target}: {source}")]
    Connect {
        /// host:port.
        target: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("talking to {target}: {source}")]
    Io {
        /// host:port.
        target: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The answer was not what the protocol sends.
    #[error("{target} answered {answer:?}, not {expected}")]
    Unexpected {
        /// host:port.
        target: String,
        /// The first bytes received.
        answer: String,
        /// What was expected.
        expected: &'static str,
    },
    /// No answer in time.
    #[error("no answer from {0} in time")]
    Timeout(String),
}

/// Runs `probe` against `host:port` within `timeout`.
///
/// # Errors
/// [`ProbeError`] saying what went wrong.
pub async fn probe(host: &str, port: u16, probe: Probe, timeout: Duration) -> Result<(), ProbeError> {
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    tokio::time::timeout(timeout, run(&target, host, probe))
        .await
        .map_err(|_| ProbeError::Timeout(target.clone()))?
}

async fn run(target: &str, host: &str, probe: Probe) -> Result<(), ProbeError> {
    let mut stream = TcpStream::connect(target)
        .await
        .map_err(|source| ProbeError::Connect {
            target: target.to_owned(),
            source,
        })?;
    let io = |source| ProbeError::Io {
        target: target.to_owned(),
        source,
    };
    let (expected, prefix): (&'static str, &[u8]) = match probe {
        Probe::Tcp => return Ok(()),
        Probe::Ssh => ("an SSH identification string", b"SSH-"),
        Probe::Http => {
            let request = format!("GET / HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.map_err(io)?;
            ("an HTTP response", b"HTTP/")
        }
    };
    let mut answer = Vec::with_capacity(16);
    let mut buf = [0u8; 64];
    while answer.len() < prefix.len() {
        let n = stream.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    if answer.starts_with(prefix) {
        Ok(())
    } else {
        Err(ProbeError::Unexpected {
            target: target.to_owned(),
            answer: String::from_utf8_lossy(&answer).chars().take(40).collect(),
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn serve(answer: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.write_all(answer).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn each_probe_recognises_its_protocol() {
        let ssh = serve(b"SSH-2.0-test\r\n").await;
        let http = serve(b"HTTP/1.1 200 OK\r\n\r\n").await;
        let t = Duration::from_secs(2);
        probe("127.0.0.1", ssh, Probe::Ssh, t).await.expect("ssh");
        probe("127.0.0.1", http, Probe::Http, t).await.expect("http");
        probe("127.0.0.1", ssh, Probe::Tcp, t).await.expect("tcp");
        assert!(matches!(
            probe("127.0.0.1", http, Probe::Ssh, t).await,
            Err(ProbeError::Unexpected { .. })
        ));
    }

    #[tokio::test]
    async fn a_closed_port_fails_to_connect() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        assert!(matches!(
            probe("127.0.0.1", port, Probe::Tcp, Duration::from_secs(2)).await,
            Err(ProbeError::Connect { .. })
        ));
    }
}
