//! `GET /exp/livelesson/{id}/progress` (ours; the unmodified front end never calls it): a
//! lab's provisioning as a server-sent event stream in JupyterHub's shape. Each event's
//! data is one JSON object `{progress, message, html_message, ...}`: one per step of the
//! CREATE plan as its checkpoint is written, then a final one, `{progress: 100, ready:
//! true}`, `{failed: true, message}` (the learner-facing failure) or `{failed: true,
//! stopped: true}` (killed, expired or deleted), after which the stream closes. A lab
//! already READY or ERROR gets the final event alone. Comment lines keep an idle stream
//! open (`progress.keepAliveMs`, default 8 s).
//!
//! The events come from the database ([`crate::workflow::progress`]) through the
//! process's one poller ([`super::progress_hub`]), so any API process streams the
//! progress of a CREATE any worker runs. One client address holds at most
//! `progress.maxStreamsPerAddress` streams open on one process.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::IpAddr;
use std::ops::Not;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::watch;
use utoipa::ToSchema;

use super::client::{ClientIp, limit_group};
use super::progress_hub::ProgressHub;
use super::settings::ProgressSettings;
use super::wire::GatewayError;
use super::{ApiError, AppPath, AppState, is_id};
use crate::ids::LivelessonId;
use crate::workflow::progress::{Snapshot, Tracker, Update};
use crate::workflow::request::RequestError;

/// One event of the stream (its `data:` line), as JupyterHub's spawn progress has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProgressEvent {
    /// How far provisioning is, 0 to 100: the completed step's place in the plan; 100 in
    /// the final event.
    pub progress: u8,
    /// What happened, in a learner's words (a failure: what the learner is told to do).
    pub message: String,
    /// The same as HTML (the endpoint in `<code>`), escaped.
    pub html_message: String,
    /// The completed step's name (ours: `images`, `endpoint:linux1`, `pods-ready`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The endpoint the step worked on (ours).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Final: the lab is READY.
    #[serde(skip_serializing_if = "Not::not")]
    pub ready: bool,
    /// Final: the lab failed, or was stopped.
    #[serde(skip_serializing_if = "Not::not")]
    pub failed: bool,
    /// Final (ours): the lab was killed, expired or deleted before it was ready.
    #[serde(skip_serializing_if = "Not::not")]
    pub stopped: bool,
}

impl From<&Update> for ProgressEvent {
    fn from(update: &Update) -> Self {
        let last = |message: &str| Self {
            progress: 100,
            message: message.to_owned(),
            html_message: maud::html! { (message) }.into_string(),
            step: None,
            endpoint: None,
            ready: false,
            failed: false,
            stopped: false,
        };
        match update {
            Update::Step {
                progress,
                name,
                message,
                endpoint,
            } => Self {
                progress: *progress,
                message: message.clone(),
                html_message: html_message(message, endpoint.as_deref()),
                step: Some(name.clone()),
                endpoint: endpoint.clone(),
                ..last(message)
            },
            Update::Ready { message } => Self {
                ready: true,
                ..last(message)
            },
            Update::Failed { message } => Self {
                failed: true,
                ..last(message)
            },
            Update::Stopped { message } => Self {
                failed: true,
                stopped: true,
                ..last(message)
            },
        }
    }
}

/// `message` as HTML, escaped, its mention of `endpoint` in `<code>`.
fn html_message(message: &str, endpoint: Option<&str>) -> String {
    match endpoint.and_then(|e| Some((e, message.split_once(e)?))) {
        Some((endpoint, (before, after))) => {
            maud::html! { (before) code { (endpoint) } (after) }.into_string()
        }
        None => maud::html! { (message) }.into_string(),
    }
}

/// The process's progress streams: settings, poller, and open streams per address.
#[derive(Debug)]
pub struct Streams {
    hub: Arc<ProgressHub>,
    settings: ProgressSettings,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl Streams {
    /// Streams reading through `pool` as `settings` say.
    pub fn new(pool: PgPool, settings: &ProgressSettings) -> Arc<Self> {
        Arc::new(Self {
            hub: ProgressHub::new(pool, settings.poll()),
            settings: settings.clone(),
            open: Mutex::new(HashMap::new()),
        })
    }

    fn open(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A stream's place for client address group `group`, or 429 when the group holds
    /// its cap already. Clients of unknown address are not counted.
    fn take_slot(self: &Arc<Self>, group: Option<IpAddr>) -> Result<Slot, ApiError> {
        let cap = self.settings.max_streams_per_address;
        if let (Some(group), true) = (group, cap > 0) {
            let mut open = self.open();
            let count = open.entry(group).or_default();
            if *count >= cap {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "too many progress streams open from this client address (at most \
                         {cap}); close one, or retry in 5 s"
                    ),
                )
                .with_retry_after(5));
            }
            *count += 1;
        }
        Ok(Slot {
            streams: self.clone(),
            group: group.filter(|_| cap > 0),
        })
    }
}

/// An open stream's place in its address's count, given back when the stream ends (or
/// its client goes away and the body is dropped).
struct Slot {
    streams: Arc<Streams>,
    group: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            let mut open = self.streams.open();
            if let Some(count) = open.get_mut(&group) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.remove(&group);
                }
            }
        }
    }
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/exp/livelesson/{id}/progress", get(progress))
}

/// The lab's provisioning as a server-sent event stream (`text/event-stream`): one event
/// per completed CREATE step, then a final event (`ready`, or `failed` with the
/// learner-facing reason, or `failed` and `stopped` when the lab is killed), then the
/// stream closes. Comment lines every `progress.keepAliveMs` (default 8 s) keep it open.
#[utoipa::path(get, path = "/exp/livelesson/{id}/progress", tag = "exp", operation_id = "livelessonProgress",
    params(("id" = String, Path, description = "livelesson id", pattern = "^[a-z0-9]{10}$")),
    responses((status = 200, description = "a server-sent event stream; each event's data is one ProgressEvent", content_type = "text/event-stream", body = ProgressEvent),
              (status = 404, description = "code 5: unknown livelesson", body = GatewayError),
              (status = 429, description = "code 8: too many progress streams from this client address (progress.maxStreamsPerAddress)", body = GatewayError)))]
pub async fn progress(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    AppPath(id): AppPath<LivelessonId>,
) -> Result<Response, ApiError> {
    if !is_id(id.as_str()) {
        return Err(RequestError::UnknownLivelesson(id).into());
    }
    let streams = &state.progress;
    let group = client.map(|ip| limit_group(ip, state.ipv6_prefix_length));
    let slot = streams.take_slot(group)?;
    let seen = streams.hub.read_now(&id).await?;
    if !seen.is_learners() {
        return Err(RequestError::UnknownLivelesson(id).into());
    }
    let mut tracker = Tracker::default();
    let pending: VecDeque<Update> = tracker.next(&seen).into();
    let receiver = streams.hub.watch(&id, seen);
    let watching = Watching {
        tracker,
        pending,
        receiver,
        _slot: slot,
    };
    let events = stream::unfold(watching, next_event).boxed();
    Ok(Sse::new(events)
        .keep_alive(
            KeepAlive::new()
                .interval(streams.settings.keep_alive())
                .text("keep-alive"),
        )
        .into_response())
}

/// One stream's state.
struct Watching {
    tracker: Tracker,
    pending: VecDeque<Update>,
    receiver: watch::Receiver<Snapshot>,
    _slot: Slot,
}

/// The stream's next event: a pending update, or the updates of the next snapshot; none
/// after the final one.
async fn next_event(mut watching: Watching) -> Option<(Result<Event, Infallible>, Watching)> {
    loop {
        if let Some(update) = watching.pending.pop_front() {
            let data = serde_json::to_string(&ProgressEvent::from(&update))
                .unwrap_or_else(|_| "{}".to_owned());
            return Some((Ok(Event::default().data(data)), watching));
        }
        if watching.tracker.is_done() || watching.receiver.changed().await.is_err() {
            return None;
        }
        let snapshot = watching.receiver.borrow_and_update().clone();
        watching.pending.extend(watching.tracker.next(&snapshot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_jupyterhub_s_shape() {
        let step = ProgressEvent::from(&Update::Step {
            progress: 40,
            name: "endpoint:r<1>".into(),
            message: "Started endpoint r<1>".into(),
            endpoint: Some("r<1>".into()),
        });
        let json = serde_json::to_value(&step).expect("json");
        assert_eq!(json["progress"], 40);
        assert_eq!(
            json["html_message"],
            "Started endpoint <code>r&lt;1&gt;</code>"
        );
        assert!(json.get("ready").is_none() && json.get("failed").is_none());
        let ready = serde_json::to_value(ProgressEvent::from(&Update::Ready {
            message: "Your lab is ready".into(),
        }))
        .expect("json");
        assert_eq!(ready["progress"], 100);
        assert_eq!(ready["ready"], true);
        let stopped = serde_json::to_value(ProgressEvent::from(&Update::Stopped {
            message: "stopped".into(),
        }))
        .expect("json");
        assert_eq!(
            (&stopped["failed"], &stopped["stopped"]),
            (&true.into(), &true.into())
        );
    }
}
