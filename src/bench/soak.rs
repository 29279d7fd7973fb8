//! `bench soak`: a long burn-down of no-op jobs arriving at a steady rate, with a
//! REPEATABLE READ transaction held open in the middle. The held snapshot stops vacuum
//! from removing any row version that dies meanwhile, which is how PostgreSQL queues
//! classically collapse; the figures show whether throughput holds up and whether the
//! claim table comes back to size afterwards.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;

use crate::queue::bench::{figures, tables};
use crate::queue::{Client, NewJob, maintenance};

use super::queue::{NOOP, Workers, reset, wait_done};
use super::round2;

/// Parameters of a run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Jobs to run in all.
    pub jobs: usize,
    /// Arrival rate, jobs per second.
    pub rate: usize,
    /// When the held transaction starts, from the first arrival.
    pub hold_start: Duration,
    /// How long it stays open.
    pub hold: Duration,
    /// Throughput window.
    pub window: Duration,
}

/// One throughput window.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// Start, seconds from the first arrival.
    pub start_s: f64,
    /// Jobs completed per second in the window.
    pub jobs_per_s: f64,
    /// Whether the window lies wholly inside the held transaction.
    pub during_hold: bool,
    /// Whether the window starts after the held transaction ended.
    pub after_hold: bool,
}

/// Figures of a run; the JSON keys are a stable interface.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Median throughput over all full windows.
    pub median_jobs_per_s: f64,
    /// Worst window wholly inside the held transaction.
    pub worst_window_jobs_per_s: f64,
    /// Throughput from the end of the hold to the last completion.
    pub after_hold_jobs_per_s: f64,
    /// Size of the claim table (`jobs`, heap and indexes) before the run.
    pub claim_table_bytes_before: i64,
    /// Its largest size, seen at the end of the hold.
    pub claim_table_bytes_peak: i64,
    /// Its size after the run, once vacuum and the claim-index compaction of
    /// `gc.retention` ran.
    pub claim_table_bytes_after: i64,
    /// Whether that compaction rebuilt the indexes.
    pub claim_indexes_rebuilt: bool,
    /// Dead row versions in the claim table at the end of the hold.
    pub dead_tuples_at_hold_end: i64,
    /// Dead row versions after the run, once vacuum ran.
    pub dead_tuples_after: i64,
    /// Jobs run.
    pub jobs: usize,
    /// Arrival rate.
    pub rate: usize,
    /// Seconds the transaction was held.
    pub hold_s: f64,
    /// Every window.
    pub windows: Vec<Window>,
}

/// Runs the soak with the workers `start_workers` starts.
///
/// # Errors
/// Database errors.
pub async fn run<W: Workers>(
    pool: &PgPool,
    params: &Params,
    start_workers: impl AsyncFnOnce() -> W,
) -> Result<Report, sqlx::Error> {
    reset(pool).await?;
    let before = table_bytes(pool).await?;
    println!("claim table before: {}", megabytes(before));
    let workers = start_workers().await;

    let origin: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("select clock_timestamp()")
        .fetch_one(pool)
        .await?;
    let hold = tokio::spawn(hold_snapshot(pool.clone(), params.hold_start, params.hold));
    produce(pool, params).await?;
    let held = hold
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("hold task: {e}")))??;
    wait_done(pool, &workers, params.jobs, Duration::from_secs(900)).await?;
    workers.stop().await;

    // What autovacuum and the hourly `gc.retention` pass would do soon after: the
    // figures must not depend on their timing.
    tables::vacuum_claim_table(pool)
        .await
        .map_err(super::engine_error)?;
    let compaction = maintenance::compact(pool, maintenance::DEFAULT_MIN_BYTES)
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let after = table_bytes(pool).await?;
    let dead_after = dead_tuples(pool).await?;

    let windows = windows(pool, origin, &held, params.window).await?;
    let mut full: Vec<f64> = windows.iter().map(|w| w.jobs_per_s).collect();
    full.sort_by(f64::total_cmp);
    let median = super::quantile(&full, 0.5);
    let worst = windows
        .iter()
        .filter(|w| w.during_hold)
        .map(|w| w.jobs_per_s)
        .fold(f64::INFINITY, f64::min);
    let after_hold = after_hold_rate(pool, held.ended).await?;
    let report = Report {
        median_jobs_per_s: median.round(),
        worst_window_jobs_per_s: if worst.is_finite() {
            worst.round()
        } else {
            0.0
        },
        after_hold_jobs_per_s: after_hold.round(),
        claim_table_bytes_before: before,
        claim_table_bytes_peak: held.table_bytes,
        claim_table_bytes_after: after,
        claim_indexes_rebuilt: compaction.rebuilt,
        dead_tuples_at_hold_end: held.dead_tuples,
        dead_tuples_after: dead_after,
        jobs: params.jobs,
        rate: params.rate,
        hold_s: round2((held.ended - held.started).as_seconds_f64()),
        windows,
    };
    for w in &report.windows {
        let tag = match (w.during_hold, w.after_hold) {
            (true, _) => "  (held)",
            (_, true) => "  (after)",
            _ => "",
        };
        println!(
            "window {:>6.1} s: {:>8.0} jobs/s{tag}",
            w.start_s, w.jobs_per_s
        );
    }
    println!(
        "throughput: median {} jobs/s, worst held window {} jobs/s, after the hold {} jobs/s",
        report.median_jobs_per_s, report.worst_window_jobs_per_s, report.after_hold_jobs_per_s
    );
    println!(
        "claim table: {} before, {} at the end of the hold ({} dead row versions), {} after vacuum ({} dead){}",
        megabytes(before),
        megabytes(held.table_bytes),
        held.dead_tuples,
        megabytes(after),
        dead_after,
        if compaction.rebuilt {
            format!(
                " and the index rebuild ({} of indexes before it)",
                megabytes(compaction.before)
            )
        } else {
            String::new()
        }
    );
    Ok(report)
}

/// Enqueues `params.jobs` jobs at `params.rate`, in small batches as an API under load would.
async fn produce(pool: &PgPool, params: &Params) -> Result<(), sqlx::Error> {
    let client = Client::new(pool.clone());
    let batch: Vec<NewJob> = (0..100)
        .map(|i| NewJob::new(NOOP, serde_json::json!({ "i": i })))
        .collect();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut enqueued = 0usize;
    while enqueued < params.jobs {
        tick.tick().await;
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a float-to-integer `as` saturates, and the value is not negative"
        )]
        let due =
            ((started.elapsed().as_secs_f64() * params.rate as f64) as usize).min(params.jobs);
        while enqueued < due {
            let n = (due - enqueued).min(batch.len());
            client
                .enqueue_many(&batch[..n])
                .await
                .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
            enqueued += n;
        }
    }
    Ok(())
}

/// The held transaction's span, and the claim table at its end.
struct Held {
    started: chrono::DateTime<chrono::Utc>,
    ended: chrono::DateTime<chrono::Utc>,
    table_bytes: i64,
    dead_tuples: i64,
}

/// Waits `after`, then holds a REPEATABLE READ snapshot for `hold`.
async fn hold_snapshot(pool: PgPool, after: Duration, hold: Duration) -> Result<Held, sqlx::Error> {
    tokio::time::sleep(after).await;
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read")
        .execute(&mut *tx)
        .await?;
    // The first query takes the snapshot; from here on vacuum keeps every version it sees.
    let started: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("select clock_timestamp()")
        .fetch_one(&mut *tx)
        .await?;
    println!(
        "holding a REPEATABLE READ snapshot for {} s",
        hold.as_secs()
    );
    tokio::time::sleep(hold).await;
    let table_bytes = table_bytes(&pool).await?;
    let dead_tuples = dead_tuples(&pool).await?;
    tx.commit().await?;
    let ended: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("select clock_timestamp()")
        .fetch_one(&pool)
        .await?;
    println!("snapshot released");
    Ok(Held {
        started,
        ended,
        table_bytes,
        dead_tuples,
    })
}

/// Completions per window by the server's own timestamps; the last, partial window is
/// left out.
async fn windows(
    pool: &PgPool,
    origin: chrono::DateTime<chrono::Utc>,
    held: &Held,
    window: Duration,
) -> Result<Vec<Window>, sqlx::Error> {
    let width = window.as_secs_f64().max(0.1);
    let rows = figures::finished_per_window(pool, origin, width)
        .await
        .map_err(super::engine_error)?;
    let hold_start = (held.started - origin).as_seconds_f64();
    let hold_end = (held.ended - origin).as_seconds_f64();
    let last = rows.iter().map(|r| r.bucket).max().unwrap_or(0);
    Ok(rows
        .into_iter()
        .filter(|r| r.bucket >= 0 && r.bucket < last)
        .map(|r| {
            let start_s = r.bucket as f64 * width;
            Window {
                start_s: round2(start_s),
                jobs_per_s: (r.jobs as f64 / width).round(),
                during_hold: start_s >= hold_start && start_s + width <= hold_end,
                after_hold: start_s >= hold_end,
            }
        })
        .collect())
}

/// Completions per second from `since` to the last completion.
async fn after_hold_rate(
    pool: &PgPool,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<f64, sqlx::Error> {
    let (jobs, seconds) = figures::finished_since(pool, since)
        .await
        .map_err(super::engine_error)?;
    Ok(if seconds > 0.0 {
        jobs as f64 / seconds
    } else {
        0.0
    })
}

/// The claim table's heap, indexes and TOAST, in bytes.
async fn table_bytes(pool: &PgPool) -> Result<i64, sqlx::Error> {
    figures::claim_table_bytes(pool)
        .await
        .map_err(super::engine_error)
}

/// Dead row versions of the claim table, as the statistics collector last counted them.
async fn dead_tuples(pool: &PgPool) -> Result<i64, sqlx::Error> {
    figures::claim_table_dead_rows(pool)
        .await
        .map_err(super::engine_error)
}

fn megabytes(bytes: i64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
}
