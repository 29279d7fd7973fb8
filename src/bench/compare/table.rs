//! The report as a text table for the terminal.

use super::report::{Outcome, Ratios, Report};

/// The report as a table: one line per run, then the ratios of each round and their
/// medians.
pub fn table(report: &Report) -> String {
    use std::fmt::Write as _;
    let cell = |v: Option<f64>, decimals: usize| match v {
        Some(v) => format!("{v:.decimals$}"),
        None => "-".to_owned(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<5} {:<14} {:>9} {:>8} {:>8} {:>10} {:>12} {:>16}",
        "round", "peer", "jobs/s", "p50 ms", "p99 ms", "call p50", "workflows/s", "load 1/5/15 min"
    );
    for round in &report.rounds {
        for run in &round.runs {
            let load = format!(
                "{:.1}/{:.1}/{:.1}",
                run.load_before[0], run.load_before[1], run.load_before[2]
            );
            match &run.outcome {
                Outcome::Ran(f) => {
                    let _ = writeln!(
                        out,
                        "{:<5} {:<14} {:>9} {:>8} {:>8} {:>10} {:>12} {:>16}",
                        round.round,
                        run.peer.name(),
                        cell(f.jobs_per_s, 0),
                        cell(f.latency_ms_p50, 2),
                        cell(f.latency_ms_p99, 2),
                        cell(f.latency_from_call_ms_p50, 2),
                        cell(f.workflows_per_s, 0),
                        load
                    );
                }
                Outcome::Skipped { reason } => {
                    let _ = writeln!(
                        out,
                        "{:<5} {:<14} skipped: {reason}",
                        round.round,
                        run.peer.name()
                    );
                }
                Outcome::Failed { reason } => {
                    let _ = writeln!(
                        out,
                        "{:<5} {:<14} failed: {reason}",
                        round.round,
                        run.peer.name()
                    );
                }
            }
        }
    }
    let mut ratio_lines = |label: String, ratios: &[Ratios]| {
        for r in ratios {
            let Some(peer) = r.peer else { continue };
            let _ = writeln!(
                out,
                "{label:<8} antidoted ÷ {:<14} jobs/s {:>6}  p50 {:>5}  p99 {:>5}  workflows/s {:>6}",
                peer.name(),
                cell(r.jobs_per_s, 2),
                cell(r.latency_ms_p50, 2),
                cell(r.latency_ms_p99, 2),
                cell(r.workflows_per_s, 2)
            );
        }
    };
    for round in &report.rounds {
        ratio_lines(format!("round {}", round.round), &round.ratios);
    }
    ratio_lines("median".to_owned(), &report.median_ratios);
    out
}
