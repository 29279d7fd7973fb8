//! The report as a text table for the terminal.

use std::fmt::Write as _;

use super::report::{Outcome, Ratios, Report};
use super::targets::Goal;

fn cell(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) => format!("{v:.decimals$}"),
        None => "-".to_owned(),
    }
}

/// The report as a table: one line per run, then the ratios of each round and their
/// medians, each peer's medians, and issue 31's goals with whether each holds.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<5} {:<14} {:>9} {:>8} {:>8} {:>8} {:>10} {:>12} {:>16}",
        "round",
        "peer",
        "jobs/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "call p50",
        "workflows/s",
        "load 1/5/15 min"
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
                        "{:<5} {:<14} {:>9} {:>8} {:>8} {:>8} {:>10} {:>12} {:>16}",
                        round.round,
                        run.peer.name(),
                        cell(f.jobs_per_s, 0),
                        cell(f.latency_ms_p50, 2),
                        cell(f.latency_ms_p95, 2),
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
    medians(&mut out, report);
    targets(&mut out, report);
    out
}

fn medians(out: &mut String, report: &Report) {
    for m in &report.medians {
        let _ = writeln!(
            out,
            "median   {:<14} {:>9} {:>8} {:>8} {:>8} {:>10} {:>12}   ({} rounds)",
            m.peer.name(),
            cell(m.jobs_per_s, 0),
            cell(m.latency_ms_p50, 2),
            cell(m.latency_ms_p95, 2),
            cell(m.latency_ms_p99, 2),
            cell(m.latency_from_call_ms_p50, 2),
            cell(m.workflows_per_s, 0),
            m.rounds
        );
    }
}

fn targets(out: &mut String, report: &Report) {
    for t in &report.targets {
        let goal = match t.goal {
            Goal::AtLeast(bound) => format!(">= {bound:.2}"),
            Goal::AtMost(bound) => format!("<= {bound:.2}"),
        };
        let verdict = match t.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not measured",
        };
        let _ = writeln!(
            out,
            "goal     {:<20} {:<24} antidoted ÷ {:<14} {:>6} (goal {goal}): {verdict}",
            t.goal_name,
            t.figure,
            t.peer.map_or("-", |p| p.name()),
            cell(t.ratio, 2),
        );
    }
    let _ = writeln!(
        out,
        "goals    {}",
        match report.targets_met {
            Some(true) => "all met",
            Some(false) => "not all met",
            None => "open: a peer a goal names did not run",
        }
    );
}
