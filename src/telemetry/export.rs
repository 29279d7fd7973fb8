//! The span pipeline: every finished span is cleaned of tracing's bookkeeping, then
//! batched to the OTLP exporter.
//!
//! The tracing bridge puts `level` and `target` on every event it turns into a span event
//! (it has no switch for events); `target` is a Rust module path, meaningless to an
//! operator, so it is removed here together with anything else of tracing's own that
//! might reach a span (`busy_ns`, `idle_ns`, `thread.*`, `code.*`), whatever the layer's
//! settings. The job engine's own names for concepts this application names under
//! `antidote.*` (a step, a timer's deadline, a link's kind, a schedule's slot) are renamed
//! to those, so that a step reads alike whether the engine or a workflow made its span.

use std::time::Duration;

use opentelemetry::{Context, Key, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use super::attributes;

/// Attribute keys of tracing's bookkeeping, never exported.
const INTERNAL_KEYS: [&str; 3] = ["target", "busy_ns", "idle_ns"];
/// Attribute key prefixes of tracing's bookkeeping, never exported.
const INTERNAL_PREFIXES: [&str; 2] = ["thread.", "code."];

/// The job engine's attribute names and this application's names for the same concepts.
const RENAMED: [(&str, &str); 4] = [
    (job_engine::trace::attributes::STEP, attributes::STEP),
    (
        job_engine::trace::attributes::TIMER_DEADLINE,
        attributes::TIMER_DEADLINE,
    ),
    (
        job_engine::trace::attributes::LINK_KIND,
        attributes::LINK_KIND,
    ),
    (
        job_engine::trace::attributes::SCHEDULE_SLOT,
        attributes::SCHEDULE_SLOT,
    ),
];

/// `attributes` without tracing's bookkeeping, the engine's names renamed.
fn tidy(attributes: &mut Vec<KeyValue>) {
    attributes.retain(|kv| !is_internal(kv.key.as_str()));
    for kv in attributes.iter_mut() {
        if let Some((_, ours)) = RENAMED
            .iter()
            .find(|(engine, _)| *engine == kv.key.as_str())
        {
            kv.key = Key::from_static_str(ours);
        }
    }
}

fn is_internal(key: &str) -> bool {
    INTERNAL_KEYS.contains(&key) || INTERNAL_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Removes tracing's bookkeeping from spans and their events, then hands them on.
#[derive(Debug)]
pub struct WithoutInternals<P> {
    next: P,
}

impl<P> WithoutInternals<P> {
    /// Cleans spans before `next` sees them.
    pub fn new(next: P) -> Self {
        Self { next }
    }
}

/// `span` without tracing's bookkeeping, with this application's attribute names.
pub fn clean(mut span: SpanData) -> SpanData {
    tidy(&mut span.attributes);
    for event in &mut span.events.events {
        tidy(&mut event.attributes);
    }
    for link in &mut span.links.links {
        tidy(&mut link.attributes);
    }
    span
}

impl<P: SpanProcessor> SpanProcessor for WithoutInternals<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.next.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.next.on_end(clean(span));
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.next.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.next.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.next.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracing_bookkeeping_is_internal_and_conventions_are_not() {
        for key in [
            "target",
            "busy_ns",
            "idle_ns",
            "thread.id",
            "code.file.path",
        ] {
            assert!(is_internal(key), "{key}");
        }
        for key in ["http.route", "job.id", "antidote.step", "level", "error"] {
            assert!(!is_internal(key), "{key}");
        }
    }
}
