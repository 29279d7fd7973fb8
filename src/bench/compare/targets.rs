//! Issue 31's goals for the comparison, each a ratio of antidoted's median figure to a
//! peer's: median jobs/s at least 3× River's and 1.5× the fastest other peer's, idle p50
//! no worse than any peer's, workflows at least 5× apalis's.

use serde::Serialize;

use super::medians::Medians;
use super::peer::Peer;

/// What the ratio ours ÷ theirs must be for a goal to hold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// At least this (a rate: more is better for us).
    AtLeast(f64),
    /// At most this (a latency: less is better for us).
    AtMost(f64),
}

/// One goal: antidoted's median figure against one peer's.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Which goal: `jobs_vs_river`, `jobs_vs_fastest_peer`, `idle_p50` (one per peer) or
    /// `workflows_vs_apalis`.
    pub goal_name: &'static str,
    /// The figure compared, by its JSON key (`jobs_per_s`, `latency_ms_p50`,
    /// `latency_from_call_ms_p50` for a peer that measures only from the call,
    /// `workflows_per_s`).
    pub figure: &'static str,
    /// The peer, `None` when the goal names the fastest other peer and none ran.
    pub peer: Option<Peer>,
    /// antidoted's median.
    pub ours: Option<f64>,
    /// The peer's median.
    pub theirs: Option<f64>,
    /// ours ÷ theirs, to two decimals.
    pub ratio: Option<f64>,
    /// The bound on the ratio.
    pub goal: Goal,
    /// Whether it holds (from the unrounded figures); `None` when a figure is missing.
    pub met: Option<bool>,
}

impl Target {
    fn new(
        goal_name: &'static str,
        figure: &'static str,
        peer: Option<Peer>,
        ours: Option<f64>,
        theirs: Option<f64>,
        goal: Goal,
    ) -> Self {
        let measured = match (ours, theirs) {
            (Some(a), Some(b)) if b > 0.0 => Some((a, b)),
            _ => None,
        };
        Self {
            goal_name,
            figure,
            peer,
            ours,
            theirs,
            ratio: measured.map(|(a, b)| (a / b * 100.0).round() / 100.0),
            goal,
            met: measured.map(|(a, b)| match goal {
                Goal::AtLeast(bound) => a >= bound * b,
                Goal::AtMost(bound) => a <= bound * b,
            }),
        }
    }
}

/// The goals against the peers of `medians`, in this order: jobs/s against River, against
/// the fastest other peer (by median jobs/s; River may be it), idle p50 against every peer
/// that ran (from the call for a peer that measures only that way), workflows against
/// apalis. A goal whose peer did not run is listed with no figures.
pub(super) fn targets(medians: &[Medians]) -> Vec<Target> {
    let of = |peer: Peer| medians.iter().find(|m| m.peer == peer);
    let ours = of(Peer::Antidoted);
    let pick = |peer: Peer, figure: fn(&Medians) -> Option<f64>| of(peer).and_then(figure);
    let ours_of = |figure: fn(&Medians) -> Option<f64>| ours.and_then(figure);

    let mut targets = vec![Target::new(
        "jobs_vs_river",
        "jobs_per_s",
        Some(Peer::River),
        ours_of(|m| m.jobs_per_s),
        pick(Peer::River, |m| m.jobs_per_s),
        Goal::AtLeast(3.0),
    )];
    let fastest = medians
        .iter()
        .filter(|m| m.peer != Peer::Antidoted)
        .filter_map(|m| Some((m.peer, m.jobs_per_s?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    targets.push(Target::new(
        "jobs_vs_fastest_peer",
        "jobs_per_s",
        fastest.map(|(peer, _)| peer),
        ours_of(|m| m.jobs_per_s),
        fastest.map(|(_, jobs)| jobs),
        Goal::AtLeast(1.5),
    ));
    for theirs in medians.iter().filter(|m| m.peer != Peer::Antidoted) {
        let (figure, pick): (&'static str, fn(&Medians) -> Option<f64>) =
            if theirs.latency_ms_p50.is_none() && theirs.latency_from_call_ms_p50.is_some() {
                ("latency_from_call_ms_p50", |m| m.latency_from_call_ms_p50)
            } else {
                ("latency_ms_p50", |m| m.latency_ms_p50)
            };
        targets.push(Target::new(
            "idle_p50",
            figure,
            Some(theirs.peer),
            ours_of(pick),
            pick(theirs),
            Goal::AtMost(1.0),
        ));
    }
    targets.push(Target::new(
        "workflows_vs_apalis",
        "workflows_per_s",
        Some(Peer::Apalis),
        ours_of(|m| m.workflows_per_s),
        pick(Peer::Apalis, |m| m.workflows_per_s),
        Goal::AtLeast(5.0),
    ));
    targets
}

/// `Some(false)` when a goal fails, `Some(true)` when every goal was measured and holds,
/// `None` otherwise.
pub(super) fn all_met(targets: &[Target]) -> Option<bool> {
    if targets.iter().any(|t| t.met == Some(false)) {
        Some(false)
    } else if targets.iter().all(|t| t.met == Some(true)) {
        Some(true)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(peer: Peer, jobs: f64, p50: Option<f64>, call_p50: f64, wf: Option<f64>) -> Medians {
        Medians {
            peer,
            rounds: 3,
            jobs_per_s: Some(jobs),
            latency_ms_p50: p50,
            latency_ms_p95: None,
            latency_ms_p99: None,
            latency_from_call_ms_p50: Some(call_p50),
            workflows_per_s: wf,
        }
    }

    #[test]
    fn goals_compare_our_medians_with_river_the_fastest_peer_every_p50_and_apalis() {
        let medians = vec![
            peer(Peer::Antidoted, 45_000.0, Some(0.6), 1.1, Some(12_000.0)),
            peer(Peer::GraphileRs, 40_000.0, Some(0.8), 2.0, None),
            peer(Peer::Apalis, 9_000.0, Some(2.4), 3.8, Some(1_000.0)),
            peer(Peer::GraphileNode, 25_000.0, None, 1.0, None),
            peer(Peer::River, 15_000.0, Some(3.4), 4.0, None),
        ];
        let t = targets(&medians);
        let summary: Vec<_> = t
            .iter()
            .map(|t| (t.figure, t.peer, t.ratio, t.met))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("jobs_per_s", Some(Peer::River), Some(3.0), Some(true)),
                (
                    "jobs_per_s",
                    Some(Peer::GraphileRs),
                    Some(1.13),
                    Some(false)
                ),
                (
                    "latency_ms_p50",
                    Some(Peer::GraphileRs),
                    Some(0.75),
                    Some(true)
                ),
                ("latency_ms_p50", Some(Peer::Apalis), Some(0.25), Some(true)),
                // Node measures from the call only: ours from the call too, and slower.
                (
                    "latency_from_call_ms_p50",
                    Some(Peer::GraphileNode),
                    Some(1.1),
                    Some(false)
                ),
                ("latency_ms_p50", Some(Peer::River), Some(0.18), Some(true)),
                (
                    "workflows_per_s",
                    Some(Peer::Apalis),
                    Some(12.0),
                    Some(true)
                ),
            ]
        );
        let names: Vec<_> = t.iter().map(|t| t.goal_name).collect();
        assert_eq!(
            names,
            [
                "jobs_vs_river",
                "jobs_vs_fastest_peer",
                "idle_p50",
                "idle_p50",
                "idle_p50",
                "idle_p50",
                "workflows_vs_apalis"
            ]
        );
        assert_eq!(t[0].goal, Goal::AtLeast(3.0));
        assert_eq!(t[2].goal, Goal::AtMost(1.0));
        assert_eq!(all_met(&t), Some(false));
    }

    #[test]
    fn a_goal_whose_peer_did_not_run_is_listed_unmeasured_and_leaves_the_verdict_open() {
        let medians = vec![
            peer(Peer::Antidoted, 45_000.0, Some(0.6), 1.1, Some(12_000.0)),
            peer(Peer::Awa, 9_000.0, Some(6.0), 8.0, Some(80.0)),
        ];
        let t = targets(&medians);
        assert_eq!(t[0].peer, Some(Peer::River));
        assert_eq!((t[0].theirs, t[0].ratio, t[0].met), (None, None, None));
        assert_eq!(
            (t[1].peer, t[1].ratio, t[1].met),
            (Some(Peer::Awa), Some(5.0), Some(true))
        );
        assert_eq!(
            t.last().map(|t| (t.peer, t.met)),
            Some((Some(Peer::Apalis), None))
        );
        assert_eq!(all_met(&t), None);
        let ran_alone = targets(&medians[..1]);
        assert_eq!(ran_alone[1].peer, None);
    }
}
