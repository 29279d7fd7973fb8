//! The built-in terminal gateway (issue 30): the web front end's terminals, which the
//! original served with WebSSH2, on a listener of its own. A browser connects with
//! socket.io-client 2 naming an endpoint's `host:port` and login; the gateway opens the
//! terminal only to an `ssh` presentation of a READY livelesson (nothing else is dialed),
//! within caps per livelesson and per client address, an idle timeout and rate limits;
//! typing counts as the learner's activity; terminals close when their lab ends.
//!
//! - [`settings`]: `gateway:` of the configuration.
//! - [`socket`]: the socket.io protocol and events.
//! - [`handshake`]: the target and login a terminal asks for, the password kept secret.
//! - [`authorize`]: which `host:port` may be reached (the store decides).
//! - [`caps`]: open terminals by livelesson and address, and their ends.
//! - [`bridge`]: the SSH session and the rate-limited copy both ways.
//! - [`terminal`]: one terminal's life, its span and metrics.
//! - [`activity`]: typing as lifetime activity, at most one write a minute.
//! - [`watch`]: closing terminals whose lab ended.
//! - [`refusal`], [`ending`]: why a terminal was refused or ended.

pub mod activity;
pub mod authorize;
pub mod bridge;
pub mod caps;
pub mod ending;
pub mod handshake;
pub mod refusal;
pub mod settings;
pub mod socket;
pub mod terminal;
pub mod watch;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method};
use axum::serve::ListenerExt;
use ipnet::IpNet;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::handler::ConnectHandler;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::api::client::ForwardedHeader;

pub use settings::GatewaySettings;

/// How long stopping waits for open terminals to tell their browsers why.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// socket.io packets buffered per browser before output waits.
const SEND_BUFFER: usize = 1024;

/// How a client's address is found behind proxies (the API's settings).
#[derive(Debug, Clone, Default)]
pub struct Clients {
    /// Peers whose forwarding header is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The header they append to.
    pub forwarded_header: ForwardedHeader,
    /// IPv6 clients count by networks of this many bits.
    pub ipv6_prefix: u8,
}

/// What every terminal of the gateway shares.
#[derive(Debug)]
pub struct Inner {
    pool: PgPool,
    settings: GatewaySettings,
    clients: Clients,
    terminals: Arc<caps::Terminals>,
    activity: activity::Activity,
}

/// The terminal gateway of one process.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl Gateway {
    /// A gateway over the store at `pool`.
    pub fn new(pool: PgPool, settings: GatewaySettings, clients: Clients) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                settings,
                clients,
                terminals: Arc::default(),
                activity: activity::Activity::default(),
            }),
        }
    }

    /// Binds the configured listener.
    ///
    /// # Errors
    /// The bind's, naming the setting.
    pub async fn bind(settings: &GatewaySettings) -> std::io::Result<TcpListener> {
        let address = SocketAddr::new(settings.address, settings.port);
        TcpListener::bind(address).await.map_err(|err| {
            std::io::Error::new(
                err.kind(),
                format!("binding {address} (gateway.address, gateway.port): {err}"),
            )
        })
    }

    /// The origin browsers reach the gateway at: `gateway.publicOrigin`, or `http://`
    /// and `listening` (loopback for an unspecified address).
    pub fn origin(settings: &GatewaySettings, listening: SocketAddr) -> String {
        if let Some(origin) = &settings.public_origin {
            return origin.clone();
        }
        let mut address = listening;
        if address.ip().is_unspecified() {
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{address}")
    }

    /// Serves terminals on `listener` until `shutdown`; then tells every open terminal's
    /// browser that the gateway stops, and closes them.
    ///
    /// # Errors
    /// The server's I/O failure.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (layer, io) = SocketIo::builder()
            .max_buffer_size(SEND_BUFFER)
            .build_layer();
        let inner = Arc::clone(&self.inner);
        let on_connect = move |socket: SocketRef| {
            let inner = Arc::clone(&inner);
            async move {
                tokio::spawn(terminal::run(socket, inner));
            }
        };
        io.ns("/", on_connect.with(socket::prepare));
        let cors = CorsLayer::new()
            // The original allowed any page to open terminals (WebSSH2 answered every
            // origin); authorization is by lab and login, not by origin.
            .allow_origin(AllowOrigin::mirror_request())
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(AllowHeaders::mirror_request())
            .max_age(Duration::from_secs(600))
            .expose_headers([axum::http::header::CONTENT_TYPE]);
        let router = Router::new()
            .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not a terminal route") })
            .layer(layer)
            .layer(cors)
            .layer(axum::middleware::map_response(no_store));
        let stop = CancellationToken::new();
        let watcher = tokio::spawn(watch::run(
            self.inner.pool.clone(),
            Arc::clone(&self.inner.terminals),
            self.inner.settings.recheck_interval(),
            stop.clone(),
        ));
        let terminals = Arc::clone(&self.inner.terminals);
        let closing = async move {
            shutdown.await;
            stop.cancel();
            terminals.end_all(&ending::Ending::ShuttingDown);
            let deadline = tokio::time::Instant::now() + STOP_GRACE;
            while !terminals.livelessons().is_empty() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            io.close().await;
        };
        // Keystrokes and their echoes are small frames: sent at once, never held back
        // (Nagle) for the browser's delayed acknowledgement of the one before.
        let listener = listener.tap_io(|stream| {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(error = %err, "TCP_NODELAY not set on a terminal connection");
            }
        });
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(closing)
        .await;
        watcher.abort();
        served
    }

    /// Open terminals of livelesson `id` in this process.
    pub fn open_terminals(&self, id: &str) -> usize {
        self.inner.terminals.count(id)
    }
}

/// Nothing the gateway answers may be cached (handshakes carry logins in their query).
async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}
