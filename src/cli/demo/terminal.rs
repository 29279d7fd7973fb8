//! The demo's terminal: what the web front end's terminal tab does for a learner, over a
//! real SSH connection to a READY lesson's endpoint, with the login the API handed out
//! (`SSHUser`, `SSHPassword`): log in, run one command on a pty, read its answer.

use std::sync::Arc;
use std::time::Duration;

use antidote_scheduler::backend::reachability::AnyHostKey;
use anyhow::{Context, bail};
use russh::ChannelMsg;
use russh::client;

/// How long the whole login and command may take.
const WITHIN: Duration = Duration::from_secs(20);

/// Logs in to `host:port` as `user` and runs `command` on a pty; returns what it printed,
/// trimmed.
///
/// # Errors
/// When the connection, the login or the command fails, or all of it takes too long.
/// No error names the password.
pub async fn run(
    host: &str,
    port: u16,
    user: &str,
    password: &str,
    command: &str,
) -> anyhow::Result<String> {
    tokio::time::timeout(WITHIN, login_and_run(host, port, user, password, command))
        .await
        .with_context(|| format!("{user}@{host}:{port}: no answer in {} s", WITHIN.as_secs()))?
}

async fn login_and_run(
    host: &str,
    port: u16,
    user: &str,
    password: &str,
    command: &str,
) -> anyhow::Result<String> {
    let config = Arc::new(client::Config::default());
    let mut ssh = client::connect(config, (host, port), AnyHostKey)
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    if !ssh
        .authenticate_password(user, password)
        .await
        .context("logging in")?
        .success()
    {
        bail!("{host}:{port} refused the login of {user}");
    }
    let mut channel = ssh.channel_open_session().await?;
    channel
        .request_pty(true, "xterm-color", 80, 24, 0, 0, &[])
        .await?;
    channel.exec(true, command).await?;
    let mut output = Vec::new();
    let mut status = None;
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => output.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    let _ = ssh
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    let output = String::from_utf8_lossy(&output).trim().to_owned();
    match status {
        Some(0) => Ok(output),
        Some(code) => bail!("`{command}` exited with {code}: {output}"),
        None => bail!("`{command}` ended without an exit status: {output}"),
    }
}
