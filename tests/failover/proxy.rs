//! The read-write Service address the scheduler is given: a TCP proxy on 127.0.0.1, on a
//! runtime of its own (it carries every database byte of the scheduler; on the test's
//! busy runtime it would add latency to what the test measures).
//!
//! [`Proxy::point_to`] sends new connections to another upstream. What happens to the
//! open ones is the [`Move`]: cut, as a Kubernetes Service or pgbouncer move does, or
//! left open forwarding nothing, as connections whose peer vanished from the network die
//! silently.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// What a move does to the connections open to the old upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// They are closed at once: the client reads EOF.
    Cut,
    /// They stay open and forward nothing in either direction: the client's writes are
    /// taken and never answered.
    Silent,
}

/// One open connection: where it goes, and how to end it.
struct Open {
    upstream: u16,
    end: oneshot::Sender<Move>,
}

#[derive(Default)]
struct State {
    /// Where new connections go; `None`: accepted and closed at once.
    upstream: Option<u16>,
    open: Vec<Open>,
    /// Client sockets of silenced connections, held open until the proxy goes.
    silenced: Vec<TcpStream>,
    /// Connections ended by moves.
    cut: usize,
}

/// The proxy. Dropping it closes everything.
pub struct Proxy {
    /// The port clients connect to.
    pub port: u16,
    state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1, forwarding to `upstream`.
    pub fn start(upstream: u16) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("failover-proxy")
            .enable_all()
            .build()
            .expect("proxy runtime");
        // Bound here, served on the proxy's runtime (this may be called from another).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy listener");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = listener.local_addr().expect("proxy address").port();
        let state = Arc::new(Mutex::new(State {
            upstream: Some(upstream),
            ..State::default()
        }));
        let serving = state.clone();
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).expect("proxy listener");
            accept(listener, serving).await;
        });
        Self {
            port,
            state,
            runtime: Some(runtime),
        }
    }

    /// New connections go to `upstream` (none: refused) from now on; open connections
    /// to any other upstream end as `how` says. Returns how many ended.
    pub fn point_to(&self, upstream: Option<u16>, how: Move) -> usize {
        let mut state = lock(&self.state);
        state.upstream = upstream;
        let (ending, staying): (Vec<Open>, Vec<Open>) = std::mem::take(&mut state.open)
            .into_iter()
            .partition(|o| Some(o.upstream) != upstream);
        state.open = staying;
        let mut ended = 0;
        for open in ending {
            if open.end.send(how).is_ok() {
                ended += 1;
            }
        }
        state.cut += ended;
        ended
    }

    /// Connections ended by moves so far.
    pub fn cut(&self) -> usize {
        lock(&self.state).cut
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        lock(&self.state).silenced.clear();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn accept(listener: TcpListener, state: Arc<Mutex<State>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let Some(upstream) = lock(&state).upstream else {
                return;
            };
            let connected = tokio::time::timeout(
                Duration::from_secs(5),
                TcpStream::connect(("127.0.0.1", upstream)),
            )
            .await;
            let Ok(Ok(server)) = connected else {
                // Nothing listens there (a stopped primary): the client's connection ends.
                return;
            };
            let _ = server.set_nodelay(true);
            let (end, ended) = oneshot::channel();
            {
                let mut state = lock(&state);
                // Moved while connecting: this connection belongs to the old upstream.
                if state.upstream != Some(upstream) {
                    return;
                }
                state.open.retain(|o| !o.end.is_closed());
                state.open.push(Open { upstream, end });
            }
            pump(client, server, ended, &state).await;
        });
    }
}

async fn pump(
    mut client: TcpStream,
    mut server: TcpStream,
    ended: oneshot::Receiver<Move>,
    state: &Mutex<State>,
) {
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        how = ended => {
            if matches!(how, Ok(Move::Silent)) {
                drop(server);
                lock(state).silenced.push(client);
            }
        }
    }
}
