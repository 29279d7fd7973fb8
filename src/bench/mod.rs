//! Benchmarks behind `antidoted bench`: each prints its figures and ends with one JSON line.

pub mod class;
pub mod compare;
pub mod demo_memory;
pub mod gc;
pub mod lessons;
pub mod pool;
pub mod queue;
pub mod soak;
pub mod statements;
pub mod terminals;
pub mod ui;

use sqlx::PgPool;

/// The content hash of the one lesson version (`bench-lesson`) that seeded livelessons
/// point at.
pub(crate) const BENCH_LESSON_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// Starts a seeded benchmark from nothing: empties the state, job and dashboard-session
/// tables, and stores the lesson version (`bench-lesson`, [`BENCH_LESSON_HASH`]) that
/// seeded livelessons point at.
///
/// # Errors
/// Database errors.
pub(crate) async fn reset_with_bench_lesson(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "truncate live_endpoints, livelessons, livesessions, ui_sessions, ui_sign_in_links",
    )
    .execute(pool)
    .await?;
    crate::queue::bench::tables::truncate_all(pool)
        .await
        .map_err(engine_error)?;
    sqlx::query(
        "insert into curriculum_lesson_versions (slug, content_hash, definition, files)
         values ('bench-lesson', $1, '{}', '{}') on conflict do nothing",
    )
    .bind(BENCH_LESSON_HASH)
    .execute(pool)
    .await?;
    Ok(())
}

/// A failure of the job engine's statements, as the benchmarks' database error.
#[allow(clippy::needless_pass_by_value, reason = "passed to `map_err` by name")]
pub(crate) fn engine_error(err: crate::queue::QueueError) -> sqlx::Error {
    sqlx::Error::Protocol(err.to_string())
}

/// The `q`-quantile (0.0..=1.0) of sorted `values`, or 0 when empty.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a float-to-integer `as` saturates, and the value is rounded and not negative"
)]
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Rounds to two decimals for display and JSON.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
