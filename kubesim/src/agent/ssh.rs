//! The SSH server behind a pod's `ssh` ports: a real SSH-2 server (russh) with the
//! agent's ed25519 host key, password and keyboard-interactive logins with the image's
//! credentials ([`super::login`]), and one sandboxed shell per session channel
//! ([`super::shell`]).
//!
//! Anything else is refused the way sshd refuses it: a wrong password, the `none`
//! method or a public key gets an authentication failure naming the methods that can
//! work, not a dropped connection; port forwarding, agent forwarding, X11 and
//! subsystems are refused. The identification string stays `SSH-2.0-kubesim`.
//!
//! russh runs each session on a task of its own, which nothing outside it can abort.
//! So the session is given one end of an in-memory pipe and the connection's task copies
//! between the pipe and the socket: when that task ends (the client left, or the pod's
//! tasks were aborted because the pod was deleted), the session reads end-of-file,
//! stops, and drops its handler, whose shells are killed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use russh::keys::PrivateKey;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet, SshId};
use tokio::net::TcpStream;

use super::login::Login;
use super::sandbox::{Limits, Spec};
use super::shell::{Shell, Size};

/// What the agent's SSH server sends first, as the banner-only listener did.
pub const SERVER_ID: &str = "SSH-2.0-kubesim";
/// The size of the pipe between a connection's socket and its session.
const PIPE_BYTES: usize = 64 * 1024;
/// How long a connection stays open to flush the last messages after its session ended.
const FLUSH_AFTER_SESSION: Duration = Duration::from_secs(1);
/// Delay before each authentication failure but the first `none` probe, as sshd delays
/// them; short, as only tests and demos log in here.
const AUTH_REJECTION: Duration = Duration::from_millis(200);
/// Authentication attempts per connection (sshd's `MaxAuthTries`).
const MAX_AUTH_ATTEMPTS: usize = 6;
/// The `TERM` of a session channel that asked for no pty.
const DUMB_TERM: &str = "dumb";

/// The server configuration every pod of one agent shares: one host key, generated at
/// the agent's start and kept in memory only.
pub(crate) fn server_config(limits: &Limits) -> Arc<russh::server::Config> {
    let seed: [u8; 32] = rand::rng().random();
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    Arc::new(russh::server::Config {
        server_id: SshId::Standard(SERVER_ID.into()),
        methods: methods(),
        auth_rejection_time: AUTH_REJECTION,
        // Clients (OpenSSH, and the scheduler's reachability probe) start with `none` to
        // learn the methods: that answer needs no delay.
        auth_rejection_time_initial: Some(Duration::ZERO),
        max_auth_attempts: MAX_AUTH_ATTEMPTS,
        keys: vec![key],
        // A connection idle for as long as a session may last is gone.
        inactivity_timeout: Some(limits.session),
        nodelay: true,
        ..russh::server::Config::default()
    })
}

fn methods() -> MethodSet {
    MethodSet::from(&[MethodKind::Password, MethodKind::KeyboardInteractive][..])
}

fn reject() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(methods()),
        partial_success: false,
    }
}

/// What one pod's SSH ports serve.
#[derive(Debug)]
pub(crate) struct Site {
    /// The endpoint (the pod's name): hostname and prompt of its shells.
    pub endpoint: String,
    /// The login its image accepts.
    pub login: Login,
    /// What each shell may use.
    pub limits: Limits,
    /// The agent's server configuration.
    pub config: Arc<russh::server::Config>,
}

/// Serves one accepted connection until the client leaves, the session ends, or the
/// task is aborted.
pub(crate) async fn serve_connection(mut sock: TcpStream, site: Arc<Site>) {
    let _ = sock.set_nodelay(true);
    let (mut ours, theirs) = tokio::io::duplex(PIPE_BYTES);
    let handler = Connection {
        site: site.clone(),
        ptys: HashMap::new(),
        shells: HashMap::new(),
        keyboard_user: None,
    };
    let session = async {
        match russh::server::run_stream(site.config.clone(), theirs, handler).await {
            Ok(running) => {
                if let Err(e) = running.await {
                    tracing::debug!(endpoint = site.endpoint, error = %e, "kubesim agent: ssh session ended");
                }
            }
            Err(e) => {
                tracing::debug!(endpoint = site.endpoint, error = %e, "kubesim agent: ssh handshake failed");
            }
        }
    };
    let copy = tokio::io::copy_bidirectional(&mut sock, &mut ours);
    tokio::pin!(session, copy);
    tokio::select! {
        // The client left (or the socket failed): returning drops the pipe, which ends
        // the session.
        _ = &mut copy => {}
        () = &mut session => {
            let _ = tokio::time::timeout(FLUSH_AFTER_SESSION, copy).await;
        }
    }
}

/// The pty a channel asked for.
#[derive(Debug, Clone)]
struct PtyRequest {
    term: String,
    size: Size,
}

/// One connection's state (russh's handler).
struct Connection {
    site: Arc<Site>,
    ptys: HashMap<ChannelId, PtyRequest>,
    shells: HashMap<ChannelId, Shell>,
    /// The user of a keyboard-interactive exchange under way.
    keyboard_user: Option<String>,
}

impl Connection {
    /// Starts the shell of `channel` (an interactive one, or `command`) and answers the
    /// request.
    fn start_shell(&mut self, channel: ChannelId, command: Option<&str>, session: &mut Session) {
        if self.shells.contains_key(&channel) {
            // One program per channel (RFC 4254 6.5).
            let _ = session.channel_failure(channel);
            return;
        }
        let pty = self.ptys.get(&channel).cloned().unwrap_or(PtyRequest {
            term: DUMB_TERM.to_owned(),
            size: Size::from_request(0, 0),
        });
        let spec = Spec {
            endpoint: &self.site.endpoint,
            user: self.site.login.user(),
            term: &pty.term,
            command,
            limits: &self.site.limits,
        };
        match Shell::start(&spec, pty.size, channel, session.handle()) {
            Ok(shell) => {
                self.shells.insert(channel, shell);
                let _ = session.channel_success(channel);
            }
            Err(e) => {
                tracing::warn!(endpoint = self.site.endpoint, error = %e, "kubesim agent: starting a shell");
                let note = format!("kubesim: cannot start a shell: {e}\r\n");
                let _ = session.extended_data(channel, 1, note.into_bytes());
                let _ = session.channel_failure(channel);
            }
        }
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(if self.site.login.accepts(user, password) {
            Auth::Accept
        } else {
            reject()
        })
    }

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        _offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(reject())
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        _key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(reject())
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(mut response) = response else {
            // The first round: ask for the password, not echoed.
            self.keyboard_user = Some(user.to_owned());
            return Ok(Auth::Partial {
                name: "".into(),
                instructions: "".into(),
                prompts: vec![("Password: ".into(), false)].into(),
            });
        };
        let user = self.keyboard_user.take().unwrap_or_else(|| user.to_owned());
        let answer = response.next();
        let accepted = response.next().is_none()
            && answer.is_some_and(|answer| {
                std::str::from_utf8(&answer).is_ok_and(|p| self.site.login.accepts(&user, p))
            });
        Ok(if accepted { Auth::Accept } else { reject() })
    }

    async fn channel_open_session(
        &mut self,
        // Dropped: everything this server does with a channel comes through the
        // handler's callbacks, and an unread channel would fill and stall the session.
        _channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let term = if term.is_empty() || term.len() > 64 || term.contains('\0') {
            DUMB_TERM.to_owned()
        } else {
            term.to_owned()
        };
        self.ptys.insert(
            channel,
            PtyRequest {
                term,
                size: Size::from_request(col_width, row_height),
            },
        );
        session.channel_success(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start_shell(channel, None, session);
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match std::str::from_utf8(data) {
            Ok(command) if !command.contains('\0') => {
                self.start_shell(channel, Some(command), session);
            }
            _ => session.channel_failure(channel)?,
        }
        Ok(())
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let size = Size::from_request(col_width, row_height);
        if let Some(pty) = self.ptys.get_mut(&channel) {
            pty.size = size;
        }
        if let Some(shell) = self.shells.get(&channel)
            && let Err(e) = shell.resize(size)
        {
            tracing::debug!(endpoint = self.site.endpoint, error = %e, "kubesim agent: resizing a pty");
        }
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // sshd's default `AcceptEnv` is empty.
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(shell) = self.shells.get_mut(&channel) {
            // A shell that already exited takes no more input; its pump closes the channel.
            let _ = shell.write(data).await;
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.ptys.remove(&channel);
        // Dropping the shell kills it.
        self.shells.remove(&channel);
        Ok(())
    }
}
