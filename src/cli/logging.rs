//! Telemetry set-up for the long-running commands: text or JSON logs per configuration,
//! filtered by `RUST_LOG`, and OTLP span export when `OTEL_EXPORTER_OTLP_*` is set.

use antidote_scheduler::config::LogFormat;
use antidote_scheduler::telemetry::{self, Telemetry};

/// Installs the global subscriber. Call it inside the Tokio runtime (span export runs on
/// it); keep the guard and call [`Telemetry::shutdown`] on the way out to flush spans.
///
/// # Errors
/// Malformed `OTEL_EXPORTER_OTLP_*` variables, or a subscriber already installed.
pub fn init(format: LogFormat) -> anyhow::Result<Telemetry> {
    use anyhow::Context as _;
    telemetry::init(format).context("setting up logs and traces (RUST_LOG, OTEL_EXPORTER_OTLP_*)")
}
