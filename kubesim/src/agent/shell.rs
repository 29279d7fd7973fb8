//! One SSH session channel's shell: a pty of the size the client asked for, the
//! sandboxed bash on it ([`super::sandbox`]), and the pump that carries the pty's output
//! to the channel and ends the channel with the shell's exit status.
//!
//! A shell lives exactly as long as its [`Shell`]: dropping it (the channel closed, the
//! connection went, the pod was deleted and its tasks aborted) aborts the pump, which
//! owns the child, and the child is killed on drop; bwrap's `--die-with-parent` takes
//! every process of the sandbox with it.

use std::time::Duration;

use russh::ChannelId;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::task::JoinHandle;

use super::sandbox::{self, EtcFiles, Spec};

/// How long the pump keeps reading after the session's time limit killed the shell.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);

/// Why a shell did not start.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// Writing the session's `/etc` files failed.
    #[error("preparing the sandbox's files: {0}")]
    Files(#[source] std::io::Error),
    /// Opening or sizing the pty failed.
    #[error("opening a pty: {0}")]
    Pty(#[source] pty_process::Error),
    /// Starting bwrap failed (is Debian's `bubblewrap` installed?).
    #[error("starting bwrap: {0}")]
    Spawn(#[source] pty_process::Error),
}

/// A terminal size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

impl Size {
    /// The size of a pty or window-change request (RFC 4254 sends u32; a terminal's
    /// size fits u16, and zero means "unknown", which leaves the default).
    pub(crate) fn from_request(cols: u32, rows: u32) -> Self {
        let clamp = |v: u32, default: u16| match u16::try_from(v) {
            Ok(0) => default,
            Ok(v) => v,
            Err(_) => u16::MAX,
        };
        Self {
            cols: clamp(cols, 80),
            rows: clamp(rows, 24),
        }
    }

    fn pty(self) -> pty_process::Size {
        pty_process::Size::new(self.rows, self.cols)
    }
}

/// A running shell and the write side of its pty.
pub(crate) struct Shell {
    writer: pty_process::OwnedWritePty,
    pump: JoinHandle<()>,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell").finish_non_exhaustive()
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

impl Shell {
    /// Starts the sandboxed shell of `spec` on a new pty of `size`, its output going to
    /// `channel` through `handle`.
    pub(crate) fn start(
        spec: &Spec<'_>,
        size: Size,
        channel: ChannelId,
        handle: russh::server::Handle,
    ) -> Result<Self, ShellError> {
        let etc = EtcFiles::write(spec).map_err(ShellError::Files)?;
        let (pty, pts) = pty_process::open().map_err(ShellError::Pty)?;
        pty.resize(size.pty()).map_err(ShellError::Pty)?;
        let child = sandbox::command(spec, &etc)
            .spawn(pts)
            .map_err(ShellError::Spawn)?;
        let (reader, writer) = pty.into_split();
        let pump = tokio::spawn(pump(
            reader,
            child,
            etc,
            channel,
            handle,
            spec.limits.session,
        ));
        Ok(Self { writer, pump })
    }

    /// Types `data` into the shell's terminal.
    pub(crate) async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(data).await
    }

    /// Resizes the terminal (the shell gets SIGWINCH).
    pub(crate) fn resize(&self, size: Size) -> Result<(), ShellError> {
        self.writer.resize(size.pty()).map_err(ShellError::Pty)
    }
}

/// Copies the pty's output to the channel until the sandbox closes it (or the session's
/// time runs out), then reports the exit status and closes the channel. `_etc` lives as
/// long as the shell: bwrap bound its files.
async fn pump(
    mut reader: pty_process::OwnedReadPty,
    mut child: tokio::process::Child,
    _etc: EtcFiles,
    channel: ChannelId,
    handle: russh::server::Handle,
    limit: Duration,
) {
    let mut buf = vec![0u8; 8192];
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let mut killed = false;
    loop {
        let read = if killed {
            // The sandbox is gone; what it wrote before is still in the pty.
            match tokio::time::timeout(DRAIN_AFTER_KILL, reader.read(&mut buf)).await {
                Ok(read) => read,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                read = reader.read(&mut buf) => read,
                () = &mut deadline => {
                    let note = format!(
                        "\r\nkubesim: this session reached its time limit ({} s) and is closed\r\n",
                        limit.as_secs()
                    );
                    let _ = handle.data(channel, note.into_bytes()).await;
                    let _ = child.start_kill();
                    killed = true;
                    continue;
                }
            }
        };
        match read {
            // EIO: every process holding the terminal has exited.
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if handle.data(channel, buf[..n].to_vec()).await.is_err() {
                    // The connection is gone; dropping `child` kills the sandbox.
                    return;
                }
            }
        }
    }
    let status = match child.wait().await {
        Ok(status) => exit_code(status),
        Err(_) => 255,
    };
    let _ = handle.exit_status_request(channel, status).await;
    let _ = handle.eof(channel).await;
    let _ = handle.close(channel).await;
}

/// The status an sshd reports: the exit code, or 128 + the signal that ended it.
fn exit_code(status: std::process::ExitStatus) -> u32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_sizes_are_clamped_to_a_terminal() {
        assert_eq!(
            Size::from_request(132, 43),
            Size {
                cols: 132,
                rows: 43
            }
        );
        assert_eq!(Size::from_request(0, 0), Size { cols: 80, rows: 24 });
        assert_eq!(Size::from_request(1 << 20, 5).cols, u16::MAX);
    }
}
