//! W3C `traceparent` values: the job engine's stored ones (rendered and read back by
//! [`job_engine::trace`]) and incoming ones, as span contexts, parents or links.

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The engine's: rendering and reading stored `traceparent` values.
pub use job_engine::trace::{span_context, traceparent_of, traceparent_of_context};

/// The W3C `traceparent` of the active OpenTelemetry context: the innermost exported span
/// entered on this task (a request, a job attempt, a step), if any.
pub fn current_traceparent() -> Option<String> {
    traceparent_of_context(&Context::current())
}

/// Parents `span` on the stored `traceparent` (a no-op when absent or malformed). Call it
/// before the span is first entered: afterwards its parent can no longer change.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(parent) = span_context(traceparent) else {
        return;
    };
    if let Err(err) = span.set_parent(Context::new().with_remote_span_context(parent)) {
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

/// Links `span` to the span a stored `traceparent` names, with
/// [`LINK_KIND`](super::attributes::LINK_KIND) `kind` (a no-op when absent or malformed).
pub fn link(span: &tracing::Span, traceparent: Option<&str>, kind: &'static str) {
    if let Some(target) = span_context(traceparent) {
        span.add_link_with_attributes(
            target,
            vec![KeyValue::new(super::attributes::LINK_KIND, kind)],
        );
    }
}
