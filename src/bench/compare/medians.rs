//! Each peer's figures as the median over the rounds in which it ran: what issue 31's
//! goals compare, a round's noise on a shared machine being as large as the leads.

use serde::Serialize;

use super::peer::Peer;
use super::report::{Figures, Outcome, Round};

/// One peer's figures, each the median over the rounds that measured it.
#[derive(Debug, Clone, Serialize)]
pub struct Medians {
    /// The peer.
    pub peer: Peer,
    /// Rounds in which it ran to the end.
    pub rounds: usize,
    /// No-op jobs per second.
    pub jobs_per_s: Option<f64>,
    /// Idle latency from the enqueue's commit, median, ms.
    pub latency_ms_p50: Option<f64>,
    /// 95th percentile.
    pub latency_ms_p95: Option<f64>,
    /// 99th percentile.
    pub latency_ms_p99: Option<f64>,
    /// Idle latency from the start of the enqueue call, median, ms.
    pub latency_from_call_ms_p50: Option<f64>,
    /// Three-step workflows per second.
    pub workflows_per_s: Option<f64>,
}

/// The median of `values` (of the middle two when even, to two decimals), `None` when
/// there are none.
pub(super) fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (f64::midpoint(values[mid - 1], values[mid]) * 100.0).round() / 100.0
    })
}

/// Per peer that ran at least once, in the order of [`Peer`], the median of each figure.
pub(super) fn medians(rounds: &[Round]) -> Vec<Medians> {
    let ran: Vec<(Peer, &Figures)> = rounds
        .iter()
        .flat_map(|round| &round.runs)
        .filter_map(|run| match &run.outcome {
            Outcome::Ran(figures) => Some((run.peer, figures)),
            Outcome::Skipped { .. } | Outcome::Failed { .. } => None,
        })
        .collect();
    let mut peers: Vec<Peer> = ran.iter().map(|(peer, _)| *peer).collect();
    peers.sort_unstable();
    peers.dedup();
    peers
        .into_iter()
        .map(|peer| {
            let of = |pick: fn(&Figures) -> Option<f64>| {
                median(
                    ran.iter()
                        .filter(|(p, _)| *p == peer)
                        .filter_map(|(_, f)| pick(f))
                        .collect(),
                )
            };
            Medians {
                peer,
                rounds: ran.iter().filter(|(p, _)| *p == peer).count(),
                jobs_per_s: of(|f| f.jobs_per_s),
                latency_ms_p50: of(|f| f.latency_ms_p50),
                latency_ms_p95: of(|f| f.latency_ms_p95),
                latency_ms_p99: of(|f| f.latency_ms_p99),
                latency_from_call_ms_p50: of(|f| f.latency_from_call_ms_p50),
                workflows_per_s: of(|f| f.workflows_per_s),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::compare::report::Run;

    fn run(peer: Peer, jobs: Option<f64>) -> Run {
        Run {
            peer,
            load_before: [0.0; 3],
            seconds: 1.0,
            outcome: match jobs {
                Some(jobs) => Outcome::Ran(Figures {
                    jobs_per_s: Some(jobs),
                    ..Figures::default()
                }),
                None => Outcome::Failed {
                    reason: "exited".into(),
                },
            },
        }
    }

    #[test]
    fn medians_take_the_middle_of_the_rounds_a_peer_ran_and_ignore_failed_runs() {
        let round = |n: usize, runs: Vec<Run>| Round {
            round: n,
            runs,
            ratios: Vec::new(),
        };
        let rounds = vec![
            round(
                1,
                vec![run(Peer::Antidoted, Some(30.0)), run(Peer::River, None)],
            ),
            round(
                2,
                vec![
                    run(Peer::River, Some(10.0)),
                    run(Peer::Antidoted, Some(50.0)),
                ],
            ),
            round(
                3,
                vec![
                    run(Peer::Antidoted, Some(40.0)),
                    run(Peer::River, Some(20.0)),
                ],
            ),
        ];
        let m = medians(&rounds);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].peer, m[0].rounds, m[0].jobs_per_s),
            (Peer::Antidoted, 3, Some(40.0))
        );
        assert_eq!(
            (m[1].peer, m[1].rounds, m[1].jobs_per_s),
            (Peer::River, 2, Some(15.0))
        );
        assert_eq!(m[1].workflows_per_s, None);
    }
}
