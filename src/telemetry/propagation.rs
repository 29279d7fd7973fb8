//! W3C `traceparent` values: rendering a span's context for a job row, and reading stored
//! or incoming ones back as span contexts, parents or links.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C `traceparent` of the active OpenTelemetry context: the innermost exported span
/// entered on this task (a request, a job attempt, a step), if any.
pub fn current_traceparent() -> Option<String> {
    traceparent_of_context(&Context::current())
}

/// The W3C `traceparent` of `span`, if it has a valid OpenTelemetry context.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    traceparent_of_context(&span.context())
}

/// The W3C `traceparent` of the span of `context`, if valid.
pub fn traceparent_of_context(context: &Context) -> Option<String> {
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(context, &mut carrier);
    carrier.remove("traceparent")
}

/// The span context a stored or received `traceparent` names; `None` when absent or
/// malformed.
pub fn span_context(traceparent: Option<&str>) -> Option<SpanContext> {
    let traceparent = traceparent.filter(|t| !t.is_empty())?;
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_reads_back_as_its_span_context() {
        let text = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let context = span_context(Some(text)).expect("valid");
        assert_eq!(
            context.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(context.span_id().to_string(), "b7ad6b7169203331");
        assert!(span_context(Some("00-garbage")).is_none());
        assert!(span_context(Some("")).is_none());
        assert!(span_context(None).is_none());
    }
}
