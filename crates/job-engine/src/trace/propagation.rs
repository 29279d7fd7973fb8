//! W3C `traceparent` values: rendering a span's context for a job row, and reading a
//! stored one back as a span context.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

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
