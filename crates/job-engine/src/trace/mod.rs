//! The engine's tracing vocabulary: the attribute names of its spans, W3C `traceparent`
//! values stored on jobs, and the trace ids a job attempt takes from its cause.
//!
//! The engine makes two kinds of spans: `tracing` spans (steps, timers, periodic slots),
//! which reach OpenTelemetry through whatever layer the application installs (targets
//! under this crate's name), and each attempt's root span, made with the OpenTelemetry API
//! and the tracer the application's [`JobObserver`](crate::JobObserver) hands out.

pub mod attributes;
mod ids;
mod propagation;

use opentelemetry::trace::Status;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub use ids::{CauseIds, in_trace};
pub use propagation::{span_context, traceparent_of, traceparent_of_context};

/// Marks `span` failed with `message` (OpenTelemetry status ERROR). `message` must already
/// be safe to show: the engine's error texts carry what handlers put in them.
pub fn record_error(span: &tracing::Span, message: &str) {
    span.set_status(Status::error(message.to_owned()));
}
