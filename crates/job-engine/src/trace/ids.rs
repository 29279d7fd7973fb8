//! Span and trace ids: random, except that a job attempt's root span may take the trace id
//! of the job's cause, so that every attempt of a job lands in the trace of the request
//! (or run) that enqueued it without being that span's child.
//!
//! The SDK draws a root span's trace id from the provider's id generator and offers no
//! other way to choose it; [`in_trace`] sets the id the generator returns next, on this
//! thread, for the span built inside its closure.

use std::cell::Cell;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

thread_local! {
    static NEXT_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// Random ids, or the trace id [`in_trace`] asks for.
#[derive(Debug, Default)]
pub struct CauseIds {
    random: RandomIdGenerator,
}

impl IdGenerator for CauseIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE_ID
            .with(Cell::take)
            .unwrap_or_else(|| self.random.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.random.new_span_id()
    }
}

/// Runs `build` with root spans built on this thread getting `trace_id` (the first one
/// only). `build` must build the span synchronously.
pub fn in_trace<T>(trace_id: TraceId, build: impl FnOnce() -> T) -> T {
    NEXT_TRACE_ID.with(|next| next.set(Some(trace_id)));
    let built = build();
    // A provider without this generator (or no root span built) leaves it set.
    NEXT_TRACE_ID.with(|next| next.set(None));
    built
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requested_trace_id_is_used_once() {
        let ids = CauseIds::default();
        let wanted = TraceId::from_bytes([7; 16]);
        let got = in_trace(wanted, || ids.new_trace_id());
        assert_eq!(got, wanted);
        assert_ne!(ids.new_trace_id(), wanted);
    }
}
