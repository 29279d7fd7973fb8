//! One terminal's life: read the handshake, authorize, take a place under the caps, log
//! in, carry the session, and say why it ended. Refusals and endings are counted; the
//! span of a terminal is linked to its livelesson's trace and never records a credential.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use socketioxide::extract::SocketRef;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::api::client::{client_ip, limit_group};
use crate::store::terminal as terminal_store;
use crate::telemetry;

use super::Inner;
use super::authorize::authorize;
use super::bridge::{self, Bounds};
use super::caps::Caps;
use super::ending::Ending;
use super::handshake;
use super::refusal::Refusal;
use super::socket::take_events;

/// How long a refused or ended terminal's browser gets to read the reason before the
/// gateway disconnects it.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Runs the terminal of a connected socket to its end.
pub async fn run(socket: SocketRef, gateway: Arc<Inner>) {
    let Some(events) = take_events(&socket) else {
        return;
    };
    let query = socket
        .req_parts()
        .uri
        .query()
        .unwrap_or_default()
        .to_owned();
    let login = match handshake::parse(&query) {
        Ok(login) => login,
        Err(refusal) => return refuse(socket, &events.gone, &refusal, None).await,
    };
    let allowed = match authorize(&gateway.pool, &login).await {
        Ok(allowed) => allowed,
        Err(refusal) => {
            return refuse(
                socket,
                &events.gone,
                &refusal,
                Some((&login.host, login.port)),
            )
            .await;
        }
    };
    let caps = Caps {
        per_livelesson: gateway.settings.max_per_livelesson,
        per_address: gateway.settings.max_per_address,
    };
    let admission =
        match gateway
            .terminals
            .admit(&allowed.livelesson_id, client_of(&socket, &gateway), caps)
        {
            Ok(admission) => admission,
            Err(refusal) => {
                return refuse(
                    socket,
                    &events.gone,
                    &refusal,
                    Some((&login.host, login.port)),
                )
                .await;
            }
        };
    let span = tracing::info_span!(
        "terminal",
        otel.name = "terminal",
        livelesson = %allowed.livelesson_id,
        endpoint = %allowed.endpoint,
        target = %format_args!("{}:{}", login.host, login.port),
        ending = tracing::field::Empty,
    );
    telemetry::link(&span, allowed.traceparent.as_deref(), "livelesson");
    let shell = match bridge::open(&login, None, gateway.settings.connect_timeout())
        .instrument(span.clone())
        .await
    {
        Ok(shell) => shell,
        Err(refusal) => {
            return refuse(
                socket,
                &events.gone,
                &refusal,
                Some((&login.host, login.port)),
            )
            .await;
        }
    };
    drop(login);
    let metrics = telemetry::metrics();
    metrics.terminals_open.inc();
    span.in_scope(|| tracing::info!("terminal opened"));
    let mut inputs = events.inputs;
    let gone = events.gone.clone();
    let bounds = Bounds {
        settings: &gateway.settings,
        ended: admission.ended.clone(),
        client_gone: gone.clone(),
        flooded: events.flooded.clone(),
    };
    let livelesson = admission.livelesson().to_owned();
    let ending = bridge::run(shell, &socket, &mut inputs, bounds, || {
        gateway.activity.typed(&gateway.pool, &livelesson);
    })
    .instrument(span.clone())
    .await;
    let ending = lab_ended_or(ending, &gateway, &livelesson).await;
    metrics.terminals_open.dec();
    metrics
        .terminal_closes
        .with_label_values(&[ending.label()])
        .inc();
    span.record("ending", ending.label());
    span.in_scope(|| tracing::info!(ending = ending.label(), "terminal closed"));
    drop(admission);
    match ending.message() {
        Some(message) => say_why_and_close(socket, &gone, &message).await,
        None => {
            let _ = socket.disconnect();
        }
    }
}

/// A session that closed or broke because its lab was being killed reports the lab's
/// end, not the connection's.
async fn lab_ended_or(ending: Ending, gateway: &Inner, livelesson: &str) -> Ending {
    if !matches!(ending, Ending::SessionClosed | Ending::Broken(_)) {
        return ending;
    }
    match terminal_store::standing(&gateway.pool, &[livelesson.to_owned()]).await {
        Ok(standing) if standing.is_empty() => Ending::LabEnded,
        _ => ending,
    }
}

/// Tells the browser why, counts it and closes: nothing was dialed.
async fn refuse(
    socket: SocketRef,
    gone: &CancellationToken,
    refusal: &Refusal,
    target: Option<(&str, u16)>,
) {
    telemetry::metrics()
        .terminal_refusals
        .with_label_values(&[refusal.label()])
        .inc();
    if let Some((host, port)) = target {
        tracing::info!(reason = refusal.label(), target = %format_args!("{host}:{port}"), "terminal refused");
    } else {
        tracing::info!(reason = refusal.label(), "terminal refused");
    }
    say_why_and_close(socket, gone, &refusal.to_string()).await;
}

/// Sends `ssherror(why)`, then disconnects once the browser had time to read it: a
/// disconnect right behind it can overtake it on a long-polling connection still
/// upgrading, and the browser then sees a transport error instead of the reason.
async fn say_why_and_close(socket: SocketRef, gone: &CancellationToken, why: &str) {
    let _ = socket.emit("ssherror", why);
    let _ = tokio::time::timeout(CLOSE_GRACE, gone.cancelled()).await;
    let _ = socket.disconnect();
}

/// The client's address group for the per-address cap: the peer, or the address a
/// trusted proxy reports for it.
fn client_of(socket: &SocketRef, gateway: &Inner) -> Option<IpAddr> {
    let parts = socket.req_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let hops = gateway.clients.forwarded_header.hops(&parts.headers);
    client_ip(peer, &hops, &gateway.clients.trusted_proxies)
        .map(|ip| limit_group(ip, gateway.clients.ipv6_prefix))
}
