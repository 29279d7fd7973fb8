//! Telemetry: the one start-up every long-running command shares (logs, OpenTelemetry
//! spans, OTLP export when the standard `OTEL_EXPORTER_OTLP_*` variables ask for it), the
//! names of our span attributes, W3C traceparent helpers that carry a trace from a request
//! into the jobs it causes, and the Prometheus metrics ([`metrics()`]).
//!
//! # Layout
//!
//! - [`attributes`]: attribute names (semantic conventions, `antidote.*`, `job.*`).
//! - [`propagation`]: traceparents stored on jobs and livelessons, parents and links.
//! - [`export`]: the span pipeline (tracing's bookkeeping removed, batched OTLP export).
//! - [`job_observer`]: the job engine's measurements into these metrics, and its tracer.
//! - [`metrics`]: Prometheus series.
//!
//! # Traces
//!
//! `docs/traces.md` draws the span tree of a CREATE. In short: an HTTP request is one
//! server span; a job it enqueues stores the request span's `traceparent`; every attempt
//! of the job, on whichever worker, is a root span in the request's trace, linked to (not
//! a child of) the request span, which it outlives. Spans always get OpenTelemetry ids (the
//! provider samples everything), exported or not: the traceparent is stored even when no
//! collector is configured, so enabling export later needs no change to queued jobs.

pub mod attributes;
pub mod export;
mod job_observer;
pub mod metrics;
pub mod propagation;
pub mod settings;

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

use settings::LogFormat;

pub use job_engine::trace::CauseIds;
pub use job_observer::{MetricsObserver, job_observer};
pub use metrics::{Metrics, metrics};
pub use propagation::{
    continue_remote, continue_trace, current_traceparent, link, span_context, traceparent_of,
    traceparent_of_context,
};

/// Service name reported to the collector unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "antidote-scheduler";

/// The version reported as `service.version` and as the instrumentation scope's version.
pub const SERVICE_VERSION: &str = env!("CARGO_PKG_VERSION");

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
    /// The tracer provider (tests flush it before reading what a collector received).
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
    let disabled =
        std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    !disabled
        && OTLP_ENDPOINT_VARS
            .iter()
            .any(|var| std::env::var(var).is_ok_and(|v| !v.trim().is_empty()))
}

/// The instrumentation scope of every span this crate makes: its name and version.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SERVICE_NAME)
        .with_version(SERVICE_VERSION)
        .build()
}

/// Whether [`init`] installed a provider that exports spans. Spans made without
/// `tracing` (a job attempt's: two spans, two events and their attributes per job) are
/// skipped when nothing would receive them; they cost a no-op provider allocations per
/// job all the same, a few percent of the engine's throughput on the no-op path.
static EXPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether spans are exported (OTLP configured when [`init`] ran).
pub fn exporting() -> bool {
    EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// The tracer spans made without `tracing` use (job attempts, queue waits): the global
/// provider's, which [`init`] sets. Before that it is a no-op tracer.
pub fn tracer() -> opentelemetry::global::BoxedTracer {
    opentelemetry::global::tracer_with_scope(scope())
}

/// A tracer provider sampling everything, with `service.name` and `service.version`,
/// exporting over OTLP (HTTP/protobuf) when [`otlp_configured`], and to nowhere
/// otherwise. Needs a Tokio runtime when exporting.
///
/// # Errors
/// [`TelemetryError::Exporter`] when the OTLP variables are malformed.
pub fn tracer_provider() -> Result<SdkTracerProvider> {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(
            std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| SERVICE_NAME.to_owned()),
        )
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            SERVICE_VERSION,
        ))
        .build();
    let builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_id_generator(CauseIds::default());
    if !otlp_configured() {
        return Ok(builder.build());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(TelemetryError::Exporter)?;
    // The hyper client needs the Tokio runtime, so the batch processor runs on it rather
    // than on the SDK's own thread.
    let batch =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    Ok(builder
        .with_span_processor(export::WithoutInternals::new(batch))
        .build())
}

/// The tracing target of the job engine's spans (steps, timers, periodic slots).
const JOB_ENGINE_TARGET: &str = "job_engine";

/// The OpenTelemetry layer over `provider`, limited to this crate's and the job engine's
/// spans at INFO and above
/// whatever `RUST_LOG` says, so that quietening the logs does not break traces. Source
/// locations, threads, targets, levels and busy/idle timings stay out of the spans.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer_with_scope(scope()))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_level(false)
        .with_tracked_inactivity(false)
        .with_filter(
            Targets::new()
                .with_target(env!("CARGO_CRATE_NAME"), LevelFilter::INFO)
                .with_target(JOB_ENGINE_TARGET, LevelFilter::INFO)
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

/// The start-up of every long-running command (`serve`, `api`, `worker`, `demo`): logs
/// to stderr filtered by `RUST_LOG` (else `default_filter`), spans to OTLP when
/// configured. Call it inside the Tokio runtime.
///
/// # Errors
/// [`TelemetryError`]: malformed OTLP variables, or a subscriber already installed.
pub fn init(format: LogFormat, default_filter: &str) -> Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    init_with(format, filter, std::io::stderr)
}

/// [`init`] with the log filter and writer given (tests capture the logs).
///
/// # Errors
/// As [`init`].
pub fn init_with<W>(format: LogFormat, filter: EnvFilter, writer: W) -> Result<Telemetry>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let provider = tracer_provider()?;
    tracing::subscriber::set_global_default(subscriber(format, filter, writer, &provider))
        .map_err(TelemetryError::Subscriber)?;
    // Spans made without `tracing` (job attempts) go through the same provider.
    opentelemetry::global::set_tracer_provider(provider.clone());
    if otlp_configured() {
        EXPORTING.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("exporting spans over OTLP");
    }
    Ok(Telemetry { provider })
}

/// Marks `span` failed with `message` (OpenTelemetry status ERROR). `message` must already
/// be safe to show: error texts of this crate never carry passwords or tokens.
pub fn record_error(span: &tracing::Span, message: &str) {
    span.set_status(Status::error(message.to_owned()));
}
