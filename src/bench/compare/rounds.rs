//! The rounds: every peer once per round in a rotated order, the load average before each
//! run, and antidoted's figures divided by each peer's (per round, then their medians);
//! the medians of the figures and issue 31's goals come from `medians` and `targets`.

use super::harness::Harnesses;
use super::medians::{median, medians};
use super::params::{CompareError, Params};
use super::peer::Peer;
use super::report::{Outcome, Ratios, Report, Round, Run};
use super::server::Server;
use super::steps::run_steps;
use super::targets::{all_met, targets};

/// Builds what is available, runs the rounds and returns the figures. Progress and the
/// harnesses' own output go to stderr.
///
/// # Errors
/// [`CompareError`] when the databases cannot be prepared or this binary not found; a
/// peer that fails is recorded as failed instead.
pub async fn run(params: &Params) -> Result<Report, CompareError> {
    let server = Server::parse(&params.database_url)?;
    let exe = std::env::current_exe().map_err(CompareError::Exe)?;
    let mut harnesses = Harnesses::default();
    for peer in &params.peers {
        if *peer != Peer::Antidoted && !harnesses.prepared.contains_key(peer) {
            let ready = harnesses.prepare(*peer, params).await;
            harnesses.prepared.insert(*peer, ready);
        }
    }

    let mut rounds = Vec::with_capacity(params.rounds);
    for round in 0..params.rounds.max(1) {
        let mut order = params.peers.clone();
        let len = order.len().max(1);
        order.rotate_left(round % len);
        let mut runs = Vec::with_capacity(order.len());
        for peer in order {
            eprintln!(
                "== round {} of {}: {}",
                round + 1,
                params.rounds.max(1),
                peer.name()
            );
            let load_before = load_average();
            let started = std::time::Instant::now();
            let outcome = match harnesses.command(peer, &exe, params) {
                Err(reason) => Outcome::Skipped { reason },
                Ok(steps) => run_steps(&server, peer, steps, params).await?,
            };
            runs.push(Run {
                peer,
                load_before,
                seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
                outcome,
            });
        }
        let ratios = ratios(&runs);
        rounds.push(Round {
            round: round + 1,
            runs,
            ratios,
        });
    }
    let median_ratios = median_ratios(&rounds);
    let medians = medians(&rounds);
    let targets = targets(&medians);
    Ok(Report {
        rounds,
        median_ratios,
        targets_met: all_met(&targets),
        medians,
        targets,
        jobs: params.jobs,
        workflows: params.workflows,
        latency_samples: params.latency_samples,
        underway_jobs: params.underway_jobs,
        underway_workflows: params.underway_workflows,
    })
}

/// The 1-, 5- and 15-minute load averages (zeros where `/proc/loadavg` is unreadable).
fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut fields = text.split_whitespace().map(|f| f.parse().unwrap_or(0.0));
    [
        fields.next().unwrap_or(0.0),
        fields.next().unwrap_or(0.0),
        fields.next().unwrap_or(0.0),
    ]
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => Some((a / b * 100.0).round() / 100.0),
        _ => None,
    }
}

/// antidoted against each other peer of a round.
fn ratios(runs: &[Run]) -> Vec<Ratios> {
    let figures = |peer: Peer| {
        runs.iter().find_map(|r| match &r.outcome {
            Outcome::Ran(f) if r.peer == peer => Some(f),
            _ => None,
        })
    };
    let Some(ours) = figures(Peer::Antidoted) else {
        return Vec::new();
    };
    runs.iter()
        .filter(|r| r.peer != Peer::Antidoted)
        .filter_map(|r| {
            let theirs = figures(r.peer)?;
            Some(Ratios {
                peer: Some(r.peer),
                jobs_per_s: ratio(ours.jobs_per_s, theirs.jobs_per_s),
                latency_ms_p50: ratio(ours.latency_ms_p50, theirs.latency_ms_p50),
                latency_ms_p99: ratio(ours.latency_ms_p99, theirs.latency_ms_p99),
                workflows_per_s: ratio(ours.workflows_per_s, theirs.workflows_per_s),
            })
        })
        .collect()
}

/// Per peer, the median of each ratio over the rounds.
fn median_ratios(rounds: &[Round]) -> Vec<Ratios> {
    let mut peers: Vec<Peer> = rounds
        .iter()
        .flat_map(|r| r.ratios.iter().filter_map(|x| x.peer))
        .collect();
    peers.sort_unstable();
    peers.dedup();
    peers
        .into_iter()
        .map(|peer| {
            let of = |pick: fn(&Ratios) -> Option<f64>| {
                median(
                    rounds
                        .iter()
                        .flat_map(|r| r.ratios.iter().filter(|x| x.peer == Some(peer)))
                        .filter_map(pick)
                        .collect(),
                )
            };
            Ratios {
                peer: Some(peer),
                jobs_per_s: of(|r| r.jobs_per_s),
                latency_ms_p50: of(|r| r.latency_ms_p50),
                latency_ms_p99: of(|r| r.latency_ms_p99),
                workflows_per_s: of(|r| r.workflows_per_s),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::compare::report::Figures;

    fn ran(peer: Peer, jobs: f64, p50: f64, workflows: Option<f64>) -> Run {
        Run {
            peer,
            load_before: [1.0, 1.0, 1.0],
            seconds: 1.0,
            outcome: Outcome::Ran(Figures {
                jobs_per_s: Some(jobs),
                latency_ms_p50: Some(p50),
                latency_ms_p99: Some(p50 * 2.0),
                workflows_per_s: workflows,
                ..Figures::default()
            }),
        }
    }

    #[test]
    fn ratios_divide_ours_by_each_peer_of_the_same_round_and_skip_missing_figures() {
        let runs = vec![
            ran(Peer::GraphileRs, 40_000.0, 1.0, None),
            ran(Peer::Antidoted, 60_000.0, 0.8, Some(8_000.0)),
            ran(Peer::Apalis, 8_000.0, 2.0, Some(1_000.0)),
            Run {
                peer: Peer::Underway,
                load_before: [0.0; 3],
                seconds: 0.0,
                outcome: Outcome::Skipped {
                    reason: "absent".into(),
                },
            },
        ];
        let r = ratios(&runs);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].peer, Some(Peer::GraphileRs));
        assert_eq!(r[0].jobs_per_s, Some(1.5));
        assert_eq!(r[0].latency_ms_p50, Some(0.8));
        assert_eq!(r[0].workflows_per_s, None);
        assert_eq!(r[1].jobs_per_s, Some(7.5));
        assert_eq!(r[1].workflows_per_s, Some(8.0));
    }

    #[test]
    fn median_ratios_take_the_middle_round_per_peer() {
        let round = |n: usize, jobs: f64| Round {
            round: n,
            runs: Vec::new(),
            ratios: vec![Ratios {
                peer: Some(Peer::GraphileRs),
                jobs_per_s: Some(jobs),
                ..Ratios::default()
            }],
        };
        let rounds = vec![round(1, 1.4), round(2, 1.2), round(3, 1.3)];
        let m = median_ratios(&rounds);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].jobs_per_s, Some(1.3));
        assert_eq!(m[0].latency_ms_p50, None);
    }
}
