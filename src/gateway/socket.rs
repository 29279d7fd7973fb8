//! The socket.io side of a terminal, as antidote-ui-components speaks it with
//! socket.io-client 2 (socket.io protocol 4 over engine.io 3): the handshake's query names
//! the target, `geometry(cols, rows)`, `data(string)` and `resize({cols, rows})` come in,
//! `data(string)` goes out, and `ssherror(string)` precedes a disconnect the learner did
//! not ask for.
//!
//! socketioxide runs every event handler on a task of its own, so two keystroke messages
//! could reach the shell in either order. Their extractors, though, run in arrival order
//! on the connection's task: the extractors below hand each event to the terminal's
//! ordered queue, and the handlers themselves do nothing.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use socketioxide::adapter::Adapter;
use socketioxide::extract::{Data, SocketRef};
use socketioxide::handler::{FromMessageParts, Value};
use socketioxide::socket::Socket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::bridge::Input;

/// Events buffered between the browser and a shell that is slower (or not open yet).
const QUEUE: usize = 1024;

/// A terminal's queue of browser events, kept in its socket's extensions.
#[derive(Debug, Clone)]
struct Inbound {
    queue: mpsc::Sender<Input>,
    /// Cancelled when the queue overflows (the browser sends faster than the shell takes).
    flooded: CancellationToken,
}

/// What the terminal task takes over from the socket: its queue and signals.
#[derive(Debug)]
pub struct Events {
    /// Browser events in arrival order.
    pub inputs: mpsc::Receiver<Input>,
    /// Cancelled when the queue overflowed.
    pub flooded: CancellationToken,
    /// Cancelled when the browser disconnects.
    pub gone: CancellationToken,
}

/// The receiving end, kept in the socket's extensions until the terminal task takes it.
#[derive(Debug, Clone)]
struct Handover(Arc<Mutex<Option<Events>>>);

/// Connect middleware: sets up the socket's queue and its event handlers before the
/// connection is acknowledged, so that the browser's first `geometry` finds them.
pub async fn prepare(socket: SocketRef) -> Result<(), Infallible> {
    let (queue, inputs) = mpsc::channel(QUEUE);
    let flooded = CancellationToken::new();
    let gone = CancellationToken::new();
    socket.extensions.insert(Inbound {
        queue,
        flooded: flooded.clone(),
    });
    socket
        .extensions
        .insert(Handover(Arc::new(Mutex::new(Some(Events {
            inputs,
            flooded,
            gone: gone.clone(),
        })))));
    socket.on("data", async |_: Keystrokes| {});
    socket.on("geometry", async |_: Geometry| {});
    socket.on("resize", async |_: Resize| {});
    socket.on_disconnect(async move || gone.cancel());
    Ok(())
}

/// The socket's events, once (the terminal task's).
pub fn take_events(socket: &SocketRef) -> Option<Events> {
    let handover = socket.extensions.get::<Handover>()?;
    handover
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

/// Queues `input` for the socket's terminal.
fn forward<A: Adapter>(socket: &Arc<Socket<A>>, input: Input) {
    let Some(inbound) = socket.extensions.get::<Inbound>() else {
        return;
    };
    if inbound.queue.try_send(input).is_err() {
        inbound.flooded.cancel();
    }
}

/// `data(string)`: keystrokes, queued in arrival order.
struct Keystrokes;

impl<A: Adapter> FromMessageParts<A> for Keystrokes {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        value: &mut Value,
        ack: &Option<i64>,
    ) -> Result<Self, Infallible> {
        if let Ok(Data(text)) = Data::<String>::from_message_parts(socket, value, ack) {
            forward(socket, Input::Data(text));
        }
        Ok(Self)
    }
}

/// `geometry(cols, rows)`: the terminal's size, two arguments.
struct Geometry;

impl<A: Adapter> FromMessageParts<A> for Geometry {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        value: &mut Value,
        ack: &Option<i64>,
    ) -> Result<Self, Infallible> {
        if let Ok(Data(args)) = Data::<serde_json::Value>::from_message_parts(socket, value, ack)
            && let Some(size) = size(args.get(0), args.get(1))
        {
            forward(socket, Input::Size(size.0, size.1));
        }
        Ok(Self)
    }
}

/// `resize({cols, rows})`: the terminal's new size.
struct Resize;

impl<A: Adapter> FromMessageParts<A> for Resize {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        value: &mut Value,
        ack: &Option<i64>,
    ) -> Result<Self, Infallible> {
        if let Ok(Data(size_of)) = Data::<serde_json::Value>::from_message_parts(socket, value, ack)
            && let Some(size) = size(size_of.get("cols"), size_of.get("rows"))
        {
            forward(socket, Input::Size(size.0, size.1));
        }
        Ok(Self)
    }
}

/// Largest terminal side accepted, in cells.
const MAX_SIDE: u64 = 1000;

/// Columns and rows from JSON numbers (xterm.js sends integers; fractions are cut),
/// each between 1 and [`MAX_SIDE`].
fn size(cols: Option<&serde_json::Value>, rows: Option<&serde_json::Value>) -> Option<(u32, u32)> {
    let side = |v: Option<&serde_json::Value>| {
        let v = v?;
        let n = v.as_u64().or_else(|| {
            // The whole cells of a fraction (no float-to-integer cast).
            let f = v.as_f64().filter(|f| f.is_finite())?;
            (1..=MAX_SIDE).take_while(|side| *side as f64 <= f).last()
        })?;
        u32::try_from(n.clamp(1, MAX_SIDE)).ok()
    };
    Some((side(cols)?, side(rows)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_are_whole_cells_within_bounds() {
        assert_eq!(size(Some(&json!(120)), Some(&json!(40))), Some((120, 40)));
        assert_eq!(size(Some(&json!(80.7)), Some(&json!(24))), Some((80, 24)));
        assert_eq!(
            size(Some(&json!(100_000)), Some(&json!(0))),
            Some((1000, 1))
        );
        assert_eq!(size(Some(&json!("80")), Some(&json!(24))), None);
        assert_eq!(size(None, Some(&json!(24))), None);
    }
}
