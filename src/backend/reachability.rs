//! Is an endpoint reachable? Real sockets, one probe per presentation: `ssh` goes through
//! the SSH key exchange to an answer to an authentication request, `http` waits for any
//! HTTP response, and an endpoint without presentations must accept TCP on every one of
//! its ports (the original tried only the first, and only ever connected, even for http).
//!
//! The ssh probe asks as the original did: a server that completes the key exchange and
//! answers a login attempt is up, whether the answer is success or failure (the original
//! dialled with dummy credentials and took "unable to authenticate" as reachable). It
//! sends the `none` method, so no password is sent, stored or logged, and it accepts any
//! host key (the original turned host-key checking off): it checks that sshd is up, not
//! who it is. A server that sends its identification string and then nothing more (a
//! booting device whose sshd is not ready) is not reachable.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PublicKeyOrCertificate;
use russh::{Preferred, cipher, kex, mac};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What to check on one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The server completes an SSH key exchange and answers an authentication request.
    Ssh,
    /// The server answers a request with `HTTP/...`.
    Http,
    /// The port accepts a connection.
    Tcp,
}

impl Probe {
    /// What a reachable server does, for messages.
    fn expected(self) -> &'static str {
        match self {
            Probe::Ssh => "SSH key exchange and answer to a login attempt",
            Probe::Http => "HTTP response",
            Probe::Tcp => "accepted connection",
        }
    }
}

/// The user name the ssh probe asks about (servers log it with the failed attempt).
pub const SSH_PROBE_USER: &str = "antidote-reachability";
/// The size of the pipe between the socket and the probe's SSH session.
const SSH_PIPE_BYTES: usize = 16 * 1024;

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
    /// The SSH handshake failed before the server answered a login attempt.
    #[error("SSH handshake with {target}: {source}")]
    Ssh {
        /// host:port.
        target: String,
        /// What russh reported (a protocol error, no common algorithm, a closed
        /// connection).
        #[source]
        source: russh::Error,
    },
    /// No answer in time.
    #[error("{target}: no {expected} within {} ms", .after.as_millis())]
    Timeout {
        /// host:port.
        target: String,
        /// What did not come.
        expected: &'static str,
        /// The probe's timeout.
        after: Duration,
    },
}

/// Runs `probe` against `host:port` within `timeout`.
///
/// # Errors
/// [`ProbeError`] saying what went wrong.
pub async fn probe(
    host: &str,
    port: u16,
    probe: Probe,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    tokio::time::timeout(timeout, run(&target, host, probe))
        .await
        .map_err(|_| ProbeError::Timeout {
            target: target.clone(),
            expected: probe.expected(),
            after: timeout,
        })?
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
    let prefix: &[u8] = match probe {
        Probe::Tcp => return Ok(()),
        Probe::Ssh => return ssh(stream, target).await,
        Probe::Http => {
            let request = format!("GET / HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.map_err(io)?;
            b"HTTP/"
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
            expected: probe.expected(),
        })
    }
}

/// Accepts any host key: the probe asks whether sshd is up, not who it is; the terminal
/// gateway, like WebSSH2, logs in to endpoints made afresh for every lab, whose keys no
/// one can know beforehand.
#[derive(Debug)]
pub struct AnyHostKey;

impl russh::client::Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// The algorithms the probe offers: russh's defaults, with the plain x25519 exchange
/// first (the post-quantum hybrid, russh's first choice, costs more and protects nothing
/// here), then the older ones network operating systems still run with (SHA-1 key
/// exchanges and MACs, ECDH on NIST curves, CBC ciphers). Nothing secret crosses this
/// connection, so the probe can speak to any server that speaks SSH-2 rather than fail
/// a lab whose device is merely old.
pub fn preferred() -> Preferred {
    let defaults = Preferred::default();
    let mut kexes = vec![kex::CURVE25519];
    kexes.extend(
        defaults
            .kex
            .iter()
            .filter(|k| **k != kex::CURVE25519)
            .copied(),
    );
    kexes.extend([
        kex::ECDH_SHA2_NISTP256,
        kex::ECDH_SHA2_NISTP384,
        kex::ECDH_SHA2_NISTP521,
        kex::DH_G14_SHA1,
        kex::DH_GEX_SHA1,
        kex::DH_G1_SHA1,
    ]);
    let mut ciphers = defaults.cipher.to_vec();
    ciphers.extend([
        cipher::AES_128_GCM,
        cipher::AES_256_CBC,
        cipher::AES_192_CBC,
        cipher::AES_128_CBC,
    ]);
    let mut macs = defaults.mac.to_vec();
    macs.extend([mac::HMAC_SHA1_ETM, mac::HMAC_SHA1]);
    Preferred {
        kex: Cow::Owned(kexes),
        cipher: Cow::Owned(ciphers),
        mac: Cow::Owned(macs),
        ..defaults
    }
}

/// The key exchange, then one `none` login attempt: any answer is reachable.
///
/// russh runs a client session on a task of its own that outlives a dropped future. So
/// the session gets one end of an in-memory pipe and this future copies between the
/// pipe and the socket: when the probe's timeout drops it, the socket closes and the
/// session reads end-of-file and stops, instead of lingering on a silent server.
async fn ssh(mut stream: TcpStream, target: &str) -> Result<(), ProbeError> {
    let failed = |source| ProbeError::Ssh {
        target: target.to_owned(),
        source,
    };
    let config = Arc::new(russh::client::Config {
        preferred: preferred(),
        // The probe's own timeout bounds it.
        inactivity_timeout: None,
        ..russh::client::Config::default()
    });
    let (mut ours, theirs) = tokio::io::duplex(SSH_PIPE_BYTES);
    let session = async {
        let mut handle = russh::client::connect_stream(config, theirs, AnyHostKey).await?;
        // Success (a server without authentication) or failure: either is an answer.
        handle.authenticate_none(SSH_PROBE_USER).await?;
        let _ = handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
        Ok::<(), russh::Error>(())
    };
    tokio::pin!(session);
    let answered = {
        let copy = tokio::io::copy_bidirectional(&mut stream, &mut ours);
        tokio::select! {
            result = &mut session => Some(result),
            _ = copy => None,
        }
    };
    if let Some(result) = answered {
        return result.map_err(failed);
    }
    // The server closed the connection (or the socket failed). Closing our end of the
    // pipe lets the session read what the server sent before, then end-of-file, and end.
    drop(ours);
    session.await.map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, PostParams};
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

    /// Sends `greeting` on each connection and then holds it, reading and ignoring
    /// whatever comes, as an sshd that is not ready would.
    async fn greet_and_hold(greeting: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = socket.write_all(greeting).await;
                    let mut buf = [0u8; 1024];
                    while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn each_probe_recognises_its_protocol() {
        let http = serve(b"HTTP/1.1 200 OK\r\n\r\n").await;
        let t = Duration::from_secs(2);
        probe("127.0.0.1", http, Probe::Http, t)
            .await
            .expect("http");
        probe("127.0.0.1", http, Probe::Tcp, t).await.expect("tcp");
        let ssh = serve(b"SSH-2.0-test\r\n").await;
        assert!(matches!(
            probe("127.0.0.1", ssh, Probe::Http, t).await,
            Err(ProbeError::Unexpected { .. })
        ));
        // A greeting and a closed connection: the handshake fails, at once.
        let closed = probe("127.0.0.1", ssh, Probe::Ssh, t).await;
        assert!(matches!(closed, Err(ProbeError::Ssh { .. })), "{closed:?}");
        assert!(matches!(
            probe("127.0.0.1", http, Probe::Ssh, t).await,
            Err(ProbeError::Ssh { .. })
        ));
    }

    #[tokio::test]
    async fn an_ssh_greeting_alone_is_not_reachable() {
        let port = greet_and_hold(b"SSH-2.0-kubesim\r\n").await;
        let timeout = Duration::from_millis(300);
        let started = tokio::time::Instant::now();
        let err = probe("127.0.0.1", port, Probe::Ssh, timeout)
            .await
            .expect_err("a greeting is not a handshake");
        assert!(matches!(err, ProbeError::Timeout { .. }), "{err}");
        // Given up at the probe's timeout (with room for a loaded machine), not later.
        assert!(
            started.elapsed() < timeout + Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            err.to_string(),
            format!(
                "127.0.0.1:{port}: no SSH key exchange and answer to a login attempt within 300 ms"
            )
        );
    }

    /// The node agent's real SSH server answers the probe: key exchange, then an
    /// authentication failure for the probe's `none` attempt.
    #[tokio::test]
    async fn a_kubesim_pods_ssh_port_is_reachable() {
        let sim = kubesim::KubeSim::start(kubesim::Config::default())
            .await
            .expect("kubesim");
        let pods: Api<Pod> = Api::default_namespaced(sim.client().expect("client"));
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "linux1"},
            "spec": {"containers": [{"name": "linux1", "image": "antidotelabs/utility:test",
                "ports": [{"containerPort": 22, "name": "ssh-22"}]}]}
        }))
        .expect("pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("create");
        let watched =
            kube::runtime::wait::await_condition(pods.clone(), "linux1", |p: Option<&Pod>| {
                p.and_then(|p| p.status.as_ref())
                    .and_then(|s| s.pod_ip.as_ref())
                    .is_some()
            });
        let pod = tokio::time::timeout(Duration::from_secs(20), watched)
            .await
            .expect("running in time")
            .expect("watch")
            .expect("pod");
        let ip = pod.status.and_then(|s| s.pod_ip).expect("pod ip");
        probe(&ip, 22, Probe::Ssh, Duration::from_secs(2))
            .await
            .expect("the agent's ssh port is reachable");
        sim.shutdown().await;
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
