//! The telemetry start-up every long-running command shares (`serve`, `api`, `worker`,
//! `demo`): text or JSON logs filtered by `RUST_LOG`, OTLP span export when
//! `OTEL_EXPORTER_OTLP_*` is set, and span ids (so a traceparent on every job) either way.

use antidote_scheduler::config::LogFormat;
use antidote_scheduler::telemetry::{self, Telemetry};

/// Installs the global subscriber with [`telemetry::DEFAULT_LOG_FILTER`]. Call it inside
/// the Tokio runtime (span export runs on it); keep the guard and call
/// [`Telemetry::shutdown`] on the way out to flush spans.
///
/// # Errors
/// Malformed `OTEL_EXPORTER_OTLP_*` variables, or a subscriber already installed.
pub fn init(format: LogFormat) -> anyhow::Result<Telemetry> {
    init_quiet(format, telemetry::DEFAULT_LOG_FILTER)
}

/// [`init`] with another log filter when `RUST_LOG` is unset (the demo keeps its terminal
/// for its progress display).
///
/// # Errors
/// As [`init`].
pub fn init_quiet(format: LogFormat, default_filter: &str) -> anyhow::Result<Telemetry> {
    use anyhow::Context as _;
    telemetry::init(format, default_filter)
        .context("setting up logs and traces (RUST_LOG, OTEL_EXPORTER_OTLP_*)")
}
