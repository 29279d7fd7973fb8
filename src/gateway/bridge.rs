//! The SSH side of a terminal: dial the endpoint the terminal was allowed to reach, log in
//! (password, then keyboard-interactive, as WebSSH2 did), open a shell on a pty of type
//! `xterm-color`, then carry keystrokes one way and output the other under the rate
//! limits, until one side ends.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use russh::client::{self, KeyboardInteractiveAuthResponse};
use russh::{Channel, ChannelMsg};
use socketioxide::SendError;
use socketioxide::SocketError;
use socketioxide::extract::SocketRef;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::reachability::{AnyHostKey, preferred};
use crate::telemetry;

use super::activity;
use super::ending::Ending;
use super::handshake::Login;
use super::refusal::Refusal;
use super::settings::{GatewaySettings, MIN_BURST};

/// The terminal type WebSSH2 asked for; the front end's xterm.js renders it.
pub const TERM: &str = "xterm-color";
/// Size of the pty until the browser sends its `geometry`.
const DEFAULT_SIZE: (u32, u32) = (80, 24);
/// Keyboard-interactive rounds before giving up (a server asking forever).
const MAX_PROMPT_ROUNDS: usize = 4;
/// How long output waits for room in a browser's send buffer before the terminal is
/// considered lost.
const SEND_PATIENCE: Duration = Duration::from_secs(10);

/// What the browser sent, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Keystrokes (or a guide's run button: Ctrl-U then the command).
    Data(String),
    /// The terminal's size in columns and rows (`geometry` or `resize`).
    Size(u32, u32),
}

/// A logged-in SSH connection with a shell on a pty.
pub struct Shell {
    handle: client::Handle<AnyHostKey>,
    channel: Channel<client::Msg>,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell").finish_non_exhaustive()
    }
}

/// Dials `login`'s endpoint, logs in and opens a shell sized `size` (columns, rows).
///
/// # Errors
/// [`Refusal::Unreachable`] (including a timeout) or [`Refusal::LoginRefused`]; neither
/// names the password.
pub async fn open(
    login: &Login,
    size: Option<(u32, u32)>,
    within: Duration,
) -> Result<Shell, Refusal> {
    let target = format!("{}:{}", login.host, login.port);
    match tokio::time::timeout(within, dial_and_login(login, &target, size)).await {
        Ok(result) => result,
        Err(_) => Err(Refusal::Unreachable(format!(
            "{target}: no login within {} s",
            within.as_secs()
        ))),
    }
}

async fn dial_and_login(
    login: &Login,
    target: &str,
    size: Option<(u32, u32)>,
) -> Result<Shell, Refusal> {
    let unreachable = |why: String| Refusal::Unreachable(format!("{target}: {why}"));
    let stream = tokio::net::TcpStream::connect((login.host.as_str(), login.port))
        .await
        .map_err(|err| unreachable(err.to_string()))?;
    let _ = stream.set_nodelay(true);
    let config = Arc::new(client::Config {
        preferred: preferred(),
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        ..client::Config::default()
    });
    let mut handle = client::connect_stream(config, stream, AnyHostKey)
        .await
        .map_err(|err| unreachable(format!("SSH handshake failed: {err}")))?;
    let refused = || Refusal::LoginRefused(target.to_owned());
    let password = login.password.expose();
    let by_password = handle
        .authenticate_password(login.username.as_str(), password)
        .await
        .map_err(|err| unreachable(format!("SSH login failed: {err}")))?;
    if !by_password.success() {
        let mut answer = handle
            .authenticate_keyboard_interactive_start(login.username.as_str(), None::<String>)
            .await
            .map_err(|err| unreachable(format!("SSH login failed: {err}")))?;
        let mut rounds = 0;
        loop {
            match answer {
                KeyboardInteractiveAuthResponse::Success => break,
                KeyboardInteractiveAuthResponse::Failure { .. } => return Err(refused()),
                KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                    rounds += 1;
                    if rounds > MAX_PROMPT_ROUNDS {
                        return Err(refused());
                    }
                    let responses = prompts.iter().map(|_| password.to_owned()).collect();
                    answer = handle
                        .authenticate_keyboard_interactive_respond(responses)
                        .await
                        .map_err(|err| unreachable(format!("SSH login failed: {err}")))?;
                }
            }
        }
    }
    let broken = |err: russh::Error| unreachable(format!("opening a shell: {err}"));
    let channel = handle.channel_open_session().await.map_err(broken)?;
    let (cols, rows) = size.unwrap_or(DEFAULT_SIZE);
    channel
        .request_pty(false, TERM, cols, rows, 0, 0, &[])
        .await
        .map_err(broken)?;
    channel.request_shell(false).await.map_err(broken)?;
    Ok(Shell { handle, channel })
}

/// What a running terminal is bound by and reports to.
#[derive(Debug)]
pub struct Bounds<'a> {
    /// Rate limits and idle timeout.
    pub settings: &'a GatewaySettings,
    /// Set when something outside ends the terminal (its lab ended, the process stops).
    pub ended: watch::Receiver<Option<Ending>>,
    /// Cancelled when the browser disconnects.
    pub client_gone: CancellationToken,
    /// Cancelled when the browser's events overflowed their queue.
    pub flooded: CancellationToken,
}

/// Carries `inputs` to the shell and its output to `socket` until one side ends; calls
/// `typed` on a keystroke message at most once per [`activity::EVERY`] (the activity
/// written no more often than that, this terminal does not ask more often either).
/// Returns why it ended.
pub async fn run(
    shell: Shell,
    socket: &SocketRef,
    inputs: &mut mpsc::Receiver<Input>,
    mut bounds: Bounds<'_>,
    typed: impl Fn(),
) -> Ending {
    let Shell {
        handle,
        mut channel,
    } = shell;
    let settings = bounds.settings;
    let output_limit = limiter(settings.output_bytes_per_sec, settings.output_burst_bytes);
    let input_limit = limiter(settings.input_bytes_per_sec, settings.input_burst_bytes);
    let idle = settings.idle_timeout();
    let mut idle_deadline = Instant::now() + idle;
    let mut pending = Vec::new();
    let mut next_activity = Instant::now();
    // Looked up once, not per keystroke.
    let metrics = telemetry::metrics();
    let bytes_out = metrics.terminal_bytes.with_label_values(&["out"]);
    let bytes_in = metrics.terminal_bytes.with_label_values(&["in"]);
    let ending = loop {
        tokio::select! {
            message = channel.wait() => match message {
                Some(ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. }) => {
                    bytes_out.inc_by(data.len() as u64);
                    if let Err(ending) = show(socket, &output_limit, &mut pending, &data).await {
                        break ending;
                    }
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => break Ending::SessionClosed,
                Some(_) => {}
            },
            input = inputs.recv() => match input {
                Some(Input::Data(text)) => {
                    let now = Instant::now();
                    idle_deadline = now + idle;
                    if now >= next_activity {
                        next_activity = now + activity::EVERY;
                        typed();
                    }
                    bytes_in.inc_by(text.len() as u64);
                    let mut failed = None;
                    for piece in text.as_bytes().chunks(MIN_BURST as usize) {
                        wait_for(&input_limit, piece.len()).await;
                        if let Err(err) = channel.data_bytes(piece.to_vec()).await {
                            failed = Some(Ending::Broken(err.to_string()));
                            break;
                        }
                    }
                    if let Some(ending) = failed {
                        break ending;
                    }
                }
                Some(Input::Size(cols, rows)) => {
                    if let Err(err) = channel.window_change(cols, rows, 0, 0).await {
                        break Ending::Broken(err.to_string());
                    }
                }
                // The socket's side dropped its sender: it overflowed or is gone.
                None => break if socket.connected() { Ending::InputFlood } else { Ending::ClientLeft },
            },
            () = tokio::time::sleep_until(idle_deadline) => break Ending::Idle(idle.as_secs()),
            () = bounds.client_gone.cancelled() => break Ending::ClientLeft,
            () = bounds.flooded.cancelled() => break Ending::InputFlood,
            changed = bounds.ended.changed() => {
                let ending = bounds.ended.borrow().clone();
                match (changed, ending) {
                    (_, Some(ending)) => break ending,
                    (Err(_), None) => break Ending::ShuttingDown,
                    (Ok(()), None) => {}
                }
            }
        }
    };
    let _ = channel.close().await;
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    ending
}

fn limiter(per_sec: u32, burst: u32) -> DefaultDirectRateLimiter {
    let rate = NonZeroU32::new(per_sec).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(MIN_BURST)).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
}

/// Waits until `limit` lets `bytes` through (pieces are at most [`MIN_BURST`], which
/// every burst holds).
async fn wait_for(limit: &DefaultDirectRateLimiter, bytes: usize) {
    let Some(n) = u32::try_from(bytes).ok().and_then(NonZeroU32::new) else {
        return;
    };
    // Only fails for more than the burst, which validation rules out.
    let _ = limit.until_n_ready(n).await;
}

/// Sends `data` (the shell's output) to the browser within the output limit, as text.
async fn show(
    socket: &SocketRef,
    limit: &DefaultDirectRateLimiter,
    pending: &mut Vec<u8>,
    data: &[u8],
) -> Result<(), Ending> {
    for piece in data.chunks(MIN_BURST as usize) {
        wait_for(limit, piece.len()).await;
        pending.extend_from_slice(piece);
        let text = take_text(pending);
        if !text.is_empty() {
            send(socket, &text).await?;
        }
    }
    Ok(())
}

/// Sends `text` as a `data` event, waiting for room in the browser's buffer.
async fn send(socket: &SocketRef, text: &str) -> Result<(), Ending> {
    let give_up = Instant::now() + SEND_PATIENCE;
    loop {
        match socket.emit("data", text) {
            Ok(()) => return Ok(()),
            Err(SendError::Socket(SocketError::InternalChannelFull))
                if Instant::now() < give_up =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(SendError::Socket(SocketError::Closed)) => return Err(Ending::ClientLeft),
            Err(err) => return Err(Ending::Broken(err.to_string())),
        }
    }
}

/// The text of `pending`'s complete UTF-8 sequences, leaving an incomplete one at its end
/// for the next read (a multi-byte character split across SSH packets); invalid bytes
/// become U+FFFD.
fn take_text(pending: &mut Vec<u8>) -> String {
    let mut text = String::new();
    let mut start = 0;
    while start < pending.len() {
        match std::str::from_utf8(&pending[start..]) {
            Ok(rest) => {
                text.push_str(rest);
                start = pending.len();
            }
            Err(err) => {
                let valid = start + err.valid_up_to();
                text.push_str(&String::from_utf8_lossy(&pending[start..valid]));
                if let Some(bad) = err.error_len() {
                    text.push('\u{FFFD}');
                    start = valid + bad;
                } else {
                    start = valid;
                    break;
                }
            }
        }
    }
    pending.drain(..start);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_reads_is_kept_whole() {
        let euro = "€".as_bytes();
        let mut pending = b"price: ".to_vec();
        pending.extend_from_slice(&euro[..2]);
        assert_eq!(take_text(&mut pending), "price: ");
        assert_eq!(pending, &euro[..2]);
        pending.extend_from_slice(&euro[2..]);
        pending.extend_from_slice(b"5");
        assert_eq!(take_text(&mut pending), "€5");
        assert!(pending.is_empty());
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut pending = vec![b'a', 0xff, b'b'];
        assert_eq!(take_text(&mut pending), "a\u{FFFD}b");
        assert!(pending.is_empty());
    }
}
