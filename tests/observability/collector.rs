//! An OTLP/HTTP trace receiver on loopback, as a collector would run one: `POST
//! /v1/traces` with a protobuf `ExportTraceServiceRequest`, decoded with the official
//! definitions (`opentelemetry-proto`). And the process's telemetry, started the way
//! `antidoted` starts it, with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at the receiver.
//!
//! Both live on a runtime of their own, so that they outlive each test's runtime: the
//! subscriber and the span exporter are process-wide.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use antidote_scheduler::config::LogFormat;
use antidote_scheduler::telemetry::{self, Telemetry};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, status};
use prost::Message;
use tokio::sync::Notify;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// One span as received, with the resource and scope it came with.
#[derive(Debug, Clone)]
pub struct Received {
    pub resource: Vec<KeyValue>,
    pub scope_name: String,
    pub scope_version: String,
    pub span: Span,
}

impl Received {
    pub fn name(&self) -> &str {
        &self.span.name
    }

    pub fn attr(&self, key: &str) -> Option<String> {
        value_of(&self.span.attributes, key)
    }

    pub fn resource_attr(&self, key: &str) -> Option<String> {
        value_of(&self.resource, key)
    }

    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    pub fn is_root(&self) -> bool {
        self.span.parent_span_id.iter().all(|b| *b == 0)
    }

    pub fn is_error(&self) -> bool {
        self.status_code() == status::StatusCode::Error as i32
    }

    pub fn status_code(&self) -> i32 {
        self.span.status.as_ref().map_or(0, |s| s.code)
    }

    pub fn status_message(&self) -> String {
        self.span
            .status
            .as_ref()
            .map(|s| s.message.clone())
            .unwrap_or_default()
    }

    pub fn start_ns(&self) -> u64 {
        self.span.start_time_unix_nano
    }

    pub fn end_ns(&self) -> u64 {
        self.span.end_time_unix_nano
    }

    pub fn has_event(&self, name: &str) -> bool {
        self.span.events.iter().any(|e| e.name == name)
    }

    /// (trace id, span id, `antidote.link`) of each link.
    pub fn links(&self) -> Vec<(String, String, Option<String>)> {
        self.span
            .links
            .iter()
            .map(|l| {
                (
                    hex(&l.trace_id),
                    hex(&l.span_id),
                    value_of(&l.attributes, "antidote.link"),
                )
            })
            .collect()
    }

    /// Whether this span links to `target` with `antidote.link` = `kind`.
    pub fn links_to(&self, target: &Received, kind: &str) -> bool {
        self.links().iter().any(|(trace, span, link)| {
            *trace == target.trace_id()
                && *span == target.span_id()
                && link.as_deref() == Some(kind)
        })
    }

    /// Every attribute key of the span and of its events.
    pub fn keys(&self) -> Vec<String> {
        self.span
            .attributes
            .iter()
            .chain(self.span.events.iter().flat_map(|e| e.attributes.iter()))
            .map(|kv| kv.key.clone())
            .collect()
    }

    /// Everything a backend would show of this span, as text.
    pub fn text(&self) -> String {
        format!("{:?} {:?}", self.span, self.resource)
    }
}

fn value_of(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(text_of)
}

fn text_of(value: &AnyValue) -> Option<String> {
    Some(match value.value.as_ref()? {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .concat()
}

/// What the receiver holds.
#[derive(Default)]
struct Inbox {
    spans: Mutex<Vec<Received>>,
    arrived: Notify,
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    let protobuf = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/x-protobuf");
    let protobuf_reply = [(header::CONTENT_TYPE, "application/x-protobuf")];
    if !protobuf {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            protobuf_reply,
            Vec::new(),
        );
    }
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, protobuf_reply, Vec::new());
    };
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            let (scope_name, scope_version) = scope_spans
                .scope
                .map(|s| (s.name, s.version))
                .unwrap_or_default();
            for span in scope_spans.spans {
                received.push(Received {
                    resource: resource.clone(),
                    scope_name: scope_name.clone(),
                    scope_version: scope_version.clone(),
                    span,
                });
            }
        }
    }
    inbox
        .spans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .extend(received);
    inbox.arrived.notify_waiters();
    let reply = ExportTraceServiceResponse::default().encode_to_vec();
    (StatusCode::OK, protobuf_reply, reply)
}

/// Log lines, captured.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

/// The receiver and this process's telemetry, exporting to it.
pub struct Collector {
    /// `http://127.0.0.1:PORT`, the value of `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    inbox: Arc<Inbox>,
    telemetry: Telemetry,
    /// This process's log lines.
    pub logs: Captured,
}

impl Collector {
    /// The process's collector, started on first use, before anything else logs.
    pub fn get() -> &'static Collector {
        static COLLECTOR: OnceLock<Collector> = OnceLock::new();
        COLLECTOR.get_or_init(|| {
            let (sender, ready) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("collector runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind the receiver");
                    let address: SocketAddr = listener.local_addr().expect("address");
                    let endpoint = format!("http://{address}");
                    // SAFETY: set once, before the exporter reads it, while no other
                    // code of this process reads or writes the environment.
                    #[allow(unsafe_code)]
                    unsafe {
                        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
                    }
                    let logs = Captured::default();
                    // Debug for our crate: whatever is logged, at any level we might turn
                    // on, is checked for secrets.
                    let filter =
                        EnvFilter::new("info,antidote_scheduler=debug,sqlx=warn,kubesim=warn");
                    let telemetry = telemetry::init_with(LogFormat::Json, filter, logs.clone())
                        .expect("the only subscriber");
                    let inbox = Arc::new(Inbox::default());
                    let app = Router::new()
                        .route("/v1/traces", post(receive))
                        .with_state(inbox.clone());
                    sender
                        .send(Collector {
                            endpoint,
                            inbox,
                            telemetry,
                            logs,
                        })
                        .expect("hand over the collector");
                    axum::serve(listener, app).await.expect("receiver");
                });
            });
            ready.recv().expect("the collector started")
        })
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.inbox
            .spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Flushes this process's spans and waits until what was received satisfies `done`;
    /// panics after `within` with `what`.
    pub async fn wait_for(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.inbox.arrived.notified();
            let provider = self.telemetry.provider().clone();
            // The flush blocks until the batch is sent, on the collector's runtime.
            tokio::task::spawn_blocking(move || provider.force_flush())
                .await
                .expect("flush task")
                .expect("flush");
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            let now = tokio::time::Instant::now();
            assert!(
                now < deadline,
                "{what}: not received within {within:?}; names: {:?}",
                spans.iter().map(Received::name).collect::<Vec<_>>()
            );
            // A flush of nothing sends nothing: wait for an arrival or poll again soon.
            let _ =
                tokio::time::timeout(Duration::from_millis(200).min(deadline - now), arrived).await;
        }
    }
}
