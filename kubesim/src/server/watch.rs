//! Watch streams: the initial state or a resume from a resourceVersion (410 Gone when it is
//! older than the history), live events through the list filter, bookmarks and timeouts.

use super::list::{Filter, filter_from};
use super::wire::is_true;
use crate::Shared;
use crate::resources::ResourceDef;
use crate::status::ApiError;
use crate::store::Since;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

fn watch_line(kind: &str, obj: &Value) -> Bytes {
    // Serialised in place: `json!` would first deep-copy the object into a new tree, once
    // per event and watcher.
    #[derive(serde::Serialize)]
    struct Line<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        object: &'a Value,
    }
    let mut line = serde_json::to_vec(&Line { kind, object: obj }).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn bookmark(def: &ResourceDef, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    watch_line(
        "BOOKMARK",
        &json!({"apiVersion": def.api_version(), "kind": def.kind, "metadata": meta}),
    )
}

struct WatchState {
    shared: Arc<Shared>,
    def: &'static ResourceDef,
    ns: Option<String>,
    filter: Filter,
    cursor: u64,
    pending: VecDeque<Bytes>,
    rx: watch::Receiver<u64>,
    deadline: tokio::time::Instant,
    bookmarks: bool,
    next_bookmark: tokio::time::Instant,
    done: bool,
}

impl WatchState {
    fn wants(&self, e: &crate::store::Event) -> bool {
        std::ptr::eq(e.def(), self.def)
            && self.ns.as_deref().is_none_or(|n| n == e.namespace())
            && (self.filter)(&e.object)
    }

    fn gone(&mut self, rv: u64) {
        let st = ApiError::gone(format!(
            "too old resource version: {rv} ({})",
            self.shared.store.current_rv()
        ));
        self.pending.push_back(watch_line("ERROR", &st.to_status()));
        self.done = true;
    }

    fn catch_up(&mut self) {
        self.rx.borrow_and_update();
        match self.shared.store.since(self.cursor) {
            Since::Gone => {
                let rv = self.cursor;
                self.gone(rv);
            }
            Since::Events(evs) => {
                for e in evs {
                    self.cursor = e.rv;
                    if self.wants(&e) {
                        self.pending
                            .push_back(watch_line(e.kind.as_str(), &e.object));
                    }
                }
            }
        }
    }

    async fn next(mut self) -> Option<(Result<Bytes, std::convert::Infallible>, Self)> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some((Ok(b), self));
            }
            if self.done {
                return None;
            }
            self.catch_up();
            if !self.pending.is_empty() {
                continue;
            }
            let bookmarks = self.bookmarks;
            tokio::select! {
                () = tokio::time::sleep_until(self.deadline) => return None,
                () = tokio::time::sleep_until(self.next_bookmark), if bookmarks => {
                    self.next_bookmark += self.shared.config.bookmark_interval;
                    self.pending.push_back(bookmark(self.def, self.cursor, false));
                }
                r = self.rx.changed() => if r.is_err() { return None },
            }
        }
    }
}

pub(super) fn watch(
    s: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: Option<&str>,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let filter = filter_from(def, q)?;
    let rv_param = q.get("resourceVersion").map_or("", String::as_str);
    let send_initial = is_true(q, "sendInitialEvents");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .unwrap_or(1800);
    let now = tokio::time::Instant::now();
    let mut st = WatchState {
        shared: s.clone(),
        def,
        ns: ns.map(str::to_string),
        filter,
        cursor: 0,
        pending: VecDeque::new(),
        rx: s.store.subscribe(),
        deadline: now + Duration::from_secs(timeout),
        bookmarks: is_true(q, "allowWatchBookmarks"),
        next_bookmark: now + s.config.bookmark_interval,
        done: false,
    };
    if rv_param.is_empty() || rv_param == "0" || send_initial {
        // Start from "now": synthetic ADDED for the current state, then live events.
        let (items, rv) = s.store.list(def, ns, &*st.filter);
        for it in &items {
            st.pending.push_back(watch_line("ADDED", it));
        }
        if send_initial {
            st.pending.push_back(bookmark(def, rv, true));
        }
        st.cursor = rv;
    } else {
        let rv: u64 = rv_param.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid resource version: {rv_param:?}"))
        })?;
        st.cursor = rv;
        if matches!(s.store.since(rv), Since::Gone) {
            st.gone(rv);
        }
    }
    let stream = futures::stream::unfold(st, WatchState::next);
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| ApiError::internal("building watch response").into_response()))
}
