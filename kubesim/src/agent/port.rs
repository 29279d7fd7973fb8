//! What a pod's listeners answer: a real SSH server on ssh ports ([`super::ssh`]), a
//! one-line HTTP page on web ports, and a silent TCP accept otherwise.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::address::BoundListener;
use super::failure::is_simulator_error;
use super::ssh::{Site, serve_connection};

/// How long idle simulated connections are held open.
const IDLE_CONN: Duration = Duration::from_secs(120);
/// Pause after a failed accept, so that a process out of descriptors does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The protocol a port speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    /// Serves SSH: logins with the image's credentials, sandboxed shells.
    Ssh,
    /// Answers any request with 200, a line naming the endpoint, port and path, and closes.
    Http,
    /// Accepts and holds the connection.
    Tcp,
}

/// The kind of a container port: by its name first (the scheduler names a presentation's
/// port `ssh-<n>` or `http-<n>`), then by its number.
pub fn port_kind(port: u16, name: &str) -> PortKind {
    if name.starts_with("ssh") {
        return PortKind::Ssh;
    }
    if name.starts_with("http") {
        return PortKind::Http;
    }
    match port {
        22 => PortKind::Ssh,
        80 | 443 | 3000 | 8080 | 8888 => PortKind::Http,
        _ => PortKind::Tcp,
    }
}

/// Accepts on `listener` until aborted, answering each connection as `kind`. An accept
/// that fails for lack of descriptors is logged once per burst and retried after a pause.
pub(super) async fn serve_port(l: BoundListener, kind: PortKind, site: Arc<Site>) {
    let pod = site.endpoint.clone();
    let mut conns = JoinSet::new();
    let mut failing = false;
    loop {
        tokio::select! {
            r = l.listener.accept() => match r {
                Ok((sock, _)) => {
                    failing = false;
                    conns.spawn(answer(sock, kind, l.port, site.clone()));
                }
                Err(e) => {
                    if !failing {
                        let whose = if is_simulator_error(&e) { "simulator" } else { "socket" };
                        tracing::warn!(pod, port = l.port, error = %e, "kubesim agent: accept failed ({whose} error)");
                        failing = true;
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn drain(mut sock: TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(IDLE_CONN, async {
        while let Ok(n) = sock.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

async fn answer(mut sock: TcpStream, kind: PortKind, port: u16, site: Arc<Site>) {
    match kind {
        PortKind::Ssh => serve_connection(sock, site).await,
        PortKind::Http => {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 2048];
            let got_head = tokio::time::timeout(Duration::from_secs(10), async {
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                true
            })
            .await;
            if got_head == Ok(true) {
                // The request line's target, so that a page shows what was asked of it
                // (a guide's notebook path, say).
                let head = String::from_utf8_lossy(&buf);
                let target = head.split_whitespace().nth(1).unwrap_or("/");
                let body = format!("kubesim: {} port {port} {target}\n", site.endpoint);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        }
        PortKind::Tcp => drain(sock).await,
    }
}
