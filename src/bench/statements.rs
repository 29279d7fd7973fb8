//! Counting the SQL statements a process sends, without server-side statistics.
//!
//! `pg_stat_statements` would need `shared_preload_libraries` and so a server restart, and
//! `pg_stat_database` only counts transactions. sqlx, however, emits one `sqlx::query`
//! tracing event per statement it executes once that target is enabled;
//! [`StatementCounter`] is a tracing layer that counts those events.
//!
//! sqlx sends `BEGIN` outside that log (as it does the `ROLLBACK` of a transaction dropped
//! unfinished), so each logged `COMMIT` or `ROLLBACK` counts twice: for itself and for the
//! `BEGIN` that opened its transaction. Only transactions dropped without either go
//! uncounted, which happens on error paths.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::Subscriber;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The tracing target of sqlx's per-statement events.
pub const SQLX_TARGET: &str = "sqlx::query";

/// Counts the statements sqlx executes in this process, except those run inside a span
/// named `excluded` (a benchmark's own bookkeeping). Cheap to clone; clones share the count.
#[derive(Debug, Clone, Default)]
pub struct StatementCounter {
    count: Arc<AtomicU64>,
    excluded: Option<&'static str>,
}

impl StatementCounter {
    /// A counter of every statement.
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter ignoring statements run inside spans named `span` (which must be enabled
    /// by [`StatementCounter::filter`]'s `also` targets to be seen).
    pub fn excluding(span: &'static str) -> Self {
        Self {
            count: Arc::default(),
            excluded: Some(span),
        }
    }

    /// Statements counted so far.
    pub fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The filter to put on this layer: sqlx's statement events (at every level, as slow
    /// statements are logged at `WARN`) plus the spans of `also` targets at `INFO`.
    /// Everything else stays disabled, so the counting costs little else.
    pub fn filter(also: &[&str]) -> Targets {
        also.iter().fold(
            Targets::new().with_target(SQLX_TARGET, LevelFilter::TRACE),
            |targets, target| targets.with_target(*target, LevelFilter::INFO),
        )
    }
}

impl<S> Layer<S> for StatementCounter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != SQLX_TARGET {
            return;
        }
        if let Some(excluded) = self.excluded
            && ctx
                .event_scope(event)
                .is_some_and(|mut scope| scope.any(|span| span.name() == excluded))
        {
            return;
        }
        let mut ends = EndsTransaction(false);
        event.record(&mut ends);
        self.count
            .fetch_add(if ends.0 { 2 } else { 1 }, Ordering::Relaxed);
    }
}

/// Whether a statement event's `summary` (its first words) is `COMMIT` or `ROLLBACK`.
struct EndsTransaction(bool);

impl EndsTransaction {
    fn check(&mut self, field: &tracing::field::Field, summary: &str) {
        if field.name() == "summary" {
            let summary = summary.trim_matches('"');
            self.0 =
                summary.eq_ignore_ascii_case("commit") || summary.eq_ignore_ascii_case("rollback");
        }
    }
}

impl tracing::field::Visit for EndsTransaction {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.check(field, value);
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.check(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn counts_statement_events_outside_the_excluded_span() {
        let counter = StatementCounter::excluding("bookkeeping");
        let subscriber = tracing_subscriber::registry().with(
            counter
                .clone()
                .with_filter(StatementCounter::filter(&[module_path!()])),
        );
        tracing::subscriber::with_default(subscriber, || {
            let summary = String::from("insert into t");
            tracing::debug!(target: "sqlx::query", summary);
            tracing::warn!(target: "sqlx::query", summary, "slow statement");
            tracing::info!("not a statement");
            let _inside = tracing::info_span!("bookkeeping").entered();
            tracing::debug!(target: "sqlx::query", "select count(*) from t");
        });
        assert_eq!(counter.get(), 2);
    }

    #[test]
    fn a_commit_counts_for_the_begin_sqlx_does_not_log() {
        let counter = StatementCounter::new();
        let subscriber = tracing_subscriber::registry()
            .with(counter.clone().with_filter(StatementCounter::filter(&[])));
        tracing::subscriber::with_default(subscriber, || {
            for summary in ["update t set x", "COMMIT", "ROLLBACK"] {
                let summary = summary.to_owned();
                tracing::debug!(target: "sqlx::query", summary);
            }
        });
        assert_eq!(counter.get(), 5);
    }
}
