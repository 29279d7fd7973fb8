//! Benchmarks behind `antidoted bench`: each prints its figures and ends with one JSON line.

pub mod compare;
pub mod demo_memory;
pub mod gc;
pub mod lessons;
pub mod queue;
pub mod soak;
pub mod statements;
pub mod ui;

/// The `q`-quantile (0.0..=1.0) of sorted `values`, or 0 when empty.
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
