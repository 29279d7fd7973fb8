//! `antidoted bench gc`: one livelesson-expiry pass over many livelessons, of which some
//! expired. The figure is the pass's database time: the set-based statement that marks
//! them deleting plus the batched enqueue of their DELETE jobs.

use std::time::Instant;

use serde::Serialize;
use sqlx::PgPool;

use crate::gc::{self, expiry};
use crate::queue::bench::figures;

/// Benchmark size.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Livelessons in the store.
    pub livelessons: usize,
    /// How many of them are past the TTL.
    pub expired: usize,
}

/// What one pass did and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Livelessons in the store.
    pub livelessons: usize,
    /// Livelessons past the TTL.
    pub expired: usize,
    /// DELETE jobs the pass enqueued.
    pub enqueued: u64,
    /// Seconds of the pass (all of it database work).
    pub db_seconds: f64,
    /// DELETE jobs found in the queue afterwards (checks `enqueued`).
    pub delete_jobs: i64,
}

/// Failures of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setting up or checking rows failed.
    #[error("benchmark database work")]
    Database(#[from] sqlx::Error),
    /// The pass failed.
    #[error("garbage collection pass")]
    Gc(#[from] gc::GcError),
}

/// Empties the state and job tables, then inserts `params.livelessons` livelessons, one per
/// session, the first `params.expired` of them inactive for two hours. Rows go in with
/// set-based statements: the benchmark measures GC, not the setup.
///
/// # Errors
/// Database errors.
pub async fn seed(pool: &PgPool, params: &Params) -> Result<(), sqlx::Error> {
    super::reset_with_bench_lesson(pool).await?;
    let total = i64::try_from(params.livelessons).unwrap_or(i64::MAX);
    let expired = i64::try_from(params.expired).unwrap_or(i64::MAX);
    sqlx::query(
        "insert into livesessions (id, last_active_at)
         select 's' || n, now() from generate_series(1, $1) n",
    )
    .bind(total)
    .execute(pool)
    .await?;
    sqlx::query(
        "insert into livelessons (id, session_id, lesson_slug, lesson_hash, status,
                                  current_stage, guide_type, images, last_active_at)
         select lpad(n::text, 10, '0'), 's' || n, 'bench-lesson', $2, 'READY', 0, 'markdown',
                '{}', case when n <= $3 then now() - interval '2 hours' else now() end
         from generate_series(1, $1) n",
    )
    .bind(total)
    .bind(super::BENCH_LESSON_HASH)
    .bind(expired)
    .execute(pool)
    .await?;
    sqlx::query("vacuum analyze livelessons, livesessions, jobs")
        .execute(pool)
        .await?;
    Ok(())
}

/// Seeds, runs one expiry pass with the default settings, and checks the queue.
///
/// # Errors
/// [`BenchError`].
pub async fn run(pool: &PgPool, params: &Params) -> Result<Report, BenchError> {
    seed(pool, params).await?;
    let config = gc::Config::default();
    let started = Instant::now();
    let counts = expiry::run_once(&crate::queue::Client::new(pool.clone()), &config).await?;
    let db_seconds = started.elapsed().as_secs_f64();
    let delete_jobs = figures::unfinished_of_kind(pool, "livelesson.delete")
        .await
        .map_err(super::engine_error)?;
    Ok(Report {
        livelessons: params.livelessons,
        expired: params.expired,
        enqueued: counts.enqueued,
        db_seconds: (db_seconds * 1000.0).round() / 1000.0,
        delete_jobs,
    })
}
