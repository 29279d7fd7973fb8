//! Telemetry: the tracing subscriber (text or JSON logs plus OpenTelemetry spans), OTLP
//! export when the standard `OTEL_EXPORTER_OTLP_*` variables ask for it, W3C traceparent
//! helpers that carry a trace from the API request into the worker, and the Prometheus
//! metrics ([`metrics()`]).
//!
//! # Propagation
//!
//! The API enqueues a job inside the request's span; [`current_traceparent`] renders that
//! span's context as a W3C `traceparent` stored on the job row. Every attempt of the job,
//! whichever worker claims it (a retry, a hand-back, a rescue after a crash), parents its
//! `job` span on the stored value with [`continue_trace`], so the whole history of a
//! livelesson request is one trace.
//!
//! Spans always get OpenTelemetry ids (the provider samples everything), exported or not:
//! the traceparent is stored even when no collector is configured, so enabling export later
//! needs no change to queued jobs.

pub mod metrics;

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Status, TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

use crate::config::LogFormat;

pub use metrics::{Metrics, metrics};

/// Service name reported to the collector unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "antidote-scheduler";

/// Log filter used when `RUST_LOG` is unset.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,tower_http=info";

/// Environment variables that turn OTLP trace export on (the OpenTelemetry standard ones).
pub const OTLP_ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// A failure to set telemetry up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built from the `OTEL_EXPORTER_OTLP_*` variables.
    #[error("building the OTLP span exporter")]
    Exporter(#[source] opentelemetry_otlp::ExporterBuildError),
    /// A global subscriber was already installed.
    #[error("installing the tracing subscriber")]
    Subscriber(#[source] tracing::subscriber::SetGlobalDefaultError),
}

/// Result alias of this module.
pub type Result<T, E = TelemetryError> = std::result::Result<T, E>;

/// Keeps the tracer provider alive; [`Telemetry::shutdown`] flushes pending spans.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// The tracer provider (tests attach exporters to their own).
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// Flushes and stops span export. Export failures are logged, not returned: losing
    /// the last spans must not turn a clean stop into a failed one.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            tracing::warn!(error = %err, "flushing spans at shutdown failed");
        }
    }
}

/// Whether an OTLP endpoint is configured through the standard variables (and the SDK is
/// not disabled with `OTEL_SDK_DISABLED=true`).
pub fn otlp_configured() -> bool {
    let disabled = std::env::var("OTEL_SDK_DISABLED")
        .map(|v| v.trim().eq_ignore_ascii_case("true"))
        .unwrap_or(false);
    !disabled
        && OTLP_ENDPOINT_VARS
            .iter()
            .any(|var| std::env::var(var).is_ok_and(|v| !v.trim().is_empty()))
}

/// A tracer provider sampling everything, exporting over OTLP (HTTP/protobuf) when
/// [`otlp_configured`], and to nowhere otherwise. Needs a Tokio runtime when exporting.
///
/// # Errors
/// [`TelemetryError::Exporter`] when the OTLP variables are malformed.
pub fn tracer_provider() -> Result<SdkTracerProvider> {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(
            std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| SERVICE_NAME.to_owned()),
        )
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    if !otlp_configured() {
        return Ok(builder.build());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(TelemetryError::Exporter)?;
    // The hyper client needs the Tokio runtime, so the batch processor runs on it rather
    // than on the SDK's own thread.
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    Ok(builder.with_span_processor(processor).build())
}

/// The OpenTelemetry layer over `provider`, limited to this crate's spans at INFO and above
/// whatever `RUST_LOG` says, so that quietening the logs does not break traces.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SERVICE_NAME))
        .with_location(false)
        .with_threads(false)
        .with_filter(
            Targets::new()
                .with_target(env!("CARGO_CRATE_NAME"), LevelFilter::INFO)
                .with_default(LevelFilter::OFF),
        )
}

/// The log layer: text or JSON lines to `writer`, filtered by `filter`.
pub fn log_layer<S, W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Text => layer.with_filter(filter).boxed(),
        LogFormat::Json => layer.json().with_filter(filter).boxed(),
    }
}

/// The full subscriber: logs (per `format`, `filter`, `writer`) and spans to `provider`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    provider: &SdkTracerProvider,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    Registry::default()
        .with(log_layer(format, filter, writer))
        .with(otel_layer(provider))
}

/// Installs the process-wide subscriber: logs to stderr filtered by `RUST_LOG` (default
/// [`DEFAULT_LOG_FILTER`]), spans to OTLP when configured.
///
/// # Errors
/// [`TelemetryError`]: malformed OTLP variables, or a subscriber already installed.
pub fn init(format: LogFormat) -> Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let provider = tracer_provider()?;
    tracing::subscriber::set_global_default(subscriber(format, filter, std::io::stderr, &provider))
        .map_err(TelemetryError::Subscriber)?;
    if otlp_configured() {
        tracing::info!("exporting spans over OTLP");
    }
    Ok(Telemetry { provider })
}

/// The W3C `traceparent` of the current span, if it has an OpenTelemetry context.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// The W3C `traceparent` of `span`, if it has a valid OpenTelemetry context.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Parents `span` on the stored `traceparent` (a no-op when absent or malformed). Call it
/// before the span is first entered: afterwards its parent can no longer change.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent.filter(|t| !t.is_empty()) else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if !parent.span().span_context().is_valid() {
        tracing::debug!("ignoring a malformed stored traceparent");
        return;
    }
    if let Err(err) = span.set_parent(parent) {
        tracing::debug!(error = %err, "could not continue the stored trace");
    }
}

/// Parents `span` on the `traceparent` header of an incoming request, when it has one.
pub fn continue_remote<B>(span: &tracing::Span, request: &axum::http::Request<B>) {
    let header = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    continue_trace(span, header);
}

/// Marks `span` failed with `message` (OpenTelemetry status ERROR). `message` must already
/// be safe to show: error texts of this crate never carry passwords or tokens.
pub fn record_error(span: &tracing::Span, message: &str) {
    span.set_status(Status::error(message.to_owned()));
}
